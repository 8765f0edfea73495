#!/usr/bin/env python3
"""The desktop app's cost: CPU idle and while plotting, memory, and latency from an SDL axis change to the send.

Runs the real main window against a real ``teleop-server --serial sim``
process with an SDL virtual joystick, in three phases:

1. idle before connecting (window shown, gamepad plugged in, nothing moving);
2. connected and plotting four readings, not driving; then the same with the
   pad at rest but flickering at random between two neighbouring values at each of its
   250 reports a second, as the 8-bit sticks of a DualShock 4 do; then flickering
   while another client (``bench/wsload.py pilot`` in its own process) has taken
   control and drives at 50 Hz, the app watching (its pads read sooner: a press of
   its stop button may have to stop that pilot's robot), after which the app
   takes control back;
3. driving: the stick moves every 20 ms, controls go out at 50 Hz.

Each platform runs in its own process: Qt ``offscreen`` and, with ``--xcb``,
the real ``xcb`` plugin on Xvfb with openbox (what a user's X11 desktop does:
real paint, real event dispatch). Prints the figures side by side.

Targets (on xcb): idle before connecting <= 2 % of a core, connected and
plotting <= 2 % (with the pad still or flickering; no target while watching
another pilot drive), driving at 50 Hz <= 6 %,
SDL change -> control handed to the socket p99 <= 3 ms. The stick is moved
from a thread of the bench's own, whose CPU is not counted as the app's; the
flickering and driving lines are broken down by thread.

    .venv/bin/python bench/gui_bench.py [--xcb] [--seconds 20] [--standard-pad] [--pilot-aids] [--pad-file] [--move-ms 20]

``--pad-file``: an SDL virtual pad has no device file, so the app reads it with SDL's
own 1 ms loop (what it does for any such pad); a pad on Linux is read from its
``/dev/input/event*`` or ``/dev/hidraw*`` file, which the app waits on. With this
flag a pipe stands in for that file: the bench writes to it when it moves the
stick, as the kernel makes a pad's file readable, so the figures are what a
pad with a file costs.

``--pilot-aids`` gives the pad a profile with a speed scale of 0.8 and six buttons
bound to actions (one a chord), none pressed: what the action map and the scale
cost on the stick-to-socket path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from stats import percentiles, rss_kib, thread_cpu_share, thread_cpu_ticks  # noqa: E402


def rss_mb() -> float:
    return rss_kib(os.getpid()) / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def cpu_over(seconds: float) -> float:
    """% of one core this process used over ``seconds`` of the event loop running freely."""
    cpu0, t0 = cpu_seconds(), time.monotonic()
    await asyncio.sleep(seconds)
    return (cpu_seconds() - cpu0) / (time.monotonic() - t0) * 100


class PadFile:
    """A pipe standing in for a pad's device file (``/dev/input/event*``), for ``--pad-file``.

    The kernel makes a real pad's file readable when the pad reports a change and SDL's pump
    reads it empty; an SDL virtual pad has no file, so the app falls back to SDL's 1 ms loop.
    With this, the bench writes a byte when it moves the virtual stick and the pump empties
    the pipe first, so the app waits on a file as it does for a real pad on Linux.
    """

    PATH = "/dev/input/event-bench"

    def __init__(self) -> None:
        self.read_end, self._write_end = os.pipe()
        os.set_blocking(self.read_end, False)

    def moved(self) -> None:
        os.write(self._write_end, b"\0")

    def source(self):
        """What the app waits on: this pipe as the one pad file."""
        from teleop.desktop.sdl.padsource import PadSource, WaitMode, sdl_source

        sdl = sdl_source()
        assert sdl is not None
        return PadSource(files=lambda: {self.read_end: self.PATH}, mode=lambda files: WaitMode.FILES, sdl_wait=sdl.sdl_wait)

    def read_by(self, pads):
        """``pads`` (a GamepadManager), made to empty the pipe whenever it reads the pads, as SDL's pump reads a pad's file."""
        poll = pads.poll

        def read(*args, **kwargs):
            try:
                os.read(self.read_end, 4096)
            except BlockingIOError:
                pass
            return poll(*args, **kwargs)

        pads.poll = read
        return pads


class StickToSocket:
    """Moves the stick and times each change until the control carrying it is handed to the socket.

    Hooks the session's ``sent`` event; the value of axis 0 identifies the
    change, so every value sent is distinct from the one before. The stick moves
    from a thread of its own on a fixed 20 ms grid, so the harness neither wakes
    the app's event loop nor counts as the app: :attr:`app_cpu` is the process's
    CPU over the drive minus that thread's own.
    """

    def __init__(self, session, scale: float = 1.0) -> None:
        from teleop.desktop.net.client import SessionEvents

        #: the pad profile's speed scale: what was sent, divided by it, is the stick's value
        self.scale = scale
        self.changed_at: dict[float, float] = {}
        self.latencies: list[float] = []
        #: % of one core the app used during the last :meth:`drive`, the stick's thread excluded
        self.app_cpu = 0.0
        #: % of one core each of the app's threads used during the last :meth:`drive`
        self.threads: dict[str, float] = {}
        #: the stand-in for the pad's device file, told of every move (None: the pad has no file)
        self.pad_file: PadFile | None = None
        #: seconds between two moves of the stick
        self.move_every = 0.02
        previous: SessionEvents = session.events
        session.events = SessionEvents(previous.state, previous.message, previous.legacy_text, previous.rtt, self._sent)

    def _sent(self, control) -> None:
        if control.axes:
            at = self.changed_at.pop(round(control.axes[0] / self.scale, 2), None)
            if at is not None:
                self.latencies.append(time.monotonic() - at)

    def _move(self, stick, seconds: float) -> float:
        """The stick's thread: axis 0 to a new value every :attr:`move_every` (outside the deadzone, never the same twice running); returns the CPU it used."""
        cpu0 = time.thread_time()
        t0, i = time.monotonic(), 0
        while time.monotonic() - t0 < seconds:
            value = round(((i * 7) % 160 - 80) / 100, 2) or 0.5
            self.changed_at[value] = time.monotonic()
            stick.axis(0, value)
            if self.pad_file is not None:
                self.pad_file.moved()
            i += 1
            time.sleep(max(0.0, t0 + i * self.move_every - time.monotonic()))
        return time.thread_time() - cpu0

    async def drive(self, stick, seconds: float) -> float:
        """Move the stick for ``seconds`` (see :meth:`_move`); returns how long it took and sets :attr:`app_cpu`."""
        elapsed, self.app_cpu, self.threads = await beside_the_app(lambda: self._move(stick, seconds))
        return elapsed


async def beside_the_app(work: Callable[[], float]) -> tuple[float, float, dict[str, float]]:
    """Run ``work`` (returning the CPU seconds it used) on a thread of the bench's own while the app's loop runs.

    Returns how long it took, the % of one core the app used meanwhile (the process less that thread),
    and the share each of the app's threads used."""
    import threading

    used: list[float] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            used.append(work())
        except BaseException as error:  # raised here, not printed by the thread: a figure without it would be wrong
            failed.append(error)

    thread = threading.Thread(target=run, name="bench-stick")
    cpu0, t0, ticks0 = cpu_seconds(), time.monotonic(), thread_cpu_ticks()
    thread.start()
    while thread.is_alive():
        await asyncio.sleep(0.25)
    elapsed = time.monotonic() - t0
    if failed:
        raise failed[0]
    shares = thread_cpu_share(ticks0, thread_cpu_ticks(), elapsed)
    threads = {name: share for name, share in shares.items() if name != thread.name and share >= 0.05}
    return elapsed, (cpu_seconds() - cpu0 - sum(used)) / elapsed * 100, threads


#: One step of a pad whose sticks report 8 bits (a DualShock 4's), in SDL's units: what such a stick at rest
#: flickers between.
EIGHT_BIT_STEP = 257 / 32767
#: Seconds between two reports of a pad that reports 250 times a second (a DualShock 4 on USB).
JITTER_EVERY = 0.004


def jitter(stick, seconds: float, pad_file: PadFile | None) -> float:
    """Axis 0 of a pad at rest flickering at random between two neighbouring values at every report, as a real
    stick's noise does (a regular back and forth, read at a pace that is a multiple of its period, would look
    still to the app); returns the CPU it used."""
    noise = random.Random(250)
    cpu0 = time.thread_time()
    t0, i = time.monotonic(), 0
    while time.monotonic() - t0 < seconds:
        stick.axis(0, noise.choice((0.0, EIGHT_BIT_STEP)))
        if pad_file is not None:
            pad_file.moved()
        i += 1
        time.sleep(max(0.0, t0 + i * JITTER_EVERY - time.monotonic()))
    stick.axis(0, 0.0)
    return time.thread_time() - cpu0


async def phases(
    window, adapter, stick, server, seconds: float, quiet_seconds: float, pad_file: PadFile | None = None, move_ms: float = 20.0
) -> dict:
    model = adapter.model
    figures: dict = {}
    await asyncio.sleep(1.0)  # window painted, gamepad seen
    figures["idle_cpu"] = await cpu_over(quiet_seconds)

    await model.connect(server.pilot_url)
    while model.readings.store.count < 20 or model.drive.selected is None or not model.connection.pilot:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    figures["plotting_cpu"] = await cpu_over(quiet_seconds)
    _, figures["jitter_cpu"], figures["jitter_threads"] = await beside_the_app(lambda: jitter(stick, quiet_seconds, pad_file))
    figures["watching_cpu"] = await flicker_while_another_drives(model, stick, server, quiet_seconds, pad_file)

    timer = StickToSocket(model.session, model.drive.speed.fraction)
    timer.pad_file = pad_file
    timer.move_every = move_ms / 1000
    model.enable_driving()
    await asyncio.sleep(1.0)
    rss0 = rss_mb()
    elapsed = await timer.drive(stick, seconds)
    figures["driving_cpu"] = timer.app_cpu
    figures["driving_threads"] = timer.threads
    figures["rss_start"], figures["rss_end"] = rss0, rss_mb()
    figures["latencies_ms"] = [x * 1000 for x in timer.latencies]
    figures["driving_seconds"] = elapsed
    return figures


async def flicker_while_another_drives(model, stick, server, seconds: float, pad_file: PadFile | None) -> float:
    """The flickering pad while another client drives at 50 Hz (from a process of its own, so its CPU is not the
    app's) and the app watches; then the app takes control back. Returns the app's % of a core meanwhile."""
    wsload = Path(__file__).with_name("wsload.py")
    other = subprocess.Popen(
        [sys.executable, str(wsload), "pilot", str(server.port), str(seconds + 30), "50", server.token], stdout=subprocess.DEVNULL
    )
    try:
        while not model.connection.another_drives:
            if other.poll() is not None:
                raise SystemExit("the other pilot could not take control")
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        _, cpu, _ = await beside_the_app(lambda: jitter(stick, seconds, pad_file))
    finally:
        other.kill()
        other.wait()
    model.request_control(takeover=True)
    async with asyncio.timeout(10):
        while not model.connection.pilot:
            await asyncio.sleep(0.05)
    return cpu


def pilot_aids_profile(guid: str, standard: bool, shapes: dict):
    """A profile with the bench's axis shapes, a speed scale and a bound action map (nothing the bench presses)."""
    from dataclasses import replace

    from teleop.desktop.models.actions import Action
    from teleop.desktop.models.profiles import PadProfile
    from teleop.desktop.models.speed import SpeedSettings
    from teleop.wire.layout import Layout

    standard_names = ("x", "y", "a", "leftshoulder", "rightshoulder", "back+start")
    names = standard_names if standard else ("button0", "button1", "button2", "button3", "button4", "button6+button7")
    actions = (Action.SNAPSHOT, Action.RECORD, Action.MARK, Action.SLOW, Action.TURBO, Action.TAKE_CONTROL)
    profile = PadProfile.from_shapes(guid, "bench pad", Layout.STANDARD if standard else Layout.RAW, shapes)
    return replace(profile, speed=SpeedSettings(scale=0.8), actions=dict(zip(names, actions, strict=True)))


def run_one(
    seconds: float, quiet_seconds: float, standard_pad: bool = False, aids: bool = False, pad_file: bool = False, move_ms: float = 20.0
) -> None:
    """One platform, in this process (QT_QPA_PLATFORM says which): prints the figures as JSON.

    ``standard_pad``: an Xbox-like pad SDL knows (through a mapping file), drawn as a pad, instead of a raw one.
    """
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    from launcher import ServerProcess
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication
    from sdl_virtual import XBOX_BLUETOOTH_BINDINGS, XBOX_TRIGGERS_RELEASED, VirtualJoystick, xbox_like

    from teleop.desktop.gui.adapter import QtAdapter
    from teleop.desktop.gui.main_window import MainWindow
    from teleop.desktop.models.appsettings import AppSettings
    from teleop.desktop.models.shaping import AxisShape
    from teleop.desktop.sdl.gamepad import GamepadManager
    from teleop.desktop.session.teleop_model import TeleopModel

    app = QApplication([])
    app.setQuitOnLastWindowClosed(False)
    server = ServerProcess("sim").start()
    folder = tempfile.mkdtemp()
    mappings = Path(folder) / "gamecontrollerdb.txt"
    stick = xbox_like() if standard_pad else VirtualJoystick()
    if standard_pad:  # its GUID, for the mapping line, is known once it has been plugged in
        mappings.write_text(stick.attach().mapping(XBOX_BLUETOOTH_BINDINGS) + "\n")
        stick.detach()
    store = QSettings(os.path.join(folder, "bench.ini"), QSettings.Format.IniFormat)
    settings = AppSettings(rate_hz=50, plot=["A0", "A1", "A2", "O0"], axes={0: AxisShape(deadzone=0.0)})
    if aids:
        guid = stick.attach().guid
        stick.detach()
        settings.set_profile(pilot_aids_profile(guid, standard_pad, settings.axes))

    file = PadFile() if pad_file else None
    figures = window_session(
        app,
        server,
        stick,
        lambda: MainWindow(
            QtAdapter(
                TeleopModel(settings),
                gamepads=file.read_by(GamepadManager(mappings=[mappings])) if file else GamepadManager(mappings=[mappings]),
                **({"pads": file.source()} if file else {}),
            ),
            store,
        ),
        lambda window: phases(window, window.adapter, stick, server, seconds, quiet_seconds, file, move_ms),
        rest=XBOX_TRIGGERS_RELEASED if standard_pad else None,
    )
    report(figures)


def window_session(app, server, stick, make_window: Callable, phases: Callable, rest: dict[int, float] | None = None) -> dict:
    """The app's real window on a qasync loop with ``stick`` plugged in: ``phases(window)`` measures, and returns the figures.

    The stick is attached after the window's adapter has started SDL, as a user plugs in a pad, with
    the axes in ``rest`` set as a real pad's rest (an Xbox pad's triggers read -1 released, a virtual
    axis starts at 0: half pressed). Stick and server are gone afterwards, whatever happened.
    """
    rest = rest or {}
    from teleop.desktop.gui.event_loop import QtEventLoop

    async def run():
        window = make_window()
        stick.attach()
        for axis, value in rest.items():
            stick.axis(axis, value)
        window.show()
        try:
            return await phases(window)
        finally:
            await window.adapter.shutdown()
            window.close()

    try:
        with asyncio.Runner(loop_factory=lambda: QtEventLoop(app)) as runner:
            return runner.run(run())
    finally:
        stick.detach()
        server.stop()


def report(figures: dict) -> None:
    """What a ``--one`` child prints for :func:`run_child` to read."""
    print("FIGURES " + json.dumps(figures))


def run_child(command: list[str], platform: str, env: dict[str, str], timeout: float) -> dict:
    """Run one measurement in its own process on Qt platform ``platform``; return the figures it reported."""
    result = subprocess.run(command, env=dict(env, QT_QPA_PLATFORM=platform), capture_output=True, text=True, timeout=timeout)
    for line in result.stdout.splitlines():
        if line.startswith("FIGURES "):
            return json.loads(line[len("FIGURES ") :])
    raise SystemExit(f"the {platform} run failed:\n{result.stdout}\n{result.stderr}")


def print_rows(results: dict[str, dict], rows: list[tuple[str, Callable[[dict], str], str]], label: int, column: int, heading: str) -> None:
    """The platforms measured as column heads, then one line per row: its label, its cell for each, and the target."""
    print(f"  {'':{label}}" + "".join(f"{name:>{column}}" for name in results) + f"   {heading}")
    for text, cell, target in rows:
        print(f"  {text:{label}}" + "".join(f"{cell(figures):>{column}}" for figures in results.values()) + f"   {target}")


def measure(platform: str, args: argparse.Namespace, env: dict[str, str]) -> dict:
    command = [sys.executable, __file__, "--one", "--seconds", str(args.seconds), "--quiet-seconds", str(args.quiet_seconds)]
    command += ["--standard-pad"] if args.standard_pad else []
    command += ["--pilot-aids"] if args.pilot_aids else []
    command += ["--pad-file"] if args.pad_file else []
    command += ["--move-ms", str(args.move_ms)]
    return run_child(command, platform, env, timeout=300)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="driving phase length")
    parser.add_argument("--quiet-seconds", type=float, default=8.0, help="length of the idle and plotting phases")
    parser.add_argument("--xcb", action="store_true", help="also measure on the real xcb plugin (Xvfb + openbox)")
    parser.add_argument("--standard-pad", action="store_true", help="an Xbox-like pad SDL knows, drawn as a pad (default: a raw pad)")
    parser.add_argument("--pilot-aids", action="store_true", help="the pad's profile has a speed scale and a bound action map")
    parser.add_argument(
        "--pad-file", action="store_true", help="a pipe stands in for the pad's device file, so the app waits on it as on a real pad's"
    )
    parser.add_argument(
        "--move-ms", type=float, default=20.0, help="time between two stick moves while driving (a real pad moving reports every 1-8 ms)"
    )
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(args.seconds, args.quiet_seconds, args.standard_pad, args.pilot_aids, args.pad_file, args.move_ms)
        return

    results = {"offscreen": measure("offscreen", args, dict(os.environ))}
    if args.xcb:
        from xdisplay import XDisplay, missing_tools

        if missing_tools():
            raise SystemExit(f"--xcb needs: apt-get install {' '.join(missing_tools())}")
        with XDisplay() as display:
            results["xcb"] = measure("xcb", args, display.env)

    names = list(results)
    pad = "an Xbox-like pad SDL knows (drawn as a pad)" if args.standard_pad else "a raw SDL virtual joystick"
    pad += ", speed scale 0.8 and six buttons bound to actions" if args.pilot_aids else ""
    pad += ", a pipe standing in for its device file" if args.pad_file else " (no device file: SDL's 1 ms loop)"
    print(f"teleop GUI bench: real window, teleop-server --serial sim, {pad}, 4 series plotted ({', '.join(names)})")
    rows = [
        ("CPU idle before connecting (% of one core)", lambda f: f"{f['idle_cpu']:.1f}", "<= 2"),
        ("CPU connected and plotting, not driving", lambda f: f"{f['plotting_cpu']:.1f}", "<= 2"),
        ("... the pad at rest flickering by one 8-bit step", lambda f: f"{f['jitter_cpu']:.1f}", "<= 2"),
        ("... the same, watching another client drive", lambda f: f"{f['watching_cpu']:.1f}", "(none)"),
        (f"CPU driving (stick moving every {args.move_ms:g} ms)", lambda f: f"{f['driving_cpu']:.1f}", "<= 6 at 20 ms"),
        ("RSS at the end (MB)", lambda f: f"{f['rss_end']:.0f} ({f['rss_end'] - f['rss_start']:+.1f})", "<= 250"),
    ]
    print_rows(results, rows, 48, 22, "target (xcb)")
    for name in names:
        latencies = [x / 1000 for x in results[name]["latencies_ms"]]
        print(f"  SDL axis change -> control handed to the socket, {name}: {percentiles(latencies)}   (target p99 <= 3 ms)")
        for phase in ("jitter", "driving"):
            threads = sorted(results[name][f"{phase}_threads"].items(), key=lambda item: -item[1])
            print(f"  {phase}, by thread ({name}): " + ", ".join(f"{thread} {share:.1f}" for thread, share in threads))


if __name__ == "__main__":
    main()
