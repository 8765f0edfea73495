"""The architecture rules and style checks run as part of the suite, so CI enforces them."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
#: the code that must type-check: everything but the Qt views, the SDL layer and the app's entry point
TYPED_PACKAGES = [
    "teleop.wire",
    "teleop.common",
    "teleop.aio",
    "teleop.desktop.models",
    "teleop.desktop.net",
    "teleop.desktop.session",
    "teleop_server",
]


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run([*command], cwd=ROOT, capture_output=True, text=True)


def test_import_contracts_hold():
    """The layers in pyproject.toml: server and desktop apart, pure rules free of I/O, Qt only in the views."""
    result = run(str(BIN / "lint-imports"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean():
    result = run(str(BIN / "ruff"), "check", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_code_is_formatted():
    result = run(str(BIN / "ruff"), "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_non_qt_code_type_checks():
    link = ROOT / "build" / "typecheck" / "teleop_server"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(ROOT / "server", target_is_directory=True)
    result = run(str(BIN / "mypy"), *(f"-p{name}" for name in TYPED_PACKAGES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_packaging_folder_is_not_an_importable_package():
    """packaging/ would shadow PyPI's 'packaging' (which pip and pytest import) if it had an __init__.py."""
    assert not (ROOT / "packaging" / "__init__.py").exists()


def test_every_package_folder_is_installed():
    """pyproject.toml lists packages by hand; a folder left off would be missing from the wheel and the Pi."""
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    roots = {"teleop": ROOT / "teleop", "teleop_server": ROOT / "server"}
    in_tree = {
        ".".join([name, *init.parent.relative_to(folder).parts])
        for name, folder in roots.items()
        for init in folder.rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert in_tree - set(setup["packages"]) == set()


def test_the_server_loads_no_desktop_module_qt_or_pygame():
    code = (
        "import sys, teleop_server.cli, teleop_server.bridge; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pygame', 'qasync') or m.startswith('teleop.desktop')]; "
        "print(bad); sys.exit(bool(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_desktop_app_loads_no_server_module():
    code = "import sys, teleop.desktop.app, teleop.desktop.gui.main_window; bad = [m for m in sys.modules if m.startswith('teleop_server')]; print(bad); sys.exit(bool(bad))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_nothing_runs_the_server_by_its_folder_name():
    """From the checkout ``python -m server`` happens to work (the folder), but it loads every module twice
    (as ``server.*`` and ``teleop_server.*``) and an installed copy has no ``server``: the import name is teleop_server."""
    pattern = re.compile(r"""(-m\\s+server\\b(?!\\.)|["']-m["'],\\s*["']server["'])""")
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("tests", "bench", "docs", "packaging", "server", "teleop")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in (".py", ".md", ".sh", ".service", ".spec")
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if pattern.search(line) and "test_nothing_runs_the_server_by_its_folder_name" not in line
    ]
    assert found == []
