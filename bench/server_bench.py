#!/usr/bin/env python3
"""Latency figures for the bridge server, measured on loopback with a pty standing in for the Arduino.

Prints, for a ``teleop-server`` process bridging to a simulated device on a pty:

1. command latency: pilot's WebSocket send -> line read on the serial side, at 100 Hz;
2. reading latency: report line written by the device -> message received, to 50 clients at 50 Hz;
3. a stuck observer: a client process frozen with SIGSTOP (its socket still open, reading
   nothing) while 1. and 2. run again; how long until the server drops it.
4. staleness under overload: the device drains only 960 bytes/s (a 9600-baud line) while the
   pilot sends at 500 Hz; how old each command is when the device reads it.

Targets (issue 2): command p99 <= 2 ms; readings p99 <= 5 ms; staleness <= 20 ms.
All clocks are CLOCK_MONOTONIC, shared by every process on the machine.

    .venv/bin/python bench/server_bench.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stats import percentiles  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from server.simdevice import PtyDevice, SimulatedDevice  # noqa: E402
from teleop.app import free_port  # noqa: E402


async def start_server(serial_path: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server",
            "--serial",
            serial_path,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--failsafe-ms",
            "1000",
            "--no-auth",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            async with connect(f"ws://127.0.0.1:{port}") as ws:
                await ws.send(json.dumps({"type": "hello", "role": "observer"}))
                welcome = json.loads(await ws.recv())
                if welcome["status"]["serial"]["state"] == "ready":
                    return proc
        except OSError:
            pass
        await asyncio.sleep(0.05)
    proc.kill()
    raise SystemExit("server did not become ready")


async def drive_as_pilot(
    device: PtyDevice, port: int, count: int, interval: float, settle: float
) -> tuple[dict[str, float], list[tuple[float, str]]]:
    """Send ``count`` controls with distinct B values; return when each was sent and what the device read."""
    sent: dict[str, float] = {}
    async with connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
        await ws.send(json.dumps({"type": "hello", "role": "pilot", "client": "bench"}))
        await ws.recv()
        start_index = len(device.received_lines)
        for i in range(count):
            value = (i % 1800) - 900 or 1  # distinct from its neighbours, never the neutral 0
            sent[f"B{value}"] = time.monotonic()
            await ws.send(json.dumps({"type": "control", "seq": i, "axes": [value / 1000]}))
            await asyncio.sleep(interval)
        await asyncio.sleep(settle)
    return sent, list(device.received_lines)[start_index:]


async def command_latency(device: PtyDevice, port: int, seconds: float) -> list[float]:
    sent, received = await drive_as_pilot(device, port, int(seconds * 100), 0.01, 0.2)
    return [t - sent[line] for t, line in received if line in sent and t >= sent[line]]


CLIENTS_SCRIPT = r"""
import asyncio, json, sys, time
from websockets.asyncio.client import connect
async def one(port, seconds, out):
    async with connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
        await ws.send(json.dumps({"type": "hello", "role": "observer"}))
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                frame = await asyncio.wait_for(ws.recv(), 1)
            except TimeoutError:
                continue
            now = time.monotonic()
            if '"bench"' in frame:
                mark = json.loads(frame).get("values", {}).get("bench")  # a status may name the pilot "bench"
                if mark is not None:
                    out.append((mark, now))
async def main(port, count, seconds):
    outs = [[] for _ in range(count)]
    await asyncio.gather(*(one(port, seconds, o) for o in outs))
    print(json.dumps(outs))
asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))
"""


async def reading_latency(device: PtyDevice, port: int, clients: int, seconds: float) -> tuple[list[float], int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLIENTS_SCRIPT, str(port), str(clients), str(seconds + 2), stdout=asyncio.subprocess.PIPE, cwd=ROOT
    )
    await asyncio.sleep(1.5)  # let every client connect
    written: dict[int, float] = {}
    for seq in range(1, int(seconds * 50) + 1):
        written[seq] = time.monotonic()
        device.emit(f"bench:{seq}")
        await asyncio.sleep(0.02)
    out, _ = await proc.communicate()
    per_client = json.loads(out)
    samples = [t - written[seq] for received in per_client for seq, t in received if seq in written]
    missing = clients * len(written) - len(samples)
    return samples, missing


STUCK_SCRIPT = r"""
import asyncio, json, socket, sys
from websockets.asyncio.client import connect
async def main(port):
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)  # a phone on bad Wi-Fi: tiny window
    sock.connect(("127.0.0.1", port))
    async with connect(f"ws://127.0.0.1:{port}", sock=sock) as ws:
        await ws.send(json.dumps({"type": "hello", "role": "observer", "client": "stuck"}))
        await ws.recv()
        print("connected", flush=True)
        await asyncio.sleep(3600)
asyncio.run(main(int(sys.argv[1])))
"""


async def client_count(port: int) -> int:
    async with connect(f"ws://127.0.0.1:{port}") as ws:
        await ws.send(json.dumps({"type": "hello", "role": "observer", "client": "counter"}))
        welcome = json.loads(await ws.recv())
        return welcome["status"]["clients"] - 1


async def with_a_stuck_observer(
    device: PtyDevice, port: int, clients: int, seconds: float
) -> tuple[list[float], list[float], float | None]:
    """Freeze one observer, then measure commands and readings as in 1. and 2.; return when it was dropped."""
    stuck = await asyncio.create_subprocess_exec(sys.executable, "-c", STUCK_SCRIPT, str(port), stdout=asyncio.subprocess.PIPE, cwd=ROOT)
    assert stuck.stdout is not None
    await stuck.stdout.readline()
    stuck.send_signal(signal.SIGSTOP)
    frozen = time.monotonic()
    dropped: list[float] = []

    async def watch_drop() -> None:
        while not dropped:
            await asyncio.sleep(0.25)
            if await client_count(port) == 0:
                dropped.append(time.monotonic() - frozen)

    watcher = asyncio.create_task(watch_drop())
    try:
        readings, _ = await reading_latency(device, port, clients, seconds)
        commands = await command_latency(device, port, seconds)
        while not dropped and time.monotonic() - frozen < 60:
            device.emit("pad:" + "9" * 60)  # keep readings flowing until the stuck client's queue fills
            await asyncio.sleep(0.02)
    finally:
        watcher.cancel()
        stuck.send_signal(signal.SIGCONT)
        stuck.kill()
        await stuck.wait()
    return commands, readings, dropped[0] if dropped else None


async def staleness_under_overload(port_path: str, seconds: float) -> tuple[list[float], int, int]:
    device = PtyDevice(SimulatedDevice(report_ms=0), link=port_path, drain_bytes_per_s=960)
    await device.start()
    port = free_port()
    server = await start_server(device.path, port)
    try:
        n = int(seconds * 500)
        sent, lines = await drive_as_pilot(device, port, n, 0.002, 0.5)
        received = [(t, line) for t, line in lines if line.startswith("B")]
        ages = [t - sent[line] for t, line in received if line in sent and t >= sent[line]]
        return ages, n, len(received)
    finally:
        server.terminate()
        server.wait()
        await device.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measurement (default: %(default)s)")
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="teleop-bench-")
    print(f"teleop server bench on {os.cpu_count()} cores, Python {sys.version.split()[0]}\n")

    device = PtyDevice(SimulatedDevice(report_ms=0), link=os.path.join(tmp, "tty"))
    await device.start()
    port = free_port()
    server = await start_server(device.path, port)
    try:
        samples = await command_latency(device, port, args.seconds)
        print(f"1. command latency, pilot send -> serial line, 100 Hz:   {percentiles(samples)}   (target p99 <= 2 ms)")
        samples, missing = await reading_latency(device, port, args.clients, args.seconds)
        print(
            f"2. reading latency, device line -> {args.clients} clients, 50 Hz: {percentiles(samples)}   missing={missing}   (target p99 <= 5 ms)"
        )
        commands, readings, dropped_after = await with_a_stuck_observer(device, port, args.clients, args.seconds)
        drop = f"dropped after {dropped_after:.1f} s" if dropped_after is not None else "NOT dropped within 60 s"
        print(
            "3. with one observer frozen (SIGSTOP, 2 KiB receive window):\n"
            f"   command latency:  {percentiles(commands)}   (target p99 <= 2 ms)\n"
            f"   reading latency to the {args.clients} others: {percentiles(readings)}   (target p99 <= 5 ms)\n"
            f"   the stuck client: {drop}"
        )
    finally:
        server.terminate()
        server.wait()
        await device.stop()

    ages, sent, received = await staleness_under_overload(os.path.join(tmp, "slow"), min(args.seconds, 5.0))
    print(
        f"4. overload, 960 B/s line, pilot at 500 Hz: sent {sent}, device read {received} (the rest superseded)\n"
        f"   age of each command when the device read it:   {percentiles(ages)}   (target <= 20 ms)"
    )


if __name__ == "__main__":
    asyncio.run(main())
