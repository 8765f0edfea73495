#!/usr/bin/env python3
"""What a chatty device costs the pilot: command latency while the board prints 10 000 lines a second.

A ``teleop-server`` process bridges to a simulated device on a pty in this
process (bench/rig.py). The pilot sends a new stick value every 10 ms and
reads everything it is sent; each command's latency is its WebSocket send ->
the line read on the serial side (both on CLOCK_MONOTONIC). First without a
flood, then with the device printing ``--lines-per-s`` report lines a second.

Target (issue 11): pilot command p99 under 5 ms during the flood, and the
pilot never dropped.

    .venv/bin/python bench/device_flood.py [--seconds 10] [--lines-per-s 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rig import start_rig
from stats import percentiles, rss_kib
from websockets.asyncio.client import connect


async def run_phase(rig, seconds: float, lines_per_s: int) -> None:
    device = rig.device
    async with connect(rig.url, max_queue=None) as ws:
        await ws.send(json.dumps({"type": "hello", "role": "pilot", "client": "bench", "token": rig.token}))
        welcome = json.loads(await ws.recv())
        assert welcome["role"] == "pilot", welcome
        received = 0

        async def read() -> None:
            nonlocal received
            async for _ in ws:
                received += 1

        reader = asyncio.create_task(read())
        sent: dict[str, float] = {}
        start = len(device.received_lines)
        burst = max(1, lines_per_s // 200)  # every 5 ms
        began = time.monotonic()
        next_flood = next_control = began
        value = 0
        while time.monotonic() - began < seconds:
            now = time.monotonic()
            if lines_per_s and now >= next_flood:
                for i in range(burst):
                    device.emit(f"A0:{i} A1:{value} flood:{i}")
                next_flood += 0.005
            if now >= next_control:
                value = value % 900 + 1
                sent[f"B{value}"] = time.monotonic()
                await ws.send(json.dumps({"type": "control", "axes": [value / 1000]}))
                next_control += 0.01
            await asyncio.sleep(max(0.0, min(next_flood, next_control) - time.monotonic()))
        await asyncio.sleep(0.5)
        reader.cancel()
        closed = ws.close_code
    latencies = []
    seen: set[str] = set()
    for t, line in list(device.received_lines)[start:]:
        if line in sent and line not in seen:
            seen.add(line)
            latencies.append(t - sent[line])
    label = f"{lines_per_s} lines/s" if lines_per_s else "no flood"
    print(f"{label:>16}: command latency {percentiles(latencies)}; delivered {len(seen)}/{len(sent)}", flush=True)
    print(f"{'':>16}  pilot received {received} messages, still connected: {closed is None}; server RSS {rss_kib(rig.server.pid)} KiB")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--lines-per-s", type=int, default=10_000)
    parser.add_argument("--record", metavar="FILE", help="run the server with --record FILE (what recording every reading costs)")
    args = parser.parse_args()
    rig = await start_rig(report_ms=50, extra=["--record", args.record] if args.record else None)
    try:
        await run_phase(rig, args.seconds, 0)
        await run_phase(rig, args.seconds, args.lines_per_s)
    finally:
        await rig.stop()


if __name__ == "__main__":
    asyncio.run(main())
