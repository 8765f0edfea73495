"""The desktop client's connection logic against the real bridge (no Qt)."""

import asyncio
import json
from dataclasses import replace

from conftest import device_lines, wait_for
from websockets.asyncio.server import serve

from teleop.desktop.models.connection import ConnectionState
from teleop.desktop.net.client import ClientSession, SessionEvents
from teleop.wire import protocol
from teleop.wire.protocol import Control, Role
from teleop_server.bridge import Bridge
from teleop_server.config import ServerConfig


class Recorder(SessionEvents):
    def __init__(self):
        self.states = []
        self.messages = []
        self.legacy = []
        self.rtts = []
        super().__init__(
            state=lambda s, d: self.states.append((s, d)),
            message=self.messages.append,
            legacy_text=self.legacy.append,
            rtt=self.rtts.append,
        )


async def test_session_connects_becomes_pilot_and_drives(make_bridge, pty_device):
    bridge = await make_bridge(pty_device.path)
    events = Recorder()
    session = ClientSession(f"ws://127.0.0.1:{bridge.port}", events, name="gui", role=Role.PILOT, ping_interval=0.1)
    session.start()
    try:
        await wait_for(lambda: session.can_drive)
        assert any(isinstance(m, protocol.Welcome) for m in events.messages)
        session.send_control(Control(axes=(0.42,)))
        await wait_for(lambda: "B420" in device_lines(pty_device))
        await wait_for(lambda: events.rtts)
        assert 0 < events.rtts[0] < 100
        await wait_for(lambda: any(isinstance(m, protocol.Reading) for m in events.messages))
    finally:
        await session.stop()


async def test_session_reconnects_after_a_server_restart_and_resumes_its_role(pty_device):
    token = "restart-survives-this-token"
    config = ServerConfig(host="127.0.0.1", port=0, serial=pty_device.path, ready_timeout=1.0, token=token)
    bridge = Bridge(config)
    await bridge.start()
    port = bridge.port
    events = Recorder()
    session = ClientSession(f"ws://127.0.0.1:{port}", events, role=Role.PILOT, token=token)
    session.start()
    try:
        await wait_for(lambda: session.can_drive)
        await bridge.stop()
        await wait_for(lambda: session.state is ConnectionState.RECONNECTING)
        await asyncio.sleep(0.5)
        bridge = Bridge(replace(config, port=port))
        await bridge.start()
        listening = asyncio.get_running_loop().time()
        await wait_for(lambda: session.can_drive, timeout=3)
        assert asyncio.get_running_loop().time() - listening < 3.0
        await wait_for(lambda: bridge.link.ready)
        session.send_control(Control(axes=(-0.3,)))
        await wait_for(lambda: "B-300" in device_lines(pty_device))
    finally:
        await session.stop()
        await bridge.stop()


async def test_bad_address_fails_with_a_reason():
    events = Recorder()
    session = ClientSession("http://not-a-websocket", events)
    session.start()
    await wait_for(lambda: session.state is ConnectionState.FAILED)
    assert "bad address" in session.detail
    await session.stop()


async def test_refused_connection_keeps_retrying_and_says_why(unused_tcp_port):
    events = Recorder()
    session = ClientSession(f"ws://127.0.0.1:{unused_tcp_port}", events)
    session.start()
    await wait_for(lambda: "refused" in session.detail)
    assert session.state is ConnectionState.RECONNECTING
    await session.stop()


async def test_legacy_seed_server_gets_seed_style_axes_and_its_text_is_shown():
    """A server in the style of the hobby bridge: reads {"Axes": [...]}, crashes on anything else, sends raw text."""
    received = []

    async def seed_like(ws):
        async def talk():
            while True:
                await ws.send("A0:512\r\n")
                await asyncio.sleep(0.1)

        talker = asyncio.create_task(talk())
        try:
            async for message in ws:
                received.append(json.loads(message)["Axes"][0])  # KeyError on a hello closes the socket
        finally:
            talker.cancel()

    async with serve(seed_like, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        events = Recorder()
        session = ClientSession(f"ws://127.0.0.1:{port}", events, role=Role.PILOT)
        session.start()
        try:
            await wait_for(lambda: session.legacy and session.connected, timeout=5)
            assert session.can_drive
            session.send_control(Control(axes=(0.25, 0.0)))
            await wait_for(lambda: 0.25 in received)
            await wait_for(lambda: any("A0:512" in t for t in events.legacy))
            assert "legacy" in session.detail
        finally:
            await session.stop()


async def test_a_control_sent_while_the_connection_closes_is_dropped_without_an_error(make_bridge, pty_device):
    """Ctrl+C in a terminal stops the app and its demo server together: the app's last neutral can meet a
    connection the server is already closing, from a signal's callback (no task). Nothing can go out then;
    the send must neither raise nor stop the app's shutdown."""
    bridge = await make_bridge(pty_device.path)
    session = ClientSession(f"ws://127.0.0.1:{bridge.port}", Recorder(), role=Role.PILOT)
    session.start()
    loop = asyncio.get_running_loop()
    errors: list[dict] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        await wait_for(lambda: session.can_drive)
        session._ws.protocol.send_close()  # the closing handshake has begun: the state is CLOSING
        sent = asyncio.Event()

        def neutral_from_a_callback() -> None:
            try:
                session.send_control(Control(axes=(0.0,)))
            finally:
                sent.set()

        loop.call_soon(neutral_from_a_callback)
        await sent.wait()
        assert errors == [], errors
        assert session.sent_controls == 0
    finally:
        loop.set_exception_handler(None)
        await session.stop()


async def test_an_estop_release_is_never_overtaken_by_the_control_after_it(make_bridge, pty_device):
    """Enable after an e-stop sends the release, then the control at once: the server must get them in that
    order, or it refuses the control ("emergency stop is engaged") and the pilot sees an error."""
    bridge = await make_bridge(pty_device.path)
    events = Recorder()
    session = ClientSession(f"ws://127.0.0.1:{bridge.port}", events, name="gui", role=Role.PILOT)
    session.start()
    try:
        await wait_for(lambda: session.can_drive)
        session.emergency_stop(True)
        await wait_for(lambda: any(isinstance(m, protocol.Status) and m.estop for m in events.messages))
        session.emergency_stop(False)
        session.send_control(Control(axes=(0.37,)))
        await wait_for(lambda: "B370" in device_lines(pty_device))
        errors = [m for m in events.messages if isinstance(m, protocol.Error)]
        assert errors == [], errors
    finally:
        await session.stop()
