"""A hobby sketch that reads ``B<number>`` lines, never replies and prints a bare number now and then.

The sketch's behaviour runs behind a real pty in this process; ``teleop-server``
runs in its own process, exactly as a user starts it.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from conftest import WsClient, wait_for
from websockets.asyncio.client import connect

from teleop_server.device.simulated import SimulatedDevice


class SeedSketch:
    """Behaves like the hobby sketch the product grew from (see the seeds): a command letter, digits, a newline.

    Like that sketch it ignores a minus sign and everything else that is not a digit,
    answers nothing, prints no banner, and prints one analog value about once a
    second, every other time without a newline.
    """

    def __init__(self, period: float = 0.25) -> None:
        self.period = period
        self.display = 0
        self.leds = 0
        self.shown: list[int] = []
        self._command = ""
        self._digits = ""
        self._next = 0.0
        self._count = 0

    def boot(self, now: float) -> bytes:
        self._next = now + self.period
        return b""

    def receive(self, data: bytes, now: float) -> bytes:
        for byte in data:
            char = chr(byte)
            if self._command:
                if char.isdigit():
                    self._digits += char
                elif char == "\n":
                    value = int(self._digits or "0")
                    if self._command == "B":
                        self.display = value
                        self.shown.append(value)
                    elif self._command == "A":
                        self.leds = value
                    self._command, self._digits = "", ""
            elif char.isupper():
                self._command = char
        return b""

    def poll(self, now: float) -> bytes:
        if now < self._next:
            return b""
        self._next += self.period
        self._count += 1
        value = 500 + self._count
        return f"{value}\r\n".encode() if self._count % 2 else str(value).encode()

    def next_deadline(self) -> float:
        return self._next


async def test_seed_client_drives_a_silent_sketch_and_its_numbers_reach_every_client(make_device, make_server):
    sketch = SeedSketch()
    device = await make_device(sketch)
    server = await make_server(device, "--no-auth")
    observers = []
    for _ in range(2):
        ws = await connect(server.url)
        observers.append(WsClient(ws))
    told = await observers[0].expect("event", lambda m: "doesn't confirm commands" in m["text"], timeout=10)
    assert told["level"] == "info"
    seed = WsClient(await connect(server.url))  # no hello, {"Axes": [...]} at 10 Hz, like the seed's joystick client
    await asyncio.sleep(0.6)  # the seed client says nothing for its first half second either
    values = [0.1 + i / 100 for i in range(60)]
    for axis in values:
        await seed.send({"Axes": [axis, 0.0, 0.0, 0.0]})
        await asyncio.sleep(0.1)
    expected = [round(axis * 1000) for axis in values]
    await wait_for(lambda: sketch.display == expected[-1], what="the last stick value on the sketch's display")
    delivered = len(set(expected) & set(sketch.shown))
    assert delivered >= 0.95 * len(expected), f"{delivered} of {len(expected)} stick values reached the sketch"
    for observer in observers:  # both the bare numbers with and without a newline arrive
        await observer.expect("reading", lambda m: m["values"].get("value", 0) % 2 == 1)
        await observer.expect("reading", lambda m: m["values"].get("value", 1) % 2 == 0 and m["values"]["value"] > 502)


async def test_failsafe_writes_the_neutral_line_to_a_plain_sketch(make_device, make_server):
    sketch = SeedSketch()
    device = await make_device(sketch)
    server = await make_server(device, "--no-auth", "--device", "plain", "--baud", "9600")
    seed = WsClient(await connect(server.url))
    await asyncio.sleep(0.6)
    await seed.send({"Axes": [0.4]})
    await wait_for(lambda: sketch.display == 400)
    await seed.close()  # the pilot is gone: neutral
    await wait_for(lambda: sketch.display == 0 and sketch.shown[-1] == 0)


@pytest.fixture
def quick_handshake(tmp_path):
    config = tmp_path / "robot.toml"
    config.write_text("[serial]\nready_timeout_ms = 300\n")
    return str(config)


async def test_device_teleop_against_a_foreign_sketch_fails_once_with_what_to_do(make_device, make_server, quick_handshake):
    device = await make_device(SeedSketch())
    server = await make_server(device, "--device", "teleop", "--config", quick_handshake)
    async with connect(server.url) as ws:
        await ws.send(json.dumps({"type": "hello", "role": "observer"}))
        status = None
        deadline = time.monotonic() + 5
        while status is None or status["serial"]["state"] != "failed":
            assert time.monotonic() < deadline, f"never failed: {status}"
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
            status = message.get("status", message) if message["type"] in ("welcome", "status") else status
        assert "--device plain" in status["serial"]["detail"] and "does not answer" in status["serial"]["detail"]
    # the old behaviour reopened the port (resetting a real Uno) every ready_timeout + 1 s: give it three periods
    await asyncio.sleep(3 * (0.3 + 1.0))
    queries = [line for _, line in device.received_lines if line == "I"]
    assert len(queries) == 1


async def test_our_own_firmware_is_still_detected_as_teleop(make_device, make_server):
    device = await make_device(SimulatedDevice(report_ms=50))
    server = await make_server(device)
    async with connect(server.url) as ws:
        await ws.send(json.dumps({"type": "hello", "role": "observer"}))
        serial: dict = {}
        while serial.get("state") != "ready":
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if message["type"] in ("welcome", "status"):
                serial = message.get("status", message)["serial"]
    assert serial["profile"] == "teleop" and serial["device"]["name"] == "teleop-sim"
