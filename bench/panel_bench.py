#!/usr/bin/env python3
"""The gamepad panel's cost per refresh: CPU for one change of the stick shown, its repaint included.

While driving, the panel is refreshed at most 25 times a second (the stick
moves 50 times). End to end, one refresh is lost in the noise of a whole app
on a shared machine; here it is timed alone, 1000 refreshes at a time, with
the thread's CPU clock:

1. the app's main window with the on-screen sticks (what keyboard driving and
   a pad SDL has no mapping for show): two stick views, four axis bars;
2. the drawn pad (a pad SDL knows) in a group box, as in the panel.

Each refresh is the model's change (the on-screen sticks' axes set, shaped and
announced), the panel's refresh and Qt's paint pass (``UpdateRequest``), run
at once: caches stay warm, so this is the floor of what a refresh costs, not
what it costs between other work.

    .venv/bin/python bench/panel_bench.py [--xcb] [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from gui_bench import report, run_child  # noqa: E402

REFRESHES = 1000


def cpu_per_refresh(step: Callable[[int], None], repeats: int) -> list[float]:
    """ms of this thread's CPU per call of ``step``, for each of ``repeats`` runs of :data:`REFRESHES`."""
    for i in range(100):
        step(i)
    runs = []
    for _ in range(repeats):
        start = time.thread_time()
        for i in range(REFRESHES):
            step(i)
        runs.append((time.thread_time() - start) / REFRESHES * 1000)
    return runs


def stick(i: int) -> float:
    """A stick position that differs from the one before at every step."""
    return ((i * 7) % 160 - 80) / 100


def measure(repeats: int) -> dict[str, list[float]]:
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    from PySide6.QtCore import QEvent, QSettings
    from PySide6.QtWidgets import QApplication, QGroupBox, QVBoxLayout

    from teleop.desktop.gui.adapter import QtAdapter
    from teleop.desktop.gui.event_loop import QtEventLoop
    from teleop.desktop.gui.main_window import MainWindow
    from teleop.desktop.gui.pad_view import StandardPadView
    from teleop.desktop.gui.widgets import GamepadPanel
    from teleop.desktop.models.appsettings import AppSettings
    from teleop.desktop.sdl.gamepad import GamepadManager
    from teleop.desktop.session.teleop_model import TeleopModel
    from teleop.wire.layout import STANDARD_AXES, STANDARD_BUTTONS

    app = QApplication([])
    store = QSettings(os.path.join(tempfile.mkdtemp(), "bench.ini"), QSettings.Format.IniFormat)

    def paint_pass() -> None:
        QApplication.sendPostedEvents(None, QEvent.Type.UpdateRequest)

    async def run() -> dict[str, list[float]]:
        window = MainWindow(QtAdapter(TeleopModel(AppSettings()), gamepads=GamepadManager()), store)
        window.resize(1200, 800)
        window.show()
        await asyncio.sleep(0.5)  # shown and painted once
        panel = window.findChild(GamepadPanel)
        panel._frames.interval = 0  # every change finds a frame due, as one in 2 does at 50 changes a second

        def sticks(i: int) -> None:
            panel.drive.set_virtual_axes({0: stick(i), 1: stick(i + 40) / 2})  # the model tells the panel, which refreshes
            paint_pass()

        figures = {"on-screen sticks (main window)": cpu_per_refresh(sticks, repeats)}
        await window.adapter.shutdown()
        window.close()

        box = QGroupBox("Gamepad")
        QVBoxLayout(box).addWidget(pad := StandardPadView())
        box.resize(380, 420)
        box.show()
        await asyncio.sleep(0.3)
        rest = {name: 0.0 for name in STANDARD_AXES + STANDARD_BUTTONS}

        def drawn(i: int) -> None:
            pad.set_values({**rest, "leftx": stick(i), "lefty": stick(i + 40) / 2}, {"leftx": stick(i) * 0.9})
            paint_pass()

        figures["drawn pad (group box)"] = cpu_per_refresh(drawn, repeats)
        box.close()
        return figures

    with asyncio.Runner(loop_factory=lambda: QtEventLoop(app)) as runner:
        return runner.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--xcb", action="store_true", help="on the real xcb plugin (Xvfb + openbox) instead of offscreen")
    parser.add_argument("--repeats", type=int, default=5, help=f"runs of {REFRESHES} refreshes")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        report(measure(args.repeats))
        return

    command = [sys.executable, __file__, "--one", "--repeats", str(args.repeats)]
    if args.xcb:
        from xdisplay import XDisplay, missing_tools

        if missing_tools():
            raise SystemExit(f"--xcb needs: apt-get install {' '.join(missing_tools())}")
        with XDisplay() as display:
            figures = run_child(command, "xcb", display.env, timeout=300)
    else:
        figures = run_child(command, "offscreen", dict(os.environ), timeout=300)
    platform = "xcb" if args.xcb else "offscreen"
    print(f"teleop gamepad panel: CPU per refresh, repaint included ({platform}, {args.repeats} runs of {REFRESHES})")
    for name, values in figures.items():
        median = statistics.median(values)
        print(
            f"  {name:34s} median {median:.3f} ms  (min {min(values):.3f}, max {max(values):.3f})  = {median * 25 / 10:.2f} % of a core at 25 a second"
        )


if __name__ == "__main__":
    main()
