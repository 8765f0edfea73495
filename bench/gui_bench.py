#!/usr/bin/env python3
"""The desktop app's cost while driving: CPU, memory, and latency from an SDL axis change to the send.

Runs the real main window offscreen against a real ``teleop-server --serial sim``
process, with an SDL virtual joystick moving every 20 ms, driving enabled
(sending at 50 Hz), and four readings plotted. Prints:

* CPU of the GUI process as % of one core (user + system) over the run;
* resident memory at the end, and its growth over the run;
* latency from ``SDL_JoystickSetVirtualAxis`` to the control message handed to the socket.

Targets (issue 3): CPU <= 15 % of one core, RSS <= 250 MB, latency p99 <= 5 ms.

    .venv/bin/python bench/gui_bench.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from stats import percentiles, rss_kib  # noqa: E402


def rss_mb() -> float:
    return rss_kib(os.getpid()) / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def drive(window, controller, stick, seconds: float) -> tuple[list[float], float, float, float, float]:
    from teleop.client import SessionEvents

    changed_at: dict[float, float] = {}
    latencies: list[float] = []
    session = controller.session
    previous: SessionEvents = session.events

    def sent(control) -> None:
        if control.axes:
            t0 = changed_at.pop(round(control.axes[0], 2), None)
            if t0 is not None:
                latencies.append(time.monotonic() - t0)

    session.events = SessionEvents(previous.state, previous.message, previous.legacy_text, previous.rtt, sent)
    while controller.readings.count < 20 or controller.selected is None:
        await asyncio.sleep(0.05)
    window.enable.click()
    await asyncio.sleep(1.0)  # warm up: plot created, first repaints done
    cpu0, rss0, t_start = cpu_seconds(), rss_mb(), time.monotonic()
    i = 0
    while time.monotonic() - t_start < seconds:
        value = round(((i * 7) % 160 - 80) / 100, 2) or 0.5  # distinct from the last one, outside the deadzone
        i += 1
        changed_at[value] = time.monotonic()
        stick.axis(0, value)
        await asyncio.sleep(0.02)
    elapsed = time.monotonic() - t_start
    cpu = (cpu_seconds() - cpu0) / elapsed * 100
    return latencies, cpu, rss0, rss_mb(), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()

    import qasync
    from guitools import ServerProcess
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication
    from sdl_virtual import VirtualJoystick

    from teleop.appsettings import AppSettings, AxisSettings
    from teleop.gui.controller import TeleopController
    from teleop.gui.main_window import MainWindow

    app = QApplication([])
    app.setQuitOnLastWindowClosed(False)
    server = ServerProcess("sim").start()
    stick = VirtualJoystick()
    store = QSettings(os.path.join(tempfile.mkdtemp(), "bench.ini"), QSettings.Format.IniFormat)
    settings = AppSettings(rate_hz=50, plot=["A0", "A1", "A2", "O0"], axes={0: AxisSettings(deadzone=0.0)})

    async def run():
        controller = TeleopController(settings)
        stick.attach()  # after SDL is initialised by the controller, as a user plugging in a pad
        window = MainWindow(controller, store)
        window.show()
        await controller.connect_to_server(server.pilot_url)
        try:
            return await drive(window, controller, stick, args.seconds)
        finally:
            await controller.shutdown()
            window.close()

    try:
        with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
            latencies, cpu, rss0, rss1, elapsed = runner.run(run())
    finally:
        stick.detach()
        server.stop()
    print(f"teleop GUI bench: {elapsed:.0f} s driving at 50 Hz, stick moving every 20 ms, 4 series plotted, Qt offscreen")
    print(f"  CPU: {cpu:.1f} % of one core   (target <= 15 %)")
    print(f"  RSS: {rss1:.0f} MB at the end, {rss1 - rss0:+.1f} MB over the run   (target <= 250 MB)")
    print(f"  SDL axis change -> control handed to the socket: {percentiles(latencies)}   (target p99 <= 5 ms)")


if __name__ == "__main__":
    main()
