#!/usr/bin/env python3
"""What waiting for the pads costs, alone: SDL's own wait on its thread, and the file wait on an event loop.

No window and no Qt. Each wait runs on a thread of its own, whose CPU and wakeups
per second are read from ``/proc/self/task/<id>`` over each phase:

1. SDL's wait (teleop.desktop.sdl.wakeup) with an SDL virtual pad moved every 20 ms
   (it has no device file: only SDL's loop hears it); a reader thread stands in
   for the GUI (woken, it reads SDL's queue and rearms), its CPU not counted;
2. the file wait (teleop.desktop.sdl.filewatch) on an asyncio loop, as the GUI's
   loop runs it, with no pad at all (the keyboard drives): only the hotplug tick;
3. the same with a pipe standing in for a pad's device file, written every 20 ms
   (as an evdev pad at 50 Hz), and the same pipe still. The loop's thread reads
   the pads itself (SDL's pump and queue) when the file is readable, as the GUI
   does: that is counted, as the GUI thread's share of a stick change.

    .venv/bin/python bench/sdl_wakeup_bench.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def thread_usage(native_id: int) -> tuple[float, int]:
    """(CPU seconds, context switches) of one of this process's threads so far."""
    with open(f"/proc/self/task/{native_id}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS_PER_S  # utime, stime
    with open(f"/proc/self/task/{native_id}/status") as status:
        counts = dict(line.split(":", 1) for line in status)
    return cpu, int(counts["voluntary_ctxt_switches"]) + int(counts["nonvoluntary_ctxt_switches"])


def thread_named(name: str) -> int:
    thread = next(t for t in threading.enumerate() if t.name == name)
    assert thread.native_id is not None
    return thread.native_id


class Reader:
    """The GUI's part: woken by the wakeup, read what is queued, rearm."""

    def __init__(self, read: Callable[[], object]) -> None:
        self.read = read
        self.woke = threading.Event()
        self.stopping = False
        self.wakeup = None
        self.thread = threading.Thread(target=self._run, name="reader", daemon=True)

    def _run(self) -> None:
        while not self.stopping:
            if not self.woke.wait(0.2):
                continue
            self.woke.clear()
            self.read()
            self.wakeup.rearm()


class Mover:
    """Calls ``move`` every ``period`` seconds on a fixed grid, from a thread of its own."""

    def __init__(self, move: Callable[[int], None], period: float = 0.02) -> None:
        self.move, self.period = move, period
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="mover", daemon=True)

    def _run(self) -> None:
        step, start = 0, time.monotonic()
        while not self.stopping.wait(max(0.0, start + step * self.period - time.monotonic())):
            self.move(step)
            step += 1


def report(label: str, what: str, native_id: int, reads: Callable[[], int], seconds: float) -> None:
    """Print one phase's figures for the thread ``native_id``, measured over the next ``seconds``."""
    cpu0, switches0, reads0, t0 = *thread_usage(native_id), reads(), time.monotonic()
    time.sleep(seconds)
    cpu1, switches1 = thread_usage(native_id)
    elapsed = time.monotonic() - t0
    print(
        f"{label:<46} {what:<22} thread CPU {100 * (cpu1 - cpu0) / elapsed:5.2f} % of a core, "
        f"{(switches1 - switches0) / elapsed:7.1f} wakeups/s; pads read {(reads() - reads0) / elapsed:5.1f}/s",
        flush=True,
    )


def measure_sdl_wait(label: str, read: Callable[[], object], seconds: float, move: Callable[[int], None]) -> None:
    """SDL's wait on its thread, a reader thread standing in for the GUI."""
    from teleop.desktop.sdl.wakeup import SdlWakeup

    reader = Reader(read)
    wakeup = SdlWakeup(reader.woke.set)
    reader.wakeup = wakeup
    reader.thread.start()
    assert wakeup.start(), "SDL's library was not found"
    mover = Mover(move)
    mover.thread.start()
    time.sleep(1.0)  # settled
    report(label, "SDL's wait, a thread", thread_named("sdl-wakeup"), lambda: wakeup.wakes, seconds)
    mover.stopping.set()
    mover.thread.join()
    wakeup.stop(wait=True)
    reader.stopping = True
    reader.thread.join()


def measure_file_wait(label: str, source, read: Callable[[], object], seconds: float, move: Callable[[int], None] | None = None) -> None:
    """The file wait on an asyncio loop of its own thread, which reads the queue itself when woken."""
    import asyncio

    from teleop.desktop.sdl.filewatch import PadFileWatch

    watch = PadFileWatch(read, source=source)
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        assert watch.start(loop), "SDL's library was not found"
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="pad-loop", daemon=True)
    thread.start()
    started.wait()
    mover = Mover(move) if move is not None else None
    if mover is not None:
        mover.thread.start()
    time.sleep(1.0)  # settled
    report(label, "the GUI's loop", thread_named("pad-loop"), lambda: watch.reads, seconds)
    if mover is not None:
        mover.stopping.set()
        mover.thread.join()
    loop.call_soon_threadsafe(lambda: (watch.stop(), loop.stop()))
    thread.join()
    loop.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    from sdl_virtual import VirtualJoystick

    import teleop
    from teleop.desktop.sdl.gamepad import GamepadManager
    from teleop.desktop.sdl.padsource import PadSource, WaitMode, sdl_source

    print(f"teleop from {Path(teleop.__file__).parent}; {args.seconds:.0f} s a phase; {os.cpu_count()} cores", flush=True)
    pads = GamepadManager(mappings=[])
    pads.poll()

    pad = VirtualJoystick().attach()
    pads.poll()
    measure_sdl_wait("driving, a virtual pad moved at 50 Hz", pads.poll, args.seconds, move=lambda step: pad.axis(0, (step % 100) / 100))
    pad.detach()
    pads.poll()

    def read_sdl() -> bool:
        result = pads.poll()
        return bool(result.changed or result.added or result.removed)

    measure_file_wait("driving, no pad (the keyboard drives)", sdl_source(), read_sdl, args.seconds)

    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)

    def read_pipe() -> bool:
        """The app's read: SDL's pump empties the pad's file (here the pipe), and the pads are read."""
        try:
            got = os.read(read_end, 4096)
        except BlockingIOError:
            got = b""
        read_sdl()
        return bool(got)

    source = PadSource(
        files=lambda: {read_end: "a pipe standing in for /dev/input/event0"}, mode=lambda files: WaitMode.FILES, sdl_wait=lambda ms: False
    )
    measure_file_wait(
        "a pad's file (a pipe) written at 50 Hz", source, read_pipe, args.seconds, move=lambda step: os.write(write_end, b"x")
    )
    measure_file_wait("a pad's file (a pipe), still", source, read_pipe, args.seconds)
    pads.close()


if __name__ == "__main__":
    main()
