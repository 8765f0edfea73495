"""Pushing readings, status and events to every client: framed once, written straight to each ready socket.

A reading goes to 200 clients as one JSON encoding and one WebSocket frame
(server frames are not masked, so the bytes are the same for everyone),
written to each client's transport in one loop: no task, queue or await per
client. websockets' :func:`~websockets.asyncio.server.broadcast` does the same
loop but frames the message again for every connection; framing once roughly
halves the cost per client. To a large audience the writes go in slices of
:data:`SLICE` clients, one slice per turn of the event loop, so the pilot's
command is read between slices instead of waiting for the 200th client.

A client whose socket is not draining (its kernel buffer is full, so the
transport has paused writing) gets nothing more written; its :class:`Outbox`
keeps what it missed, *latest wins*:

* readings are merged into one: the newest value of every key and the newest
  ``t`` and ``seq``, so a key that appeared only in a skipped reading still
  arrives (its newest value), and a slow client is never left showing a value
  the device has since changed;
* status and outputs are whole snapshots: only the newest is kept;
* events, and messages addressed to this client alone (welcome, errors,
  pongs), are kept in order up to ``limit``; past that the client is dropped.

When the socket drains, the held messages go out at once. A client that has
taken nothing for ``stall_timeout`` seconds is dropped. The :class:`Outbox`
is sans-I/O and tested on its own with a fake clock.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable
from typing import Any, Protocol

from websockets.frames import Frame, Opcode
from websockets.protocol import OPEN

from teleop.wire import protocol
from teleop.wire.protocol import MessageType, Reading

#: Message types that are whole snapshots: a newer one makes an older one worthless.
SNAPSHOTS = (MessageType.STATUS, MessageType.OUTPUTS)


class Outbox:
    """What one client could not take yet. Sans-I/O: the caller says when the socket blocks and drains."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.blocked_since: float | None = None
        self._fifo: deque[str] = deque()
        self._snapshots: dict[str, str] = {}
        self._values: dict[str, int | float] = {}
        self._reading: dict[str, Any] | None = None
        self.skipped = 0  # messages folded into a newer one (readings, snapshots)
        #: True while anything must wait: the socket is blocked, or older messages are still held.
        #: A plain attribute: the fan-out reads it for every client and every message.
        self.busy = False

    def block(self, now: float) -> None:
        if self.blocked_since is None:
            self.blocked_since = now
        self.busy = True

    def unblock(self) -> None:
        self.blocked_since = None
        self.busy = bool(self._fifo or self._snapshots or self._reading)

    def stalled(self, now: float, timeout: float) -> bool:
        return self.blocked_since is not None and now - self.blocked_since >= timeout

    def hold(self, text: str, message: dict[str, Any] | None = None) -> bool:
        """Keep ``text`` for later; ``message`` is its parsed form if the caller has it. False: over the limit."""
        if message is None:
            try:
                message = json.loads(text)
            except ValueError:
                message = {}
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == MessageType.READING and isinstance(message.get("values"), dict):
            if self._reading is not None:
                self.skipped += 1
            self._values.update(message["values"])
            self._reading = message
            self.busy = True
            return True
        if kind in SNAPSHOTS:
            if kind in self._snapshots:
                self.skipped += 1
            self._snapshots[kind] = text
            self.busy = True
            return True
        if len(self._fifo) >= self.limit:
            return False
        self._fifo.append(text)
        self.busy = True
        return True

    def take(self) -> list[str]:
        """Everything held, oldest kind first, and forget it: ordered messages, then snapshots, then the merged reading."""
        out = list(self._fifo)
        self._fifo.clear()
        out.extend(self._snapshots.values())
        self._snapshots.clear()
        if self._reading is not None:
            reading = self._reading
            out.append(protocol.encode(Reading(reading.get("t", 0.0), self._values, reading.get("seq", 0))))
            self._reading = None
            self._values = {}
        self.busy = self.blocked_since is not None
        return out

    def __len__(self) -> int:
        return len(self._fifo) + len(self._snapshots) + (self._reading is not None)


class Sink(Protocol):
    """What the fan-out needs of a connection (:class:`teleop_server.net.gate.GuardedConnection` provides it)."""

    outbox: Outbox
    transport: Any
    protocol: Any  # websockets' sans-I/O protocol: its ``state``


def frame(text: str) -> bytes:
    """``text`` as one unmasked WebSocket text frame, the bytes a server puts on the wire."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


def _open(sink: Sink) -> bool:
    return sink.protocol.state is OPEN and not sink.transport.is_closing()


#: Clients written to in one step of the event loop. Writing one frame costs about 10 us per client, so
#: 200 clients in one go would hold the loop for 2 ms while the pilot's command waits to be read.
SLICE = 32


class _Job:
    """One broadcast on its way: the frame, and how far through its list of sinks it has got."""

    __slots__ = ("data", "next", "parsed", "sinks", "text")

    def __init__(self, text: str, sinks: list[Sink]) -> None:
        self.data = frame(text)
        self.text = text
        self.sinks = sinks
        self.next = 0
        self.parsed: dict[str, Any] | None = None


class Fanout:
    """Writes frames to sinks, holding back for blocked ones; calls ``on_stuck`` for one that must go.

    A broadcast to more than ``slice_size`` sinks is written ``slice_size`` at a
    time, one slice per turn of the event loop (``schedule`` is the loop's
    ``call_soon``), so a socket that became readable meanwhile (the pilot's) is
    read between slices rather than after the last client. Order per client is
    kept: broadcasts are finished in the order they were made, and a message to
    one client first finishes every broadcast still on its way. Without
    ``schedule`` every broadcast is written at once.

    :meth:`let_input_first` is for input that must not wait for the audience
    (the pilot's controls): the next slice steps aside for one turn, so what
    the input woke up runs before it rather than after it.
    """

    def __init__(
        self,
        *,
        stall_timeout: float,
        on_stuck: Callable[[Sink, str], None],
        clock: Callable[[], float] = time.monotonic,
        schedule: Callable[[Callable[[], None]], object] | None = None,
        slice_size: int = SLICE,
    ):
        self.stall_timeout = stall_timeout
        self.on_stuck = on_stuck
        self.clock = clock
        self.schedule = schedule
        self.slice_size = slice_size
        self.frames = 0  # frames written, for the bench
        self._jobs: deque[_Job] = deque()
        self._scheduled = False
        self._step_aside = False
        self._stepped_aside = False

    @property
    def pending(self) -> int:
        """Broadcasts not yet written to every client."""
        return len(self._jobs)

    def send(self, sink: Sink, text: str) -> None:
        """One message to one client, in order after anything it has waiting."""
        self.finish()
        if not _open(sink):
            return
        box = sink.outbox
        if box.busy:
            if not box.hold(text):
                self.on_stuck(sink, f"client too slow: more than {box.limit} messages waiting")
            return
        sink.transport.write(frame(text))
        self.frames += 1

    def broadcast(self, sinks: Collection[Sink], text: str) -> None:
        """One message to every client: encoded and framed once; blocked clients keep the newest instead."""
        if not sinks:
            return
        self._jobs.append(_Job(text, list(sinks)))
        if len(self._jobs) > 1:
            return  # earlier broadcasts are still on their way: this one follows them
        if self.schedule is None:
            self.finish()
            return
        self._advance()
        if self._jobs:
            self._arm()

    def finish(self) -> None:
        """Write every broadcast still on its way, now."""
        while self._jobs:
            job = self._jobs[0]
            self._write(job, len(job.sinks))
            if self._jobs and self._jobs[0] is job:  # (a client dropped meanwhile may have finished it already)
                self._jobs.popleft()

    def _advance(self) -> None:
        job = self._jobs[0]
        self._write(job, self.slice_size)
        if self._jobs and self._jobs[0] is job and job.next >= len(job.sinks):
            self._jobs.popleft()

    def _arm(self) -> None:
        if not self._scheduled and self.schedule is not None:
            self._scheduled = True
            self.schedule(self._step)

    def let_input_first(self) -> None:
        """Input just arrived whose handling must not wait behind the next slice.

        Reading it woke a task (websockets hands a message to the handler one
        turn of the loop later), which is now queued behind the slice already
        scheduled: that slice steps aside and queues itself again, behind the
        task. Once per call and never two turns running, so the audience is
        never starved: a pilot at 100 Hz delays a 200-client broadcast by one
        turn now and then, and one whose data arrives every turn halves its pace.
        """
        if self._scheduled:
            self._step_aside = True

    def _step(self) -> None:
        self._scheduled = False
        if self._step_aside and not self._stepped_aside:
            # never twice in a row: a pilot whose data arrives every turn slows the audience to half speed, no more
            self._step_aside = False
            self._stepped_aside = True
            self._arm()
            return
        self._step_aside = self._stepped_aside = False
        if self._jobs:
            self._advance()
        if self._jobs:
            self._arm()

    def _write(self, job: _Job, count: int) -> None:
        """Write ``job``'s frame to its next ``count`` sinks; blocked ones keep it in their outbox.

        Clients that must be dropped are reported after the slice is written, so
        whatever dropping them sends goes after it.
        """
        sinks, start = job.sinks, job.next
        end = min(len(sinks), start + count)
        job.next = end
        data = job.data
        held: list[Sink] = []
        written = 0
        for i in range(start, end):
            sink = sinks[i]
            if sink.outbox.busy:
                held.append(sink)
            elif sink.protocol.state is OPEN and not sink.transport.is_closing():
                sink.transport.write(data)
                written += 1
        self.frames += written
        if not held:
            return
        if job.parsed is None:
            job.parsed = json.loads(job.text)
        now = self.clock()
        stuck: list[tuple[Sink, str]] = []
        for sink in held:
            if not _open(sink):
                continue
            box = sink.outbox
            if not box.hold(job.text, job.parsed):
                stuck.append((sink, f"client too slow: more than {box.limit} messages waiting"))
            elif box.stalled(now, self.stall_timeout):
                stuck.append((sink, f"client stuck: nothing accepted for {self.stall_timeout:.0f} s"))
        for sink, reason in stuck:
            self.on_stuck(sink, reason)

    def drained(self, sink: Sink) -> None:
        """The sink's socket takes data again: write what it missed, newest state last."""
        box = sink.outbox
        box.unblock()
        if not _open(sink):
            return
        for text in box.take():
            sink.transport.write(frame(text))
            self.frames += 1

    def check_stalls(self, sinks: Iterable[Sink]) -> None:
        now = self.clock()
        for sink in list(sinks):
            if sink.outbox.stalled(now, self.stall_timeout):
                self.on_stuck(sink, f"client stuck: nothing accepted for {self.stall_timeout:.0f} s")
