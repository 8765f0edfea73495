"""What MCAP recording costs and what a crash loses.

    python bench/record_mcap_bench.py [--quick]

Prints four figures:

1. server CPU per reading, recording off / JSON lines / MCAP: the process CPU
   (event loop and writer thread together) to offer 20 000 readings, each with
   the command and the pilot frame that go with it, divided by the readings;
2. file size per hour at 50 Hz readings, commands and pilot frames, without
   and with 640x480 video at 30 fps (the sim camera's picture, JPEG quality 80),
   from 60 s written through the MCAP file end and scaled to an hour;
3. what a SIGKILL loses: ``teleop-server --record FILE.mcap`` on the sim device
   with a pilot driving at 50 Hz is killed at random moments; the figure is the
   time from the newest message read back to the kill;
4. replay start for a one-hour file: ``teleop-server --replay FILE`` started
   until a WebSocket client has its first reading; opening the file and a
   seek to the middle (the first message there and the reading shown); the
   same for the file crashed (no index), which is read front to back.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from mcap.reader import NonSeekingReader, make_reader
from ports import steady_port

from teleop_server.camera.simulated import TestPicture
from teleop_server.record.jsonlines import Recorder as JsonLinesRecorder
from teleop_server.record.mcapfile import McapFile, McapRecorder
from teleop_server.record.writer import Entry, Trouble

VALUES = {f"A{n}": 512 + n for n in range(4)} | {"D2": 0, "disp": 500, "led": 0, "O0": 1500, "O1": 1500, "O2": 0, "O3": 0, "wd": 1}
CONTROL = json.dumps({"type": "control", "seq": 1, "t": 1.0, "axes": [0.5, -0.25, 0, 0, 0, 0], "buttons": [0] * 15, "layout": "standard"})


def cpu_per_reading(folder: Path, count: int) -> dict[str, float]:
    out = {}
    for name in ("off", "jsonl", "mcap"):
        recorder = None
        if name == "jsonl":
            recorder = JsonLinesRecorder(str(folder / "cpu.jsonl"))
        elif name == "mcap":
            recorder = McapRecorder(str(folder / "cpu.mcap"))
        started = time.process_time()
        for n in range(count):
            if recorder is not None:
                recorder.reading(VALUES, n)
                recorder.command("B500")
                recorder.control(1, CONTROL)
            if n % 20 == 0:
                time.sleep(0.001)  # let the writer thread run as it would between readings
        if recorder is not None:
            recorder.close(timeout=30)
        out[name] = (time.process_time() - started) / count * 1e6
    return out


def size_per_hour(folder: Path, seconds: int, video: bool) -> float:
    path = folder / f"size-{video}.mcap"
    clock = [1_790_000_000.0]
    file = McapFile(str(path), Trouble(str(path), lambda *_: None), clock=lambda: clock[0], monotonic=lambda: clock[0])
    picture = TestPicture(640, 480, 80) if video else None
    frames = [picture.render(n) for n in range(30)] if picture else []
    for tick in range(seconds * 50):
        t = clock[0] = 1_790_000_000.0 + tick / 50
        batch = [Entry(t, "reading", VALUES, tick), Entry(t, "command", f"B{tick % 1000}"), Entry(t, "control", CONTROL, 1)]
        if video and tick % 5 in (0, 2, 3):  # 30 of 50 ticks
            batch.append(Entry(t, "frame", frames[tick % 30]))
        file.write(batch)
    file.close()
    return path.stat().st_size * 3600 / seconds


def sigkill_loss(folder: Path, trials: int) -> list[float]:
    from websockets.sync.client import connect

    losses = []
    for trial in range(trials):
        path = folder / f"kill-{trial}.mcap"
        port = steady_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "teleop_server",
                "--no-auth",
                "--no-announce",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--record",
                str(path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    pilot = connect(f"ws://127.0.0.1:{port}", open_timeout=1)
                    break
                except OSError:
                    assert time.monotonic() < deadline, "the server did not start"
                    time.sleep(0.1)
            with pilot:
                pilot.send(json.dumps({"type": "hello", "role": "pilot", "client": "bench"}))
                drive_until = time.monotonic() + 3 + random.random() * 2
                while time.monotonic() < drive_until:
                    pilot.send(CONTROL)
                    time.sleep(0.02)
                killed = time.time()
                os.kill(server.pid, signal.SIGKILL)
        finally:
            server.wait()
        newest = 0
        with path.open("rb") as f:
            try:
                for _, _, message in NonSeekingReader(f).iter_messages(log_time_order=False):
                    newest = max(newest, message.log_time)
            except Exception:
                pass
        losses.append(killed - newest / 1e9)
    return losses


def first_reading_from(path: Path) -> float:
    """Seconds from starting ``teleop-server --replay FILE`` to the first reading a WebSocket client receives."""
    from websockets.sync.client import connect

    port = steady_port()
    started = time.perf_counter()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "teleop_server",
            "--replay",
            str(path),
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--no-auth",
            "--no-announce",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                ws = connect(f"ws://127.0.0.1:{port}", open_timeout=1)
                break
            except OSError:
                time.sleep(0.005)
        with ws:
            ws.send(json.dumps({"type": "hello", "role": "observer", "client": "bench"}))
            while json.loads(ws.recv(timeout=120))["type"] != "reading":
                pass
        return time.perf_counter() - started
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)


def replay_start(folder: Path, seconds: int) -> dict[str, float]:
    from teleop_server.record.replay import McapSource

    path = folder / "hour.mcap"
    clock = [1_790_000_000.0]
    file = McapFile(str(path), Trouble(str(path), lambda *_: None), clock=lambda: clock[0], monotonic=lambda: clock[0])
    for tick in range(seconds * 50):
        t = clock[0] = 1_790_000_000.0 + tick / 50
        file.write([Entry(t, "reading", VALUES, tick), Entry(t, "command", "B500"), Entry(t, "control", CONTROL, 1)])
    file.close()
    with path.open("rb") as f:
        summary = make_reader(f).get_summary()
    crashed = folder / "hour-crashed.mcap"
    with path.open("rb") as f, crashed.open("wb") as out:
        out.write(f.read()[: summary.chunk_indexes[-1].chunk_start_offset + summary.chunk_indexes[-1].chunk_length])

    def seek_to_middle(target: Path) -> tuple[float, float]:
        """What the replay does: open the file, then a seek: the first message there and the reading shown."""
        started = time.perf_counter()
        source = McapSource.open(target)
        opened = time.perf_counter() - started
        middle = (source.start_ns + source.end_ns) // 2
        started = time.perf_counter()
        next(source.messages(middle))
        source.reading_at(middle)
        return opened, time.perf_counter() - started

    indexed_open, indexed_seek = seek_to_middle(path)
    crashed_open, crashed_seek = seek_to_middle(crashed)
    return {
        "size_mb": path.stat().st_size / 1e6,
        "messages": summary.statistics.message_count,
        "indexed_open_s": indexed_open,
        "indexed_seek_s": indexed_seek,
        "crashed_open_s": crashed_open,
        "crashed_seek_s": crashed_seek,
        "server_indexed_s": first_reading_from(path),
        "server_crashed_s": first_reading_from(crashed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller runs (a 6-minute file, 2 kills)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cpu = cpu_per_reading(folder, 5000 if args.quick else 20000)
        print(
            f"CPU per reading (+ its command and pilot frame): off {cpu['off']:.1f} us, JSON lines {cpu['jsonl']:.1f} us, MCAP {cpu['mcap']:.1f} us"
        )
        seconds = 10 if args.quick else 60
        print(
            f"MCAP size per hour at 50 Hz: {size_per_hour(folder, seconds, False) / 1e6:.1f} MB without video, "
            f"{size_per_hour(folder, seconds, True) / 1e9:.2f} GB with 640x480 video at 30 fps"
        )
        losses = sigkill_loss(folder, 2 if args.quick else 6)
        print(
            f"SIGKILL loses (newest message read back to the kill): median {statistics.median(losses) * 1000:.0f} ms, "
            f"max {max(losses) * 1000:.0f} ms over {len(losses)} kills"
        )
        replay = replay_start(folder, 360 if args.quick else 3600)
        print(
            f"{'one-hour' if not args.quick else 'six-minute'} file ({replay['messages']} messages, {replay['size_mb']:.1f} MB), "
            f"teleop-server --replay, start to the first reading at a client: {replay['server_indexed_s']:.2f} s "
            f"(opening {replay['indexed_open_s'] * 1000:.0f} ms, a seek to the middle {replay['indexed_seek_s'] * 1000:.0f} ms); "
            f"the same file crashed (no index): {replay['server_crashed_s']:.1f} s "
            f"(opening, a scan of every chunk, {replay['crashed_open_s']:.1f} s; a seek to the middle {replay['crashed_seek_s']:.1f} s)"
        )


if __name__ == "__main__":
    main()
