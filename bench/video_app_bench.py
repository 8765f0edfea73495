#!/usr/bin/env python3
"""The desktop app showing the robot's camera: capture -> painted latency, frame rate, CPU, and what video costs the controls.

Runs the real main window on a real X display (Xvfb + openbox, Qt's ``xcb``
plugin) against ``teleop-server --serial sim --camera sim`` in its own process
(640x480, 30 frames/s, JPEGs made by the server's simulated camera), with an
SDL virtual joystick, in three phases:

1. connected and plotting, video hidden (View > Video off: no stream);
2. the same with the video shown;
3. driving (the stick moves every 20 ms, controls go out at 50 Hz), video
   hidden then shown, so the controls' latency is compared under the same load.

capture -> painted is the end of the paint that showed a frame minus its capture
time, both on this PC's clock (the server's clock offset, measured from the
pongs, removed; same machine here, so the offset is about zero).

Targets: app CPU connected and idle <= 2 % of a core with the video hidden and
<= 10 % with it shown, driving at 50 Hz <= 6 % and <= 15 %; capture -> painted
p99 <= 30 ms; the controls' SDL change -> socket p99 <= 3 ms, with the video
shown as without it.

    .venv/bin/python bench/video_app_bench.py [--seconds 20] [--offscreen] [--pad-file]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from gui_bench import PadFile, StickToSocket, cpu_over, print_rows, report, run_child, window_session  # noqa: E402
from stats import percentiles, thread_cpu_share, thread_cpu_ticks  # noqa: E402


async def cpu_and_threads(seconds: float) -> tuple[float, dict[str, float]]:
    """:func:`cpu_over` and the same span per thread."""
    before, t0 = thread_cpu_ticks(), time.monotonic()
    cpu = await cpu_over(seconds)
    shares = thread_cpu_share(before, thread_cpu_ticks(), time.monotonic() - t0)
    return cpu, {name: share for name, share in shares.items() if share >= 0.05}


async def phases(window, stick, server, seconds: float, pad_file=None) -> dict:
    from teleop.desktop.net.video import VideoState

    model = window.model
    view = window.video_panel.view
    figures: dict = {}
    window.show_video.setChecked(False)
    await model.connect(server.pilot_url)
    while model.readings.store.count < 20 or model.drive.selected is None or not model.connection.pilot:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    figures["hidden_cpu"], figures["hidden_threads"] = await cpu_and_threads(seconds / 2)

    window.show_video.setChecked(True)
    while model.video.state is not VideoState.LIVE:
        await asyncio.sleep(0.05)
    await asyncio.sleep(2.0)  # past the first frames and the first clock samples
    received: list[float] = []
    stream = model.video.stream
    handed_on = stream.events.frame

    def frame_in(frame) -> None:
        captured = model.video.capture_on_our_clock(frame)
        if captured is not None:
            received.append(time.time() - captured)
        handed_on(frame)

    stream.events.frame = frame_in
    view.latencies.clear()
    painted0, received0, t0 = view.frames_painted, stream.received, time.monotonic()
    figures["video_cpu"], figures["video_threads"] = await cpu_and_threads(seconds)
    elapsed = time.monotonic() - t0
    figures["painted_fps"] = (view.frames_painted - painted0) / elapsed
    figures["received_fps"] = (stream.received - received0) / elapsed
    figures["latencies_ms"] = [x * 1000 for x in view.latencies]
    figures["received_ms"] = [x * 1000 for x in received]
    figures["offset_ms"] = (model.session.clock.offset or 0) * 1000
    figures["offset_uncertainty_ms"] = (model.session.clock.uncertainty or 0) * 1000

    timer = StickToSocket(model.session)
    timer.pad_file = pad_file
    model.enable_driving()
    await asyncio.sleep(1.0)

    async def drive() -> tuple[float, list[float], dict[str, float]]:
        """The stick moves every 20 ms for ``seconds``: CPU %, the SDL change -> socket latencies, CPU per thread."""
        timer.latencies.clear()
        await timer.drive(stick, seconds)
        return timer.app_cpu, [x * 1000 for x in timer.latencies], timer.threads

    # the same drive with the video hidden, then shown: the machine's own noise is in both
    window.show_video.setChecked(False)
    await asyncio.sleep(1.0)
    figures["driving_hidden_cpu"], figures["control_hidden_ms"], figures["driving_hidden_threads"] = await drive()
    window.show_video.setChecked(True)
    while model.video.state is not VideoState.LIVE:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    view.latencies.clear()
    figures["driving_cpu"], figures["control_ms"], figures["driving_threads"] = await drive()
    figures["driving_latencies_ms"] = [x * 1000 for x in view.latencies]
    return figures


def run_one(seconds: float, pad_file: bool = False) -> None:
    """In this process, on the platform QT_QPA_PLATFORM names: prints the figures as JSON."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    from launcher import ServerProcess
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication
    from sdl_virtual import VirtualJoystick

    from teleop.desktop.gui.adapter import QtAdapter
    from teleop.desktop.gui.main_window import MainWindow
    from teleop.desktop.models.appsettings import AppSettings
    from teleop.desktop.models.shaping import AxisShape
    from teleop.desktop.sdl.gamepad import GamepadManager
    from teleop.desktop.session.teleop_model import TeleopModel

    app = QApplication([])
    app.setQuitOnLastWindowClosed(False)
    server = ServerProcess("sim", extra=["--camera", "sim"], quiet=True).start()
    stick = VirtualJoystick()
    store = QSettings(os.path.join(tempfile.mkdtemp(), "bench.ini"), QSettings.Format.IniFormat)
    settings = AppSettings(rate_hz=50, plot=["A0", "A1", "A2", "O0"], axes={0: AxisShape(deadzone=0.0)})

    file = PadFile() if pad_file else None

    def adapter() -> QtAdapter:
        if file is None:
            return QtAdapter(TeleopModel(settings))
        # the pipe emptied by every read of the pads, as SDL's pump empties a pad's file: else it stays readable
        return QtAdapter(TeleopModel(settings), gamepads=file.read_by(GamepadManager()), pads=file.source())

    figures = window_session(
        app,
        server,
        stick,
        lambda: MainWindow(adapter(), store),
        lambda window: phases(window, stick, server, seconds, file),
    )
    report(figures)


def measure(platform: str, seconds: float, env: dict[str, str], pad_file: bool) -> dict:
    command = [sys.executable, __file__, "--one", "--seconds", str(seconds), *(["--pad-file"] if pad_file else [])]
    return run_child(command, platform, env, timeout=120 + 4 * seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the video and driving phases")
    parser.add_argument("--offscreen", action="store_true", help="also measure on Qt's offscreen plugin (no X server)")
    parser.add_argument("--pad-file", action="store_true", help="a pipe stands in for the pad's device file (see gui_bench.py)")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(args.seconds, args.pad_file)
        return

    from xdisplay import XDisplay, missing_tools

    if missing_tools():
        raise SystemExit(f"needs a real display: apt-get install {' '.join(missing_tools())}")
    results = {}
    with XDisplay() as display:
        results["xcb"] = measure("xcb", args.seconds, display.env, args.pad_file)
    if args.offscreen:
        results["offscreen"] = measure("offscreen", args.seconds, dict(os.environ), args.pad_file)

    names = list(results)
    pad = "a pipe standing in for its device file" if args.pad_file else "no device file: SDL's 1 ms loop"
    print(
        f"teleop video app bench: real window, teleop-server --serial sim --camera sim (640x480, 30 frames/s), SDL virtual joystick ({pad})"
    )
    rows = [
        ("CPU connected, plotting, video hidden (% of a core)", lambda f: f"{f['hidden_cpu']:.1f}", "<= 2"),
        ("CPU connected, plotting, video shown", lambda f: f"{f['video_cpu']:.1f}", "<= 10"),
        ("CPU driving at 50 Hz, video hidden", lambda f: f"{f['driving_hidden_cpu']:.1f}", "<= 6"),
        ("CPU driving at 50 Hz, video shown", lambda f: f"{f['driving_cpu']:.1f}", "<= 15"),
        ("frames received per second", lambda f: f"{f['received_fps']:.1f}", "30"),
        ("frames painted per second", lambda f: f"{f['painted_fps']:.1f}", "30"),
        ("clock offset measured (ms, same machine)", lambda f: f"{f['offset_ms']:+.2f}±{f['offset_uncertainty_ms']:.2f}", "~0"),
    ]
    print_rows(results, rows, 52, 14, "target")
    for name in names:
        figures = results[name]
        print(f"  capture -> received, {name}: {percentiles([x / 1000 for x in figures['received_ms']])}")
        print(f"  capture -> painted, {name}: {percentiles([x / 1000 for x in figures['latencies_ms']])}   (target p99 <= 30 ms)")
        print(f"  capture -> painted while driving, {name}: {percentiles([x / 1000 for x in figures['driving_latencies_ms']])}")
        for label, key in (("hidden", "control_hidden_ms"), ("shown", "control_ms")):
            control = percentiles([x / 1000 for x in figures[key]])
            print(f"  SDL change -> control to the socket, video {label}, {name}: {control}   (target p99 <= 3 ms)")
        for label, key in (
            ("connected, video hidden", "hidden_threads"),
            ("connected, video shown", "video_threads"),
            ("driving, video hidden", "driving_hidden_threads"),
            ("driving, video shown", "driving_threads"),
        ):
            shares = sorted(figures[key].items(), key=lambda item: -item[1])
            threads = ", ".join(f"{thread} {share:.1f}" for thread, share in shares)
            print(f"  per thread (% of a core), {label}, {name}: {threads}")


if __name__ == "__main__":
    main()
