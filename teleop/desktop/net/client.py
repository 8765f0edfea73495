"""The desktop client's connection to a bridge server: asyncio, no Qt.

:class:`ClientSession` connects, says hello, keeps the connection alive across
server restarts (backoff capped at 2 s, :data:`teleop.common.backoff.RECONNECT_DELAYS`) and resumes the role the user chose.
It measures round-trip time with ping/pong. Controls are latest-wins: if the
socket is momentarily slower than the stick, only the newest state is sent.

A server that does not answer ``hello`` with ``welcome`` (the hobby bridge this
product grew out of) is treated as a *legacy* server: the session reconnects
without a hello, sends seed-style ``{"Axes": [...]}`` and passes raw text up.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidHandshake, InvalidURI
from websockets.protocol import State

from teleop import __version__
from teleop.aio.tasks import cancel_and_wait
from teleop.common.backoff import RECONNECT_DELAYS, Backoff
from teleop.desktop.models.clock import ClockOffset
from teleop.desktop.models.connection import ConnectionState, Problem
from teleop.desktop.models.readpace import ReadPace
from teleop.desktop.net.delivery import DirectConnection, Inbox
from teleop.desktop.net.framing import masked_text_frame
from teleop.wire import protocol
from teleop.wire.protocol import CloseCode, Control, Role

log = logging.getLogger("teleop.desktop.net.client")

#: What a close code from the server means for the connection bar; any other code is a plain close.
CLOSE_PROBLEMS: dict[int, Problem] = {CloseCode.POLICY_VIOLATION: Problem.NOT_ALLOWED, CloseCode.TRY_AGAIN_LATER: Problem.BUSY}

WELCOME_TIMEOUT = 1.5
#: a host name that does not resolve is usually a typo or a robot that is off: ask the resolver rarely
UNKNOWN_HOST_RETRY = 15.0


_background: set[asyncio.Future] = set()


def run_in_background(coro) -> asyncio.Future:
    """Schedule a coroutine and keep a reference until it ends (asyncio only keeps weak ones).

    ``ensure_future`` rather than ``create_task``: Qt slots may run while the
    qasync loop is not marked running, and this still schedules on it.
    """
    future = asyncio.ensure_future(coro)
    _background.add(future)
    future.add_done_callback(_background.discard)
    return future


@dataclass
class SessionEvents:
    """Callbacks the session calls on the event loop; the GUI turns them into Qt signals."""

    state: Callable[[ConnectionState, str], None] = lambda state, detail: None
    message: Callable[[protocol.ServerMessage], None] = lambda message: None
    legacy_text: Callable[[str], None] = lambda text: None
    rtt: Callable[[float], None] = lambda ms: None
    #: called right after a control message was handed to the socket
    control_sent: Callable[[Control], None] = lambda control: None


class ClientSession:
    def __init__(
        self,
        url: str,
        events: SessionEvents | None = None,
        *,
        name: str = "teleop",
        role: Role = Role.OBSERVER,
        token: str | None = None,
        ping_interval: float = 1.0,
        backoff: tuple[float, ...] = RECONNECT_DELAYS,
        ssl_context: ssl.SSLContext | None = None,
        skip: tuple[protocol.MessageType, ...] = (),
        input_kind: Callable[[], protocol.InputKind | None] = lambda: None,
        read_pace: ReadPace | None = None,
        driving: Callable[[], bool] = lambda: False,
    ) -> None:
        """``skip``: streams this client does not use (:data:`teleop.wire.protocol.SKIPPABLE`), asked in its hello
        not to be sent; a server that predates ``skip`` sends them anyway, and they reach ``events.message``.
        ``input_kind``: what the pilot drives with now, said in the hello (each control says it too).
        ``read_pace``: the socket rests between reads as it says (:mod:`teleop.desktop.models.readpace`), with
        ``driving`` saying whether this client drives now; without, every message is read as it comes."""
        self.url = url.split("#", 1)[0]  # a pasted address may carry "#token=..."; it is not part of the URL sent
        self.events = events or SessionEvents()
        self.name = name
        self.wanted_role = role
        self.token = token
        self.ping_interval = ping_interval
        self.backoff = backoff
        self.ssl_context = ssl_context
        self.skip = skip
        self.input_kind = input_kind
        self.read_pace = read_pace
        self.driving = driving
        self.state = ConnectionState.DISCONNECTED
        self.detail = ""
        self.problem = Problem.NONE
        self.unknown_host_retry = UNKNOWN_HOST_RETRY
        self.role = Role.OBSERVER
        self.legacy = False
        self.rtt_ms: float | None = None
        #: the server's clock minus ours, from the pongs (video frames are stamped on the server's clock)
        self.clock = ClockOffset()
        self.client_id = 0
        self.sent_controls = 0
        self._ws: DirectConnection | None = None
        self._pending_control: Control | None = None
        #: messages other than controls waiting for the socket, oldest first (see :meth:`_pump`)
        self._outbox: collections.deque[str] = collections.deque()
        self._send_busy = False
        self._task: asyncio.Task[None] | None = None
        self._ping_id = 0
        self._logged = Problem.NONE

    # -- public API (call on the event loop) -------------------------------------------

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="client-session")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        self._set_state(ConnectionState.DISCONNECTED, "disconnected")

    @property
    def connected(self) -> bool:
        return self.state is ConnectionState.CONNECTED

    @property
    def can_drive(self) -> bool:
        return self.connected and (self.role is Role.PILOT or self.legacy)

    def send_control(self, control: Control) -> None:
        """Send the newest control state now; if the socket is busy, it goes when it frees up.

        Anything older that was waiting is dropped (latest wins).
        """
        self._pending_control = control
        self._pump()

    def _pump(self) -> None:
        """Hand what waits to the socket, in order: the other messages first, in the order they were asked
        for (an e-stop, its release, a request to drive: a control that overtook the release would be
        refused), then the newest control. While nothing waits in the transport, each is written right here
        (:mod:`teleop.desktop.net.framing`); without, send() runs its first step here instead of in a new
        task, which would only start after Qt's queued events (a plot repaint can take milliseconds), and
        the rest when the socket drains."""
        while (ws := self._ws) is not None and not self._send_busy:
            control = None
            if self._outbox:
                text = self._outbox.popleft()
            elif self._pending_control is not None:
                control, self._pending_control = self._pending_control, None
                text = json.dumps({"Axes": list(control.axes)}) if self.legacy else protocol.encode(control)
            else:
                return
            if ws.protocol.state is not State.OPEN or ws.protocol.close_expected():
                # Closing (the server is stopping, or so are we): nothing goes out any more, and send() would
                # only wait for the close, which it can do only inside a task (this may run in a signal's callback).
                self._outbox.clear()
                self._pending_control = None
                return
            if not ws.transport.get_write_buffer_size():
                # nothing waits in the transport: the frame goes straight to it, after everything written before
                # it (send() would do the same, through a coroutine and the protocol's bookkeeping)
                ws.transport.write(masked_text_frame(text.encode()))
                if control is not None:
                    self._sent(control)
                continue
            sending = ws.send(text)  # the socket is behind: send() waits for it (flow control)
            try:
                waiting = sending.send(None)
            except StopIteration:
                if control is not None:
                    self._sent(control)
                continue
            except ConnectionClosed:
                return
            self._send_busy = True
            run_in_background(self._finish_send(sending, waiting, control))
            return

    async def _finish_send(self, sending, waiting, control: Control | None) -> None:
        """Drive a send() that had to wait (flow control) to its end, like a task would."""
        try:
            while True:
                if waiting is None:
                    await asyncio.sleep(0)
                else:
                    # wait for it without awaiting it: send() yielded it marked as awaited (a task clears the
                    # mark when it takes the future over), and awaiting it again raises "await wasn't used with
                    # future", which aborted the connection whenever a stalled link filled the socket.
                    # Its result or error reaches send() when resumed.
                    await asyncio.wait([waiting])
                try:
                    waiting = sending.send(None)
                except StopIteration:
                    if control is not None:
                        self._sent(control)
                    return
        except ConnectionClosed:
            return
        except asyncio.CancelledError:
            # unwind send() as a task's cancel would: its wait for the socket ends and is forgotten (close()
            # would leave it waiting inside websockets' async context, and asyncio complains at shutdown)
            try:
                sending.throw(asyncio.CancelledError())
            except (asyncio.CancelledError, StopIteration, ConnectionClosed):
                pass
            else:
                sending.close()
            raise
        finally:
            self._send_busy = False
            self._pump()

    def _sent(self, control: Control) -> None:
        self.sent_controls += 1
        self.events.control_sent(control)

    def request_control(self, takeover: bool = False) -> None:
        self.wanted_role = Role.PILOT
        self._send_now(protocol.RequestControl(takeover=takeover, token=self.token))

    def release_control(self) -> None:
        self.wanted_role = Role.OBSERVER
        self._send_now(protocol.ReleaseControl())

    def emergency_stop(self, engaged: bool = True) -> None:
        self._send_now(protocol.EmergencyStop(engaged=engaged))

    def record(self, command: protocol.RecordCommand) -> None:
        """Ask the server's recording to start, stop or mark (an older server says not supported)."""
        self._send_now(protocol.Record(command))

    def save_snapshot(self, seconds: float | None = None) -> None:
        """Ask the server to save the last ``seconds`` it keeps in memory to a file (default: all of them)."""
        self._send_now(protocol.SaveSnapshot(seconds))

    def steer_replay(self, action: str, position: float | None = None, speed: float | None = None) -> None:
        """Play, pause, seek or change the speed of the server's replay (``teleop-server --replay``)."""
        self._send_now(protocol.ReplayControl(action, position, speed))

    # -- internals ----------------------------------------------------------------------

    def _send_now(self, message: protocol.ClientMessage) -> None:
        """Send ``message`` in turn: after the ones asked for before it, and before any control asked for after."""
        if self._ws is None or self.legacy:
            return
        if self.read_pace is not None:
            self.read_pace.asked(time.monotonic())
            self._ws.read_now()  # its answer is read the moment it comes
        self._outbox.append(protocol.encode(message))
        self._pump()

    def _rest_s(self) -> float:
        """How long the socket may rest after a read (0 without a pace)."""
        if self.read_pace is None:
            return 0.0
        return self.read_pace.rest_s(driving=self.driving(), now=time.monotonic())

    def _set_state(self, state: ConnectionState, detail: str) -> None:
        if state is self.state and detail == self.detail:
            return
        # one log line per kind of trouble, not one per retry
        quiet = state is ConnectionState.RECONNECTING and self.state is ConnectionState.RECONNECTING and self._logged == self.problem
        self.state = state
        self.detail = detail
        (log.debug if quiet else log.info)("connection %s: %s", state.value, detail)
        self._logged = self.problem
        self.events.state(state, detail)

    async def _run(self) -> None:
        retry = Backoff(self.backoff)
        while True:
            if retry.failures == 0:
                self.problem = Problem.NONE
                self._set_state(ConnectionState.CONNECTING, f"connecting to {self.url}")
            tls: dict[str, Any] = {"ssl": self.ssl_context} if self.url.startswith("wss:") and self.ssl_context else {}
            try:
                async with connect(
                    self.url,
                    create_connection=DirectConnection,
                    open_timeout=3,
                    ping_interval=5,
                    ping_timeout=5,
                    close_timeout=1,
                    max_size=1 << 20,
                    compression=None,
                    # wss:// with no context of ours: websockets uses the system's CAs (ssl=None is refused for wss)
                    **tls,
                    user_agent_header=f"teleop/{__version__}",
                ) as ws:
                    retry.succeeded()
                    assert isinstance(ws, DirectConnection)  # create_connection above
                    await self._serve(ws)
                reason = _describe_close(ws.close_code, ws.close_reason)
                self.problem = CLOSE_PROBLEMS.get(ws.close_code or 0, Problem.CLOSED)
            except ssl.SSLCertVerificationError as exc:  # before ValueError: it is one too
                reason = f"the server's TLS certificate is not trusted ({exc.verify_message}); choose its certificate file in Settings"
                self.problem = Problem.TLS_UNTRUSTED
            except (InvalidURI, ValueError) as exc:
                self.problem = Problem.BAD_ADDRESS
                self._set_state(ConnectionState.FAILED, f"bad address {self.url}: {exc}")
                return
            except ssl.SSLError as exc:
                reason = f"TLS error: {exc.reason or exc}"
                self.problem = Problem.TLS
            except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed) as exc:
                reason = _describe_failure(exc)
                self.problem = _classify_failure(exc)
            except Exception as exc:  # a bug on our side: log it, drop this connection, keep the session alive
                log.exception("unexpected error in the connection")
                reason = f"internal error: {type(exc).__name__}: {exc}"
                self.problem = Problem.OTHER
            finally:
                self._ws = None
                self.role = Role.OBSERVER
                # a control waiting for the old socket describes the sticks as they were then:
                # never deliver it on the next connection, where it would be a stale command
                self._pending_control = None
                self._outbox.clear()
            delay = retry.failed()
            if self.problem is Problem.UNKNOWN_HOST:
                delay = max(delay, self.unknown_host_retry)
            self._set_state(ConnectionState.RECONNECTING, f"{reason}; retrying in {delay:.1f} s")
            await asyncio.sleep(delay)

    async def _serve(self, ws: DirectConnection) -> None:
        try:
            await self._greet_and_serve(ws, ws.inbox)
        finally:
            # stopped, or the link is gone: nothing more reaches the models from this connection, and a socket
            # left unread (messages held before the welcome) is read again so the closing handshake completes
            ws.inbox.close()

    async def _greet_and_serve(self, ws: DirectConnection, inbox: Inbox) -> None:
        first: str | bytes | None = None
        if not self.legacy:
            hello = protocol.Hello(
                role=self.wanted_role,
                client=self.name,
                version=__version__,
                token=self.token,
                input=self.input_kind(),
                skip=self.skip,
            )
            await ws.send(protocol.encode(hello))
            try:
                async with asyncio.timeout(WELCOME_TIMEOUT):  # not wait_for: it can swallow a cancel on 3.11
                    first = await inbox.first()
            except TimeoutError:
                self._become_legacy("the server did not answer hello")
            except ConnectionClosed:
                # the seed bridge crashes on any message without "Axes": reconnect speaking its dialect
                self._become_legacy("the server closed the connection when greeted")
                raise
            else:
                message = protocol.parse_server_message(first)
                if isinstance(message, protocol.Welcome):
                    self.role = message.role
                    self.client_id = message.client_id
                    self.events.message(message)
                    first = None
                elif isinstance(message, protocol.Invalid):
                    self._become_legacy("the server's first message is not teleop protocol")
        self._ws = ws
        self._send_busy = False
        self.clock.reset()
        self.problem = Problem.NONE
        self._set_state(ConnectionState.CONNECTED, ("legacy server at " if self.legacy else "connected to ") + self.url)
        if first is not None:
            self._on_frame(first)
        self._pump()
        tasks = [] if self.legacy else [asyncio.create_task(self._pinger(ws))]
        if self.read_pace is not None:
            self.read_pace.ponged()  # a pong due on the last connection never comes
        ws.read_rest = self._rest_s
        try:
            inbox.hand_over(self._on_frame)  # each message is handled as it is parsed, the ones held first
            await ws.wait_closed()
        finally:
            for task in tasks:
                task.cancel()
        if not isinstance(ws.protocol.close_exc, ConnectionClosedOK):
            raise ws.protocol.close_exc  # an abnormal close: the reconnect says "connection lost"

    def _become_legacy(self, why: str) -> None:
        if not self.legacy:
            log.warning("legacy server at %s: %s", self.url, why)
        self.legacy = True

    def _on_frame(self, frame: str | bytes) -> None:
        if self.legacy:
            text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
            self.events.legacy_text(text)
            return
        message = protocol.parse_server_message(frame)
        if isinstance(message, protocol.Invalid):
            log.warning("ignoring a bad message from the server: %s", message.message)
            return
        if isinstance(message, protocol.Pong):
            if self.read_pace is not None:
                self.read_pace.ponged(message.id)
            rtt = time.monotonic() - message.t
            self.clock.add(message.server_t, time.time(), rtt)
            self.rtt_ms = rtt * 1000
            self.events.rtt(self.rtt_ms)
            return
        if isinstance(message, protocol.Status):
            previous = self.role
            pilot = message.pilot
            self.role = Role.PILOT if pilot is not None and pilot.id == self.client_id else Role.OBSERVER
            if previous is not self.role:
                log.info("role is now %s", self.role.value)
        self.events.message(message)

    async def _pinger(self, ws: DirectConnection) -> None:
        while True:
            self._ping_id += 1
            now = time.monotonic()
            if self.read_pace is not None:
                self.read_pace.pinged(self._ping_id, now)
                ws.read_now()  # the pong is read the moment it comes: a late read would count in the round trip
            await ws.send(protocol.encode(protocol.Ping(self._ping_id, now)))
            await asyncio.sleep(self.ping_interval)


def _describe_close(code: int | None, reason: str | None) -> str:
    if code == CloseCode.POLICY_VIOLATION:
        return f"server refused this client: {reason or 'policy violation'}"
    if code == CloseCode.TRY_AGAIN_LATER:
        return f"server busy: {reason or 'try again later'}"
    if reason:
        return f"server closed the connection: {reason}"
    return "server closed the connection"


def trust_context(cafile: str | None) -> ssl.SSLContext:
    """TLS settings for wss://: the system's CAs, plus ``cafile`` (a robot's self-signed certificate)."""
    context = ssl.create_default_context()
    if cafile:
        context.load_verify_locations(cafile=cafile)
    return context


def _classify_failure(exc: BaseException) -> Problem:
    if isinstance(exc, ConnectionRefusedError):
        return Problem.REFUSED
    if isinstance(exc, socket.gaierror):
        return Problem.UNKNOWN_HOST
    if isinstance(exc, TimeoutError):
        return Problem.TIMEOUT
    if isinstance(exc, (ConnectionClosed, ConnectionResetError)):
        return Problem.LOST
    return Problem.OTHER


def _describe_failure(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is teleop-server running?)"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionClosed):
        return "connection lost"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
