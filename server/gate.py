"""The asyncio side of admission: every accepted socket is counted, and strangers cannot crowd out the pilot.

:class:`GuardedConnection` is websockets' :class:`ServerConnection` with three
additions, plugged in through ``serve(create_connection=...)``:

* it reports itself to the :class:`Gate` the moment the socket is accepted and
  when it closes, so :class:`~server.admission.Admission` sees every socket
  (slowloris and half-open ones included) and may close the oldest lingering
  one to make room;
* it tells the fan-out when its socket stops draining and when it drains
  again (asyncio's flow-control callbacks, with the high-water mark at 0);
* it carries the client's :class:`~server.fanout.Outbox`;
* when the gate has a :class:`Diverter` (the video stream), it reads the
  request line itself first and hands a request for the video path, socket
  and all, to the diverter; websockets never sees it. Every other request
  goes to websockets unchanged, a few bytes later.

:class:`PeerLog` is how every line a peer can cause gets written: a few of a
kind per minute, then one summary with the count. :func:`raise_file_limit`
and :func:`quiet_exception_handler` are for the process as a whole.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any, Protocol

from websockets.asyncio.server import ServerConnection

from .admission import Admission, Admitted, LogBudget, PerPeerOnce
from .fanout import Outbox

log = logging.getLogger("teleop.server")

#: How often held-back log lines are summarised.
LOG_WINDOW = 60.0

#: Summary lines per kind of peer-triggered log line: "{n}" lines held back from "{peers}" addresses.
SUMMARIES = {
    "wrong token": "refused {n} more wrong pilot tokens in the last minute from {peers} address(es)",
    "full": "refused {n} more connections in the last minute (server full or too many from one address), from {peers} address(es)",
    "evicted": "closed {n} more lingering connections in the last minute to make room, from {peers} address(es)",
    "asyncio": "{n} more event-loop errors in the last minute (accept failures and the like)",
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


#: A socket that has not sent its request line in this time is closed (websockets' own
#: ``open_timeout`` starts only once the request goes to websockets).
SNIFF_TIMEOUT = 5.0


class Diverter(Protocol):
    """Takes over the sockets whose first request is for a path it serves itself (:mod:`server.video`)."""

    def wants(self, head: bytes) -> bool | None:
        """True: this request is mine; False: websockets'; None: too few bytes to tell yet."""

    def take(self, connection: GuardedConnection, transport: asyncio.Transport, head: bytes) -> None:
        """Serve the request that starts with ``head`` on ``transport`` (``connection`` stays its admission key)."""


class Gate:
    """Owns the :class:`Admission` rules for one server and applies them to live connections."""

    def __init__(self, admission: Admission, *, outbox_limit: int, peer_log: PeerLog | None = None) -> None:
        self.admission = admission
        self.outbox_limit = outbox_limit
        self.log = peer_log or PeerLog()
        self.on_drained: Callable[[GuardedConnection], None] = lambda connection: None
        self.once = PerPeerOnce()
        self.diverter: Diverter | None = None

    def connection(self, *args: Any, **kwargs: Any) -> GuardedConnection:
        """``serve(create_connection=gate.connection)``."""
        return GuardedConnection(*args, gate=self, **kwargs)

    def opened(self, connection: GuardedConnection) -> bool:
        decision = self.admission.opened(connection, connection.peer, time.monotonic())
        for victim in decision.evict:
            assert isinstance(victim, GuardedConnection)  # a diverted one too: it stays the socket's key
            self.log.info("evicted", victim.peer, "closed a lingering connection from %s to make room", victim.peer)
            victim.transport.abort()
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


class GuardedConnection(ServerConnection):
    """A :class:`ServerConnection` that is counted from accept to close and reports when its socket blocks."""

    def __init__(self, *args: Any, gate: Gate, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = gate
        self.peer = "?"
        self.outbox = Outbox(gate.outbox_limit)
        #: the bridge's id for this client, once it has one
        self.client_id: int | None = None
        #: the first bytes of the request while the gate's diverter decides whose it is
        self._sniffed: bytearray | None = None
        self._sniff_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if peer else "?"
        assert isinstance(transport, asyncio.Transport)
        if self.gate.diverter is not None:
            # websockets starts its handshake in connection_made: hold that back until the request line says it is its
            self.transport = transport
            self._sniffed = bytearray()
            self._sniff_timer = asyncio.get_running_loop().call_later(SNIFF_TIMEOUT, transport.abort)
        else:
            self._start_websocket(transport)
        if not self.gate.opened(self):
            transport.abort()

    def _start_websocket(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        # the fan-out holds messages back as soon as anything waits in user space (the kernel's
        # buffer is full): it learns that from pause_writing, and resume_writing when all is sent.
        # After websockets' connection_made, which sets its own limits.
        transport.set_write_buffer_limits(high=0, low=0)

    def data_received(self, data: bytes) -> None:
        if self._sniffed is None:
            super().data_received(data)
            return
        self._sniffed += data
        assert self.gate.diverter is not None
        mine = self.gate.diverter.wants(bytes(self._sniffed))
        if mine is None:
            return
        head = bytes(self._sniffed)
        self._stop_sniffing()
        if mine:
            self.gate.diverter.take(self, self.transport, head)
        else:
            self._start_websocket(self.transport)
            super().data_received(head)

    def _stop_sniffing(self) -> None:
        self._sniffed = None
        if self._sniff_timer is not None:
            self._sniff_timer.cancel()
            self._sniff_timer = None

    def eof_received(self) -> bool | None:
        if self._sniffed is not None:
            return None  # closed before saying what it wanted
        return super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.gate.closed(self)
        if self._sniffed is not None:  # websockets never saw this socket
            self._stop_sniffing()
            return
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        self.outbox.block(time.monotonic())

    def resume_writing(self) -> None:
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


def detect_plain_http(context: ssl.SSLContext, peer_log: PeerLog, port_hint: str = "") -> None:
    """Make ``context`` log (a few times a minute) when plain ``http://`` or ``ws://`` reaches the TLS port.

    OpenSSL recognises an HTTP request where a TLS ClientHello should be; asyncio
    then drops the connection silently (it logs handshake failures only in debug
    mode), and the user sees only "connection reset". ``sslobject_class`` is the
    documented way to wrap the handshake.
    """

    class Detecting(ssl.SSLObject):
        def do_handshake(self) -> None:
            try:
                super().do_handshake()
            except ssl.SSLError as exc:
                if exc.reason in ("HTTP_REQUEST", "HTTPS_PROXY_REQUEST"):
                    peer_log.warning(
                        "plain http",
                        "",
                        "a plain http:// or ws:// request reached this TLS port%s: the client must use https:// or wss://",
                        port_hint,
                    )
                raise

    context.sslobject_class = Detecting


class LogFlood(logging.Filter):
    """A backstop for every other log line: at most ``per_window`` records per message template per minute.

    Lines such as "client ... connected" are each harmless, but a peer that
    reconnects in a loop can make thousands. Held-back records are counted and
    reported, per template, with the next record after the minute is over.
    """

    def __init__(self, per_window: int = 30, window: float = LOG_WINDOW) -> None:
        super().__init__()
        self.budget = LogBudget(per_window, window)
        self._reporting = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO or self._reporting:
            return True
        now = time.monotonic()
        keep = self.budget.take(str(record.msg), now)
        due = self.budget.due(now)
        if due:
            self._reporting = True
            try:
                for template, count, _ in due:
                    logging.getLogger(record.name).warning("%d more lines like %r in the last minute were not logged", count, template)
            finally:
                self._reporting = False
        return keep
