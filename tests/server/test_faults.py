"""Breaking things on purpose: a killed pilot, a cut network, an unplugged device, a killed server.

Each test states the bound the user relies on and also writes what it measured
to ``tests/artifacts/fault-figures.jsonl`` (the closing note and the README
quote these). The bounds are safety promises, with a wide margin over what is
measured, not speed goals.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest
from conftest import WsClient, device_lines, wait_for
from faultkit import PILOT, TOKEN, CutCable, neutral_after, record_figure, start_pilot  # noqa: F401
from guitools import ServerProcess
from websockets.asyncio.client import connect


async def test_killed_pilot_process_puts_outputs_to_neutral_within_300ms(make_bridge, pty_device):
    bridge = await make_bridge(pty_device.path, auth=True, token=TOKEN)
    pilot = await start_pilot(f"ws://127.0.0.1:{bridge.port}")
    try:
        await wait_for(lambda: "B500" in device_lines(pty_device))
        killed = time.monotonic()
        pilot.send_signal(signal.SIGKILL)
        neutral = await wait_for(lambda: neutral_after(pty_device, killed), timeout=2)
    finally:
        with contextlib.suppress(ProcessLookupError):
            pilot.kill()
        await pilot.wait()
    record_figure("pilot SIGKILL -> neutral on serial", (neutral - killed) * 1000, 300)
    assert neutral - killed < 0.3


@pytest.mark.skipif(shutil.which("ip") is None or os.geteuid() != 0, reason="network namespaces need root and iproute2")
async def test_cutting_the_pilots_network_mid_drive_puts_outputs_to_neutral_within_300ms(pty_device, tmp_path):
    with CutCable() as cable:
        token_file = tmp_path / "pilot-token"
        token_file.write_text(TOKEN)
        server = await asyncio.create_subprocess_exec(
            *cable.inside(cable.server_ns),
            *(sys.executable, "-m", "teleop_server", "--serial", pty_device.path, "--host", cable.SERVER_IP, "--port", "8765"),
            *("--token-file", str(token_file)),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        pilot = None
        try:
            url = f"ws://{cable.SERVER_IP}:8765"
            deadline = time.monotonic() + 10
            while True:  # the server listens inside its namespace: ask from the pilot's
                probe = await asyncio.create_subprocess_exec(
                    *cable.inside(cable.pilot_ns),
                    *(sys.executable, "-c", f"import socket; socket.create_connection(('{cable.SERVER_IP}', 8765), 1)"),
                    stderr=asyncio.subprocess.DEVNULL,
                )
                if await probe.wait() == 0:
                    break
                assert time.monotonic() < deadline, "the server in its namespace did not start listening"
                await asyncio.sleep(0.1)
            pilot = await start_pilot(url, *cable.inside(cable.pilot_ns))
            await wait_for(lambda: "B500" in device_lines(pty_device), timeout=5)
            cut = time.monotonic()
            cable.cut()
            neutral = await wait_for(lambda: neutral_after(pty_device, cut), timeout=2)
            assert pilot.returncode is None, "the pilot process still runs: only its network is gone"
        finally:
            for process in (pilot, server):
                if process is not None:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    await process.wait()
    record_figure("pilot network cut (veth down) -> neutral on serial", (neutral - cut) * 1000, 300)
    assert neutral - cut < 0.3


# -- the serial side ---------------------------------------------------------------------------


async def test_serial_unplug_tells_every_client_writes_nothing_and_control_resumes_after_ready(
    make_bridge, make_client, pty_device, tmp_path
):
    record = tmp_path / "drive.jsonl"
    bridge = await make_bridge(pty_device.path, record=str(record))
    watchers = [await make_client(bridge, {"role": "observer", "client": f"watcher-{i}"}) for i in range(3)]
    pilot = await make_client(bridge, {"role": "pilot", "client": "pilot"})
    axis = [0.5]

    async def drive() -> None:
        while True:
            await pilot.send({"type": "control", "axes": list(axis)})
            await asyncio.sleep(0.02)

    driver = asyncio.create_task(drive())
    try:
        await wait_for(lambda: "B500" in device_lines(pty_device))
        marks = [c.mark() for c in [*watchers, pilot]]
        unplugged = time.monotonic()
        await pty_device.unplug()
        for client, mark in zip([*watchers, pilot], marks, strict=True):
            await client.expect("status", lambda m: m["serial"]["state"] == "lost", timeout=1.0, since=mark)
        told = time.monotonic() - unplugged
        axis[0] = 0.9  # driven while unplugged: must reach no port
        await asyncio.sleep(0.5)
        axis[0] = 0.35
        await pty_device.start()  # replug: a fresh pty behind the same path; the device prints READY at once
        ready = time.monotonic()
        resumed = await wait_for(lambda: next((t for t, line in list(pty_device.received_lines) if t > ready and line == "B350"), None), 3)
    finally:
        driver.cancel()
    record_figure("serial unplug -> every client told", told * 1000, 1000)
    record_figure("device READY -> control resumed", (resumed - ready) * 1000, 2000)
    assert told < 1.0
    assert resumed - ready < 2.0
    assert "B900" not in device_lines(pty_device)
    # the recorder writes from its own thread, a few ms behind: wait for the reopen to be on disk
    await wait_for(lambda: record.read_text().count("serial waiting_ready") >= 2, what="the reopen in the record file")
    records = [json.loads(line) for line in record.read_text().splitlines()]
    lost = next(i for i, r in enumerate(records) if r["kind"] == "event" and r["text"].startswith("serial lost"))
    reopened = next(i for i, r in enumerate(records) if i > lost and r["kind"] == "event" and r["text"].startswith("serial waiting_ready"))
    assert not [r for r in records[lost:reopened] if r["kind"] == "command"], "nothing is written while the port is gone"


async def test_a_port_that_cannot_be_opened_is_told_once_not_at_every_retry(tmp_path):
    """A path that exists but is no serial port the server may open (a file, a tty without permission to it)
    is retried every second; the clients and the log hear of it once, then of the device when it comes.
    The same when a device that was driving is unplugged and its path stays unopenable for a while."""
    from teleop_server.device.simulated import PtyDevice, SimulatedDevice

    port = tmp_path / "ttyROBOT"
    port.write_text("")
    server = ServerProcess(str(port))
    await asyncio.to_thread(server.start)
    device = PtyDevice(SimulatedDevice(report_ms=50), link=str(port))
    try:
        async with connect(server.url) as ws:
            watcher = WsClient(ws)
            await watcher.send({"type": "hello", "role": "observer", "client": "watcher"})
            welcome = await watcher.expect("welcome")
            assert "cannot open" in welcome["status"]["serial"]["detail"]
            for phase in ("never opened", "unplugged"):
                mark = watcher.mark()
                await asyncio.sleep(2.5)  # retries at 0.25, 0.5, then every 1 s
                await device.start()  # the device appears at that very path (an atomic swap)
                ready = await watcher.expect("event", lambda m: m["text"].startswith("device ready"), timeout=10, since=mark)
                told = watcher.messages[mark : watcher.messages.index(ready)]
                lost = [m["text"] for m in told if m.get("type") == "event" and "serial link lost" in m["text"]]
                assert len(lost) <= 1, f"{phase}: told at every retry: {lost}"
                states = [m["serial"]["state"] for m in told if m.get("type") == "status"]
                assert "opening" not in states, f"{phase}: {states}"
                if phase == "never opened":
                    mark = watcher.mark()
                    await device.unplug()
                    await watcher.expect("event", lambda m: "serial link lost" in m["text"], since=mark)
                    port.write_text("")  # the path is back at once, but no port the server can open
    finally:
        output = await asyncio.to_thread(server.stop)
        await device.stop()
    said = [line for line in output.splitlines() if "cannot open" in line]
    assert 1 <= len(said) <= 5, "\n".join(said)


# -- nothing lost: --record across a serial reconnect, then SIGKILL --------------------------------


async def test_record_file_holds_every_reading_and_command_when_the_server_is_killed(pty_device, tmp_path):
    record = tmp_path / "drive.jsonl"
    server = ServerProcess(pty_device.path, extra=["--record", str(record)], token=TOKEN)
    await asyncio.to_thread(server.start)
    try:
        watcher = WsClient(await connect(server.url))
        await watcher.send({"type": "hello", "role": "pilot", "client": "recorder-check", "token": TOKEN})
        await watcher.expect("status", lambda m: m["serial"]["state"] == "ready", timeout=10)
        for value in (0.1, 0.2, 0.3):
            await watcher.send({"type": "control", "axes": [value]})
            await asyncio.sleep(0.15)
        mark = watcher.mark()
        await pty_device.unplug()
        await watcher.expect("status", lambda m: m["serial"]["state"] == "lost", since=mark)
        await pty_device.start()
        await watcher.expect("status", lambda m: m["serial"]["state"] == "ready", timeout=5, since=mark)
        lags = []
        for value in (0.4, 0.5, 0.6):
            await watcher.send({"type": "control", "axes": [value]})
            line = f"B{round(value * 1000)}"
            at_device = await wait_for(
                lambda line=line: next((t for t, got in list(pty_device.received_lines) if got == line), None), interval=0.001
            )
            await wait_for(lambda line=line: f'"{line}"' in record.read_text(), timeout=1, interval=0.001)
            lags.append(time.monotonic() - at_device)
            await asyncio.sleep(0.15)
        readings_seen = len(watcher.of_type("reading"))
        await asyncio.sleep(0.1)  # the promise: a record reaches the OS within 100 ms
        server.process.send_signal(signal.SIGKILL)  # no shutdown, no flush, no goodbye
        await asyncio.to_thread(server.process.wait)
    finally:
        server.stop()
    record_figure("command read by the device -> in the record file (worst of 3)", max(lags) * 1000, 100)
    records = [json.loads(line) for line in record.read_text().splitlines()]  # every line whole
    recorded_readings = [r["values"] for r in records if r["kind"] == "reading"]
    received = [m["values"] for m in watcher.of_type("reading")[:readings_seen]]
    assert received and all(values in recorded_readings for values in received)
    recorded_commands = [r["line"] for r in records if r["kind"] == "command"]
    for line in ("B100", "B200", "B300", "B400", "B500", "B600"):
        assert line in recorded_commands
    device_got = [line for line in device_lines(pty_device) if line[:1] in "BA"]
    assert all(line in recorded_commands for line in device_got), "every command the device received is on disk"


# -- bad input, thrown for a while (bench/abuse.py runs the same for minutes) ----------------------


async def test_bad_input_storm_is_answered_or_closed_cleanly_and_the_pilot_keeps_control():
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from abuse import BAD_FRAMES, storm

    figures = await storm(6, attackers=4, quiet=True)
    assert figures["server_alive"]
    assert figures["unclean"] == [], "every bad frame is answered or its connection closed with a code"
    assert figures["lost_control"] == [], "the pilot keeps control throughout"
    assert figures["pilot_commands_delivered"] > 150  # 50 Hz for 6 s, minus start-up
    assert set(figures["sent"]) >= {*BAD_FRAMES, "wrong_token"}
