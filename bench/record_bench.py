"""What ``--record`` costs the event loop, and how late records reach the OS.

    python bench/record_bench.py [--seconds 3]

For each record rate (and once with a disk whose writes never return), an
asyncio loop offers records to a :class:`teleop_server.record.jsonlines.Recorder` writing to a
real file in a temporary folder while a 1 ms ticker measures how late the loop
runs. Prints, per case: records offered, dropped, the slowest single offer,
the ticker's lateness (p50/p99/max) and the lag from offer to the write()
that handed the record to the OS (p50/p99/max).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from teleop_server.record.jsonlines import FileSystem, Recorder


class TimedDisk(FileSystem):
    """The real file system, noting when each write returned (and hanging while ``gate`` is clear)."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.gate = threading.Event()
        self.gate.set()

    def write(self, fd, data):
        self.gate.wait()
        n = super().write(fd, data)
        done = time.time()
        for line in bytes(data[:n]).splitlines():
            if line.strip():
                self.lags.append(done - json.loads(line)["t"])
        return n


def percentiles(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return f"p50 {pick(0.5):.2f}  p99 {pick(0.99):.2f}  max {ordered[-1] * 1000:.2f} ms"


async def case(rate: int | None, seconds: float, folder: str, *, stalled: bool = False) -> None:
    disk = TimedDisk()
    if stalled:
        disk.gate.clear()
    recorder = Recorder(f"{folder}/drive-{rate}-{stalled}.jsonl", fs=disk) if rate else None
    lateness: list[float] = []
    slowest = 0.0
    offered = 0
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds

    async def ticker() -> None:
        while loop.time() < end:
            due = loop.time() + 0.001
            await asyncio.sleep(0.001)
            lateness.append(loop.time() - due)

    async def producer() -> None:
        nonlocal slowest, offered
        if recorder is None:
            return
        per_tick = max(1, rate // 1000)
        interval = per_tick / rate
        values = {"a0": 512, "a1": 1023, "t_ms": 0}
        while loop.time() < end:
            for _ in range(per_tick):
                values["t_ms"] = offered
                started = time.perf_counter()
                recorder.reading(values)
                slowest = max(slowest, time.perf_counter() - started)
                offered += 1
            await asyncio.sleep(interval)

    await asyncio.gather(ticker(), producer())
    dropped = recorder.dropped if recorder else 0
    if recorder:
        disk.gate.set()
        await asyncio.to_thread(recorder.close, 5.0)
    label = "no recording" if rate is None else f"{rate} records/s" + (" (disk stalled)" if stalled else "")
    print(f"{label:32s} offered {offered:6d}  dropped {dropped:6d}  slowest offer {slowest * 1e6:6.0f} us")
    print(f"{'':32s} loop lateness  {percentiles(lateness)}")
    if rate and not stalled:
        print(f"{'':32s} offer -> OS    {percentiles(disk.lags)}")


async def main(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        await case(None, seconds, folder)
        for rate in (100, 1000, 10000):
            await case(rate, seconds, folder)
        await case(1000, seconds, folder, stalled=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    asyncio.run(main(parser.parse_args().seconds))
