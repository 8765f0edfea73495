#!/usr/bin/env python3
"""One entry point for a fresh checkout: sets everything up, then runs the demo or the tests.

    python3 dev.py demo     the desktop app on a bundled server with the simulated robot
    python3 dev.py test     every test (installs what it needs first)

It creates ``.venv`` beside this file and installs the project into it
(again only when pyproject.toml changed). As root on Debian/Ubuntu, ``test``
also installs the system packages the tests need (listed in
``.ci/debian-packages.txt``); otherwise the tests that need them are skipped
and say which package is missing.
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
    run(PYTHON, "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[{extra}]")
    STAMP.write_text(wanted)


def debian_packages_missing() -> list[str]:
    if not DEBIAN_PACKAGES.exists() or not shutil.which("dpkg-query"):
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


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "help"
    rest = argv[1:]
    if command == "demo":
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
