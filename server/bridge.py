"""The bridge: many WebSocket clients on one side, one serial device on the other.

* Readings are pushed to every client the moment a report line is read, and
  kept as the latest snapshot that a new client gets in its ``welcome``.
* One pilot drives; everyone else observes. Taking over is explicit
  (``takeover: true``) and announced to all.
* Each client has its own bounded outgoing queue and sender task, so a client
  that stops reading delays nobody; once its queue is full it is dropped.
* When the pilot goes quiet or leaves, every mapped output is set to neutral
  (:mod:`server.failsafe`), and while it drives the device gets a line at
  least every keepalive interval.
* Becoming pilot needs the token unless authentication is off
  (:mod:`server.auth`); a client flooding frames is warned, then closed
  (:mod:`server.limits`); past ``max_clients`` a new connection is closed with
  the reason. The emergency stop is open to every client: stopping is always
  safe, and only an authenticated pilot can release it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from teleop import __version__, protocol
from teleop.errors import ConfigError
from teleop.protocol import (
    Control,
    EmergencyStop,
    Error,
    ErrorCode,
    Event,
    Hello,
    Invalid,
    Outputs,
    Ping,
    Pong,
    Reading,
    ReleaseControl,
    RequestControl,
    Role,
    Status,
    Welcome,
)

from .auth import Access, ObserverAccess
from .config import ServerConfig
from .device import DeviceLink, LinkState
from .failsafe import Action, PilotWatch
from .limits import RateWatch, Verdict
from .mapping import CommandMapper
from .record import Recorder
from .serial_protocol import REPORT_UNITS
from .simdevice import SimulatedDevice
from .static import StaticFiles

log = logging.getLogger("teleop.server")

#: How long a new connection may stay silent before it is treated as a plain
#: (seed-style) observer: the seed's browser page never sends anything.
HELLO_TIMEOUT = 0.5
CLOSE_TOO_SLOW = 1013  # "try again later"
#: A client whose socket accepts nothing for this long is stuck (a frozen app, a phone that
#: left the Wi-Fi): drop it rather than wait for its queue to fill, which can take a minute.
SEND_STALL_TIMEOUT = 5.0
#: Kernel send buffer per client. Linux grows it to megabytes on its own, which at telemetry
#: rates would hide a stuck client for minutes; 64 KiB is still seconds of readings.
SEND_BUFFER_BYTES = 64 * 1024
CLOSE_SERVER_FULL = 1013
CLOSE_POLICY = 1008  # "policy violation": no token where one is required, or flooding
#: A client sending more than this many times the configured control rate is flooding.
RATE_LIMIT_FACTOR = 4
#: Wrong tokens one connection may offer before it is closed: guessing must cost a reconnect.
MAX_TOKEN_FAILURES = 5
OUTPUTS_INTERVAL = 0.1
NOT_PILOT_ERROR_INTERVAL = 1.0
#: Pings answered per client per second (the app pings once a second); more go unanswered,
#: so a ping flood cannot make the server flood the sender's own queue.
MAX_PINGS_PER_S = 20


@dataclass(eq=False)
class Client:
    ws: ServerConnection
    id: int
    name: str = "unknown"
    role: Role = Role.OBSERVER
    legacy: bool = False
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue())
    sender: asyncio.Task[None] | None = None
    last_refusal: float = -math.inf
    authorized: bool = False
    token_failures: int = 0
    rate: RateWatch | None = None
    pings: RateWatch = field(default_factory=lambda: RateWatch(MAX_PINGS_PER_S, strikes=1_000_000))

    @property
    def label(self) -> str:
        host = self.ws.remote_address[0] if self.ws.remote_address else "?"
        return f"#{self.id} {self.name} ({host})"

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "legacy": self.legacy}


class Bridge:
    """Owns the device link, the clients and the control state. Start it with :meth:`start`."""

    def __init__(self, config: ServerConfig, *, sim: SimulatedDevice | None = None) -> None:
        self.config = config
        if config.auth and not config.token:
            raise ConfigError("authentication is on but no pilot token was given (load it with server.auth.load_or_create_token)")
        self.access = Access(config.token if config.auth else None, ObserverAccess(config.observers))
        self.mapper = CommandMapper(config.outputs)
        self.watch = PilotWatch(config.failsafe_timeout, config.keepalive_interval)
        self.recorder = Recorder(config.record) if config.record else None
        self.link = DeviceLink(
            config.serial,
            config.baud,
            ready_timeout=config.ready_timeout,
            reply_timeout=config.reply_timeout,
            max_in_flight=config.max_in_flight,
            on_report=self._on_report,
            on_state=self._on_link_state,
            on_event=self._on_device_event,
            on_written=self._on_written,
            on_accepted=self._on_accepted,
            sim=sim,
        )
        self.clients: dict[ServerConnection, Client] = {}
        self.pilot: Client | None = None
        self.estop = False
        self.readings: dict[str, int | float] = {}
        self.accepted: dict[str, str] = {}
        self._reading_seq = 0
        self._ids = itertools.count(1)
        self._status_dirty = False
        self._outputs_dirty = False
        self._watch_timer: asyncio.TimerHandle | None = None
        self._link_task: asyncio.Task[None] | None = None
        self._outputs_task: asyncio.Task[None] | None = None
        self._server: Server | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._connections = 0  # including those still in their hello; counts against max_clients
        self.session = f"{int(time.time()):x}"

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> Server:
        tls = self._tls_context()
        self._link_task = asyncio.create_task(self.link.run(), name="device-link")
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            max_size=protocol.MAX_MESSAGE_BYTES,
            max_queue=32,
            write_limit=16 * 1024,
            # a client that stops answering pings (a frozen app, a phone gone from the Wi-Fi) is
            # closed within 10 s, long before its queue and the kernel's buffers would fill
            ping_interval=5,
            ping_timeout=5,
            close_timeout=2,
            compression=None,
            server_header=f"teleop-server/{__version__}",
            process_request=StaticFiles(tls=tls is not None),
            ssl=tls,
        )
        self._outputs_task = asyncio.create_task(self._outputs_loop(), name="outputs")
        return self._server

    def _tls_context(self) -> ssl.SSLContext | None:
        if not self.config.certfile:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(self.config.certfile, self.config.keyfile)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot use certificate {self.config.certfile} with key {self.config.keyfile}: {getattr(exc, 'strerror', None) or exc}"
            ) from None
        return context

    @property
    def tls(self) -> bool:
        return bool(self.config.certfile)

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in (self._link_task, self._outputs_task):
            if task:
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass
        await self.link.close()
        if self.recorder:
            self.recorder.close()

    # -- connection handling -------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        if self._connections >= self.config.max_clients:
            log.warning("refused a connection from %s: %d clients already connected", _host(ws), self._connections)
            await ws.close(CLOSE_SERVER_FULL, f"server full: {self.config.max_clients} clients connected; try again later")
            return
        self._connections += 1
        sock = ws.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        client = Client(
            ws,
            next(self._ids),
            queue=asyncio.Queue(self.config.client_queue),
            rate=RateWatch(round(self.config.control_hz * RATE_LIMIT_FACTOR)),
        )
        try:
            try:
                async with asyncio.timeout(HELLO_TIMEOUT):  # not wait_for: it can swallow a cancel on 3.11
                    first = await ws.recv()
            except TimeoutError:
                first = None
            message = None if first is None else protocol.parse_client_message(first)
            if not self.access.may_watch(message.token if isinstance(message, Hello) else None):
                log.warning("client %s refused: this server requires the token even to watch", client.label)
                text = "this server requires the token even to watch: add it to your settings"
                await self._refuse(client, "no token", Error(ErrorCode.UNAUTHORIZED, text), reason="token required")
                return
            self._join(client, message)
            rate = client.rate
            assert rate is not None
            async for frame in ws:
                verdict = rate.frame(time.monotonic())
                if verdict is Verdict.OK:
                    self._on_frame(client, frame)
                elif verdict is Verdict.DROP_AND_WARN:
                    log.warning("client %s is sending more than %d messages/s; dropping the excess", client.label, rate.limit)
                    self._send(
                        client,
                        Error(
                            ErrorCode.RATE_LIMITED,
                            f"more than {rate.limit} messages in one second: the excess was dropped; keep this up and you will be disconnected",
                        ),
                    )
                elif verdict is Verdict.CLOSE:
                    await self._close_flooder(client)
                    return
                if client.token_failures >= MAX_TOKEN_FAILURES:
                    await self._refuse(
                        client,
                        f"{MAX_TOKEN_FAILURES} wrong pilot tokens",
                        Error(ErrorCode.UNAUTHORIZED, "too many wrong pilot tokens; reconnect to try again"),
                    )
                    return
        except ConnectionClosed:
            pass
        finally:
            self._connections -= 1
            self._leave(client)

    async def _close_flooder(self, client: Client) -> None:
        assert client.rate is not None
        log.warning("client %s kept flooding after a warning; disconnecting it", client.label)
        await self._refuse(
            client,
            "flooding",
            Error(ErrorCode.RATE_LIMITED, f"still more than {client.rate.limit} messages/s after a warning: disconnected"),
            reason=f"rate limit: more than {client.rate.limit} messages/s",
        )

    async def _refuse(self, client: Client, why: str, error: Error, *, reason: str | None = None) -> None:
        """Tell ``client`` why, then close it with 1008 (policy violation)."""
        self.clients.pop(client.ws, None)
        if client.sender:
            client.sender.cancel()
        if self.pilot is client:
            self._set_pilot(None, f"pilot {client.name} was disconnected ({why})")
        try:
            async with asyncio.timeout(1):
                await client.ws.send(protocol.encode(error))
                await client.ws.close(CLOSE_POLICY, (reason or error.message)[:120])
        except (ConnectionClosed, TimeoutError):
            pass

    def _join(self, client: Client, message: protocol.ClientMessage | Invalid | None) -> None:
        """Register a new client from its first message (None: it sent nothing in time)."""
        if isinstance(message, Hello):
            client.name = message.client or "unknown"
            client.authorized = self.access.required and self.access.may_drive(message.token)
        else:
            client.legacy = True
            client.name = "legacy client"
        client.sender = asyncio.create_task(self._send_loop(client), name=f"send-{client.id}")
        log.info("client %s connected%s", client.label, " (no hello: seed-style client)" if client.legacy else "")
        if isinstance(message, Hello):
            if message.protocol != protocol.PROTOCOL_VERSION:
                self._send(
                    client,
                    Error(
                        ErrorCode.UNSUPPORTED_VERSION,
                        f"server speaks protocol {protocol.PROTOCOL_VERSION}, client asked for {message.protocol}; continuing",
                    ),
                )
            if message.role is Role.PILOT and self._token_ok(client, message.token):
                # announced to the others now; this client learns it from its welcome
                self._grant_pilot(client, message.takeover, announce_refusal=False)
        self.clients[client.ws] = client
        self._send(client, self._welcome(client))
        if isinstance(message, Hello) and message.role is Role.PILOT and not self._token_ok(client, message.token):
            self._refused_token(client, message.token, "hello")
        elif isinstance(message, Hello) and message.role is Role.PILOT and client.role is not Role.PILOT:
            self._send(
                client,
                Error(
                    ErrorCode.PILOT_BUSY,
                    f"{self.pilot.name if self.pilot else 'another client'} is pilot; you are an observer. Send request_control with takeover to take over.",
                    "hello",
                ),
            )
        elif isinstance(message, (Control, Invalid, Ping, RequestControl, ReleaseControl, EmergencyStop)):
            self._on_message(client, message)
        self._mark_status()

    def _token_ok(self, client: Client, offered: str | None) -> bool:
        ok = self.access.may_drive(offered)
        if ok:
            client.authorized = client.authorized or self.access.required
        return ok

    def _unauthorized(self, offered: str | None, ref: str) -> Error:
        if offered:
            why = "the pilot token you sent is wrong: check it in your settings (teleop-server printed it when it first started)"
        else:
            why = "this server needs a pilot token to drive: add the token teleop-server printed when it first started to your settings"
        return Error(ErrorCode.UNAUTHORIZED, f"{why}; you are an observer", ref)

    def _refused_token(self, client: Client, offered: str | None, ref: str) -> None:
        if offered:
            client.token_failures += 1
        log.warning("client %s asked to drive with %s pilot token", client.label, "a wrong" if offered else "no")
        self._send(client, self._unauthorized(offered, ref))

    def _closing_task(self, coro) -> None:
        # keep a reference: asyncio holds tasks weakly, and a close may take up to close_timeout
        closing = asyncio.get_running_loop().create_task(coro)
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    def _leave(self, client: Client) -> None:
        self.clients.pop(client.ws, None)
        if client.sender:
            client.sender.cancel()
        log.info("client %s disconnected (%d left)", client.label, len(self.clients))
        if self.pilot is client:
            self._set_pilot(None, f"pilot {client.name} disconnected")
        self._mark_status()

    def _on_frame(self, client: Client, frame: str | bytes) -> None:
        message = protocol.parse_client_message(frame)
        try:
            self._on_message(client, message)
        except Exception:  # a bug; never let one message take the connection (or the pilot's control) down
            log.exception("error handling a %s from %s", type(message).__name__, client.label)
            self._send(client, Error(ErrorCode.INVALID_MESSAGE, "the server could not handle this message (a bug, logged)"))

    def _on_message(self, client: Client, message: protocol.ClientMessage | Invalid) -> None:
        if isinstance(message, Control):
            self._on_control(client, message)
        elif isinstance(message, Ping):
            if client.pings.frame(time.monotonic()) is Verdict.OK:
                self._send(client, Pong(message.id, message.t, time.time()))
        elif isinstance(message, Invalid):
            self._send(client, message.as_error())
        elif isinstance(message, RequestControl):
            if self.pilot is client or self._token_ok(client, message.token) or client.authorized:
                self._grant_pilot(client, message.takeover, announce_refusal=True)
            else:
                self._refused_token(client, message.token, "request_control")
        elif isinstance(message, ReleaseControl):
            if self.pilot is client:
                self._set_pilot(None, f"{client.name} released control")
        elif isinstance(message, EmergencyStop):
            self._on_estop(client, message.engaged)
        elif isinstance(message, Hello):
            self._send(client, Error(ErrorCode.INVALID_MESSAGE, "hello may only be the first message", "hello"))

    # -- control -------------------------------------------------------------------------

    def _grant_pilot(self, client: Client, takeover: bool, *, announce_refusal: bool) -> bool:
        if self.pilot is client:
            return True
        if self.pilot is not None and not takeover:
            if announce_refusal:
                self._send(
                    client, Error(ErrorCode.PILOT_BUSY, f"{self.pilot.name} is pilot; send takeover: true to take over", "request_control")
                )
            return False
        previous = self.pilot
        reason = f"{client.name} took over from {previous.name}" if previous else f"{client.name} is now pilot"
        self._set_pilot(client, reason)
        return True

    def _set_pilot(self, client: Client | None, reason: str) -> None:
        previous = self.pilot
        if previous is not None:
            previous.role = Role.OBSERVER
        self.pilot = client
        if client is not None:
            client.role = Role.PILOT
        log.info("control: %s", reason)
        self._announce("info", reason)
        if previous is not None:
            self._enter_failsafe(reason)
        self._mark_status()

    def _on_control(self, client: Client, control: Control) -> None:
        if client.legacy and self.pilot is None and control.legacy and not self.access.required:
            self._grant_pilot(client, False, announce_refusal=False)
        if self.pilot is not client:
            now = time.monotonic()
            if now - client.last_refusal >= NOT_PILOT_ERROR_INTERVAL:
                client.last_refusal = now
                if client.legacy and self.access.required:
                    text = (
                        'control ignored: this server requires a pilot token, so bare {"Axes": ...} messages cannot drive. '
                        "Use the teleop app with the token, or start teleop-server with --no-auth on a trusted network"
                    )
                    self._send(client, Error(ErrorCode.UNAUTHORIZED, text, "control"))
                else:
                    holder = self.pilot.name if self.pilot else "nobody"
                    self._send(client, Error(ErrorCode.NOT_PILOT, f"control ignored: you are an observer and {holder} is pilot", "control"))
            return
        if self.estop:
            now = time.monotonic()
            if now - client.last_refusal >= NOT_PILOT_ERROR_INTERVAL:
                client.last_refusal = now
                self._send(
                    client, Error(ErrorCode.ESTOP_ACTIVE, "emergency stop is engaged; send estop with engaged: false to resume", "control")
                )
            return
        now = time.monotonic()
        resumed = self.watch.control(now)
        if resumed:
            log.info("failsafe cleared: %s is driving", client.name)
            self._announce("info", f"failsafe cleared: {client.name} is driving")
            self._mark_status()
        self.link.submit(self.mapper.commands(control))
        self._arm_watch()

    def _on_estop(self, client: Client, engaged: bool) -> None:
        if engaged:
            if not self.estop:
                self.estop = True
                log.warning("EMERGENCY STOP by %s", client.label)
                self._announce("warning", f"emergency stop by {client.name}")
            self.watch.force()
            self._write_neutral()
            self._mark_status()
        elif self.estop:
            if self.pilot is not client:
                self._send(client, Error(ErrorCode.NOT_PILOT, "only the pilot can clear the emergency stop", "estop"))
                return
            self.estop = False
            log.warning("emergency stop cleared by %s", client.label)
            self._announce("info", f"emergency stop cleared by {client.name}")
            self._mark_status()

    def _enter_failsafe(self, reason: str) -> None:
        entered = self.watch.pilot_lost(time.monotonic())
        self._write_neutral()
        if entered:
            log.warning("failsafe: %s; outputs to neutral", reason)
            self._announce("warning", f"failsafe: {reason}")
            self._mark_status()

    def _write_neutral(self) -> None:
        self.link.force(self.mapper.neutral())

    def _arm_watch(self) -> None:
        deadline = self.watch.deadline()
        if math.isinf(deadline):
            return
        if self._watch_timer is not None and self._watch_timer.when() <= deadline:
            return  # an earlier timer will re-check (lazy re-arming: no churn at 500 Hz)
        if self._watch_timer is not None:
            self._watch_timer.cancel()
        loop = asyncio.get_running_loop()
        self._watch_timer = loop.call_at(loop.time() + max(0.0, deadline - time.monotonic()), self._on_watch_timer)

    def _on_watch_timer(self) -> None:
        self._watch_timer = None
        for action in self.watch.poll(time.monotonic()):
            if action is Action.ENTER_FAILSAFE:
                self._write_neutral()
                log.warning("failsafe: pilot silent for %.0f ms; outputs to neutral", self.watch.timeout * 1000)
                self._announce("warning", f"failsafe: no control from the pilot for {self.watch.timeout * 1000:.0f} ms")
                self._mark_status()
            elif action is Action.KEEPALIVE:
                self.link.heartbeat()
        self._arm_watch()

    # -- device callbacks ----------------------------------------------------------------

    def _on_report(self, values: dict[str, int | float], t: float) -> None:
        self.readings.update(values)
        self._reading_seq += 1
        if self.recorder:
            self.recorder.reading(values)
        self._broadcast(protocol.encode(Reading(time.time(), values, self._reading_seq)))

    def _on_link_state(self, state: LinkState, detail: str) -> None:
        if state is LinkState.READY:
            self._announce("info", f"device ready: {detail}")
            # the device just (re)started: if nobody drives it, make sure it sits at neutral
            if self.watch.failsafe or self.estop:
                self.link.force(self.mapper.neutral())
        elif state is LinkState.LOST:
            self._announce("warning", f"serial link lost: {detail}")
        if self.recorder:
            self.recorder.event(f"serial {state.value}: {detail}")
        self._mark_status()

    def _on_device_event(self, name: str, text: str) -> None:
        if name == "info":
            self._mark_status()
            return
        # a watchdog trip while nobody drives is expected; while a pilot drives it means the link stalled
        tripped_while_driving = name == "watchdog" and text == "neutral" and not self.watch.failsafe
        level = "warning" if name in ("error", "restart") or tripped_while_driving else "info"
        self._announce(level, f"device: {name} {text}".strip())

    def _on_written(self, line: str, t: float) -> None:
        self.watch.written(t)
        if self.recorder:
            self.recorder.command(line)

    def _on_accepted(self, key: str, line: str) -> None:
        self.accepted[key] = line
        self._outputs_dirty = True

    # -- outgoing ------------------------------------------------------------------------

    def _welcome(self, client: Client) -> Welcome:
        return Welcome(
            protocol=protocol.PROTOCOL_VERSION,
            server=f"teleop-server {__version__}",
            session=self.session,
            role=client.role,
            status=protocol.to_dict(self._status()),
            readings=dict(self.readings),
            limits={"max_message_bytes": protocol.MAX_MESSAGE_BYTES, "failsafe_ms": round(self.watch.timeout * 1000)},
            client_id=client.id,
            units=dict(REPORT_UNITS),
        )

    def _status(self) -> Status:
        return Status(
            serial=self.link.snapshot(),
            pilot=self.pilot.describe() if self.pilot else None,
            failsafe=self.watch.failsafe,
            estop=self.estop,
            clients=len(self.clients),
        )

    def _mark_status(self) -> None:
        if not self._status_dirty:
            self._status_dirty = True
            asyncio.get_running_loop().call_soon(self._flush_status)

    def _flush_status(self) -> None:
        self._status_dirty = False
        self._broadcast(protocol.encode(self._status()))

    def _announce(self, level: str, text: str) -> None:
        self._broadcast(protocol.encode(Event(level, text, time.time())))

    async def _outputs_loop(self) -> None:
        while True:
            await asyncio.sleep(OUTPUTS_INTERVAL)
            if self._outputs_dirty:
                self._outputs_dirty = False
                self._broadcast(protocol.encode(Outputs(time.time(), dict(self.accepted))))

    def _send(self, client: Client, message: protocol.ServerMessage) -> None:
        self._enqueue(client, protocol.encode(message))

    def _broadcast(self, text: str) -> None:
        for client in list(self.clients.values()):
            self._enqueue(client, text)

    def _enqueue(self, client: Client, text: str) -> None:
        try:
            client.queue.put_nowait(text)
        except asyncio.QueueFull:
            self._drop_slow(client)

    def _drop_slow(self, client: Client, reason: str = "client too slow: outgoing queue full") -> None:
        if self.clients.pop(client.ws, None) is None:
            return
        log.warning("client %s is not reading (%d messages queued); disconnecting it", client.label, client.queue.qsize())
        if client.sender and client.sender is not asyncio.current_task():
            client.sender.cancel()
        if self.pilot is client:
            self._set_pilot(None, f"pilot {client.name} stopped reading and was disconnected")
        self._closing_task(client.ws.close(CLOSE_TOO_SLOW, reason))
        self._mark_status()

    async def _send_loop(self, client: Client) -> None:
        queue = client.queue
        ws = client.ws
        try:
            while True:
                text = await queue.get()
                async with asyncio.timeout(SEND_STALL_TIMEOUT):
                    await ws.send(text)
        except ConnectionClosed:
            pass
        except TimeoutError:
            log.warning("client %s accepted nothing for %.0f s", client.label, SEND_STALL_TIMEOUT)
            self._drop_slow(client, f"client stuck: nothing accepted for {SEND_STALL_TIMEOUT:.0f} s")
        except asyncio.CancelledError:
            raise
        except Exception:  # pragma: no cover - a bug, but never take the server down
            log.exception("sender for %s failed", client.label)


def _host(ws: ServerConnection) -> str:
    return ws.remote_address[0] if ws.remote_address else "?"
