"""The serial link to the Arduino: open, wait for READY, write commands, read reports, reopen.

Design points, each of which a user would otherwise meet as a bug:

* **Never blocks the event loop.** The port is read through ``add_reader``
  (pyserial-asyncio-fast), so a report is parsed and forwarded the moment it
  arrives; there is no polling loop.
* **Latest wins, per output.** Each output (``B``, ``A``, ``O0``...) has one
  pending slot; a newer value overwrites an unsent older one. At most
  ``max_in_flight`` lines are written and unanswered at once, so when the line
  is slower than the pilot, stale commands are dropped instead of piling up in
  kernel buffers.
* **One reply per line.** Replies (``OK``/``ERR``) are matched to lines in
  order; reports and events can never be taken for replies.
* **Unplug and replug.** A read or write error marks the link lost at once,
  drops every pending command (nothing is written to a dead port, and nothing
  stale is written to the next one), and the port is reopened with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from . import serial_protocol
from .serial_protocol import Comment, DeviceEvent, Err, LineSplitter, Ok, Ready, Report, Unrecognised
from .simdevice import SimulatedDevice

log = logging.getLogger("teleop.server.serial")

SIM_PORT = "sim"
_INFO_KEY = "__info__"
_HEARTBEAT_KEY = "__heartbeat__"


class LinkState(StrEnum):
    CLOSED = "closed"
    OPENING = "opening"
    WAITING_READY = "waiting_ready"
    READY = "ready"
    LOST = "lost"


@dataclass
class _InFlight:
    key: str
    line: str
    sent: float


class _SimTransport(asyncio.Transport):
    """An in-process stand-in for a serial port, with the simulated device at the far end."""

    def __init__(self, loop: asyncio.AbstractEventLoop, protocol: asyncio.Protocol, device: SimulatedDevice) -> None:
        super().__init__()
        self._loop = loop
        self._protocol = protocol
        self._device = device
        self._closed = False
        self._timer: asyncio.TimerHandle | None = None
        loop.call_soon(protocol.connection_made, self)
        loop.call_soon(self._deliver, device.boot(loop.time()))
        loop.call_soon(self._tick)

    def _deliver(self, data: bytes) -> None:
        if data and not self._closed:
            self._protocol.data_received(data)

    def _tick(self) -> None:
        if self._closed:
            return
        self._deliver(self._device.poll(self._loop.time()))
        self._timer = self._loop.call_at(min(self._device.next_deadline(), self._loop.time() + 0.1), self._tick)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed:
            return
        reply = self._device.receive(bytes(data), self._loop.time())
        self._loop.call_soon(self._deliver, reply)

    def is_closing(self) -> bool:
        return self._closed

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._timer:
            self._timer.cancel()
        self._loop.call_soon(self._protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()


async def open_port(
    port: str, baud: int, protocol_factory: Callable[[], asyncio.Protocol], sim: SimulatedDevice | None = None
) -> asyncio.Transport:
    """Open a serial port (or the built-in simulator) and attach the protocol."""
    loop = asyncio.get_running_loop()
    if port == SIM_PORT:
        protocol = protocol_factory()
        return _SimTransport(loop, protocol, sim or SimulatedDevice())
    import serial_asyncio_fast  # deferred: pulls in pyserial

    transport, _ = await serial_asyncio_fast.create_serial_connection(loop, protocol_factory, port, baudrate=baud, exclusive=True)
    return transport


class _LineProtocol(asyncio.Protocol):
    def __init__(self, link: DeviceLink) -> None:
        self._link = link
        self._splitter = LineSplitter(max_line=256)
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        for line in self._splitter.feed(data):
            if line is None:
                log.warning("device sent a line longer than 256 bytes; dropped")
                continue
            self._link._on_line(line)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)


class DeviceLink:
    """Keeps a serial device connected and exchanges lines with it. See the module docstring."""

    def __init__(
        self,
        port: str,
        baud: int = 115200,
        *,
        ready_timeout: float = 3.0,
        reply_timeout: float = 0.5,
        max_in_flight: int = 1,
        reopen_backoff: tuple[float, ...] = (0.1, 0.2, 0.5, 1.0),
        on_report: Callable[[dict[str, int | float], float], None] = lambda values, t: None,
        on_state: Callable[[LinkState, str], None] = lambda state, detail: None,
        on_event: Callable[[str, str], None] = lambda name, text: None,
        on_written: Callable[[str, float], None] = lambda line, t: None,
        on_accepted: Callable[[str, str], None] = lambda key, line: None,
        sim: SimulatedDevice | None = None,
    ) -> None:
        self.port = port
        self.baud = baud
        self.ready_timeout = ready_timeout
        self.reply_timeout = reply_timeout
        self.max_in_flight = max_in_flight
        self.reopen_backoff = reopen_backoff
        self.on_report = on_report
        self.on_state = on_state
        self.on_event = on_event
        self.on_written = on_written
        self.on_accepted = on_accepted
        self.sim = sim
        self.state = LinkState.CLOSED
        self.detail = ""
        self.info: dict[str, str] = {}
        self.stats = {"written": 0, "superseded": 0, "errors": 0, "timeouts": 0, "unrecognised": 0}
        self._transport: asyncio.Transport | None = None
        self._pending: dict[str, str] = {}
        self._accepted: dict[str, str] = {}
        self._in_flight: deque[_InFlight] = deque()
        self._ready = asyncio.Event()
        #: set by the first report line after opening: the sketch is already running (it did not
        #: reset on open, or booted before we opened), so its READY has gone by and asking is safe
        self._reporting = asyncio.Event()
        self._reply_timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- public ------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.state is LinkState.READY

    def submit(self, lines: dict[str, str]) -> None:
        """Queue the newest line for each output; older unsent lines for the same output are dropped.

        A line equal to the one the device last accepted for that output is not
        sent again: the device already holds it (keepalives feed the watchdog).
        """
        if not self.ready:
            return
        for key, line in lines.items():
            if key in self._pending:
                self.stats["superseded"] += 1
            if self._accepted.get(key) == line and not self._is_in_flight(key):
                self._pending.pop(key, None)
                continue
            self._pending[key] = line
        self._pump()

    def force(self, lines: dict[str, str]) -> None:
        """Queue lines even if the device is believed to hold them already (failsafe neutral)."""
        if not self.ready:
            return
        for key, line in lines.items():
            self._accepted.pop(key, None)
            self._pending[key] = line
        self._pump()

    def heartbeat(self) -> None:
        if self.ready and not self._in_flight and not self._pending:
            self._pending[_HEARTBEAT_KEY] = serial_protocol.HEARTBEAT
            self._pump()

    @property
    def busy(self) -> bool:
        return bool(self._in_flight or self._pending)

    async def run(self) -> None:
        """Connect, serve, and reconnect forever (until cancelled)."""
        self._loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            self._set_state(LinkState.OPENING, f"opening {self.port}")
            try:
                protocol = _LineProtocol(self)
                self._transport = await open_port(self.port, self.baud, lambda p=protocol: p, self.sim)
            except Exception as exc:  # pyserial raises SerialException, OSError or ValueError
                delay = self.reopen_backoff[min(attempt, len(self.reopen_backoff) - 1)]
                attempt += 1
                if attempt == 1 or attempt % 20 == 0:
                    log.warning("cannot open %s: %s; retrying every %.1f s", self.port, exc, self.reopen_backoff[-1])
                self._set_state(LinkState.LOST if attempt > 1 else LinkState.CLOSED, f"cannot open {self.port}: {exc}")
                await self._wait_for_port(delay)
                continue
            attempt = 0
            try:
                await self._serve(protocol)
            finally:
                self._drop_connection()
            exc = protocol.lost.result() if protocol.lost.done() else None
            self._set_state(LinkState.LOST, f"{self.port} disconnected" + (f": {exc}" if exc else ""))
            await asyncio.sleep(self.reopen_backoff[0])

    async def _wait_for_port(self, delay: float) -> None:
        """Sleep ``delay``, but wake as soon as an unplugged device's path reappears.

        A replugged USB serial device comes back under the same name (or udev
        link); checking that the path exists costs one ``stat``, so it is
        polled often and the port reopens within ~0.1 s of the plug.
        """
        if self.sim is not None or not self.port.startswith("/") or os.path.exists(self.port):  # COM3: no path to watch
            await asyncio.sleep(delay)
            return
        deadline = time.monotonic() + max(delay, 30.0)
        while time.monotonic() < deadline and not os.path.exists(self.port):
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        self._drop_connection()
        self._set_state(LinkState.CLOSED, "closed")

    # -- connection lifecycle ----------------------------------------------------

    async def _serve(self, protocol: _LineProtocol) -> None:
        self._set_state(LinkState.WAITING_READY, f"waiting for READY from {self.port}")
        self._ready.clear()
        self._reporting.clear()
        ready_wait = asyncio.ensure_future(self._ready.wait())
        reporting = asyncio.ensure_future(self._reporting.wait())
        done, _ = await asyncio.wait(
            {ready_wait, reporting, protocol.lost}, timeout=self.ready_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        reporting.cancel()
        if protocol.lost.done():
            ready_wait.cancel()
            return
        if not self._ready.is_set():
            # No banner: the board did not reset on open, or booted before we opened. Ask it.
            # (Not sooner: while a resetting Uno's bootloader listens, stray bytes are not welcome.)
            why = "it is already reporting" if self._reporting.is_set() else f"no READY within {self.ready_timeout:.1f} s"
            log.info("%s: %s; sending an info query", self.port, why)
            self._write_raw(_INFO_KEY, serial_protocol.INFO)
            done, _ = await asyncio.wait({ready_wait, protocol.lost}, timeout=self.ready_timeout, return_when=asyncio.FIRST_COMPLETED)
            if protocol.lost.done():
                ready_wait.cancel()
                return
            if not done:
                ready_wait.cancel()
                log.warning("%s does not answer the teleop line protocol; is the teleop firmware flashed?", self.port)
                self.detail = f"{self.port} does not answer (is the teleop firmware flashed?)"
                if self._transport:
                    self._transport.close()
                await asyncio.sleep(1.0)
                return
        await protocol.lost

    def _drop_connection(self) -> None:
        if self._reply_timer:
            self._reply_timer.cancel()
            self._reply_timer = None
        self._pending.clear()
        self._in_flight.clear()
        self._accepted.clear()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def _set_state(self, state: LinkState, detail: str) -> None:
        if state is self.state and detail == self.detail:
            return
        if state is not self.state:
            log.info("serial %s: %s", state.value, detail)
        self.state = state
        self.detail = detail
        self.on_state(state, detail)

    def _became_ready(self, ready: Ready | None) -> None:
        self._pending.clear()
        self._in_flight.clear()
        self._accepted.clear()
        if ready is not None:
            self.info = {"name": ready.name, "version": ready.version}
        self._set_state(LinkState.READY, f"{self.info.get('name', 'device')} {self.info.get('version', '')} on {self.port}".strip())
        self._ready.set()
        self._write_raw(_INFO_KEY, serial_protocol.INFO)

    # -- incoming lines ------------------------------------------------------------

    def _on_line(self, raw: bytes) -> None:
        now = time.monotonic()
        parsed = serial_protocol.parse_device_line(raw)
        if isinstance(parsed, Report):
            self._reporting.set()
            self.on_report(parsed.values, now)
        elif isinstance(parsed, (Ok, Err)):
            self._on_reply(parsed)
        elif isinstance(parsed, Ready):
            if self.state is LinkState.READY:
                log.warning("device on %s restarted", self.port)
                self.on_event("restart", "device restarted")
            self._became_ready(parsed)
        elif isinstance(parsed, DeviceEvent):
            log.info("device event: %s %s", parsed.name, parsed.text)
            self.on_event(parsed.name, parsed.text)
        elif isinstance(parsed, Unrecognised):
            self.stats["unrecognised"] += 1
            if self.stats["unrecognised"] <= 5:
                log.warning("unrecognised line from device: %r", parsed.line[:80])
        elif isinstance(parsed, Comment) and parsed.text:
            log.debug("device: %s", parsed.text)

    def _on_reply(self, reply: Ok | Err) -> None:
        if not self._in_flight:
            if self.state is LinkState.WAITING_READY and isinstance(reply, Ok):
                self.info.update(reply.fields)
                self._became_ready(None)
                return
            log.debug("reply with no command in flight (late after a timeout?): %s", reply)
            return
        sent = self._in_flight.popleft()
        if isinstance(reply, Ok):
            if sent.key == _INFO_KEY:
                self.info.update(reply.fields)
                if self.state is LinkState.WAITING_READY:
                    self._became_ready(None)
                    return
                self.on_event("info", " ".join(f"{k}={v}" for k, v in reply.fields.items()))
            elif not sent.key.startswith("__"):
                self._accepted[sent.key] = sent.line
                self.on_accepted(sent.key, sent.line)
        else:
            self.stats["errors"] += 1
            self._accepted.pop(sent.key, None)
            log.warning("device refused %r: ERR %d %s", sent.line, reply.code, reply.text)
            self.on_event("error", f"device refused {sent.line!r}: ERR {reply.code} {reply.text}")
        self._pump()

    # -- outgoing lines ------------------------------------------------------------

    def _is_in_flight(self, key: str) -> bool:
        return any(f.key == key for f in self._in_flight)

    def _pump(self) -> None:
        while self._pending and len(self._in_flight) < self.max_in_flight and self.ready:
            key = next(iter(self._pending))
            line = self._pending.pop(key)
            self._write_raw(key, line)

    def _write_raw(self, key: str, line: str) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        now = time.monotonic()
        self._transport.write(line.encode("ascii") + b"\n")
        self._in_flight.append(_InFlight(key, line, now))
        self.stats["written"] += 1
        self.on_written(line, now)
        if self._reply_timer is None:
            self._arm_reply_timer()

    def _arm_reply_timer(self) -> None:
        if not self._in_flight or self._loop is None:
            self._reply_timer = None
            return
        due = self._in_flight[0].sent + self.reply_timeout
        self._reply_timer = self._loop.call_later(max(0.0, due - time.monotonic()), self._check_replies)

    def _check_replies(self) -> None:
        self._reply_timer = None
        now = time.monotonic()
        expired = False
        while self._in_flight and now - self._in_flight[0].sent >= self.reply_timeout:
            lost = self._in_flight.popleft()
            self._accepted.pop(lost.key, None)
            self.stats["timeouts"] += 1
            expired = True
            log.warning("no reply to %r within %.0f ms", lost.line, self.reply_timeout * 1000)
        self._arm_reply_timer()
        if expired:
            self._pump()

    def snapshot(self) -> dict[str, Any]:
        """State for status messages."""
        return {"state": self.state.value, "port": self.port, "detail": self.detail, "device": dict(self.info)}
