"""``--foxglove PORT`` against Foxglove's own WebSocket client (@foxglove/ws-protocol from npm, under Debian's node).

The server runs in its own process on a pty device; a pilot drives it over the
teleop protocol while the Foxglove client watches, publishes a drive message
(refused) and then an e-stop (which reaches the device as neutral).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
from conftest import device_lines, wait_for
from guitools import ServerProcess
from launcher import running, sync_client
from nodetools import node_command, node_packages
from ports import steady_port

from teleop_server.rules import recording
from teleop_server.rules.foxglove import ESTOP

pytest.importorskip("foxglove", reason="needs the foxglove extra: pip install 'teleop-robot[foxglove]'")

TOKEN = "foxglove-tests-pilot-token"
DRIVE = json.dumps({"type": "control", "axes": [0.9]})


class Pilot(threading.Thread):
    """A teleop pilot driving axis 0 at 0.5 (the device gets B500) until stopped."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stopping, self.last_status = url, threading.Event(), {}

    def run(self) -> None:
        with sync_client(self.url) as ws:
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
    port = steady_port()
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

    assert "Callback failed" not in server.output and "ERROR" not in server.output, server.output[-3000:]
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


def write_recording(path, seconds: float = 4.0) -> int:
    """A recording of readings at 50 Hz (A0 counts the ticks), written through the MCAP file end; its first log time."""
    from teleop_server.record.mcapfile import McapFile
    from teleop_server.record.writer import Entry, Trouble

    start = 1_790_000_000.0
    now = [start]
    file = McapFile(str(path), Trouble(str(path), lambda *_: None), clock=lambda: now[0], monotonic=lambda: now[0])
    for tick in range(int(seconds * 50)):
        t = now[0] = start + tick / 50
        file.write([Entry(t, "reading", {"A0": tick}, tick)])
    file.close()
    return round(start * 1e9)


async def test_during_a_replay_foxglove_gets_the_recordings_time_range_and_its_player_steers_the_replay(tmp_path):
    from types import SimpleNamespace

    from foxglove.websocket import PlaybackCommand
    from websockets.asyncio.client import connect as connect_async

    from teleop_server.bridge import Bridge
    from teleop_server.config import ServerConfig
    from teleop_server.net.foxglove import start_foxglove

    path = tmp_path / "drive.mcap"
    start_ns = write_recording(path)
    config = ServerConfig(host="127.0.0.1", port=0, auth=False, replay=str(path), foxglove_port=0)
    bridge = Bridge(config)
    await bridge.start()
    endpoint = start_foxglove(bridge, bridge.tap, config, bridge.replay)
    try:
        async with connect_async(f"ws://127.0.0.1:{endpoint.port}", subprotocols=["foxglove.sdk.v1"]) as ws:
            info = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert info["op"] == "serverInfo"
        assert "playbackControl" in info["capabilities"]
        assert info["dataStartTime"] == {"sec": start_ns // 1_000_000_000, "nsec": start_ns % 1_000_000_000}

        # Foxglove's player: pause, 2x, seek to 1.5 s (the SDK calls this on its own thread)
        request = SimpleNamespace(
            playback_command=PlaybackCommand.Pause, playback_speed=2.0, seek_time=start_ns + 1_500_000_000, request_id="r1"
        )
        await asyncio.to_thread(endpoint.on_playback_control_request, request)
        replay = bridge.replay
        await wait_for(lambda: not replay.clock.playing and replay.clock.speed == 2.0, timeout=5)
        assert replay.clock.position(replay.monotonic()) == pytest.approx(1.5)
        await wait_for(lambda: bridge.readings.get("A0") == 75, timeout=5)  # the reading recorded at 1.5 s (tick 75)
        assert endpoint._stamp(0.0) == start_ns + 1_500_000_000  # what Foxglove is sent is stamped on the file's clock
    finally:
        endpoint.stop()
        await bridge.stop()
