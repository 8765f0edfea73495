"""npm packages the tests run under Debian's node: installed from tests/node/package-lock.json on first use."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

NODE_DIR = Path(__file__).parent / "node"
_installed = threading.Lock()


def node_packages() -> Path:
    """tests/node with its node_modules installed (``npm ci``); skips the test when node or npm is missing."""
    node, npm = shutil.which("node") or shutil.which("nodejs"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("needs Debian's nodejs and npm (apt-get install nodejs npm) to run the npm readers and clients")
    with _installed:
        stamp = NODE_DIR / "node_modules" / ".package-lock.json"
        lock = NODE_DIR / "package-lock.json"
        if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
            result = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True, text=True, timeout=600)
            if result.returncode != 0:
                pytest.fail(f"npm ci in {NODE_DIR} failed: {result.stderr[-2000:]}")
    return NODE_DIR


def node_command() -> str:
    return shutil.which("node") or shutil.which("nodejs") or "node"


def read_mcap_with_typescript(path: Path, mode: str = "indexed") -> dict[str, Any]:
    """What @mcap/core finds in ``path``: channels with schemas, metadata, messages per topic (see node/read_mcap.mjs)."""
    folder = node_packages()
    result = subprocess.run([node_command(), str(folder / "read_mcap.mjs"), str(path), mode], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"@mcap/core could not read {path}: {result.stderr[-2000:]}"
    return json.loads(result.stdout)
