#!/usr/bin/env bash
# Install (or remove) teleop-server as a system service on a Raspberry Pi (or any systemd Linux).
#
#   sudo packaging/pi/install.sh                       install from this checkout
#   sudo packaging/pi/install.sh --package teleop-robot  install from PyPI instead
#   sudo packaging/pi/install.sh --serial /dev/ttyUSB0 point the config at another port (default /dev/teleop-arduino)
#   sudo packaging/pi/install.sh --extras record,mqtt  add optional parts: record (MCAP, snapshots), mqtt, foxglove
#   sudo packaging/pi/install.sh --uninstall [--purge] remove it (--purge also removes config, recordings and the user)
#   packaging/pi/install.sh --root /tmp/img            stage every file under /tmp/img (no user, no systemctl): for tests and images
#
# What it sets up: a virtual environment with the server only (no Qt, no pygame) in
# /opt/teleop-server/venv; /etc/teleop/teleop-server.toml (kept if it exists); the
# systemd unit teleop-server.service running as the system user "teleop" in the
# "dialout" group, restarted on failure; the udev rule 99-teleop-arduino.rules.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CHECKOUT=$(cd "$HERE/../.." && pwd)
ROOT=/
PACKAGE=""
SERIAL=/dev/teleop-arduino
ACTION=install
PURGE=0
EXTRAS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT=$2; shift 2 ;;
    --package) PACKAGE=$2; shift 2 ;;
    --serial) SERIAL=$2; shift 2 ;;
    --extras) EXTRAS=$2; shift 2 ;;
    --uninstall) ACTION=uninstall; shift ;;
    --purge) PURGE=1; shift ;;
    -h|--help) sed -n '2,/^set /p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
ROOT=${ROOT%/}
LIVE=0
[ -z "$ROOT" ] && LIVE=1
if [ "$LIVE" = 1 ] && [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (sudo), or use --root DIR to stage files" >&2
  exit 1
fi
VENV=$ROOT/opt/teleop-server/venv
CONFIG=$ROOT/etc/teleop/teleop-server.toml
UNIT=$ROOT/etc/systemd/system/teleop-server.service
RULE=$ROOT/etc/udev/rules.d/99-teleop-arduino.rules
say() { printf 'teleop-server: %s\n' "$*"; }

if [ "$ACTION" = uninstall ]; then
  if [ "$LIVE" = 1 ]; then
    systemctl disable --now teleop-server.service 2>/dev/null || true
  fi
  rm -f "$UNIT" "$RULE"
  rm -rf "$ROOT/opt/teleop-server"
  if [ "$PURGE" = 1 ]; then
    rm -rf "$ROOT/etc/teleop" "$ROOT/var/lib/teleop"
    [ "$LIVE" = 1 ] && { userdel teleop 2>/dev/null || true; }
    say "removed, with configuration, recordings and the teleop user"
  else
    say "removed; kept $CONFIG (use --purge to remove it too)"
  fi
  if [ "$LIVE" = 1 ]; then
    systemctl daemon-reload
    udevadm control --reload 2>/dev/null || true
  fi
  exit 0
fi

command -v python3 >/dev/null || { echo "install.sh: python3 is needed (apt install python3 python3-venv)" >&2; exit 1; }
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "install.sh: Python 3.11 or newer is needed" >&2; exit 1; }
say "creating $VENV"
mkdir -p "$(dirname "$VENV")"
python3 -m venv "$VENV" || { echo "install.sh: could not create a venv (apt install python3-venv)" >&2; exit 1; }
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# the base package is the server: no desktop extra, so no Qt and no pygame
case "$EXTRAS" in
  *[!a-z,]*) echo "install.sh: --extras takes names like record,mqtt,foxglove" >&2; exit 2 ;;
esac
"$VENV/bin/python" -m pip install --quiet "${PACKAGE:-$CHECKOUT}${EXTRAS:+[$EXTRAS]}"

install -d "$ROOT/etc/teleop" "$(dirname "$UNIT")" "$(dirname "$RULE")"
if [ -e "$CONFIG" ]; then
  say "keeping existing $CONFIG"
else
  sed "s|^port = \"sim\" .*|port = \"$SERIAL\"     # set by install.sh; \"sim\" runs without hardware|" "$HERE/teleop-server.toml" > "$CONFIG"
  chmod 644 "$CONFIG"
  say "wrote $CONFIG (serial port $SERIAL)"
fi
install -m 644 "$HERE/teleop-server.service" "$UNIT"
install -m 644 "$HERE/99-teleop-arduino.rules" "$RULE"

if [ "$LIVE" = 1 ]; then
  id teleop >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /var/lib/teleop --shell /usr/sbin/nologin teleop
  usermod -a -G dialout teleop
  udevadm control --reload 2>/dev/null && udevadm trigger --subsystem-match=tty 2>/dev/null || true
  systemctl daemon-reload
  systemctl enable --now teleop-server.service
  say "running: systemctl status teleop-server; logs: journalctl -u teleop-server -f"
  # the service creates the pilot token on its first start and prints it (with the address) to the journal once
  for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s /var/lib/teleop/pilot-token ] && break; sleep 0.5; done
  if [ -s /var/lib/teleop/pilot-token ]; then
    say "pilot token (needed to drive; keep it private): $(cat /var/lib/teleop/pilot-token)"
    say "  in the teleop app paste: ws://$(hostname).local:8765/#token=$(cat /var/lib/teleop/pilot-token)"
    say "  read it again later with: sudo cat /var/lib/teleop/pilot-token"
  fi
  say "open http://$(hostname).local:8765/ for the dashboard"
  say "the teleop app lists this robot under \"Robots on this network\" (Robot drop-down, or Settings)"
else
  say "staged under $ROOT (no user created, no service started)"
fi
