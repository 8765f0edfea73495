"""What every recording format shares: the writer thread, the bounded buffer, gap records and trouble reports.

The event loop never touches the disk. :meth:`Recorder.reading`, ``command``
and the rest only put the record in a bounded buffer; a writer thread hands
batches to a *file end* (:class:`FileEnd`: JSON lines in
:mod:`teleop_server.record.jsonlines`, MCAP in :mod:`teleop_server.record.mcapfile`)
at most :data:`BATCH_WINDOW` after the first record of the batch arrived.

A disk that fails (ENOSPC, EIO), stalls (a write that does not return: a hung
NFS mount or SD card, a FIFO nobody reads) or cannot keep up costs records,
never driving:

* the trouble is reported once to the log and through ``on_trouble`` (the
  bridge tells every client), and once more when recording has resumed;
* a full buffer drops the newest records and counts them; it never blocks;
* a failing disk is retried every :data:`RETRY_INTERVAL`; what was lost in the
  meantime is written as one gap record in its place, saying how many records
  and from when to when.

Rotation follows logrotate: FILE becomes FILE.1, FILE.1 becomes FILE.2, ... and
the oldest beyond ``keep`` is overwritten (:func:`rotate`); :meth:`Recorder.reopen`
(the server calls it on SIGHUP) closes FILE and opens it again by name.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import os
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from teleop.wire.errors import ConfigError
from teleop_server.rules.recording import Rotation, rotated_names

log = logging.getLogger("teleop.server.record")

#: About 2 minutes of a 50 Hz pilot plus 20 Hz readings, and a few MB of memory.
BUFFER_RECORDS = 8192
#: ... and at most this many bytes of camera frames (a 640x480 JPEG is some 40 KB).
BUFFER_BYTES = 16 * 1024 * 1024
#: The writer collects records for this long after the first one arrives, then
#: writes them in one system call: the bound on how late a record reaches the OS.
BATCH_WINDOW = 0.02
#: A write that has not returned for this long is reported as a stalled disk.
STALL_AFTER = 2.0
#: While writes fail, records are counted as lost and a write is tried again this often.
RETRY_INTERVAL = 0.5
#: Recording counts as resumed after a successful write with nothing lost for this long,
#: so a disk that keeps failing now and then is reported once, not on every hiccup.
QUIET_BEFORE_RESUMED = 1.0

ReportFn = Callable[[str, str], None]


def _clock_text(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t % 1 * 1000):03d}"


@dataclass
class Gap:
    """Records lost in one stretch: how many, and the wall-clock times of the first and last."""

    lost: int = 0
    first: float = math.inf
    last: float = -math.inf
    reasons: list[str] = field(default_factory=list)

    def add(self, t: float, reason: str, count: int = 1) -> None:
        self.lost += count
        self.first = min(self.first, t)
        self.last = max(self.last, t)
        if reason not in self.reasons:
            self.reasons.append(reason)

    def merge(self, other: Gap) -> None:
        self.lost += other.lost
        self.first = min(self.first, other.first)
        self.last = max(self.last, other.last)
        self.reasons.extend(r for r in other.reasons if r not in self.reasons)

    def as_record(self, now: float) -> dict[str, Any]:
        return {
            "t": round(now, 6),
            "kind": "gap",
            "lost": self.lost,
            "from": round(self.first, 6),
            "to": round(self.last, 6),
            "reason": "; ".join(self.reasons),
        }

    def describe(self) -> str:
        if not self.lost:
            return "nothing lost"
        return f"{self.lost} records lost between {_clock_text(self.first)} and {_clock_text(self.last)} (a gap record marks them)"


@dataclass(slots=True)
class Entry:
    """One record waiting for the disk.

    ``kind`` is reading (``body`` the values), command (the line), event (the
    text), control (the pilot's frame), frame (a JPEG), metadata (a dict) or gap
    (``body`` a :class:`Gap`). ``detail`` is the event's level, the reading's
    sequence number or the controlling client's id.
    """

    t: float
    kind: str
    body: Any
    detail: Any = None

    @property
    def size(self) -> int:
        """Bytes it holds in the buffer beyond the bookkeeping: what the byte bound counts (camera frames)."""
        return len(self.body) if isinstance(self.body, bytes | bytearray) else 0


class Trouble:
    """Once-per-episode reporting, shared by the event loop (stalls, full buffer) and the writer (failed writes)."""

    def __init__(self, path: str, report: ReportFn, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._report = report
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self.active: str | None = None
        self.episode = Gap()
        self._last_loss = -math.inf

    def begin(self, reason: str) -> None:
        with self._lock:
            if self.active is not None:
                return
            self.active = reason
            self.episode = Gap()
        self._report("warning", f"recording to {self.path} {reason}; driving is not affected, records are counted until it recovers")

    def lost(self, t: float, reason: str, count: int = 1) -> None:
        with self._lock:
            self.episode.add(t, reason, count)
            self._last_loss = self._monotonic()
            starting = self.active is None
            if starting:
                self.active = reason
        if starting:
            self._report("warning", f"recording to {self.path} {reason}; driving is not affected, records are counted until it recovers")

    def wrote(self) -> None:
        """A write succeeded: end the episode once nothing has been lost for a while."""
        if self.active is None:  # the common case, without the lock
            return
        with self._lock:
            if self.active is None or self._monotonic() - self._last_loss < QUIET_BEFORE_RESUMED:
                return
            self.active = None
            episode, self.episode = self.episode, Gap()
        self._report("info", f"recording to {self.path} resumed: {episode.describe()}")


class FileSystem:
    """The few calls the writer makes, in one place so tests can run it against a fake disk."""

    def open(self, path: str) -> tuple[int, int, bool]:
        """Open ``path`` for appending; return (fd, size, is a regular file).

        O_NONBLOCK only for the open itself: a FIFO nobody has open for reading
        fails with ENXIO instead of blocking forever.
        """
        nonblock = getattr(os, "O_NONBLOCK", 0)  # these three are 0 where the OS lacks them (Windows)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | nonblock | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags, 0o644)
        try:
            if nonblock:
                os.set_blocking(fd, True)
            info = os.fstat(fd)
        except OSError:
            os.close(fd)
            raise
        return fd, info.st_size, stat.S_ISREG(info.st_mode)

    def write(self, fd: int, data: bytes | memoryview) -> int:
        return os.write(fd, data)

    def truncate(self, fd: int, length: int) -> None:
        os.ftruncate(fd, length)

    def close(self, fd: int) -> None:
        os.close(fd)

    def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    def rename(self, src: str, dst: str) -> None:
        os.replace(src, dst)

    def unlink(self, path: str) -> None:
        os.unlink(path)


class FileEnd(Protocol):
    """The writer thread's side of one format; :meth:`write` never raises for a disk error."""

    busy_since: float | None

    def write(self, entries: Collection[Entry]) -> None: ...

    def reopen(self) -> None: ...

    def close(self) -> None: ...

    def wait(self) -> float | None:
        """Seconds until the file wants a :meth:`write` even with nothing new (an open chunk to close); None: never."""
        ...


class FileState:
    """What every format's file end keeps: where it writes, how it rotates, what it lost and why.

    One place for the rules both formats follow: a write that fails is
    reported once (``trouble``) and retried after :data:`RETRY_INTERVAL`;
    everything that could not be written becomes one :class:`Gap`, said in the
    file by the next write that succeeds.
    """

    def __init__(
        self,
        path: str,
        trouble: Trouble,
        *,
        max_bytes: int | None,
        max_seconds: float | None,
        keep: int,
        fs: FileSystem | None,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
    ) -> None:
        self.path = path
        self.trouble = trouble
        self.max_bytes = max_bytes
        self.rotation = Rotation(max_bytes, max_seconds)
        self.keep = keep
        self.fs = fs or FileSystem()
        self.clock = clock
        self.monotonic = monotonic
        self.fd: int | None = None
        self.size = 0
        self.regular = True
        self.opened_at = 0.0
        self.failing: str | None = None
        self.retry_at = -math.inf
        self.gap = Gap()  # lost by this writer and not yet marked in the file
        #: monotonic time the current file operation began, None when idle (read by the loop to spot stalls)
        self.busy_since: float | None = None
        self.written = 0
        self.rotations = 0

    def _resting(self) -> bool:
        """Still failing and not yet time to try again."""
        return self.failing is not None and self.monotonic() < self.retry_at

    def _lose(self, entries: Collection[Entry], reason: str) -> None:
        for entry in entries:
            if isinstance(entry.body, Gap):  # records the loop already dropped: now part of this gap
                self.gap.merge(entry.body)
            else:
                self.gap.add(entry.t, reason)
                self.trouble.lost(entry.t, reason)

    def _begin_failing(self, exc: OSError) -> str:
        """Say a failure once, and rest until :data:`RETRY_INTERVAL` has passed; returns the reason."""
        reason = _failed(exc)
        self.retry_at = self.monotonic() + RETRY_INTERVAL
        if self.failing is None:
            self.failing = reason
            self.trouble.begin(reason)
        return reason

    def _close_fd(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            try:
                self.fs.close(fd)
            except OSError:
                pass


def rotate(fs: FileSystem, path: str, keep: int) -> None:
    """FILE -> FILE.1 -> ... -> FILE.<keep>, as logrotate does; with keep 0 FILE is removed."""
    renames = rotated_names(path, keep)
    if not renames:
        fs.unlink(path)
    for src, dst in renames:
        if src == path or fs.exists(src):
            fs.rename(src, dst)


class Recorder:
    """What the bridge calls on the event loop; none of it does file I/O or waits for the disk.

    ``on_trouble(level, text)`` runs on the event loop that created the
    recorder, once when recording gets into trouble and once when it has
    resumed. An unwritable ``path`` raises :class:`ConfigError` here, at start.
    A stalled write is noticed by the next record offered after :data:`STALL_AFTER`
    (while nothing is offered, nothing is waiting to be lost).
    """

    #: The kinds of record this format keeps; others offered are ignored.
    kinds: frozenset[str] = frozenset({"reading", "command", "event"})

    def __init__(
        self,
        path: str,
        open_file: Callable[[Trouble], FileEnd],
        *,
        on_trouble: ReportFn | None = None,
        buffer: int = BUFFER_RECORDS,
        buffer_bytes: int = BUFFER_BYTES,
    ) -> None:
        self.path = path
        self.capacity = buffer
        self.capacity_bytes = buffer_bytes
        self.on_trouble = on_trouble
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self.trouble = Trouble(path, self._report)
        try:
            self.file = open_file(self.trouble)
        except OSError as exc:
            raise ConfigError(f"cannot record to {path}: {_why(exc)}") from None
        self.dropped = 0
        self._queue: deque[Entry] = deque()
        self._queued_bytes = 0
        self._dropped_gap: Gap | None = None  # dropped since the last record that got into the queue
        self._cond = threading.Condition(threading.Lock())
        self._reopen = False
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="record-writer", daemon=True)
        self._thread.start()

    # -- the event loop's side --------------------------------------------------------------

    def reading(self, values: dict[str, int | float], seq: int = 0) -> None:
        self._offer("reading", dict(values), seq)

    def command(self, line: str) -> None:
        self._offer("command", line)

    def event(self, text: str, level: str = "info") -> None:
        self._offer("event", text, level)

    def control(self, client: int, frame: str | bytes) -> None:
        """The pilot's frame as received (parsed on the writer thread, not here)."""
        if "control" in self.kinds:
            self._offer("control", frame, client)

    def frame(self, jpeg: bytes, t: float) -> None:
        if "frame" in self.kinds:
            self._offer("frame", jpeg, t=t)

    def metadata(self, name: str, values: dict[str, str]) -> None:
        if "metadata" in self.kinds:
            self._offer("metadata", dict(values), name)

    def reopen(self) -> None:
        """Open FILE again by name before the next write (SIGHUP, after logrotate renamed it)."""
        with self._cond:
            self._reopen = True
            self._cond.notify()

    def close(self, timeout: float = 1.0) -> None:
        """Write what is buffered and stop the writer; give up after ``timeout`` on a stalled disk."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning(
                "recording to %s: the disk did not finish within %.1f s; %d buffered records not written",
                self.path,
                timeout,
                len(self._queue),
            )

    def _offer(self, kind: str, body: Any, detail: Any = None, *, t: float | None = None) -> None:
        now = time.time() if t is None else t
        busy = self.file.busy_since
        if busy is not None and self.trouble.active is None and time.monotonic() - busy > STALL_AFTER:
            self.trouble.begin(f"stalled: a write has not returned for {STALL_AFTER:.0f} s (records wait in memory, up to {self.capacity})")
        with self._cond:
            if self._closing:
                return
            need = 2 if self._dropped_gap is not None else 1
            entry = Entry(now, kind, body, detail)
            size = entry.size
            if len(self._queue) + need > self.capacity or (size and self._queued_bytes + size > self.capacity_bytes):
                self.dropped += 1
                if self._dropped_gap is None:
                    self._dropped_gap = Gap()
                self._dropped_gap.add(now, "buffer full")
            else:
                if self._dropped_gap is not None:
                    self._queue.append(Entry(now, "gap", self._dropped_gap))
                    self._dropped_gap = None
                self._queue.append(entry)
                self._queued_bytes += size
                if len(self._queue) == need:
                    self._cond.notify()  # the writer only waits on an empty queue
                return
        self.trouble.lost(now, f"cannot keep up: {self.capacity} records waiting for the disk, newest dropped")

    def _report(self, level: str, text: str) -> None:
        """From either thread: log and tell the bridge, on the event loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self._deliver(level, text)
            return
        try:
            loop.call_soon_threadsafe(self._deliver, level, text)
        except RuntimeError:  # the loop closed meanwhile
            self._deliver(level, text)

    def _deliver(self, level: str, text: str) -> None:
        log.log(logging.WARNING if level == "warning" else logging.INFO, "%s", text)
        if self.on_trouble is not None:
            try:
                self.on_trouble(level, text)
            except Exception:  # pragma: no cover - a bug in the callback must not stop recording
                log.exception("recording: on_trouble failed")

    # -- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            idle = False
            with self._cond:
                while not self._queue and not self._reopen and not self._closing:
                    wait = self.file.wait()  # an MCAP chunk to close once it is old enough
                    if wait is not None and (wait <= 0 or not self._cond.wait(wait)):
                        idle = not self._queue
                        break
                    if wait is None:
                        self._cond.wait()
                closing = self._closing
            if not closing and not idle:
                time.sleep(BATCH_WINDOW)  # let a burst gather into one write
            with self._cond:
                batch, self._queue = self._queue, deque()  # O(1) under the lock the loop also takes
                self._queued_bytes = 0
                if self._dropped_gap is not None:  # dropped after everything now in the batch
                    batch.append(Entry(time.time(), "gap", self._dropped_gap))
                    self._dropped_gap = None
                reopen, self._reopen = self._reopen, False
                closing = self._closing
            try:
                if reopen:
                    self.file.reopen()
                self.file.write(batch)
            except Exception:  # pragma: no cover - a bug; the writer must outlive it
                log.exception("recording to %s: %d records not written", self.path, len(batch))
            if closing:
                with self._cond:
                    if self._queue:
                        continue
                self.file.close()
                return


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENXIO:
        return "it is a FIFO that no process has open for reading"
    return exc.strerror or str(exc)


def _failed(exc: OSError) -> str:
    return f"failed: {_why(exc)}"
