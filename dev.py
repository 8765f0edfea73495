#!/usr/bin/env python3
"""One entry point for a fresh checkout: sets everything up, then runs the demo or the tests.

    python3 dev.py demo     the desktop app on a bundled server with the simulated robot
    python3 dev.py test     every test (installs what it needs first)

It creates ``.venv`` beside this file and installs the project into it
(again only when pyproject.toml changed). As root on Debian/Ubuntu, ``test``
also installs the system packages the tests need (listed in
``.ci/debian-packages.txt``); otherwise the tests that need them are skipped
and say which package is missing. ``demo`` checks for the libraries Qt's
xcb platform needs (:data:`XCB_PACKAGES`): as root it installs them,
otherwise it prints the one ``apt-get install`` line.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".teleop-installed"
DEBIAN_PACKAGES = ROOT / ".ci" / "debian-packages.txt"
#: what a pip-installed PySide6 needs for Qt's xcb platform on an X11 desktop (the README lists them too);
#: one missing aborts the app with "could not load the Qt platform plugin xcb", whichever it is
XCB_PACKAGES = [
    "libxcb-cursor0",
    "libxcb-icccm4",
    "libxcb-util1",
    "libxcb-image0",
    "libxcb-keysyms1",
    "libxcb-randr0",
    "libxcb-render-util0",
    "libxcb-shm0",
    "libxcb-sync1",
    "libxcb-xfixes0",
    "libxcb-render0",
    "libxcb-shape0",
    "libxcb-xkb1",
    "libxkbcommon-x11-0",
    "libx11-xcb1",
]


def run(*cmd: str | Path, **kwargs) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def ensure_venv(extra: str) -> None:
    if not PYTHON.exists():
        print(f"creating {VENV}", flush=True)
        try:
            venv.EnvBuilder(with_pip=True).create(VENV)
        except Exception as exc:  # Debian without python3-venv
            sys.exit(f"could not create a virtual environment ({exc}); on Debian/Ubuntu: apt install python3-venv")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extra.encode()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    remove_conflicting_pygame()
    run(PYTHON, "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[{extra}]")
    STAMP.write_text(wanted)


def installed(distribution: str) -> bool:
    """Whether the venv has this distribution (by its PyPI name) installed."""
    code = f"import importlib.metadata as m, sys; m.version({distribution!r})"
    return subprocess.run([str(PYTHON), "-c", code], capture_output=True).returncode == 0


def remove_conflicting_pygame() -> None:
    """A .venv made before the switch to pygame-ce has pygame: both own the `pygame` package folder.

    Installing pygame-ce over it would mix the two in one folder, and removing pygame afterwards
    would delete files pygame-ce needs. So both go, and pip installs pygame-ce cleanly.
    """
    if installed("pygame"):
        run(PYTHON, "-m", "pip", "uninstall", "--quiet", "--yes", "pygame", *(["pygame-ce"] if installed("pygame-ce") else []))


def debian_packages_missing(wanted: list[str] | None = None) -> list[str]:
    if not shutil.which("dpkg-query"):
        return []
    if wanted is None:
        if not DEBIAN_PACKAGES.exists():
            return []
        wanted = [name for line in DEBIAN_PACKAGES.read_text().splitlines() for name in line.split("#", 1)[0].split()]
    missing = []
    for package in wanted:
        result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
        if "install ok installed" not in result.stdout:
            missing.append(package)
    return missing


def ensure_debian_packages() -> None:
    missing = debian_packages_missing()
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print(f"note: system packages not installed, their tests will be skipped: {' '.join(missing)}", flush=True)
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run("apt-get", "update", "-q", env=env)
    run("apt-get", "install", "-y", "-q", "--no-install-recommends", *missing, env=env)


def ensure_desktop_libraries() -> bool:
    """The xcb libraries Qt needs on Debian/Ubuntu: installed as root, otherwise the one apt-get line. False: cannot run."""
    missing = debian_packages_missing(XCB_PACKAGES) if sys.platform.startswith("linux") else []
    if not missing:
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run("apt-get", "update", "-q", env=env)
        run("apt-get", "install", "-y", "-q", "--no-install-recommends", *missing, env=env)
        return True
    print("The desktop app needs system libraries for Qt's X11 (xcb) platform. Install them with:", file=sys.stderr)
    print(f"    sudo apt-get install {' '.join(missing)}", file=sys.stderr)
    if os.environ.get("WAYLAND_DISPLAY"):
        print("(continuing: this is a Wayland session, where Qt does not need them)", file=sys.stderr)
        return True
    return False


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "help"
    rest = argv[1:]
    if command == "demo":
        if not ensure_desktop_libraries():
            return 1
        ensure_venv("desktop")
        return subprocess.call([str(BIN / "teleop"), "--demo", *rest])
    if command == "test":
        ensure_debian_packages()
        ensure_venv("test")
        return subprocess.call([str(PYTHON), "-m", "pytest", *rest], cwd=ROOT)
    if command == "server":
        ensure_venv("test")
        return subprocess.call([str(BIN / "teleop-server"), *rest])
    print(__doc__)
    return 0 if command in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
