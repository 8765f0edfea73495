"""The asyncio side of admission: every accepted socket is counted, and strangers cannot crowd out the pilot.

:class:`GuardedConnection` is websockets' :class:`ServerConnection` with three
additions, plugged in through ``serve(create_connection=...)``:

* it reports itself to the :class:`Gate` the moment the socket is accepted and
  when it closes, so :class:`~teleop_server.rules.admission.Admission` sees every socket
  (slowloris and half-open ones included) and may close lingering ones to
  make room;
* it tells the fan-out when its socket stops draining and when it drains
  again (asyncio's flow-control callbacks, with the high-water mark at 0,
  or one byte under TLS);
* it carries the client's :class:`~teleop_server.net.fanout.Outbox`;
* on a TLS server it goes through a :class:`~teleop_server.net.tlsdoor.TlsDoor` first, so
  it is counted while its TLS handshake is still under way, and plain HTTP on
  the TLS port is answered;
* when the gate has a :class:`Diverter` (the video stream), it reads the
  request line itself first (after TLS, if any) and hands a request for the
  video path, socket and all, to the diverter; websockets never sees it.
  Every other request goes to websockets unchanged, a few bytes later.

:class:`PeerLog` is how every line a peer can cause gets written: a few of a
kind per minute, then one summary with the count. :func:`raise_file_limit`
and :func:`quiet_exception_handler` are for the process as a whole.
"""

from __future__ import annotations

import asyncio
import logging
import math
import ssl
import time
from collections.abc import Callable
from typing import Any, Protocol

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from teleop.common.throttle import LogBudget
from teleop_server.net.fanout import Outbox
from teleop_server.net.tlsdoor import Peeker, TlsDoor, peek_waiting
from teleop_server.rules.admission import Admission, Admitted, PerPeerOnce

log = logging.getLogger("teleop.server")

#: How often held-back log lines are summarised.
LOG_WINDOW = 60.0

#: Summary lines per kind of peer-triggered log line: "{n}" lines held back from "{peers}" addresses.
SUMMARIES = {
    "wrong token": "refused {n} more wrong pilot tokens in the last minute from {peers} address(es)",
    "full": "refused {n} more connections in the last minute (server full or too many from one address), from {peers} address(es)",
    "evicted": "closed {n} more lingering connections in the last minute to make room, from {peers} address(es)",
    "asyncio": "{n} more event-loop errors in the last minute (accept failures and the like)",
    "plain http": "{n} more plain http:// or ws:// requests on the TLS port in the last minute, from {peers} address(es)",
}


class PeerLog:
    """Log lines a peer can trigger, kept to ``per_window`` of each kind per minute plus one summary."""

    def __init__(self, logger: logging.Logger = log, per_window: int = 5, window: float = LOG_WINDOW) -> None:
        self.logger = logger
        self.budget = LogBudget(per_window, window)
        self._timer: asyncio.TimerHandle | None = None

    def warning(self, kind: str, peer: str, message: str, *args: Any) -> None:
        self._emit(logging.WARNING, kind, peer, message, *args)

    def info(self, kind: str, peer: str, message: str, *args: Any) -> None:
        self._emit(logging.INFO, kind, peer, message, *args)

    def _emit(self, level: int, kind: str, peer: str, message: str, *args: Any) -> None:
        if self.budget.take(kind, time.monotonic(), peer):
            self.logger.log(level, message, *args)
        self._arm()

    def _arm(self) -> None:
        if self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._timer = loop.call_later(self.budget.window, self._flush)

    def _flush(self) -> None:
        self._timer = None
        pending = self.budget.due(time.monotonic())
        for kind, count, peers in pending:
            template = SUMMARIES.get(kind, "{n} more lines like '" + kind + "' in the last minute from {peers} address(es)")
            self.logger.warning(template.format(n=count, peers=peers))
        if pending or self.budget._kinds:
            self._arm()


#: Bytes handed to websockets at a time: a client held for flooding stops being parsed after at most
#: this much (a read can bring 256 KiB, some 40,000 ping frames: a fifth of a second of parsing).
FEED_SLICE = 4096

#: A socket that has not sent its request line in this time is closed (websockets' own
#: ``open_timeout`` starts only once the request goes to websockets).
SNIFF_TIMEOUT = 5.0


class Diverter(Protocol):
    """Takes over the sockets whose first request is for a path it serves itself (:mod:`teleop_server.net.video`)."""

    def wants(self, head: bytes) -> bool | None:
        """True: this request is mine; False: websockets'; None: too few bytes to tell yet."""

    def take(self, connection: GuardedConnection, transport: asyncio.Transport, head: bytes) -> None:
        """Serve the request that starts with ``head`` on ``transport`` (``connection`` stays its admission key)."""


class Gate:
    """Owns the :class:`Admission` rules for one server and applies them to live connections."""

    def __init__(self, admission: Admission, *, outbox_limit: int, peer_log: PeerLog | None = None) -> None:
        self.admission = admission
        self.outbox_limit = outbox_limit
        #: set by the server before it listens, if it speaks TLS: each socket then goes through a TlsDoor
        self.tls: ssl.SSLContext | None = None
        #: how long a socket may take from accept to the end of its TLS handshake
        self.tls_timeout = 5.0
        self.port_hint = ""
        self.peeker = Peeker()
        self.log = peer_log or PeerLog()
        self.on_drained: Callable[[GuardedConnection], None] = lambda connection: None
        #: asked for every ping and pong a client sends, before websockets answers it: answer (take) it or not
        self.on_control_frame: Callable[[GuardedConnection], bool] = lambda connection: True
        #: called when a connection marked ``urgent`` (the pilot's) has read data, after websockets took it
        self.on_urgent_data: Callable[[], None] = lambda: None
        self.once = PerPeerOnce()
        self.diverter: Diverter | None = None

    def connection(self, *args: Any, **kwargs: Any) -> GuardedConnection:
        """``serve(create_connection=gate.connection)``."""
        return GuardedConnection(*args, gate=self, **kwargs)

    def opened(self, connection: GuardedConnection, received: int = 0, complete: bool = False) -> bool:
        decision = self.admission.opened(connection, connection.peer, time.monotonic(), received=received, complete=complete)
        for victim in decision.evict:
            assert isinstance(victim, GuardedConnection)  # a diverted one too: it stays the socket's key
            self.log.info("evicted", victim.peer, "closed a lingering connection from %s to make room", victim.peer)
            victim.abort()
        if not decision.admitted:
            self.log.warning("full", connection.peer, "refused a connection from %s: %s", connection.peer, decision.reason)
        return decision.admitted

    def admit(self, connection: GuardedConnection, *, trusted: bool) -> Admitted:
        decision = self.admission.admit(connection, trusted=trusted)
        if not decision.admitted:
            self.log.warning("full", connection.peer, "refused a client from %s: %s", connection.peer, decision.reason)
        return decision

    def closed(self, connection: GuardedConnection) -> None:
        self.admission.closed(connection)

    def plain_http(self, connection: GuardedConnection) -> None:
        """Plain ``http://`` or ``ws://`` reached the TLS port: one line per address (and a few a minute in all)."""
        if self.once.first(connection.peer):
            self.log.warning(
                "plain http",
                connection.peer,
                "a plain http:// or ws:// request from %s reached this TLS port%s; answered that the client must use "
                "https:// or wss:// (logged once per address)",
                connection.peer,
                self.port_hint,
            )


class GuardedConnection(ServerConnection):
    """A :class:`ServerConnection` that is counted from accept to close and reports when its socket blocks."""

    def __init__(self, *args: Any, gate: Gate, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = gate
        self.peer = "?"
        self.outbox = Outbox(gate.outbox_limit)
        #: the bridge's id for this client, once it has one
        self.client_id: int | None = None
        #: set by the bridge while this is the pilot: what it sends is handled before the rest of a fan-out
        self.urgent = False
        self._raw: asyncio.Transport | None = None  # the TCP socket's transport (under TLS, if any)
        self._door: TlsDoor | None = None
        self._secured: asyncio.Transport | None = None  # the transport the request travels on (TLS's, if any)
        self._made = False  # websockets has the connection (after TLS and the sniff, if any)
        #: the first bytes of the request while the gate's diverter decides whose it is
        self._sniffed: bytearray | None = None
        self._sniff_timer: asyncio.TimerHandle | None = None
        #: how much of its request this socket has sent (waiting in the kernel when accepted; read since):
        #: admission makes room by closing the slowest
        self._peeked = 0
        self._read = 0
        self._request_done = False
        self._tail = b""  # the last bytes seen, for a blank line split across reads
        #: bytes read but not yet handed to websockets: the rest of a read, while this client is held
        #: or its request is not answered yet
        self._backlog = bytearray()
        self._opened = False  # the handshake is done and the connection is open: frames flow freely
        self._head_passed = False  # the request's blank line went to websockets: the rest waits for the answer
        self._pass_tail = b""
        #: until then this client is over its rate limit (or being closed): nothing more of it is parsed or read
        self._held_until = -math.inf
        self._hold: asyncio.TimerHandle | None = None  # fires at _held_until

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if peer else "?"
        self._raw = transport
        # what it has sent already counts: a crowd of slow sockets on its address pushes out its own slowest
        # first, and a request that arrived with the connection is complete before a single read
        early = peek_waiting(transport, 4096) or b""
        self._peeked = len(early)
        self._request_done = self.gate.tls is None and b"\r\n\r\n" in early  # under TLS, bytes of the handshake
        if not self.gate.opened(self, self._peeked, self._request_done):  # counted before any handshake: half-open TLS too
            transport.abort()
        elif self.gate.tls is None:
            self._secure(transport)
        else:
            self._door = TlsDoor(
                transport,
                self,
                self.gate.tls,
                self.gate.peeker,
                timeout=self.gate.tls_timeout,
                on_secure=self._secure,
                on_plain=lambda: self.gate.plain_http(self),
            )

    def _secure(self, transport: asyncio.Transport) -> None:
        """TLS is done, if any: the request is sniffed for the diverter, or websockets takes the connection."""
        self.transport = self._secured = transport
        if self.gate.diverter is not None:
            # websockets starts its handshake in connection_made: hold that back until the request line says it is its
            self._sniffed = bytearray()
            self._sniff_timer = asyncio.get_running_loop().call_later(SNIFF_TIMEOUT, transport.abort)
        else:
            self._start_websocket(transport)
        if self._door is not None:
            early, self._door.early = self._door.early, []
            for data in early:
                self.data_received(data)

    def _start_websocket(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        self._made = True
        # the fan-out holds messages back as soon as anything waits in user space (the kernel's
        # buffer is full): it learns that from pause_writing, and resume_writing when all is sent.
        # Set after websockets' connection_made, which sets its own limits. A socket transport
        # pauses when more than ``high`` bytes wait, asyncio's TLS transport when at least ``high``
        # do: with 0 it would pause with nothing waiting, and stay paused until some later write
        # happened to resume it, so a wss client that only listens got its readings at the next ping.
        transport.set_write_buffer_limits(high=0 if self.gate.tls is None else 1, low=0)
        self._count_control_frames()

    def _count_control_frames(self) -> None:
        """Ask the gate about every ping and pong before websockets answers (or takes) it.

        websockets answers a ping inside its sans-I/O protocol as it parses
        the frame, with no hook for the application: a client flooding pings
        would cost the server a pong each, past every limit. So the frame
        handler of this connection's protocol is wrapped: a ping is answered
        only if the client is within its rate limit (:meth:`ControlRules.control_frame
        <teleop_server.rules.control.ControlRules.control_frame>`) and its socket is taking what is
        written to it (a pong to a client that does not read would only pile up here).
        """
        protocol = self.protocol
        handle = protocol.recv_frame

        def recv_frame(frame: Frame) -> None:
            if frame.opcode is Opcode.PING or frame.opcode is Opcode.PONG:
                if not self.gate.on_control_frame(self):
                    return
                if frame.opcode is Opcode.PING and self.outbox.blocked_since is not None:
                    return
            handle(frame)

        protocol.recv_frame = recv_frame  # type: ignore[method-assign]

    def hold(self, until: float) -> None:
        """Read and parse nothing more from this client before ``until`` (monotonic; inf: never again)."""
        if self._raw is None:
            return
        if until > self._held_until:
            self._held_until = until
            if self._hold is not None:
                self._hold.cancel()
                self._hold = None
            if math.isfinite(until):
                loop = asyncio.get_running_loop()
                self._hold = loop.call_at(loop.time() + max(0.0, until - time.monotonic()), self._release)
        self._raw.pause_reading()

    @property
    def held(self) -> bool:
        return self._held_until > time.monotonic()

    def _release(self) -> None:
        self._hold = None
        if self.transport is None or self.transport.is_closing():
            return
        self._feed(b"")
        if not self.held and not self._backlog and self._raw is not None:
            self._raw.resume_reading()

    def _feed(self, data: bytes) -> None:
        """Hand bytes to websockets a slice at a time, stopping as soon as the client is held.

        Until the request is answered, nothing past its blank line is handed
        over: websockets would parse a second, pipelined request as WebSocket
        frames, fail the connection, and then trip over its own answer to the
        first (a traceback, and no answer). What follows waits here, and goes
        to websockets once the connection is open; after a plain HTTP answer
        the connection closes and it is dropped.
        """
        self._backlog += data
        while self._backlog and not self.held:
            size = FEED_SLICE if self._opened else self._head_piece()
            if not size:
                break
            piece = bytes(self._backlog[:size])
            del self._backlog[:size]
            super().data_received(piece)
        if self._backlog and self._raw is not None:
            self._raw.pause_reading()  # whoever resumed it meanwhile (websockets' own flow control), it stays held

    def _head_piece(self) -> int:
        """How many backlog bytes may go to websockets before the request is answered: up to its blank line."""
        if self._head_passed:
            return 0
        seen = self._pass_tail + bytes(self._backlog[:FEED_SLICE])
        end = seen.find(b"\r\n\r\n")
        if end < 0:
            self._pass_tail = seen[-3:]
            return min(len(self._backlog), FEED_SLICE)
        self._head_passed = True
        return end + 4 - len(self._pass_tail)

    async def handshake(self, *args: Any, **kwargs: Any) -> None:
        """websockets' opening handshake; then whatever the client sent after its request goes on to websockets."""
        try:
            await super().handshake(*args, **kwargs)
        finally:
            if self.protocol.state is State.OPEN:
                self._opened = True
                self.loop.call_soon(self._release)
            else:
                self._backlog.clear()  # a second request after an HTTP answer: the connection closes without reading it

    def _progress(self, data: bytes) -> None:
        """Tell admission how much of its request this socket has sent, until the request is complete."""
        self._read += len(data)  # under TLS, what the TLS layer delivers: the request itself
        seen = self._tail + data
        self._request_done = b"\r\n\r\n" in seen
        self._tail = seen[-3:]
        self.gate.admission.progress(self, max(self._peeked, self._read), self._request_done)

    def data_received(self, data: bytes) -> None:
        if not self._request_done:
            self._progress(data)
        if self._made:
            self._feed(data)
            if self.urgent:
                self.gate.on_urgent_data()
        elif self._sniffed is not None:
            self._sniff(data)
        elif self._door is not None:
            self._door.data_received(data)

    def _sniff(self, data: bytes) -> None:
        assert self._sniffed is not None and self.gate.diverter is not None
        self._sniffed += data
        mine = self.gate.diverter.wants(bytes(self._sniffed))
        if mine is None:
            return
        head = bytes(self._sniffed)
        self._stop_sniffing()
        if mine:
            self.gate.diverter.take(self, self.transport, head)
        else:
            self._start_websocket(self.transport)
            self._feed(head)

    def _stop_sniffing(self) -> None:
        self._sniffed = None
        if self._sniff_timer is not None:
            self._sniff_timer.cancel()
            self._sniff_timer = None

    def eof_received(self) -> bool | None:  # type: ignore[override]  # asyncio's Protocol returns bool | None; websockets narrows it to None
        return super().eof_received() if self._made else None

    def abort(self) -> None:
        """Close the socket at once, whatever stage it is at."""
        transport = self._secured or self._raw
        if transport is not None:
            transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.gate.closed(self)
        if self._hold is not None:
            self._hold.cancel()
            self._hold = None
        self._backlog.clear()
        if self._door is not None:
            self._door.lost()
        if self._sniffed is not None:  # websockets never saw this socket
            self._stop_sniffing()
        if self._made:
            super().connection_lost(exc)

    def pause_writing(self) -> None:
        if self._made:
            super().pause_writing()
            self.outbox.block(time.monotonic())

    def resume_writing(self) -> None:
        if self._made:
            super().resume_writing()
            self.gate.on_drained(self)


def raise_file_limit() -> tuple[int, int]:
    """Raise this process's soft limit on open files to its hard limit; return ``(before, after)``.

    Every client is a socket and a file descriptor. The usual soft limit of
    1,024 is a few hundred lingering connections from running out, while the
    hard limit (raised further by ``LimitNOFILE`` in the systemd unit) is
    usually far higher and free to use.
    """
    try:
        import resource
    except ImportError:  # Windows: no such limit
        return (0, 0)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if wanted > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            return (soft, soft)
        return (soft, wanted)
    return (soft, soft)


def file_limit() -> int:
    try:
        import resource
    except ImportError:
        return 8192
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return 1 << 20 if soft == resource.RLIM_INFINITY else soft


def quiet_exception_handler(peer_log: PeerLog) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """An event-loop exception handler that logs each kind of error a few times a minute, without a traceback flood.

    asyncio reports a failed ``accept()`` (out of file descriptors) and errors
    on half-open sockets through the loop's exception handler, with a
    traceback each; under a connection storm that was thousands a second.
    """

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", "event loop error"))
        exception = context.get("exception")
        detail = f"{message}: {exception!r}" if exception is not None else message
        peer_log.warning("asyncio", "", "%s", detail)

    return handle


class LogFlood(logging.Filter):
    """A backstop for every other log line: at most ``per_window`` records per message template per minute.

    Lines such as "client ... connected" are each harmless, but a peer that
    reconnects in a loop can make thousands. Held-back records are counted and
    reported, per template, with the next record after the minute is over.

    Put on the log handler, it sees every logger's records, the libraries'
    too: a line websockets or asyncio writes about a stranger's connection
    keeps its traceback only the first time in a minute.
    """

    def __init__(self, per_window: int = 30, window: float = LOG_WINDOW) -> None:
        super().__init__()
        self.budget = LogBudget(per_window, window)
        self._tracebacks = LogBudget(1, window)
        self._reporting = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO or self._reporting:
            return True
        now = time.monotonic()
        keep = self.budget.take(str(record.msg), now)
        due = self.budget.due(now)
        self._tracebacks.due(now)
        if due:
            self._reporting = True
            try:
                for template, count, _ in due:
                    logging.getLogger(record.name).warning("%d more lines like %r in the last minute were not logged", count, template)
            finally:
                self._reporting = False
        if keep and record.exc_info and not self._tracebacks.take(str(record.msg), now):
            exception = record.exc_info[1]
            record.msg = f"{record.getMessage()} ({exception!r}; its traceback was logged earlier this minute)"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return keep
