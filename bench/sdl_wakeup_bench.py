#!/usr/bin/env python3
"""What the thread that wakes the GUI for the pads (teleop.desktop.sdl.wakeup) costs, alone.

No window and no Qt: a reader thread stands in for the GUI (woken, it reads SDL's
queue and rearms), and the wakeup thread's own CPU and wakeups per second are
read from ``/proc/self/task/<id>`` over each phase:

1. driving with an SDL virtual pad moved every 20 ms (it has no device file: SDL's loop);
2. driving with no pad at all (the keyboard drives);
3. a pipe standing in for a pad's device file, written every 20 ms (the file wait, as
   an evdev pad at 50 Hz would be waited on), and the same pipe still.

    .venv/bin/python bench/sdl_wakeup_bench.py [--seconds 10]

Against an older wakeup (no file wait), phase 3 is skipped.
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


def wakeup_thread_id() -> int:
    thread = next(t for t in threading.enumerate() if t.name == "sdl-wakeup")
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


def measure(label: str, make_wakeup, read, seconds: float, move: Callable[[int], None] | None = None) -> None:
    reader = Reader(read)
    wakeup = make_wakeup(reader.woke.set)
    reader.wakeup = wakeup
    reader.thread.start()
    assert wakeup.start(), "SDL's library was not found"
    mover = Mover(move) if move is not None else None
    if mover is not None:
        mover.thread.start()
    time.sleep(1.0)  # settled: the first look at the pads done
    native_id = wakeup_thread_id()
    cpu0, switches0, wakes0, t0 = *thread_usage(native_id), wakeup.wakes, time.monotonic()
    time.sleep(seconds)
    cpu1, switches1 = thread_usage(native_id)
    elapsed = time.monotonic() - t0
    mode = getattr(wakeup, "mode", None)
    print(
        f"{label:<46} mode: {mode.value if mode else 'SDL loop (old wakeup)':<16} thread CPU {100 * (cpu1 - cpu0) / elapsed:5.2f} % of a core, "
        f"{(switches1 - switches0) / elapsed:7.1f} wakeups/s; GUI woken {(wakeup.wakes - wakes0) / elapsed:5.1f}/s",
        flush=True,
    )
    if mover is not None:
        mover.stopping.set()
        mover.thread.join()
    wakeup.stop(wait=True)
    reader.stopping = True
    reader.thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    from sdl_virtual import VirtualJoystick

    import teleop
    from teleop.desktop.sdl import wakeup as wakeups
    from teleop.desktop.sdl.gamepad import GamepadManager

    print(f"teleop from {Path(teleop.__file__).parent}; {args.seconds:.0f} s a phase; {os.cpu_count()} cores", flush=True)
    pads = GamepadManager(mappings=[])
    pads.poll()

    pad = VirtualJoystick().attach()
    pads.poll()
    measure(
        "driving, a virtual pad moved at 50 Hz",
        wakeups.SdlWakeup,
        pads.poll,
        args.seconds,
        move=lambda step: pad.axis(0, (step % 100) / 100),
    )
    pad.detach()
    pads.poll()
    measure("driving, no pad (the keyboard drives)", wakeups.SdlWakeup, pads.poll, args.seconds)

    if not hasattr(wakeups, "PadSource"):
        print("(an older wakeup: no file wait to measure)")
        return
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    queue: list[bytes] = []

    def news():
        try:
            queue.append(os.read(read_end, 4096))
        except BlockingIOError:
            pass
        return wakeups.News.INPUT if queue else wakeups.News.NONE

    def stand_in(wake):
        source = wakeups.PadSource(
            files=lambda: {read_end: "a pipe standing in for /dev/input/event0"},
            mode=lambda files: wakeups.WaitMode.FILES,
            news=news,
            sdl_wait=lambda ms: wakeups.News.NONE,
        )
        return wakeups.SdlWakeup(wake, source=source)

    measure("a pad's file (a pipe) written at 50 Hz", stand_in, queue.clear, args.seconds, move=lambda step: os.write(write_end, b"x"))
    measure("a pad's file (a pipe), still", stand_in, queue.clear, args.seconds)
    pads.close()


if __name__ == "__main__":
    main()
