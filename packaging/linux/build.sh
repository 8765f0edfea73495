#!/usr/bin/env bash
# Build the Linux desktop artifacts into dist/:
#   dist/teleop/                          the PyInstaller one-folder bundle
#   dist/teleop-robot-VERSION-linux-x86_64.tar.gz   the same bundle, to unpack anywhere
#   dist/teleop-robot_VERSION_amd64.deb   installs it under /opt/teleop with a launcher, menu entry and icon
# The tarball and the Debian package carry the distribution's name, teleop-robot (as on PyPI); the
# command they install is still `teleop`.
# Usage: packaging/linux/build.sh        (from a checkout; uses .venv, creating it with dev.py if needed)
# DEB_COMPRESSION=gzip DEB_COMPRESSION_LEVEL=1: the same package in two seconds instead of half a minute, half
# again as large (the tests use it; the default is xz at dpkg's level, as released).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || { python3 dev.py help >/dev/null; python3 -c 'import dev; dev.ensure_venv("test")'; }
"$PY" -m pip install --quiet "pyinstaller>=6.0"
VERSION=$("$PY" -c 'import teleop; print(teleop.__version__)')
ARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)
mkdir -p dist build
rm -rf dist/teleop build/pyinstaller dist/teleop-robot-*.tar.gz dist/teleop-robot_*.deb

"$PY" -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller packaging/teleop.spec
# Strip debug symbols, except from auditwheel-repaired libraries (*.libs), which strip can corrupt.
find dist/teleop -name '*.so*' -type f -not -path '*.libs/*' -exec strip --strip-unneeded {} + 2>/dev/null || true
BUNDLE_MB=$(du -sm dist/teleop | cut -f1)

tar -C dist -czf "dist/teleop-robot-$VERSION-linux-$(uname -m).tar.gz" teleop

STAGE=build/deb/teleop-robot
rm -rf build/deb
mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
         "$STAGE/usr/share/icons/hicolor/scalable/apps" "$STAGE/usr/share/doc/teleop-robot"
cp -a dist/teleop "$STAGE/opt/teleop"
ln -s /opt/teleop/teleop "$STAGE/usr/bin/teleop"
install -m 644 resources/teleop.desktop "$STAGE/usr/share/applications/teleop.desktop"
install -m 644 resources/teleop.svg "$STAGE/usr/share/icons/hicolor/scalable/apps/teleop.svg"
install -m 644 server/dashboard/vendor/LICENSE-uPlot.txt "$STAGE/usr/share/doc/teleop-robot/LICENSE-uPlot.txt"
printf 'teleop %s, MIT licence. Bundles Python, Qt (LGPLv3, PySide6), SDL2 (zlib) and uPlot (MIT).\n' "$VERSION" \
  > "$STAGE/usr/share/doc/teleop-robot/copyright"
INSTALLED_KB=$(du -sk "$STAGE" | cut -f1)
# Only what the bundle does not carry: the X11/Wayland, GL and font libraries every desktop has.
# Conflicts/Replaces: the package was called teleop before; a .deb built under that name is
# replaced instead of clashing over /usr/bin/teleop.
cat > "$STAGE/DEBIAN/control" <<CONTROL
Package: teleop-robot
Version: $VERSION
Section: science
Priority: optional
Architecture: $ARCH
Installed-Size: $INSTALLED_KB
Depends: libc6 (>= 2.28), libegl1, libgl1, libfontconfig1, libfreetype6, libglib2.0-0, libdbus-1-3, libx11-6, libx11-xcb1, libxcb1, libxcb-cursor0, libxcb-icccm4, libxcb-keysyms1, libxcb-image0, libxcb-render-util0, libxcb-shape0, libxcb-randr0, libxcb-xfixes0, libxcb-xkb1, libxkbcommon0, libxkbcommon-x11-0, libwayland-cursor0
Recommends: libwayland-client0, libwayland-cursor0
Conflicts: teleop
Replaces: teleop
Maintainer: teleop developers <teleop@users.noreply.github.com>
Homepage: https://github.com/teleop/teleop
Description: drive a robot from a gamepad and watch its sensors live
 Desktop client of the teleop system: reads a gamepad through SDL, streams
 its state to a teleop-server on a Raspberry Pi over WebSocket, and shows the
 robot's sensor readings live. Includes a simulated robot (teleop --demo).
CONTROL
# The menu entry and icon caches are refreshed by dpkg triggers of desktop-file-utils and
# hicolor-icon-theme, so no maintainer scripts are needed.
COMPRESS=(-Z"${DEB_COMPRESSION:-xz}")
if [ -n "${DEB_COMPRESSION_LEVEL:-}" ]; then COMPRESS+=(-z"$DEB_COMPRESSION_LEVEL"); fi
dpkg-deb --root-owner-group "${COMPRESS[@]}" --build "$STAGE" "dist/teleop-robot_${VERSION}_${ARCH}.deb" >/dev/null

echo "bundle: dist/teleop ($BUNDLE_MB MB)"
for artifact in dist/teleop-robot-"$VERSION"-linux-*.tar.gz dist/teleop-robot_"$VERSION"_*.deb; do
  echo "artifact: $artifact ($(du -m "$artifact" | cut -f1) MB)"
done
