#!/usr/bin/env python3
"""Video figures: the camera served at /video.mjpg on loopback, with a real encoder behind it.

``teleop-server`` runs in its own process with ``--camera cmd:ffmpeg ... testsrc 640x480 30 fps
-f mjpeg -`` (Debian's ffmpeg, the same source as the tests) and a simulated device on a pty
in this process. Viewers are raw HTTP readers in a separate process (asyncio protocols feeding
:class:`teleop.wire.mjpeg.MultipartReader`, nothing else in the receive path). Prints:

1. frames per second delivered and capture -> received latency (receive time minus the frame's
   X-Capture-Time, both on this machine's clock) p50/p99, with 1 and with 10 viewers;
2. the server's CPU (its own threads, from /proc; ffmpeg is a separate process and not counted)
   with 0, 1 and 10 viewers, and per viewer;
3. the pilot's command latency (WebSocket send -> serial line, 100 Hz) and reading latency
   (device line -> observer, 50 Hz) with no viewers and while 10 viewers watch.

Targets (issue 15): server CPU <= 2 % of a core per viewer (no re-encoding); command p99 <= 2 ms
and readings p99 <= 5 ms with 10 viewers on. The capture time is when a frame's last byte
reached the server, so encoder latency inside ffmpeg is not part of these figures.

    .venv/bin/python bench/video_bench.py [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from launcher import ServerProcess  # noqa: E402  (the one server launcher, shared with the tests)
from ports import steady_port  # noqa: E402
from server_bench import cpu_seconds, reading_latency  # noqa: E402
from stats import percentiles  # noqa: E402

from teleop_server.device.simulated import PtyDevice, SimulatedDevice  # noqa: E402

CAMERA = "cmd:ffmpeg -loglevel error -re -f lavfi -i testsrc=size=640x480:rate=30 -f mjpeg -q:v 5 -"

#: Viewers in one process: raw sockets, MultipartReader, the arrival time of every frame.
VIEWERS_SCRIPT = r"""
import asyncio, json, sys, time
from teleop.wire.mjpeg import Frame, MultipartReader
class Viewer(asyncio.Protocol):
    def __init__(self, out):
        self.out, self.head, self.reader = out, b"", None
    def connection_made(self, transport):
        transport.write(b"GET /video.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    def data_received(self, data):
        now = time.time()
        if self.reader is None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            self.reader = MultipartReader()
            data = self.head[end + 4:]
        for item in self.reader.feed(data):
            if isinstance(item, Frame) and item.capture_time:
                self.out.append(now - item.capture_time)
async def main(port, count, seconds):
    loop = asyncio.get_running_loop()
    outs = [[] for _ in range(count)]
    for out in outs:
        await loop.create_connection(lambda out=out: Viewer(out), "127.0.0.1", port)
    print("watching", flush=True)
    await asyncio.sleep(1.0)  # the first frames include the connection set-up
    for out in outs:
        out.clear()
    await asyncio.sleep(seconds)
    print(json.dumps(outs), flush=True)
asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))
"""


async def start_viewers(port: int, count: int, seconds: float) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", VIEWERS_SCRIPT, str(port), str(count), str(seconds), stdout=asyncio.subprocess.PIPE, cwd=ROOT
    )
    assert proc.stdout is not None
    assert (await proc.stdout.readline()).strip() == b"watching"
    return proc


async def watch(port: int, count: int, seconds: float, server_pid: int) -> tuple[list[list[float]], float]:
    """``count`` viewers for ``seconds``: each one's latencies, and the server's CPU seconds meanwhile."""
    proc = await start_viewers(port, count, seconds)
    await asyncio.sleep(1.0)
    before = cpu_seconds(server_pid)
    out, _ = await proc.communicate()
    cpu = cpu_seconds(server_pid) - before
    return json.loads(out), cpu


async def idle_cpu(server_pid: int, seconds: float) -> float:
    before = cpu_seconds(server_pid)
    await asyncio.sleep(seconds)
    return cpu_seconds(server_pid) - before


def per_core(cpu: float, seconds: float) -> str:
    return f"{100 * cpu / seconds:.2f} % of a core"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    seconds = args.seconds
    device = PtyDevice(SimulatedDevice(report_ms=50), link=os.path.join(tempfile.mkdtemp(), "ttyROBOT"))
    path = await device.start()
    port = steady_port()
    server = ServerProcess(path, port, ["--camera", CAMERA, "--no-announce", "--failsafe-ms", "1000", "--no-auth"], quiet=True)
    await asyncio.to_thread(server.start)
    try:
        await server.serial_ready()
        await asyncio.sleep(1.0)  # ffmpeg up and frames flowing
        print(f"teleop-server with {CAMERA[4:]}; loopback; other agents were loading this 2-core machine\n")
        idle = await idle_cpu(server.pid, seconds)
        print(f"server CPU, camera on, 0 viewers:   {per_core(idle, seconds)}")
        for count in (1, 10):
            outs, cpu = await watch(port, count, seconds, server.pid)
            fps = [len(out) / seconds for out in outs]
            print(
                f"{count:2d} viewer(s): fps delivered min {min(fps):.1f} mean {sum(fps) / len(fps):.1f};  "
                f"capture -> received {percentiles([s for out in outs for s in out])}"
            )
            extra = cpu - idle
            print(
                f"    server CPU {per_core(cpu, seconds)}; above 0 viewers {per_core(extra, seconds)}, "
                f"per viewer {per_core(extra / count, seconds)}   (target <= 2 %)"
            )
        samples, missing, _, _, commands, _ = await reading_latency(device, port, 1, seconds, pilot=True)
        print(f"\nno viewers:  command {percentiles(commands)}\n             reading {percentiles(samples)}  missing={missing}")
        viewers = await start_viewers(port, 10, seconds + 6)
        samples, missing, _, _, commands, _ = await reading_latency(device, port, 1, seconds, pilot=True)
        outs = json.loads((await viewers.communicate())[0])
        print(
            f"10 viewers:  command {percentiles(commands)}   (target p99 <= 2 ms)\n"
            f"             reading {percentiles(samples)}  missing={missing}   (target p99 <= 5 ms)\n"
            f"             video meanwhile: {min(len(o) for o in outs) / (seconds + 6):.1f} fps min per viewer"
        )
    finally:
        await asyncio.to_thread(server.stop)
        await device.stop()


if __name__ == "__main__":
    asyncio.run(main())
