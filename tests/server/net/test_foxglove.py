"""``--foxglove PORT`` against Foxglove's own WebSocket client (@foxglove/ws-protocol from npm, under Debian's node).

The server runs in its own process on a pty device; a pilot drives it over the
teleop protocol while the Foxglove client watches, publishes a drive message
(refused) and then an e-stop (which reaches the device as neutral).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time

import pytest
from conftest import device_lines, wait_for
from guitools import ServerProcess
from nodetools import node_command, node_packages
from websockets.sync.client import connect

from teleop_server.rules import recording
from teleop_server.rules.foxglove import ESTOP

pytest.importorskip("foxglove", reason="needs the foxglove extra: pip install 'teleop-robot[foxglove]'")

TOKEN = "foxglove-tests-pilot-token"
DRIVE = json.dumps({"type": "control", "axes": [0.9]})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.asynccontextmanager
async def running(server: ServerProcess):
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


class Pilot(threading.Thread):
    """A teleop pilot driving axis 0 at 0.5 (the device gets B500) until stopped."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stopping, self.last_status = url, threading.Event(), {}

    def run(self) -> None:
        with connect(self.url) as ws:
            ws.send(json.dumps({"type": "hello", "role": "pilot", "client": "driver", "token": TOKEN}))
            while not self.stopping.is_set():
                ws.send(json.dumps({"type": "control", "axes": [0.5]}))
                time.sleep(0.02)
                try:
                    while True:
                        message = json.loads(ws.recv(timeout=0))
                        if message.get("type") == "status":
                            self.last_status = message
                        elif message.get("type") == "welcome":
                            self.last_status = message["status"]
                except TimeoutError:
                    pass


async def foxglove_client(port: int, seconds: float, *published: str) -> dict:
    folder = node_packages()
    process = await asyncio.create_subprocess_exec(
        node_command(),
        str(folder / "foxglove_client.mjs"),
        f"ws://127.0.0.1:{port}",
        str(seconds),
        *published,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()[-2000:]
    return json.loads(out)


async def test_foxglove_sees_the_recordings_channels_live_and_its_estop_stops_the_robot_but_not_its_drive(pty_device):
    port = free_port()
    async with running(ServerProcess(pty_device.path, extra=["--foxglove", str(port)], token=TOKEN)) as server:
        pilot = Pilot(server.url)
        pilot.start()
        try:
            await wait_for(lambda: "B500" in device_lines(pty_device, "B"), timeout=15)
            seen = await foxglove_client(port, 2.0, "/pilot/control", DRIVE, ESTOP.topic, json.dumps({"engaged": True}))
            await wait_for(lambda: pilot.last_status.get("estop") is True, timeout=10)
            sent = device_lines(pty_device, "B")
            await wait_for(lambda: device_lines(pty_device, "B")[-1] == "B0", timeout=10)
        finally:
            pilot.stopping.set()
            pilot.join(5)

    advertised = {c["topic"]: c for c in seen["channels"]}
    expected = {spec.topic: spec for spec in recording.CHANNELS if spec is not recording.GAPS}
    assert set(advertised) == set(expected)
    for topic, spec in expected.items():
        assert advertised[topic]["schemaName"] == spec.schema_name and advertised[topic]["schemaEncoding"] == "jsonschema"
    assert seen["counts"]["/readings"] >= 10 and seen["counts"]["/device/commands"] >= 1 and seen["counts"]["/pilot/control"] >= 10
    assert set(seen["last"]["/readings"]["values"]) >= {"A0", "O0"}
    assert any("refused" in s["message"] and "/pilot/control" in s["message"] for s in seen["statuses"])
    # the drive message published before the e-stop (in order on one connection) never reached the device
    assert "B900" not in sent
    assert "B500" in sent
