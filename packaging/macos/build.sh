#!/usr/bin/env bash
# Build teleop.app and a .dmg on macOS (11 or newer, Apple silicon or Intel: builds for the running arch).
# UNTESTED: macOS bundles cannot be built on this project's Linux machines. See packaging/README.md.
#
#   packaging/macos/build.sh
# Output: dist/teleop.app and dist/teleop-VERSION-macos-ARCH.dmg
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -m venv .venv-macos
.venv-macos/bin/pip install --quiet --upgrade pip
.venv-macos/bin/pip install --quiet -e ".[desktop]" "pyinstaller>=6"
VERSION=$(.venv-macos/bin/python -c 'import teleop; print(teleop.__version__)')
rm -rf dist/teleop dist/teleop.app build/pyinstaller
# The spec's BUNDLE step makes dist/teleop.app with the icon and Info.plist on macOS.
.venv-macos/bin/pyinstaller --noconfirm --distpath dist --workpath build/pyinstaller packaging/teleop.spec
# Ad-hoc signature so Gatekeeper lets the user open it from the context menu the first time.
# For distribution, sign with a Developer ID instead and notarize:
#   codesign --deep --force --options runtime --sign "Developer ID Application: NAME (TEAMID)" dist/teleop.app
#   xcrun notarytool submit dist/teleop-*.dmg --keychain-profile PROFILE --wait && xcrun stapler staple dist/teleop-*.dmg
codesign --deep --force --sign - dist/teleop.app
# Background input: SDL_JOYSTICK_ALLOW_BACKGROUND_EVENTS is set by the app itself; macOS may still ask for
# "Input Monitoring" permission the first time a gamepad is read.
DMG="dist/teleop-$VERSION-macos-$(uname -m).dmg"
STAGE=$(mktemp -d)
cp -R dist/teleop.app "$STAGE/"
ln -s /Applications "$STAGE/Applications"
hdiutil create -volname "teleop $VERSION" -srcfolder "$STAGE" -ov -format UDZO "$DMG"
rm -rf "$STAGE"
echo "built dist/teleop.app and $DMG"
