"""A device that lies, floods or restarts in a loop, against ``teleop-server`` in its own process.

The device is a real pty in this process; the server opens it like a USB port.
Every absence is asserted behind an ordering barrier: a later line the server
must write, or a later message it must answer, is awaited first.
"""

from __future__ import annotations

import asyncio
import json
import time

from conftest import WsClient, wait_for
from faultkit import record_figure
from hostile import LyingDevice, join, lines
from websockets.asyncio.client import connect

from teleop.desktop.net.client import ClientSession
from teleop.wire.protocol import Control, Role
from teleop_server.device.simulated import SimulatedDevice


async def test_commands_keep_flowing_when_replies_are_lost_in_line_noise(make_device, make_server):
    device = await make_device(LyingDevice(lose_every=3, mangle_every=2))
    server = await make_server(device)
    pilot = await join(server)
    values = [100 + i for i in range(100)]
    for value in values:  # 2 s at 50 Hz, a new value every time
        await pilot.send({"type": "control", "axes": [value / 1000]})
        await asyncio.sleep(0.02)
    await wait_for(lambda: any(line == f"B{values[-1]}" for _, line in lines(device, "B")), timeout=3)
    got = {line for _, line in lines(device, "B")}
    delivered = sum(f"B{v}" in got for v in values)
    print(f"replies lost or mangled: {delivered} of 100 stick values delivered")
    assert delivered >= 80, f"only {delivered} of 100 stick values reached the device"  # 23 before the fix
    deadline = time.monotonic() + 6  # trouble is told at most every 5 s; the first was at start-up, before we joined
    while not pilot.of_type("event", 0) or not any("did not confirm" in e["text"] for e in pilot.of_type("event")):
        assert time.monotonic() < deadline, "the pilot was never told that the device loses replies"
        await pilot.send({"type": "control", "axes": [(time.monotonic() % 1) / 2]})
        await asyncio.sleep(0.02)
    told = await pilot.expect("event", lambda m: "did not confirm" in m["text"])
    assert told["level"] == "warning"


async def test_emergency_stop_reaches_the_device_within_50ms_while_a_line_is_never_answered(make_device, make_server):
    board = LyingDevice()
    device = await make_device(board)
    server = await make_server(device)
    pilot = await join(server)
    observer = await join(server, "observer")
    board.silent = True  # from now on it executes lines but answers none
    for i in range(20):
        await pilot.send({"type": "control", "axes": [(900 + i) / 1000]})
        await asyncio.sleep(0.01)
    await wait_for(lambda: lines(device, "B9"))
    pressed = time.monotonic()
    await observer.send({"type": "estop", "engaged": True})
    neutral = await wait_for(lambda: next((t for t, line in lines(device, "B0") if t > pressed), None), timeout=2)
    record_figure("e-stop with a line never answered -> neutral on serial", (neutral - pressed) * 1000, 50)
    assert neutral - pressed < 0.05, f"neutral took {(neutral - pressed) * 1000:.1f} ms"
    for _ in range(10):  # the pilot keeps pushing: none of it may reach the device
        await pilot.send({"type": "control", "axes": [0.95]})
    await pilot.send({"type": "ping", "id": 7, "t": 0.0})
    await pilot.expect("pong")
    await observer.send({"type": "estop", "engaged": True})  # barrier on the serial line: a second neutral
    await wait_for(lambda: len([t for t, _ in lines(device, "B0") if t > pressed]) >= 2)
    second = [t for t, _ in lines(device, "B0") if t > pressed][1]
    assert not [line for t, line in lines(device, "B9") if neutral < t < second]


async def test_a_device_inventing_keys_cannot_grow_the_welcome_and_the_app_still_joins(make_device, make_server):
    device = await make_device(SimulatedDevice(report_ms=50))
    server = await make_server(device)
    watcher = await join(server, "observer")
    for burst in range(300):  # 300 lines of 20 never-seen keys: 6000 keys
        device.emit(" ".join(f"k{burst}_{i}:{i}" for i in range(20)))
        if burst % 20 == 0:
            await asyncio.sleep(0.005)
    warning = await watcher.expect("event", lambda m: "more than 64 different readings" in m["text"])
    assert warning["level"] == "warning"
    async with connect(server.url) as ws:
        await ws.send(json.dumps({"type": "hello", "role": "observer"}))
        welcome = await ws.recv()
    assert len(welcome) < 8000, f"welcome is {len(welcome)} bytes"
    assert len(json.loads(welcome)["readings"]) <= 64
    session = ClientSession(server.url, role=Role.PILOT, token=server.token)
    session.start()
    try:
        await wait_for(lambda: session.can_drive, timeout=5, what="the app's own client becomes pilot")
        session.send_control(Control(axes=(0.321,)))
        await wait_for(lambda: any(line == "B321" for _, line in lines(device, "B")))
    finally:
        await session.stop()


class SlowReader(WsClient):
    """A pilot on a slow laptop: it takes a millisecond over every message it reads."""

    async def _reader(self) -> None:
        try:
            async for frame in self.ws:
                self.raw.append(frame)
                self.messages.append(json.loads(frame))
                await asyncio.sleep(0.001)
        except Exception:
            pass


async def test_a_flood_of_10000_report_lines_a_second_never_pushes_a_reading_pilot_out(make_device, make_server):
    device = await make_device(SimulatedDevice(report_ms=50))
    server = await make_server(device)
    joined = time.monotonic()
    pilot = await join(server, client=SlowReader)
    started = time.monotonic()
    value = 0
    while time.monotonic() - started < 3.0:  # 50 lines every 5 ms: 10 000 lines a second
        for i in range(50):
            device.emit(f"A0:{i} A1:{value} flood:{i}")
        value += 1
        if value % 2 == 0:
            await pilot.send({"type": "control", "axes": [value / 10000]})
        await asyncio.sleep(0.005)
    final = value + 1
    await pilot.send({"type": "control", "axes": [final / 10000]})
    await wait_for(lambda: any(line == f"B{round(final / 10)}" for _, line in lines(device, "B")), timeout=3)
    assert pilot.ws.close_code is None, f"pilot was dropped: {pilot.ws.close_reason}"
    elapsed = time.monotonic() - joined
    assert 100 < len(pilot.of_type("reading")) <= 100 * elapsed + 3, "merged to at most 100 readings a second"
    assert not [e for e in pilot.of_type("error")]


async def test_unsolicited_errors_and_a_restart_storm_are_counted_not_relayed_one_by_one(make_device, make_server):
    device = await make_device(SimulatedDevice(report_ms=50))
    server = await make_server(device)
    pilot = await join(server)
    started = time.monotonic()
    tick = 0
    while time.monotonic() - started < 2.0:
        device.emit("READY teleop-sim 0.1.0")  # every 10 ms: a board stuck in a reset loop
        if tick % 2 == 0:
            device.emit("ERR 3 out of range")  # answering nothing
        if tick == 10:
            device.emit("EVT note \x1b[2J\x1b[31mred\rforged log line")
        tick += 1
        await asyncio.sleep(0.01)
    await pilot.send({"type": "control", "axes": [0.777]})
    await wait_for(lambda: any(line == "B777" for _, line in lines(device, "B")), timeout=3)
    await pilot.expect("outputs", lambda m: m["lines"].get("B") == "B777")
    restarts = [e for e in pilot.of_type("event") if "restarted" in e["text"]]
    assert 1 <= len(restarts) <= 2, [e["text"] for e in restarts]
    unsolicited = [e for e in pilot.of_type("event") if "nobody asked for" in e["text"]]
    assert 1 <= len(unsolicited) <= 2
    note = await pilot.expect("event", lambda m: "forged log line" in m["text"])
    assert "\x1b" not in note["text"] and "\r" not in note["text"]
    log = server.stop()
    assert "forged log line" in log and "\x1b" not in log and "\rforged" not in log
