"""The desktop client's connection logic against the real bridge (no Qt)."""

import asyncio
import json
from dataclasses import replace

from conftest import device_lines, wait_for
from websockets.asyncio.server import serve
from websockets.frames import Opcode
from websockets.protocol import Protocol as WsProtocol
from websockets.protocol import Side
from websockets.protocol import State as WsState

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


async def test_every_client_sees_what_the_desktop_pilot_drives_with(make_bridge, pty_device):
    bridge = await make_bridge(pty_device.path)
    kind = protocol.InputKind.KEYBOARD
    session = ClientSession(f"ws://127.0.0.1:{bridge.port}", Recorder(), name="gui", role=Role.PILOT, input_kind=lambda: kind)
    session.start()
    try:
        await wait_for(lambda: session.can_drive)
        assert bridge.status()["pilot"]["input"] == "keyboard", "said in the hello, before any control"
        session.send_control(Control(axes=(0.3,), input=protocol.InputKind.TOUCH))
        await wait_for(lambda: bridge.status()["pilot"]["input"] == "touch", what="the control's input kind in the status")
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


class StallingLink:
    """A TCP hop between the client and the bridge that can stall the client's bytes (a Wi-Fi link that
    stops carrying them), and decodes every frame the client sent with websockets' own server-side parser.

    What the client sends once the link has stalled is only decoded, not passed on: the bridge would
    take a flood of held-back controls at the rate it allows a pilot, and the test would wait for it."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.stalled_once = False
        self.texts: list[str] = []
        self.broken: list[str] = []
        self._parser = WsProtocol(Side.SERVER, state=WsState.OPEN, max_size=None)
        self._handshake = b""
        self._tasks: set[asyncio.Task] = set()

    def stall(self) -> None:
        self.stalled_once = True
        self.flowing.clear()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._join, "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._server.close()
        for task in self._tasks:
            task.cancel()

    async def _join(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        for task in (self._pipe(client_r, server_w, self._seen), self._pipe(server_r, client_w, None)):
            self._tasks.add(asyncio.create_task(task))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen) -> None:
        while True:
            if seen is not None:
                await self.flowing.wait()
            data = await reader.read(4096)
            if not data:
                writer.close()
                return
            if seen is not None:
                seen(data)
                if self.stalled_once:
                    continue
            writer.write(data)
            await writer.drain()

    def _seen(self, data: bytes) -> None:
        if b"\r\n\r\n" not in self._handshake:  # the HTTP upgrade first, then frames
            self._handshake += data
            if b"\r\n\r\n" not in self._handshake:
                return
            data = self._handshake.split(b"\r\n\r\n", 1)[1]
        self._parser.receive_data(data)
        self.texts += [frame.data.decode() for frame in self._parser.events_received() if frame.opcode is Opcode.TEXT]
        if self._parser.state is not WsState.OPEN:  # a frame it could not read: it closes the connection
            self.broken.append(f"the parser closed the connection: {self._parser.parser_exc}")


async def test_controls_held_back_by_a_stalled_link_go_out_whole_in_order_with_the_newest_last(make_bridge):
    """While the link stalls the socket fills, controls wait and the newest replaces the one waiting; an
    e-stop asked meanwhile goes before it. The frames written straight to the socket and those that waited
    for it to drain are one stream: every one whole, in the order asked for."""
    bridge = await make_bridge()
    link = StallingLink(bridge.port)
    port = await link.start()
    events = Recorder()
    session = ClientSession(f"ws://127.0.0.1:{port}", events, name="gui", role=Role.PILOT)
    session.start()
    try:
        await wait_for(lambda: session.can_drive)
        link.stall()
        axes = tuple((i % 9 - 4) / 8 for i in range(protocol.MAX_AXES))
        seq, held_back = 0, 0
        while held_back < 50 and seq < 300_000:
            seq += 1
            before = session.sent_controls
            session.send_control(Control(seq=seq, axes=axes))
            held_back = held_back + 1 if session.sent_controls == before else 0
            if seq % 64 == 0:
                await asyncio.sleep(0)
        assert held_back == 50 and session.connected, "the stalled socket never held a control back"
        session.emergency_stop(True)
        session.send_control(Control(seq=seq + 1, axes=axes))
        link.flowing.set()
        await wait_for(lambda: any(f'"seq":{seq + 1},' in text for text in link.texts))
        messages = [json.loads(text) for text in link.texts]
        controls = [m["seq"] for m in messages if m["type"] == "control"]
        assert controls == sorted(set(controls)) and controls[-1] == seq + 1
        assert len(controls) == session.sent_controls
        assert [m["type"] for m in messages[-2:]] == ["estop", "control"]
        assert link.broken == []
        assert session.connected and ConnectionState.RECONNECTING not in [state for state, _ in events.states]
    finally:
        await session.stop()
        await link.stop()


def test_quitting_while_a_stalled_link_holds_a_control_back_ends_without_an_error(caplog):
    """The app quits (its loop cancels every task) while a control waits for a socket that a stalled link
    filled: the waiting send is unwound, and asyncio reports nothing left running or never retrieved."""

    async def main() -> None:
        async def stalled(ws):
            ws.transport.pause_reading()  # the link carries nothing from here on
            await asyncio.Future()

        server = await serve(stalled, "127.0.0.1", 0, close_timeout=0.2)  # quits without waiting for a close
        port = server.sockets[0].getsockname()[1]
        session = ClientSession(f"ws://127.0.0.1:{port}", Recorder(), role=Role.PILOT)
        session.start()
        await wait_for(lambda: session.can_drive, timeout=5)  # a server that never says welcome: legacy
        seq, held_back = 0, 0
        while held_back < 50 and seq < 300_000:
            seq += 1
            before = session.sent_controls
            session.send_control(Control(seq=seq, axes=(0.5,) * protocol.MAX_AXES))
            held_back = held_back + 1 if session.sent_controls == before else 0
            if seq % 64 == 0:
                await asyncio.sleep(0)
        assert held_back == 50 and session.connected, "the stalled socket never held a control back"
        server.close(close_connections=False)
        # returning leaves the waiting send, the session and the server's handler to asyncio.run, which
        # cancels every task as the app's loop does when it quits

    with caplog.at_level("ERROR", logger="asyncio"):
        asyncio.run(main())
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
