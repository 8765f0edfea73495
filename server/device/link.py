"""The serial link to the Arduino: open, wait for READY, write commands, read reports, reopen.

Design points, each of which a user would otherwise meet as a bug:

* **Never blocks the event loop.** The port is read through ``add_reader``
  (pyserial-asyncio-fast), so a report is parsed and forwarded the moment it
  arrives; there is no polling loop.
* **What to write and when** is :class:`teleop_server.rules.commandqueue.CommandQueue`'s
  business (latest wins per output, one reply per line, timeouts from the line
  speed, neutral ahead of everything); this module only runs what it decides.
* **A hostile or confused device is survivable.** Unsolicited replies,
  repeated READY, mangled lines and lost replies are counted and reported at
  a bounded rate; device text is escaped before it reaches a log or a client.
* **Unplug and replug.** A read or write error marks the link lost at once,
  drops every pending command (nothing is written to a dead port, and nothing
  stale is written to the next one), and the port is reopened with backoff.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import Callable
from enum import StrEnum

from teleop.aio.timers import DeadlineTimer
from teleop.common.backoff import DEFAULT_DELAYS, Backoff
from teleop.common.throttle import EventPace, Notice, first_and_every, times
from teleop.wire.records import SerialStatus
from teleop_server.device.simulated import SimulatedDevice
from teleop_server.rules import serial_protocol
from teleop_server.rules.commandqueue import CommandQueue, Outcome
from teleop_server.rules.detection import BecamePlain, BecameTeleop, BoardKind, Detection, Failed, Query
from teleop_server.rules.notices import printable
from teleop_server.rules.plainlines import parse_plain_line
from teleop_server.rules.serial_protocol import DeviceEvent, Err, LineSplitter, Ok, Ready, Report, Unrecognised

log = logging.getLogger("teleop.server.serial")

SIM_PORT = "sim"
#: How often the same device trouble may reach the log and the clients.
NOTICE_INTERVAL = 5.0
#: A device event (``EVT name text``) of one name goes to clients at most this often, and to the log
#: at most every LOG_EVENT_INTERVAL; what comes meanwhile is merged, the newest said with the count
#: (:class:`teleop.common.throttle.EventPace`).
EVENT_INTERVAL = 1.0
LOG_EVENT_INTERVAL = 10.0


def _same(protocol: _LineProtocol) -> _LineProtocol:
    """The protocol factory pyserial-asyncio calls: this connection's one protocol object."""
    return protocol


#: ``--device``: the board kind the user asked for (detection decides ``auto``)
Profile = BoardKind
PLAIN_NOTICE = "this board doesn't confirm commands: sending them without confirmation"


class LinkState(StrEnum):
    CLOSED = "closed"
    OPENING = "opening"
    WAITING_READY = "waiting_ready"
    READY = "ready"
    LOST = "lost"
    #: the board is not what ``--device`` said; the port is left alone until the server restarts
    FAILED = "failed"


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
        self._loop = asyncio.get_running_loop()
        self._quiet: asyncio.TimerHandle | None = None
        self.lost: asyncio.Future[Exception | None] = self._loop.create_future()

    def data_received(self, data: bytes) -> None:
        for line in self._splitter.feed(data):
            if line is None:
                self._link._on_overlong()
                continue
            self._link._on_line(line)
        gap = self._link.quiet_gap
        if gap is not None:
            # a sketch's print() without a newline: the line is complete once the device goes quiet
            if self._quiet is not None:
                self._quiet.cancel()
            self._quiet = self._loop.call_later(gap, self._on_quiet)

    def _on_quiet(self) -> None:
        self._quiet = None
        line = self._splitter.flush()
        if line is not None and not self.lost.done():
            self._link._on_line(line)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._quiet is not None:
            self._quiet.cancel()
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
        reply_timeout: float | None = None,
        max_in_flight: int = 1,
        profile: Profile = Profile.AUTO,
        columns: tuple[str, ...] = (),
        reopen_backoff: tuple[float, ...] = DEFAULT_DELAYS,
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
        self.reopen_backoff = reopen_backoff
        self.on_report = on_report
        self.on_state = on_state
        self.on_event = on_event
        self.on_written = on_written
        self.on_accepted = on_accepted
        self.sim = sim
        self.wanted = Profile(profile)
        #: what the board on the port turned out to be (None until decided)
        self.profile: Profile | None = None
        self.columns = columns
        self.state = LinkState.CLOSED
        self.detail = ""
        self.info: dict[str, str] = {}
        self.queue = CommandQueue(baud=baud, max_in_flight=max_in_flight, reply_timeout=reply_timeout)
        self.stats = self.queue.stats
        self.stats.update({"unrecognised": 0, "restarts": 0})
        self._notices = {name: Notice(NOTICE_INTERVAL) for name in ("restart", "unsolicited", "noise", "lost", "refused", "text")}
        self._transport: asyncio.Transport | None = None
        self.detection = Detection(self.wanted, port, ready_timeout)
        self._detect_timer: asyncio.TimerHandle | None = None
        #: the command queue's reply deadline; half a millisecond late is close enough to keep a timer armed
        self._reply_timer = DeadlineTimer(self._on_reply_timer, slack=0.0005)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._events = EventPace(EVENT_INTERVAL)  # toward clients
        self._logged_events = EventPace(LOG_EVENT_INTERVAL)  # toward the log (an SD card, often)
        self._event_timer: asyncio.TimerHandle | None = None

    # -- public ------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.state is LinkState.READY

    @property
    def stop_byte(self) -> bool:
        """True when the device announced the realtime stop byte in its info reply."""
        return self.queue.stop_byte is not None

    def submit(self, lines: dict[str, str]) -> None:
        """Queue the newest line for each output; older unsent lines for the same output are dropped."""
        if self.ready:
            self._run(self.queue.submit(lines, time.monotonic()))

    def neutral(self, lines: dict[str, str]) -> None:
        """Every output to neutral now, ahead of anything queued or in flight (stop byte first if supported)."""
        if self.ready:
            self._run(self.queue.neutral(lines, time.monotonic()))

    def heartbeat(self) -> None:
        if self.ready:
            self._run(self.queue.heartbeat(time.monotonic()))

    @property
    def busy(self) -> bool:
        return self.queue.busy

    async def run(self) -> None:
        """Connect, serve, and reconnect forever (until cancelled)."""
        self._loop = asyncio.get_running_loop()
        backoff = Backoff(self.reopen_backoff)
        while True:
            if not backoff.failures and self.state is not LinkState.LOST:  # a retry, or reopening a lost port: stays as it is
                self._set_state(LinkState.OPENING, f"opening {self.port}")
            try:
                protocol = _LineProtocol(self)
                self._transport = await open_port(self.port, self.baud, functools.partial(_same, protocol), self.sim)
            except Exception as exc:  # pyserial raises SerialException, OSError or ValueError
                delay = backoff.failed()
                if first_and_every(backoff.failures, 20):
                    log.warning("cannot open %s: %s; retrying every %.1f s", self.port, exc, backoff.settled)
                lost = backoff.failures > 1 or self.state is LinkState.LOST  # else never opened yet: "closed"
                self._set_state(LinkState.LOST if lost else LinkState.CLOSED, f"cannot open {self.port}: {exc}")
                await self._wait_for_port(delay)
                continue
            backoff.succeeded()
            try:
                await self._serve(protocol)
            finally:
                self._drop_connection()
            if self.state is LinkState.FAILED:
                await asyncio.Event().wait()  # told once, clearly; reopening would only reset the board again and again
            why = protocol.lost.result() if protocol.lost.done() else None
            self._set_state(LinkState.LOST, f"{self.port} disconnected" + (f": {why}" if why else ""))
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
        if self._event_timer is not None:
            self._event_timer.cancel()
            self._event_timer = None
        self._drop_connection()
        self._set_state(LinkState.CLOSED, "closed")

    # -- connection lifecycle ----------------------------------------------------

    @property
    def quiet_gap(self) -> float | None:
        """How long a partial line may wait for its newline (None: our firmware always ends its lines)."""
        if self.profile is Profile.TELEOP:
            return None
        # USB-serial adapters deliver in bursts up to 16 ms apart; a line in progress is never that quiet
        return max(0.05, 30 * 10 / self.baud)

    async def _serve(self, protocol: _LineProtocol) -> None:
        """Detect what the board is (:class:`~teleop_server.rules.detection.Detection`), then serve it until the port is lost."""
        self.profile = None
        if self.wanted is not Profile.PLAIN:
            self._set_state(LinkState.WAITING_READY, f"waiting for READY from {self.port}")
        self._detect(self.detection.opened(time.monotonic()))
        await protocol.lost

    def _detect(self, effects: list) -> None:
        """Run what detection decided, and wake it at its next deadline."""
        for effect in effects:
            if isinstance(effect, Query):
                log.info("%s: %s; sending an info query", self.port, effect.why)
                self._run(self.queue.query(serial_protocol.INFO, time.monotonic()))
            elif isinstance(effect, BecameTeleop):
                self._became_ready()
            elif isinstance(effect, BecamePlain):
                self._became_plain()
            elif isinstance(effect, Failed):
                log.error("%s", effect.text)
                self._set_state(LinkState.FAILED, effect.text)
                if self._transport is not None:
                    self._transport.close()  # told once, clearly; run() leaves the port alone from now on
        if self._detect_timer is not None:
            self._detect_timer.cancel()
            self._detect_timer = None
        deadline = self.detection.deadline()
        if deadline != float("inf") and self._loop is not None:
            when = self._loop.time() + max(0.0, deadline - time.monotonic())
            self._detect_timer = self._loop.call_at(when, lambda: self._detect(self.detection.timeout(time.monotonic())))

    def _became_plain(self) -> None:
        self.profile = Profile.PLAIN
        self.queue.reset()
        self.queue.confirm = False
        self.queue.stop_byte = None
        self.info = {"name": "plain line device", "profile": Profile.PLAIN.value}
        log.warning("%s: %s", self.port, PLAIN_NOTICE)
        self._set_state(LinkState.READY, f"plain line device on {self.port} at {self.baud} baud (commands not confirmed)")
        self.on_event("plain", PLAIN_NOTICE)

    def _drop_connection(self) -> None:
        self.detection.closed()
        if self._detect_timer is not None:
            self._detect_timer.cancel()
            self._detect_timer = None
        self._reply_timer.cancel()
        self.queue.reset()
        self.queue.stop_byte = None
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

    def _became_ready(self) -> None:
        self.profile = Profile.TELEOP
        self.queue.reset()
        self.queue.confirm = True
        self.info["profile"] = Profile.TELEOP.value
        self._set_state(LinkState.READY, f"{self.info.get('name', 'device')} {self.info.get('version', '')} on {self.port}".strip())
        self._run(self.queue.query(serial_protocol.INFO, time.monotonic()))

    def _take_info(self, fields: dict[str, str]) -> None:
        self.info.update({printable(k, 32): printable(v, 120) for k, v in fields.items()})
        self.queue.stop_byte = serial_protocol.STOP_BYTE if serial_protocol.supports_stop(fields) else None

    # -- incoming lines ------------------------------------------------------------

    def _on_line(self, raw: bytes) -> None:
        now = time.monotonic()
        if log.isEnabledFor(logging.DEBUG):  # teleop-server -v: every line, both ways
            log.debug("from device: %s", printable(raw.decode("ascii", errors="replace"), 200))
        if self.profile is Profile.PLAIN:
            self._on_plain_line(raw, now)
            return
        self.queue.device_line_length(len(raw) + 1)
        parsed = serial_protocol.parse_device_line(raw)
        if self.detection.deciding and not isinstance(parsed, (Ready, Ok)):
            self._detect(self.detection.other_line(now))  # any line at all: the board is past its bootloader
        if isinstance(parsed, Report):
            self.on_report(parsed.values, now)
        elif isinstance(parsed, (Ok, Err)):
            self._on_reply(parsed, now)
        elif isinstance(parsed, Ready):
            self._on_ready(parsed, now)
        elif isinstance(parsed, DeviceEvent):
            if parsed.event == serial_protocol.EventLine.STOP_NEUTRAL:
                self._run(self.queue.stopped(now))
            name, text = printable(parsed.name, 32), printable(parsed.text)
            logged = self._logged_events.offer(name, text, now)
            if logged is not None:
                self._log_event(*logged)
            said = self._events.offer(name, text, now)
            if said is not None:
                self.on_event(said[0], said[1] + times(said[2], EVENT_INTERVAL))
            if logged is None or said is None:
                self._arm_event_timer()
        elif isinstance(parsed, Unrecognised):
            self.stats["unrecognised"] += 1
            self._run(self.queue.unrecognised(parsed.line, now))
            self._on_noise(f"an unrecognised line {printable(parsed.line, 80)!r}")

    def _log_event(self, name: str, text: str, count: int) -> None:
        log.info("device event: %s %s%s", name, text, times(count, LOG_EVENT_INTERVAL))

    def _arm_event_timer(self) -> None:
        """Held-back events are said when their interval is over, even if the device says nothing more."""
        if self._loop is None:
            return
        deadline = min(self._events.deadline(), self._logged_events.deadline())
        if deadline == float("inf"):
            return
        when = self._loop.time() + max(0.0, deadline - time.monotonic())
        if self._event_timer is not None:
            if self._event_timer.when() <= when + 0.0005:
                return  # it fires first and re-arms for the rest
            self._event_timer.cancel()
        self._event_timer = self._loop.call_at(when, self._on_event_timer)

    def _on_event_timer(self) -> None:
        self._event_timer = None
        now = time.monotonic()
        for name, text, count in self._events.due(now):
            self.on_event(name, text + times(count, EVENT_INTERVAL))
        for logged in self._logged_events.due(now):
            self._log_event(*logged)
        self._arm_event_timer()

    def _on_plain_line(self, raw: bytes, now: float) -> None:
        text = raw.decode("ascii", errors="replace")
        values = parse_plain_line(text, self.columns)
        if values is not None:
            self.on_report(values, now)
            return
        if not text.strip():
            return
        self.stats["unrecognised"] += 1
        count = self._notices["text"].due(now)
        if count is not None:
            self.on_event("text", f"device: {printable(text.strip(), 120)}" + times(count, NOTICE_INTERVAL))

    def _on_ready(self, ready: Ready, now: float) -> None:
        self.info = {"name": printable(ready.name, 40), "version": printable(ready.version, 40)}
        if self.detection.deciding:
            self._detect(self.detection.banner(now))
            return
        if self.state is LinkState.READY:
            self.stats["restarts"] += 1
            self._tell("restart", "restart", "device restarted", now)
        self._became_ready()

    def _on_reply(self, reply: Ok | Err, now: float) -> None:
        if self.detection.deciding and isinstance(reply, Ok) and not self.queue.in_flight:
            self._take_info(reply.fields)  # an info reply that outlived its own timeout
            self._detect(self.detection.info_reply(now))
            return
        self._run(self.queue.reply(reply, now))

    def _on_overlong(self) -> None:
        self.stats["unrecognised"] += 1
        self._run(self.queue.noise(time.monotonic()))
        self._on_noise("a line longer than 256 bytes")

    def _on_noise(self, what: str) -> None:
        count = self._notices["noise"].due(time.monotonic())
        if count is not None:
            log.warning("device on %s sent %s%s", self.port, what, times(count, NOTICE_INTERVAL))

    # -- running the queue's decisions ---------------------------------------------------

    def _run(self, outcome: Outcome) -> None:
        now = time.monotonic()
        for line, reply in outcome.refused:
            self._tell("refused", "error", f"device refused {printable(line)!r}: ERR {reply.code} {printable(reply.text)}", now)
        lost = [line for line in outcome.lost if line != serial_protocol.INFO]  # an unanswered query is detection, not trouble
        if lost:
            self._tell("lost", "lost_reply", f"device did not confirm {lost[0]!r}", now)
        if outcome.unsolicited is not None:
            self._tell(
                "unsolicited", "unsolicited", f"device sent a reply nobody asked for ({printable(str(outcome.unsolicited), 80)})", now
            )
        if outcome.info is not None:
            self._take_info(outcome.info)
            if self.detection.deciding:
                self._detect(self.detection.info_reply(now))
                return
            self.on_event("info", " ".join(f"{k}={v}" for k, v in self.info.items()))
        for key, line in outcome.accepted:
            self.on_accepted(key, line)
        if outcome.writes:
            self._write(outcome.writes, now)
        self._arm_reply_timer()

    def _tell(self, kind: str, event: str, text: str, now: float) -> None:
        """Device trouble to the log and every client, at most once per :data:`NOTICE_INTERVAL` of each kind."""
        count = self._notices[kind].due(now)
        if count is not None:
            text += times(count, NOTICE_INTERVAL)
            log.warning("%s", text)
            self.on_event(event, text)

    def _write(self, writes: list[bytes], now: float) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        self._transport.write(b"".join(writes))
        verbose = log.isEnabledFor(logging.DEBUG)
        for data in writes:
            if data.endswith(b"\n"):
                self.on_written(data[:-1].decode("ascii"), now)
            if verbose:
                log.debug("to device: %s", printable(data.rstrip(b"\n").decode("ascii", errors="replace"), 200) or repr(data))

    def _arm_reply_timer(self) -> None:
        if self._loop is not None:
            self._reply_timer.arm(self.queue.deadline())  # lazy: an armed earlier timer fires and re-arms for the rest

    def _on_reply_timer(self) -> None:
        self._run(self.queue.poll(time.monotonic()))

    def snapshot(self) -> SerialStatus:
        """State for status messages."""
        return SerialStatus(self.state.value, self.port, self.detail, dict(self.info), self.profile.value if self.profile else None)
