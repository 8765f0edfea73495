"""What to write to the device and when, as a plain object: lines in, bytes out, time passed in.

The rules, each of which a user would otherwise meet as a robot that lags or
will not stop:

* **Latest wins, per output.** Each output (``B``, ``A``, ``O0`` ...) has one
  pending slot; a newer value replaces an unsent older one. At most
  ``max_in_flight`` lines are written and unanswered, so when the serial line
  is slower than the pilot, stale commands are dropped instead of queuing.
* **One reply per line**, matched in order. A reply with nothing in flight is
  *unsolicited* (a confused or hostile device): counted, never taken as the
  answer to a later line.
* **Timeouts from the line's speed.** A line not answered within a few
  line-times (its bytes, the reply's, and the longest line the device prints,
  at the configured baud, plus USB latency) is given up and the next one goes
  out at once: a reply lost in line noise costs tens of milliseconds, not half
  a second. A line that is plainly a mangled reply (garbage glued before
  ``OK``), or noise too long to be a line, resynchronises at once.
* **Neutral never waits.** :meth:`neutral` writes the realtime stop byte first
  (when the device announced it), then the neutral lines straight away,
  whatever is in flight, and drops every pending command so nothing stale can
  follow them. The device prints ``EVT stop neutral`` when it acts on the
  byte; replies before that event belong to lines sent before the stop.

A *plain* device (a hobby sketch that never replies, ``confirm=False``) gets
the same latest-wins rule without replies: a line goes out when the previous
one has had time to cross the wire at the configured baud, so nothing piles
up in kernel buffers and the newest command is at most one line-time behind.

Never raises on device input. :class:`teleop_server.device.link.DeviceLink` runs it.
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass, field

from teleop_server.rules.serial_protocol import Err, Ok

#: Bytes of a plain ``OK\n`` reply.
_REPLY_BYTES = 3
#: USB-serial adapters hold received bytes up to 16 ms (FTDI's latency timer), and the
#: sketch's loop adds a few: no reply can be expected sooner than this on top of line time.
REPLY_MARGIN = 0.03
#: How many times the bytes involved may take before a reply counts as lost.
LINE_TIMES = 3
#: Until the device has printed a longer one, assume a report line this long may be in the way.
TYPICAL_DEVICE_LINE = 80

INFO_KEY = "__info__"
HEARTBEAT_KEY = "__heartbeat__"
#: what the device prints when it acts on the stop byte (waited for as long as a reply to a line this long)
STOP_EVENT = "EVT stop neutral"

#: A reply with garbage glued in front of it: "x#@!OK", "noiseERR 3 out of range".
_MANGLED_REPLY = re.compile(r"(?:OK(?: [^\s=]+=\S*)*|ERR \d+(?: .*)?)\Z")


@dataclass
class Sent:
    key: str
    line: str
    at: float
    #: how many stop bytes were written before it: a later stop byte discards it if the device still holds it
    #: (half received, or waiting in its line buffer)
    stops_before: int = 0


@dataclass
class Outcome:
    """What one event did, for the caller to act on (log, tell clients, count)."""

    writes: list[bytes] = field(default_factory=list)
    #: (key, line) now held by the device
    accepted: list[tuple[str, str]] = field(default_factory=list)
    #: (line, reply) refused by the device
    refused: list[tuple[str, Err]] = field(default_factory=list)
    #: lines whose reply never came (timeout, or lost in a mangled line)
    lost: list[str] = field(default_factory=list)
    #: fields of an info reply
    info: dict[str, str] | None = None
    #: a reply that answered nothing
    unsolicited: Ok | Err | None = None


class CommandQueue:
    """Latest-wins command lines toward one device. See the module docstring."""

    def __init__(self, *, baud: int = 115200, max_in_flight: int = 1, reply_timeout: float | None = None, confirm: bool = True) -> None:
        self.baud = baud
        #: False for a plain device: nothing is ever answered, lines are paced by the baud instead
        self.confirm = confirm
        self.max_in_flight = max_in_flight
        #: a fixed reply timeout overrides the one derived from the line speed
        self.fixed_reply_timeout = reply_timeout
        self.stop_byte: int | None = None
        self.stats = {"written": 0, "superseded": 0, "refused": 0, "lost": 0, "unsolicited": 0, "stops": 0}
        self._pending: dict[str, str] = {}
        self._accepted: dict[str, str] = {}
        self._in_flight: deque[Sent] = deque()
        #: stop bytes written, and those settled (their ``EVT stop neutral`` came, or it never did within a reply's
        #: time: lost in line noise), since the port opened: the device answers each stop byte in turn, so settling
        #: the k-th discards exactly the lines written before the k-th stop byte
        self._stops_written = 0
        self._stops_seen = 0
        #: when each stop byte not settled yet was written, oldest first
        self._unsettled_stops: deque[float] = deque()
        self._longest_device_line = TYPICAL_DEVICE_LINE
        #: plain devices: when the last written byte has crossed the wire
        self._line_free_at = -math.inf
        #: plain devices: the newest line written per output, repeated to feed a sketch's own watchdog
        self._last_written: dict[str, str] = {}

    # -- state -------------------------------------------------------------------------

    def reset(self) -> None:
        """The port was (re)opened or the device restarted: it holds nothing we sent."""
        self._pending.clear()
        self._accepted.clear()
        self._in_flight.clear()
        self._stops_written = self._stops_seen = 0
        self._unsettled_stops.clear()
        self._last_written.clear()
        self._line_free_at = -math.inf

    @property
    def busy(self) -> bool:
        return bool(self._in_flight or self._pending)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def reply_timeout(self, line: str) -> float:
        if self.fixed_reply_timeout is not None:
            return self.fixed_reply_timeout
        byte_time = 10 / self.baud  # start + 8 data + stop bits
        return REPLY_MARGIN + LINE_TIMES * (len(line) + 1 + _REPLY_BYTES + self._longest_device_line) * byte_time

    def deadline(self) -> float:
        """When :meth:`poll` next has something to do (inf: nothing in flight)."""
        if not self.confirm:
            return self._line_free_at if self._pending else math.inf
        stop = self._unsettled_stops[0] + self._stop_timeout() if self._unsettled_stops else math.inf
        if not self._in_flight:
            return stop
        first = self._in_flight[0]
        return min(stop, first.at + self.reply_timeout(first.line))

    # -- host side ---------------------------------------------------------------------

    def submit(self, lines: dict[str, str], now: float) -> Outcome:
        """The newest line for each output; a line the device already holds is not sent again."""
        for key, line in lines.items():
            if key in self._pending:
                self.stats["superseded"] += 1
            if self._accepted.get(key) == line and not self._is_in_flight(key):
                self._pending.pop(key, None)
                continue
            self._pending[key] = line
        return self._pump(now, Outcome())

    def heartbeat(self, now: float) -> Outcome:
        """Feed the device's watchdog when nothing else is going out.

        A plain sketch knows no ``H``: it gets its newest lines again, which
        change nothing and keep a watchdog of its own fed.
        """
        if self._in_flight or self._pending:
            return Outcome()
        if self.confirm:
            self._pending[HEARTBEAT_KEY] = "H"
        else:
            self._pending.update(self._last_written)
        return self._pump(now, Outcome())

    def query(self, line: str, now: float) -> Outcome:
        """Write an info query now (its ``OK`` carries the device's fields)."""
        outcome = Outcome()
        self._write(INFO_KEY, line, now, outcome)
        return outcome

    def neutral(self, lines: dict[str, str], now: float) -> Outcome:
        """Every output to neutral now: stop byte first if supported, then the lines, ahead of everything."""
        outcome = Outcome()
        self._pending.clear()  # nothing queued before the stop may follow it
        if self.stop_byte is not None:
            outcome.writes.append(bytes([self.stop_byte]))
            self.stats["stops"] += 1
            self._stops_written += 1
            self._unsettled_stops.append(now)
        for key, line in lines.items():
            self._accepted.pop(key, None)
            self._write(key, line, now, outcome)
        return outcome

    # -- device side -------------------------------------------------------------------

    def device_line_length(self, length: int) -> None:
        """A line of ``length`` bytes came from the device: replies may wait behind one that long."""
        if length > self._longest_device_line:
            self._longest_device_line = min(length, 256)

    def reply(self, reply: Ok | Err, now: float) -> Outcome:
        outcome = Outcome()
        if not self._in_flight:
            self.stats["unsolicited"] += 1
            outcome.unsolicited = reply
            return outcome
        sent = self._in_flight.popleft()
        if isinstance(reply, Ok):
            if sent.key == INFO_KEY:
                outcome.info = dict(reply.fields)
            elif sent.key != HEARTBEAT_KEY:
                self._accepted[sent.key] = sent.line
                outcome.accepted.append((sent.key, sent.line))
        else:
            self.stats["refused"] += 1
            self._accepted.pop(sent.key, None)
            outcome.refused.append((sent.line, reply))
        return self._pump(now, outcome)

    def stopped(self, now: float) -> Outcome:
        """The device printed ``EVT stop neutral``: lines sent before that stop byte will never be answered; lines
        sent after it (the neutral that followed, and another stop's lines behind it) still will be.

        An event with no stop byte waiting for it (the device stopped by itself, or this stop's event was
        already taken as lost) settles nothing more: a line the device dropped then times out."""
        outcome = Outcome()
        self._expire_lost_stops(now)  # an older stop's event that never came: this one is not its
        if self._unsettled_stops:  # none: a stop the device made by itself, or one already taken as lost
            self._unsettled_stops.popleft()
            self._stops_seen += 1
        self._settle(outcome)
        return self._pump(now, outcome)

    def _expire_lost_stops(self, now: float) -> None:
        """Settle each stop whose event is past its time (lost in line noise): or every later stop would be
        matched with the event before its own until the port reopened."""
        while self._unsettled_stops and now >= self._unsettled_stops[0] + self._stop_timeout():
            self._unsettled_stops.popleft()
            self._stops_seen += 1

    def _stop_timeout(self) -> float:
        return self.reply_timeout(STOP_EVENT)

    def _settle(self, outcome: Outcome) -> None:
        """Give up the lines written before the last settled stop byte: the device discarded them."""
        while self._in_flight and self._in_flight[0].stops_before < self._stops_seen:
            self._give_up(self._in_flight.popleft(), outcome)

    def unrecognised(self, line: str, now: float) -> Outcome:
        """A line that fits no rule; if it ends like a reply, the reply was mangled: resync now."""
        outcome = Outcome()
        if self._in_flight and _MANGLED_REPLY.search(line):
            self._give_up(self._in_flight.popleft(), outcome)
        return self._pump(now, outcome)

    def noise(self, now: float) -> Outcome:
        """The device sent a line too long to be anything but noise: a reply may have drowned in it."""
        outcome = Outcome()
        if self._in_flight:
            self._give_up(self._in_flight.popleft(), outcome)
        return self._pump(now, outcome)

    def poll(self, now: float) -> Outcome:
        """Give up on lines unanswered past their timeout, then send what waits."""
        outcome = Outcome()
        self._expire_lost_stops(now)
        self._settle(outcome)
        while self._in_flight and now >= self._in_flight[0].at + self.reply_timeout(self._in_flight[0].line):
            self._give_up(self._in_flight.popleft(), outcome)
        return self._pump(now, outcome)

    # -- internals -----------------------------------------------------------------------

    def _give_up(self, sent: Sent, outcome: Outcome) -> None:
        self.stats["lost"] += 1
        self._accepted.pop(sent.key, None)  # unknown whether the device holds it: send it again next time
        outcome.lost.append(sent.line)

    def _is_in_flight(self, key: str) -> bool:
        return any(sent.key == key for sent in self._in_flight)

    def _pump(self, now: float, outcome: Outcome) -> Outcome:
        if not self.confirm:
            while self._pending and now >= self._line_free_at:
                key = next(iter(self._pending))
                self._write(key, self._pending.pop(key), now, outcome)
            return outcome
        while self._pending and len(self._in_flight) < self.max_in_flight:
            key = next(iter(self._pending))
            self._write(key, self._pending.pop(key), now, outcome)
        return outcome

    def _write(self, key: str, line: str, now: float, outcome: Outcome) -> None:
        data = line.encode("ascii") + b"\n"
        outcome.writes.append(data)
        self.stats["written"] += 1
        if self.confirm:
            self._in_flight.append(Sent(key, line, now, self._stops_written))
        else:
            self._last_written[key] = line
            self._line_free_at = max(now, self._line_free_at) + len(data) * 10 / self.baud
