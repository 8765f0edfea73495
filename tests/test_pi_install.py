"""The README's Pi install routes, run as a Pi owner runs them, on Debian's own python3.

Raspberry Pi OS, like Debian and Ubuntu, refuses ``pip install`` into the system's
Python (PEP 668, "externally-managed-environment"). The README sends Pi owners to
pipx and to ``packaging/pi/install.sh`` instead; here both install a wheel built from
this checkout (the same files PyPI will serve) with Debian's ``/usr/bin/python3``, and
the installed ``teleop-server`` must answer a client, with no Qt or pygame beside it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from launcher import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
DEBIAN_PYTHON = Path("/usr/bin/python3")
#: Neither the server nor anything it depends on may bring the desktop's GUI libraries to a Pi.
DESKTOP_ONLY = ("pyside6", "shiboken6", "pygame", "qasync")

#: pipx makes a venv and fetches the server's dependencies (websockets, pyserial, zeroconf, Pillow): about
#: 20 s for the module with pip's cache warm; a cold cache on a slow link may take minutes, not hang.
pytestmark = pytest.mark.timeout(900)


def why_not_debian_python() -> str | None:
    """None when /usr/bin/python3 is Debian's and refuses system-wide pip; else why the test cannot run."""
    if not DEBIAN_PYTHON.exists():
        return f"{DEBIAN_PYTHON} does not exist"
    stdlib = subprocess.run(
        [str(DEBIAN_PYTHON), "-c", "import sysconfig, sys; print(sysconfig.get_path('stdlib')); print(sys.version_info >= (3, 11))"],
        capture_output=True,
        text=True,
    ).stdout.split()
    if not (Path(stdlib[0]) / "EXTERNALLY-MANAGED").exists():
        return f"{DEBIAN_PYTHON} is not a Debian python that refuses system-wide pip (no EXTERNALLY-MANAGED in {stdlib[0]})"
    if stdlib[1] != "True":
        return f"{DEBIAN_PYTHON} is older than Python 3.11, which teleop needs"
    return None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    reason = why_not_debian_python()
    if reason:
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = out.glob("teleop_robot-*.whl")
    return built


def site_packages(venv: Path) -> set[str]:
    (site,) = (venv / "lib").glob("python3*/site-packages")
    return {entry.name.lower() for entry in site.iterdir()}


def test_debian_python_refuses_a_system_wide_pip_install(wheel):
    """Why the README never says `pip install` on a Pi: the same command fails there."""
    result = subprocess.run([str(DEBIAN_PYTHON), "-m", "pip", "install", "--dry-run", str(wheel)], capture_output=True, text=True)
    assert result.returncode != 0
    assert "externally-managed-environment" in result.stderr or "No module named pip" in result.stderr, result.stderr


async def test_pipx_installs_a_server_that_answers_without_qt_or_pygame(wheel, tmp_path):
    pipx = shutil.which("pipx")
    if pipx is None:
        pytest.skip("pipx is not installed (sudo apt install pipx)")
    env = dict(os.environ, PIPX_HOME=str(tmp_path / "pipx"), PIPX_BIN_DIR=str(tmp_path / "bin"))
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [pipx, "install", "--python", str(DEBIAN_PYTHON), str(wheel)], capture_output=True, text=True, env=env, timeout=900
    )
    assert result.returncode == 0, result.stdout + result.stderr
    venv = tmp_path / "pipx" / "venvs" / "teleop-robot"
    installed = site_packages(venv)
    assert "websockets" in installed and "serial" in installed and "zeroconf" in installed
    assert [name for name in installed if name.startswith(DESKTOP_ONLY)] == [], "the Pi must not get Qt or pygame"
    assert (venv / "bin" / "python").resolve() == DEBIAN_PYTHON.resolve(), "the venv runs on Debian's own python3"

    command = tmp_path / "bin" / "teleop-server"
    version = subprocess.run([str(command), "--version"], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert version.stdout.startswith("teleop-server 0.")

    # started from elsewhere than the checkout, so only the installed copy can be imported
    server = ServerProcess("sim", command=[str(command)], cwd=tmp_path).start()
    try:
        await server.serial_ready(timeout=20)  # a WebSocket hello is welcomed and the simulated device is ready
        page = await asyncio.to_thread(lambda: urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=10).read())
        assert b"<html" in page.lower(), "the dashboard is served from the installed package"
    finally:
        log = server.stop()
    assert "Traceback" not in log, log

    # HTTPS on the Pi's own Python: Debian's 3.11.2 reads a socket paused in connection_made (CPython
    # gh-103607), which once swallowed every TLS hello; the certificate is made beside the token file
    secure = ServerProcess("sim", command=[str(command)], cwd=tmp_path, extra=["--tls", "auto"]).start()
    try:
        unverified = ssl._create_unverified_context()  # a self-signed certificate: the fingerprint is checked by the user
        page = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"https://127.0.0.1:{secure.port}/pilot", timeout=10, context=unverified).read()
        )
        assert b"<html" in page.lower(), "the pilot page is served over TLS by the installed server"
    finally:
        log = secure.stop()
    assert "fingerprint" in log and "Traceback" not in log, log


def test_the_service_installer_takes_the_package_from_a_wheel(wheel, tmp_path):
    """`install.sh --package` installs what pip is given (the name on PyPI, or as here a wheel) into its own venv."""
    root = tmp_path / "pi"
    env = dict(os.environ, PATH=f"{DEBIAN_PYTHON.parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(
        ["bash", "packaging/pi/install.sh", "--root", str(root), "--package", str(wheel)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    venv = root / "opt" / "teleop-server" / "venv"
    installed = site_packages(venv)
    assert any(name.startswith("teleop_robot-") for name in installed), sorted(installed)
    assert [name for name in installed if name.startswith(DESKTOP_ONLY)] == []
    version = subprocess.run([str(venv / "bin" / "teleop-server"), "--version"], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert version.stdout.startswith("teleop-server 0.")
