"""The architecture rules and style checks run as part of the suite, so CI enforces them."""

import json
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


#: a docstring's cross-reference to the project's own code (Sphinx's roles), as ``:class:`~teleop.x.Y```
CROSS_REFERENCE = re.compile(r":(?:mod|class|func|meth|data|attr|exc|obj):`~?((?:teleop|teleop_server)(?:\.\w+)+)`")

#: run in a process of its own: it imports every module named (Qt and SDL ones too)
_RESOLVE = """
import importlib, json, sys
missing = []
for name in json.loads(sys.stdin.read()):
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attribute in parts[i:]:
                found = getattr(found, attribute)
        except AttributeError:
            missing.append(name)
        break
    else:
        missing.append(name)
print(json.dumps(missing))
"""


def test_every_cross_reference_in_a_docstring_names_code_that_exists():
    """A module moved or a class renamed leaves the docstrings that pointed at it naming nothing: a reader
    following one finds no such module. Every ``:class:`teleop...``` and the like must still import."""
    where: dict[str, list[str]] = {}
    for folder in ("teleop", "server"):
        for path in (ROOT / folder).rglob("*.py"):
            for match in CROSS_REFERENCE.finditer(path.read_text()):
                where.setdefault(match.group(1), []).append(str(path.relative_to(ROOT)))
    assert len(where) > 50, "the pattern no longer finds the docstrings' cross-references"
    result = subprocess.run(
        [sys.executable, "-c", _RESOLVE],
        input=json.dumps(sorted(where)),
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin", "PYGAME_HIDE_SUPPORT_PROMPT": "1"},
    )
    assert result.returncode == 0, result.stderr
    missing = json.loads(result.stdout.strip().splitlines()[-1])
    assert {name: where[name] for name in missing} == {}
