"""Installers: the desktop bundle and .deb built for real and launched as installed; the Pi service files.

The bundle build takes about a minute; deselect with ``-m "not slow"`` while iterating.
CI runs it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from guitools import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"
#: The bundle build inside the first test's setup takes one to four minutes on a 2-core machine:
#: beyond the suite's 120 s default, which is for tests that might hang, not for builds.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def built():
    if not shutil.which("dpkg-deb"):
        pytest.skip("dpkg-deb is needed to build the .deb")
    # the same package, gzip'd fast: xz (as released) takes half of this fixture's minute
    env = dict(os.environ, DEB_COMPRESSION="gzip", DEB_COMPRESSION_LEVEL="1")
    result = subprocess.run(["bash", "packaging/linux/build.sh"], cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    print(result.stdout)
    debs = sorted(DIST.glob("teleop-robot_*.deb"))
    tarballs = sorted(DIST.glob("teleop-robot-*-linux-*.tar.gz"))
    assert debs and tarballs
    return debs[-1], tarballs[-1]


def bundle_megabytes(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


@pytest.mark.slow
def test_bundle_stays_under_150_mb(built):
    assert bundle_megabytes(DIST / "teleop") < 150


@pytest.mark.slow
def test_deb_has_the_launcher_menu_entry_icon_and_dependencies(built):
    deb, _ = built
    fields = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True, check=True).stdout
    assert "Package: teleop-robot\n" in fields and "libxcb-cursor0" in fields and "Installed-Size:" in fields
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    for path in (
        "./opt/teleop/teleop",
        "./usr/bin/teleop -> /opt/teleop/teleop",
        "./usr/share/applications/teleop.desktop",
        "./usr/share/icons/hicolor/scalable/apps/teleop.svg",
    ):
        assert path in listing, path
    assert "root/root" in listing  # --root-owner-group
    if shutil.which("desktop-file-validate"):
        subprocess.run(["desktop-file-validate", str(ROOT / "resources" / "teleop.desktop")], check=True)


def install(deb: Path, tmp_path: Path) -> tuple[Path, bool]:
    """As root with apt: install for real (apt resolves Depends). Otherwise unpack into a temporary root."""
    if os.geteuid() == 0 and shutil.which("apt-get") and os.environ.get("CI"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "install", "-y", "-q", str(deb)], check=True, capture_output=True, env=env, timeout=600)
        return Path("/usr/bin/teleop"), True
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path / "root")], check=True)
    return tmp_path / "root" / "opt" / "teleop" / "teleop", False


@pytest.mark.slow
def test_installed_app_opens_connects_and_receives_a_reading(built, tmp_path):
    deb, _ = built
    launcher, installed = install(deb, tmp_path)
    server = ServerProcess("sim").start()
    try:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path))
        result = subprocess.run(
            [str(launcher), "--self-check", "--connect", server.pilot_url, "--settings-file", str(tmp_path / "s.ini")],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "self-check ok" in result.stdout
    finally:
        server.stop()
        if installed:
            subprocess.run(["apt-get", "remove", "-y", "-q", "teleop-robot"], capture_output=True)


@pytest.mark.slow
def test_unpacked_tarball_runs_the_demo_with_its_own_server(built, tmp_path):
    _, tarball = built
    subprocess.run(["tar", "-xzf", str(tarball), "-C", str(tmp_path)], check=True)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path))
    shot = tmp_path / "demo.png"
    result = subprocess.run(
        [str(tmp_path / "teleop" / "teleop"), "--demo", "--screenshot", str(shot), "--settings-file", str(tmp_path / "s.ini")],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert shot.stat().st_size > 10_000
    # the bundled server's simulated camera runs and the bundled app decodes its JPEGs (Pillow and Qt's
    # JPEG plugin are both in the bundle)
    painted = re.search(r"\(video: (\d+) frames painted\)", result.stdout)
    assert painted and int(painted.group(1)) > 0, result.stdout


def test_pi_install_stages_a_server_only_venv_config_unit_and_udev_rule(tmp_path):
    root = tmp_path / "pi"
    result = subprocess.run(["bash", "packaging/pi/install.sh", "--root", str(root)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    venv = root / "opt" / "teleop-server" / "venv"
    site = next((venv / "lib").glob("python3*/site-packages"))
    installed = {p.name.lower() for p in site.iterdir()}
    assert "websockets" in installed and "serial" in installed
    assert not any(name.startswith(("pyside6", "pygame", "qasync", "shiboken")) for name in installed), "the Pi must not get Qt or pygame"
    version = subprocess.run([str(venv / "bin" / "teleop-server"), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("teleop-server ")
    config = (root / "etc" / "teleop" / "teleop-server.toml").read_text()
    assert 'port = "/dev/teleop-arduino"' in config
    unit = (root / "etc" / "systemd" / "system" / "teleop-server.service").read_text()
    assert "User=teleop" in unit and "SupplementaryGroups=dialout" in unit and "Restart=on-failure" in unit
    assert "/etc/teleop/teleop-server.toml" in unit
    assert 'SYMLINK+="teleop-arduino"' in (root / "etc" / "udev" / "rules.d" / "99-teleop-arduino.rules").read_text()

    # the config survives a reinstall (here adding the record extra: MCAP and snapshots) and a plain uninstall;
    # --purge removes it
    (root / "etc" / "teleop" / "teleop-server.toml").write_text(config + "\n# edited by the user\n")
    refused = subprocess.run(
        ["bash", "packaging/pi/install.sh", "--root", str(root), "--extras", "record;rm"], cwd=ROOT, capture_output=True, text=True
    )
    assert refused.returncode == 2 and "--extras takes names" in refused.stderr
    subprocess.run(
        ["bash", "packaging/pi/install.sh", "--root", str(root), "--extras", "record"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=600,
    )
    assert "edited by the user" in (root / "etc" / "teleop" / "teleop-server.toml").read_text()
    subprocess.run([str(venv / "bin" / "python"), "-c", "import mcap"], check=True)
    subprocess.run(["bash", "packaging/pi/install.sh", "--root", str(root), "--uninstall"], cwd=ROOT, check=True, capture_output=True)
    assert not venv.exists() and not (root / "etc" / "systemd" / "system" / "teleop-server.service").exists()
    assert (root / "etc" / "teleop" / "teleop-server.toml").exists()
    subprocess.run(
        ["bash", "packaging/pi/install.sh", "--root", str(root), "--uninstall", "--purge"], cwd=ROOT, check=True, capture_output=True
    )
    assert not (root / "etc" / "teleop").exists()


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    # verify checks that ExecStart exists: point it at a stand-in executable, keep everything else
    stand_in = tmp_path / "teleop-server"
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    unit = (
        (ROOT / "packaging" / "pi" / "teleop-server.service")
        .read_text()
        .replace("/opt/teleop-server/venv/bin/teleop-server", str(stand_in))
    )
    path = tmp_path / "teleop-server.service"
    path.write_text(unit)
    result = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True)
    assert result.returncode == 0 and str(path) not in result.stdout + result.stderr, result.stdout + result.stderr


def test_pi_install_refuses_to_run_live_without_root():
    if os.geteuid() == 0:
        pytest.skip("running as root")
    result = subprocess.run(["bash", "packaging/pi/install.sh"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1 and "run as root" in result.stderr
