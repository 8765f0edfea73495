"""The pilot page's decision logic (server/dashboard/pilotcore.js) under Debian's node: its own unit tests, fake clock."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

NODE = shutil.which("nodejs") or shutil.which("node")
TESTS = Path(__file__).resolve().parents[2] / "node"


@pytest.mark.skipif(NODE is None, reason="needs Debian's nodejs (apt install nodejs) for node --test")
def test_the_pilot_pages_safety_rules_hold_under_node():
    result = subprocess.run([NODE, "--test", str(TESTS / "pilotcore.test.cjs")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout and "# pass 0" not in result.stdout
