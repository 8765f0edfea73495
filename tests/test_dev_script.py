"""dev.py on a fresh desktop: it says which system libraries Qt's xcb platform needs, in one apt-get line."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dev  # noqa: E402


def test_demo_without_the_xcb_libraries_prints_the_one_apt_get_line(tmp_path, monkeypatch, capsys):
    fake = tmp_path / "dpkg-query"  # a Debian where none of them is installed
    fake.write_text("#!/bin/sh\necho 'unknown ok not-installed'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(dev.os, "geteuid", lambda: 1000)  # not root: nothing is installed behind the user's back
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert dev.main(["demo"]) == 1
    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if "apt-get install" in line)
    assert line.split() == ["sudo", "apt-get", "install", *dev.XCB_PACKAGES]
    assert "libxcb-cursor0" in (ROOT / "README.md").read_text(), "the README lists them too"


def test_demo_finds_nothing_missing_where_they_are_installed():
    assert dev.debian_packages_missing(dev.XCB_PACKAGES) == []


def test_a_venv_made_with_pygame_gets_it_removed_before_pygame_ce_is_installed(monkeypatch):
    """Both own the `pygame` folder: installing pygame-ce over pygame would mix them, so pygame goes first."""
    ran: list[tuple[str, ...]] = []
    monkeypatch.setattr(dev, "installed", lambda name: name in ("pygame", "pygame-ce"))
    monkeypatch.setattr(dev, "run", lambda *cmd, **kw: ran.append(tuple(str(c) for c in cmd)))
    dev.remove_conflicting_pygame()
    assert ran == [(str(dev.PYTHON), "-m", "pip", "uninstall", "--quiet", "--yes", "pygame", "pygame-ce")]
    ran.clear()
    monkeypatch.setattr(dev, "installed", lambda name: name == "pygame-ce")
    dev.remove_conflicting_pygame()
    assert ran == [], "a venv that already has only pygame-ce is left alone"
