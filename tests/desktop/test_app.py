"""``teleop`` itself: what its command line starts (no window here)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from launcher import sync_client

from teleop.desktop.app import start_demo_server


def test_the_demos_arrow_keys_up_and_down_move_a_plotted_servo_on_the_simulated_robot():
    """The demo's robot answers every stick: up on the left stick moves servo 0 (plotted as O0 by default)."""
    process, url = start_demo_server()
    try:
        address, token = url.split("/#token=")
        with sync_client(address) as ws:
            ws.send(json.dumps({"type": "hello", "role": "pilot", "client": "test", "token": token}))
            deadline = time.monotonic() + 10
            seen = None
            while time.monotonic() < deadline and seen != 2000:
                ws.send(json.dumps({"type": "control", "axes": [0.0, -1.0]}))  # raw axis 1 is lefty; up is negative
                try:
                    message = json.loads(ws.recv(timeout=0.1))
                except TimeoutError:
                    continue
                if message.get("type") == "reading":
                    seen = message["values"].get("O0", seen)
            assert seen == 2000, f"O0 = {seen}"
    finally:
        process.terminate()
        process.wait(10)


def teleop_cli(*args: str) -> subprocess.CompletedProcess:
    """``teleop`` with ``args``, as the menu entry or a terminal starts it (no display needed to be refused)."""
    command = "import sys; from teleop.desktop.app import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", command, *args], capture_output=True, text=True, timeout=60)


def test_a_bad_fleet_address_is_refused_naming_the_apps_own_flag():
    result = teleop_cli("--fleet", "foo")
    assert result.returncode == 2
    assert result.stderr.strip() == "teleop: --fleet 'foo': give mqtt://HOST:PORT or mqtts://HOST:PORT"


def test_a_missing_fleet_ca_file_is_a_one_line_error_not_a_silent_empty_list(tmp_path):
    missing = tmp_path / "broker-ca.pem"
    result = teleop_cli("--fleet", "mqtts://127.0.0.1:8883", "--fleet-cafile", str(missing))
    assert result.returncode == 2
    assert result.stderr.strip() == f"teleop: --fleet-cafile {missing}: No such file or directory"


async def test_a_ca_file_that_goes_missing_is_said_and_tried_again(tmp_path):
    pytest.importorskip("aiomqtt", reason="needs the mqtt extra")
    from conftest import wait_for

    from teleop.desktop.net.discovery import RobotDirectory
    from teleop.desktop.net.fleet import FleetClient

    client = FleetClient("mqtts://127.0.0.1:8883", RobotDirectory(), cafile=str(tmp_path / "gone.pem"))
    await client.start()
    try:
        await wait_for(lambda: "CA file" in client.model.problem, timeout=5, what="the CA file's problem shown")
        assert client._task is not None and not client._task.done(), "the fleet list goes on trying"
    finally:
        await client.stop()
