"""Shared fixtures: a simulated device behind a real pty, a real bridge on loopback, a real WebSocket client."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

from teleop_server.bridge import Bridge
from teleop_server.config import ServerConfig
from teleop_server.device.simulated import PtyDevice, SimulatedDevice


async def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.005, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test with a clear message otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        await asyncio.sleep(interval)


@pytest.fixture(autouse=True)
def no_pad_thread_outlives_its_test():
    """A pad thread (teleop.desktop.sdl.wakeup) or a pad file wait (teleop.desktop.sdl.filewatch) left running reads
    the pads for a deleted window beside later tests: whoever starts one stops it (a stopped thread ends within one
    wait slice)."""

    def running_watches() -> int:  # without importing it (and SDL with it) for tests that never did
        module = sys.modules.get("teleop.desktop.sdl.filewatch")
        return module.PadFileWatch.running_count if module is not None else 0

    before = {t for t in threading.enumerate() if t.name == "sdl-wakeup"}
    watches = running_watches()
    yield
    left = [t for t in threading.enumerate() if t.name == "sdl-wakeup" and t not in before]
    for thread in left:
        thread.join(2)
    assert not [t for t in left if t.is_alive()], "a pad thread (SdlWakeup) was left running: stop it (an adapter: shutdown())"
    assert running_watches() == watches, "a pad file wait was left on its loop: stop it (an adapter: shutdown())"


def recorded_commands(record: Path) -> list[str]:
    """The command lines a server started with ``--record`` wrote to its device, in order."""
    if not record.exists():
        return []
    return [json.loads(line)["line"] for line in record.read_text().splitlines() if '"kind":"command"' in line]


@pytest.fixture
def recording_server(tmp_path):
    """``teleop-server`` on the simulated device in its own process, recording to ``.record``: what reached the device."""
    from launcher import ServerProcess

    record = tmp_path / "drive.jsonl"
    process = ServerProcess("sim", extra=["--record", str(record)]).start()
    process.record = record
    yield process
    process.stop()


class WsClient:
    """A real WebSocket client that records every message it receives."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._task = asyncio.create_task(self._reader())

    async def _reader(self) -> None:
        try:
            async for frame in self.ws:
                self.raw.append(frame)
                try:
                    self.messages.append(json.loads(frame))
                except ValueError:
                    pass
        except Exception:
            pass

    async def send(self, obj: dict[str, Any] | str) -> None:
        await self.ws.send(obj if isinstance(obj, str) else json.dumps(obj))

    def of_type(self, kind: str, since: int = 0) -> list[dict[str, Any]]:
        return [m for m in self.messages[since:] if m.get("type") == kind]

    def mark(self) -> int:
        """A position in the message log; ``expect(..., since=mark)`` ignores what came before."""
        return len(self.messages)

    async def expect(
        self, kind: str, where: Callable[[dict[str, Any]], bool] = lambda m: True, timeout: float = 5.0, since: int = 0
    ) -> dict[str, Any]:
        return await wait_for(lambda: next((m for m in self.of_type(kind, since) if where(m)), None), timeout)

    async def close(self) -> None:
        await self.ws.close()
        self._task.cancel()


@pytest.fixture
async def pty_device(tmp_path):
    device = PtyDevice(SimulatedDevice(report_ms=50), link=str(tmp_path / "ttyROBOT"))
    await device.start()
    yield device
    await device.stop()


@pytest.fixture
async def make_bridge():
    bridges: list[Bridge] = []

    async def make(serial: str = "sim", **options: Any) -> Bridge:
        """A bridge on loopback; authentication off unless ``auth=True, token=...`` are given."""
        options.setdefault("auth", False)
        config = ServerConfig(host="127.0.0.1", port=0, serial=serial, ready_timeout=1.0, **options)
        bridge = Bridge(config)
        await bridge.start()
        bridges.append(bridge)
        await wait_for(lambda: bridge.link.ready, timeout=5)
        return bridge

    yield make
    for bridge in bridges:
        await bridge.stop()


@pytest.fixture
async def make_client():
    clients: list[WsClient] = []

    async def make(bridge: Bridge, hello: dict[str, Any] | None = None, *, welcome: bool = True) -> WsClient:
        ws = await connect(f"ws://127.0.0.1:{bridge.port}", open_timeout=5)
        client = WsClient(ws)
        clients.append(client)
        if hello is not None:
            await client.send({"type": "hello", **hello})
            if welcome:
                await client.expect("welcome")
        return client

    yield make
    for client in clients:
        try:
            await asyncio.wait_for(client.close(), 2)
        except Exception:
            pass


def device_lines(device: PtyDevice, prefix: str = "") -> list[str]:
    return [line for _, line in device.received_lines if line.startswith(prefix)]


@pytest.fixture(scope="session")
def xdisplay():
    """Xvfb + openbox for the session's QApplication (the real xcb plugin); None without them (offscreen)."""
    from xdisplay import XDisplay, missing_tools

    if missing_tools() or os.environ.get("TELEOP_TEST_PLATFORM") == "offscreen":
        yield None
        return
    with XDisplay() as display:
        yield display


@pytest.fixture
def display(xdisplay, loop):
    """The session's X display for a GUI test, input sent from a worker thread (:class:`guitools.LiveDisplay`)."""
    if xdisplay is None:
        pytest.skip("needs a real display: apt-get install xvfb xauth xdotool openbox imagemagick x11-utils")
    from guitools import LiveDisplay

    return LiveDisplay(xdisplay, loop)


@pytest.fixture(scope="session")
def qapp(xdisplay):
    """Overrides pytest-qt's: the application runs on the real display when there is one.

    Only the QApplication gets DISPLAY and the xcb platform; the environment is
    restored afterwards, so other tests' subprocesses are not moved onto it.
    """
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        saved = {k: os.environ.get(k) for k in ("DISPLAY", "QT_QPA_PLATFORM")}
        if xdisplay is not None:
            os.environ.update(DISPLAY=xdisplay.name, QT_QPA_PLATFORM="xcb")
        try:
            app = QApplication(["teleop-tests"])
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    yield app


@pytest.fixture(scope="session")
def qloop(qapp):
    """The one qasync loop (the app's :class:`QtEventLoop`) for every GUI test. Never stopped: stopping it calls QApplication.exit()."""
    from teleop.desktop.gui.event_loop import QtEventLoop

    qapp.setQuitOnLastWindowClosed(False)
    loop = QtEventLoop(qapp)
    yield loop
    loop.close()  # while the QApplication still exists; a close from __del__ at exit would fail


@pytest.fixture
def loop(qloop):
    asyncio.set_event_loop(qloop)
    yield qloop
    asyncio.set_event_loop(None)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 and its key, as a robot owner would make with openssl."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "robot.crt", folder / "robot.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"),
            *("-subj", "/CN=robot", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
async def make_device(tmp_path):
    """A device model (the simulator, a lying or a hobby sketch) behind a real pty in this process."""
    devices: list[PtyDevice] = []

    async def make(device: Any) -> PtyDevice:
        pty = PtyDevice(device, link=str(tmp_path / f"tty{len(devices)}"))
        await pty.start()
        devices.append(pty)
        return pty

    yield make
    for pty in devices:
        await pty.stop()


@pytest.fixture
def make_server():
    """``teleop-server`` in its own process, bridging to a :func:`make_device` pty."""
    from guitools import ServerProcess

    servers: list[ServerProcess] = []

    async def make(device: PtyDevice, *extra: str) -> ServerProcess:
        server = ServerProcess(device.path, extra=list(extra))
        await asyncio.to_thread(server.start)  # the device answers meanwhile, on this loop
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def servers():
    """``teleop-server --serial sim`` in its own process, started through this with extra options; all stopped at the end."""
    from launcher import ServerProcess

    started: list[ServerProcess] = []

    def start(extra: list[str] | None = None, **options) -> ServerProcess:
        server = ServerProcess("sim", extra=extra, **options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture
def browser():
    """Debian's headless Chromium through playwright (never ``playwright install``), for the dashboard tests."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (apt install chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def plugged():
    """SDL virtual pads (tests/sdl_virtual.py) attached through this, in the order a test needs; all unplugged at the end."""
    pads = []

    def plug(pad):
        pads.append(pad.attach())
        return pad

    yield plug
    for pad in pads:
        pad.detach()


# -- lanes: what a test needs, as markers (pytest -m "not display and not browser", ...) --------------

_NEEDS = {
    "display": {"xdisplay", "display", "qapp", "qloop", "loop"},
    "browser": {"browser"},
    "process": {"recording_server", "make_server", "servers", "make_bridge", "pty_device", "make_device", "certificate"},
}


def pytest_collection_modifyitems(config, items):
    """Mark each test by the fixtures it uses, so a lane can be selected without a list to keep."""
    for item in items:
        for marker, fixtures in _NEEDS.items():
            if fixtures & set(getattr(item, "fixturenames", ())):
                item.add_marker(marker)
