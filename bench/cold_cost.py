#!/usr/bin/env python3
"""What the desktop app's per-movement Python costs when it runs after the CPU idled, as it does at 50 Hz.

A stick moving 50 times a second wakes the app's GUI thread every 20 ms; between two wakeups the
thread sleeps and the machine runs other things. This runs a few of the steps each movement takes
(no Qt, no sockets: the drive model with its send captured, the shaping, the control's JSON) in a
loop back to back, and then once after each pause of ``--pause-ms``, and prints the thread CPU each
call took: the first figure is what a profiler run in a tight loop shows, the second what the app
pays. The ratio is the machine's, not the code's: it says how much a wakeup costs per line of
Python run in it, and why fewer wakeups beat faster code on such a machine.

    .venv/bin/python bench/cold_cost.py [--pause-ms 20] [--calls 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from teleop.desktop.models.drive import DriveSettings
from teleop.desktop.models.driving import DriveModel
from teleop.desktop.models.pads import GamepadInfo, GamepadState
from teleop.desktop.models.shaping import shape_axes
from teleop.wire import protocol


def per_call_us(step: Callable[[int], object], calls: int, pause_s: float) -> float:
    """The median thread CPU of one call (µs), each call after ``pause_s`` of sleep (0: back to back)."""
    took = []
    for i in range(calls):
        start = time.thread_time_ns()
        step(i)
        took.append(time.thread_time_ns() - start)
        if pause_s:
            time.sleep(pause_s)
    return statistics.median(took[calls // 10 :]) / 1000


def steps() -> dict[str, Callable[[int], object]]:
    sent: list[protocol.Control] = []
    clock = [0.0]  # 20 ms on at each movement, as at 50 Hz: back to back, every one is sent too (no rate cap)
    model = DriveModel(DriveSettings(), send=sent.append, clock=lambda: clock[0])
    state = GamepadState([0.0] * 6, [0] * 12, [(0, 0)])
    model.pad_added(GamepadInfo(1, "bench pad", "0" * 32, 6, 12, 1), state)
    model.select(1)
    model.set_blocked(None)
    model.enable()
    settings = model.timing.settings

    def movement(i: int) -> None:
        clock[0] += 0.02
        state.axes[0] = 0.1 + (i % 50) / 100  # a new value each time, outside the deadzone
        model.pad_moved(1)

    def shaping(i: int) -> None:
        state.axes[0] = 0.1 + (i % 50) / 100
        shape_axes(state.axes, settings.shapes, settings.default_shape)

    def control_text(i: int) -> None:
        protocol.encode(protocol.Control(seq=i, t=1000.0 + i, axes=(0.1 + (i % 50) / 100, 0.0, 0.0, 0.0), buttons=(0,) * 12))

    def fifty_adds(_i: int) -> None:
        total = 0
        for n in range(50):
            total += n

    return {
        "a loop of 50 additions": fifty_adds,
        "the six axes' shaping": shaping,
        "a control's JSON": control_text,
        "a stick movement in the drive model": movement,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pause-ms", type=float, default=20.0, help="sleep before each cold call (default: %(default)s)")
    parser.add_argument("--calls", type=int, default=200, help="calls measured each way (default: %(default)s)")
    args = parser.parse_args()
    print(f"thread CPU per call, median; cold = after {args.pause_ms:g} ms asleep ({os.cpu_count()} CPUs)")
    print(f"  {'step':40s} {'back to back':>14s} {'cold':>10s} {'ratio':>7s}")
    for name, step in steps().items():
        warm = per_call_us(step, args.calls * 20, 0.0)
        cold = per_call_us(step, args.calls, args.pause_ms / 1000)
        print(f"  {name:40s} {warm:11.1f} µs {cold:7.1f} µs {cold / warm:6.1f}x")


if __name__ == "__main__":
    main()
