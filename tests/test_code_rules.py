"""The architecture rules and style checks run as part of the suite, so CI enforces them."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_import_contracts_hold():
    """No Qt or pygame in the shared core; nothing of the GUI in the server (pyproject.toml)."""
    result = subprocess.run([str(BIN / "lint-imports")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean():
    result = subprocess.run([str(BIN / "ruff"), "check", "--output-format", "concise", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_packaging_folder_is_not_an_importable_package():
    """packaging/ would shadow PyPI's 'packaging' (which pip and pytest import) if it had an __init__.py."""
    assert not (ROOT / "packaging" / "__init__.py").exists()


def test_server_imports_without_qt_or_pygame():
    code = "import sys, teleop_server.cli, teleop_server.bridge; bad = [m for m in ('PySide6', 'pygame', 'qasync') if m in sys.modules]; print(bad); sys.exit(bool(bad))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
