"""``teleop``: the desktop app.

    teleop                         open the window
    teleop --demo                  start a bundled server with the simulated robot and connect to it
    teleop --connect ws://HOST:PORT/#token=TOKEN   (the address teleop-server prints)
    teleop --screenshot FILE       save a PNG of the window once connected and showing readings, then exit
    teleop --self-check            exit 0 once a reading has arrived (installers' smoke test)

asyncio runs inside Qt's event loop through qasync, so the WebSocket client
never blocks the UI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from teleop import __version__
from teleop.common.resources import resource_path
from teleop.desktop.models.appsettings import BrokerSettings, parse_address
from teleop.wire.errors import ConfigError
from teleop.wire.fleet import parse_broker_url

log = logging.getLogger("teleop")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="teleop", description="Drive a robot from a gamepad and watch its sensors live.")
    parser.add_argument("--demo", action="store_true", help="start a bundled teleop-server with the simulated robot and connect to it")
    parser.add_argument(
        "--connect", metavar="URL", help="connect at start, e.g. ws://raspberrypi.local:8765/#token=... as teleop-server printed it"
    )
    parser.add_argument("--screenshot", metavar="FILE", help="save a PNG of the main window once it shows readings, then exit")
    parser.add_argument(
        "--self-check", action="store_true", help="open the window, connect, wait for a reading, exit 0 (or 1 after --timeout)"
    )
    parser.add_argument(
        "--timeout", type=float, default=20.0, help="seconds --screenshot/--self-check wait before giving up (default: %(default)s)"
    )
    parser.add_argument("--settings-file", metavar="FILE", help="keep settings in this INI file instead of the user's profile")
    fleet = parser.add_argument_group("fleet broker (docs/fleet.md)")
    fleet.add_argument("--fleet", metavar="URL", help="list the robots on this MQTT broker too (mqtt://HOST:PORT or mqtts://)")
    fleet.add_argument("--fleet-user", metavar="NAME", help="the broker user name (the dashboard user)")
    fleet.add_argument("--fleet-password-file", metavar="FILE", help="a file holding that user's password")
    fleet.add_argument("--fleet-cafile", metavar="FILE", help="the CA that signed the broker's certificate (mqtts://)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    parser.add_argument("--version", action="version", version=f"teleop {__version__}")
    return parser


def fleet_credentials(args: argparse.Namespace) -> dict[str, str | None]:
    """The broker user, password (read from its file, never from the command line) and CA the app's fleet list uses."""
    password = None
    if args.fleet_password_file:
        try:
            password = Path(args.fleet_password_file).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"--fleet-password-file {args.fleet_password_file}: {exc.strerror or exc}") from None
    if args.fleet_cafile:
        from teleop.desktop.net.client import trust_context  # the network layer only when asked for

        try:
            trust_context(str(Path(args.fleet_cafile).expanduser()))
        except (OSError, ssl.SSLError) as exc:  # ssl.SSLError is an OSError; no file, or not a certificate
            raise ConfigError(f"--fleet-cafile {args.fleet_cafile}: {getattr(exc, 'strerror', None) or exc}") from None
    return {"username": args.fleet_user, "password": password, "cafile": args.fleet_cafile}


#: the demo server's outputs (in resources/)
DEMO_CONFIG = "demo-server.toml"


#: what the server prints once it listens, with the port it bound
_LISTENING = re.compile(rb"teleop-server listening on wss?://\S+?:(\d+) ")


def start_demo_server() -> tuple[subprocess.Popen, str]:
    """The bundled server on the simulated device, on a loopback port it picks, with a fresh pilot token.

    The server binds a free port itself (``--port 0``) and says which on its
    standard output: a port found free beforehand could be taken by anything
    before the server binds it, and the app would then connect, token and
    all, to whatever listens there. The token goes to the server in a private
    file (not on its command line, which other users can read) and comes back
    in the returned address.
    """
    token = secrets.token_urlsafe(16)
    folder = tempfile.mkdtemp(prefix="teleop-demo-")
    token_file = os.path.join(folder, "pilot-token")
    with open(os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        f.write(token)
    frozen = getattr(sys, "frozen", False)  # in a PyInstaller bundle the app binary runs the server itself
    command = [sys.executable, "--run-server"] if frozen else [sys.executable, "-m", "teleop_server"]
    command += ["--serial", "sim", "--camera", "sim", "--host", "127.0.0.1", "--port", "0", "--token-file", token_file]
    command += ["--config", str(resource_path(DEMO_CONFIG))]  # every stick moves something on the simulated robot
    said = os.path.join(folder, "said")
    try:
        with open(said, "wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 10
        while True:
            with open(said, "rb") as out:
                found = _LISTENING.search(out.read())
            if found:
                port = int(found.group(1))
                break
            if process.poll() is not None:
                raise SystemExit("teleop: the demo server failed to start")
            if time.monotonic() > deadline:
                process.terminate()
                raise SystemExit("teleop: the demo server did not start listening in 10 s")
            time.sleep(0.05)
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # read at start; the server keeps its own handle on what it prints
    return process, f"ws://127.0.0.1:{port}/#token={token}"


def _die_with_parent() -> None:
    """In the demo server's process: on Linux, be sent SIGTERM if the app dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def watch_stop_signals(on_signal) -> object:
    """SIGTERM and SIGINT end the app cleanly, however busy Qt's C++ loop is.

    A Python signal handler only runs when the interpreter gets control, and SDL
    replaces the handlers with its own (teleop.desktop.sdl.gamepad asks it not to). The
    signal's number is written to a socket that a QSocketNotifier watches, so
    Qt wakes up and the handler runs at once. Returns the notifier (keep it).
    """
    from PySide6.QtCore import QSocketNotifier

    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: None)  # the wake-up byte does the work

    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read)

    def readable() -> None:
        try:
            numbers = reader.recv(64)
        except BlockingIOError:
            return
        for number in numbers:
            on_signal(signal.Signals(number).name)

    notifier.activated.connect(readable)
    notifier._sockets = (reader, writer)  # keep them open as long as the notifier lives
    return notifier


async def run_app(args: argparse.Namespace, app) -> int:
    from PySide6.QtCore import QSettings

    from teleop.desktop.gui.adapter import QtAdapter
    from teleop.desktop.gui.main_window import (
        MainWindow,
        excepthook_to_log,
        load_settings,
        protect_settings_file,
        rescue_unreadable_settings,
    )
    from teleop.desktop.gui.robot_list import start_browsing, stop_browsing, stop_fleet, use_fleet
    from teleop.desktop.models.connection import LogLevel
    from teleop.desktop.session.teleop_model import TeleopModel

    store = QSettings(args.settings_file, QSettings.Format.IniFormat) if args.settings_file else QSettings("teleop", "teleop")
    protect_settings_file(store)
    settings_trouble = rescue_unreadable_settings(store)
    settings = load_settings(store)
    url = args.connect
    server = None
    if args.demo:
        server, url = start_demo_server()
    if url:
        address = parse_address(url)
        if "://" not in url or isinstance(address, str):
            print(
                f"teleop: --connect needs a ws:// or wss:// address, got {url!r}" + (f": {address}" if isinstance(address, str) else ""),
                file=sys.stderr,
            )
            return 2
        if not args.demo:
            settings.use_server(address)
            settings.remember_server()

    model = TeleopModel(settings)
    if args.demo:
        model.demo_url = url
    closed = asyncio.get_running_loop().create_future()
    try:
        adapter = QtAdapter(model)
        window = MainWindow(adapter, store)
        excepthook_to_log(window)
        if settings_trouble:
            model.say(LogLevel.WARNING, settings_trouble)

        def stop_signal(name: str) -> None:
            log.info("%s received: driving off, closing", name)
            try:
                model.disable_driving()
            finally:  # whatever happens to the last neutral, the app closes
                if not closed.done():
                    closed.set_result(0)

        notifier = watch_stop_signals(stop_signal)  # after SDL started: nothing may replace the handlers now
        window.show()
        app.lastWindowClosed.connect(lambda: closed.done() or closed.set_result(0))
        if not (args.self_check or args.screenshot):  # the unattended modes stay off the network
            await start_browsing()
            # --fleet is for this run; otherwise the broker in Settings > Fleet (if any)
            broker = (
                BrokerSettings(args.fleet, **{k: v or "" for k, v in fleet_credentials(args).items()}) if args.fleet else settings.fleet
            )
            trouble = await use_fleet(broker)
            if trouble:  # no MQTT client installed: the app runs without the fleet list
                model.say(LogLevel.WARNING, trouble)
        if url:
            await model.connect(url)
        if args.screenshot or args.self_check:
            return await _wait_then_finish(args, model, window)
        result = await closed
        window.close()
        return result
    finally:
        await stop_browsing()
        await stop_fleet()
        with contextlib.suppress(NameError):
            await adapter.shutdown()
            notifier.setEnabled(False)
        if server is not None:
            server.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(3)


async def _wait_then_finish(args, model, window) -> int:
    store = model.readings.store
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if store.count >= (120 if args.screenshot else 1):  # ~6 s of plot for a screenshot
            break
        await asyncio.sleep(0.05)
    else:
        print(
            f"teleop: no reading within {args.timeout:.0f} s (connection: {model.session.detail if model.session else 'none'})",
            file=sys.stderr,
        )
        return 1
    if args.screenshot:
        await _video_settled(model, window, deadline)
        await asyncio.sleep(0.2)  # let the plot and table repaint
        window.grab().save(args.screenshot)
        view = window.video_panel.view
        shown = f"{view.frames_painted} frames painted" if view.frames_painted else model.video.message or "no picture"
        print(f"saved {args.screenshot} (video: {shown})")
    else:
        print(f"self-check ok: connected, {store.count} readings, values {sorted(store.latest)[:6]}")
    window.close()
    return 0


async def _video_settled(model, window, deadline: float) -> None:
    """Until the video panel shows a steady picture, or says why it cannot (a robot without a camera)."""
    from teleop.desktop.net.video import VideoState

    while time.monotonic() < deadline:
        state = model.video.state
        if state is VideoState.LIVE and window.video_panel.view.frames_painted >= 15:
            return
        if state not in (VideoState.LIVE, VideoState.CONNECTING, VideoState.STARTING):
            return
        await asyncio.sleep(0.05)


def no_display(environ: Mapping[str, str] = os.environ) -> str | None:
    """Why the window cannot open here (None: it can, as far as can be told before Qt tries).

    Qt's own message for a Linux session without a display blames missing xcb libraries and aborts."""
    if not sys.platform.startswith("linux") or environ.get("QT_QPA_PLATFORM", "").split(":")[0] not in ("", "xcb", "wayland"):
        return None
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return None
    return (
        "there is no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set): run it in a desktop "
        "session, with ssh -X, or under xvfb-run; --screenshot and --self-check need no display"
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)
    if args.screenshot or args.self_check:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if args.fleet:
        try:
            parse_broker_url(args.fleet, "--fleet")
            fleet_credentials(args)
        except ConfigError as exc:
            print(f"teleop: {exc}", file=sys.stderr)
            return 2
    try:
        from PySide6.QtWidgets import QApplication

        from teleop.desktop.gui.event_loop import QtEventLoop
    except ImportError as exc:
        print(
            f"teleop: the desktop app needs its GUI libraries ({exc.name}); install with: pipx install 'teleop-robot[desktop]'",
            file=sys.stderr,
        )
        return 2
    trouble = no_display()
    if trouble:
        print(f"teleop: {trouble}", file=sys.stderr)
        return 2
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("teleop")
    app.setOrganizationName("teleop")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("teleop")
    app.setQuitOnLastWindowClosed(False)  # the coroutine ends the app; Qt quitting first would stop the qasync loop under it
    with asyncio.Runner(loop_factory=lambda: QtEventLoop(app)) as runner:
        return runner.run(run_app(args, app))


if __name__ == "__main__":
    sys.exit(main())
