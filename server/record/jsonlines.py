"""``--record FILE``: every reading, every command written to the device and every link event, as JSON lines.

The event loop never touches the disk. :meth:`Recorder.reading`, ``command``
and ``event`` only put the record in a bounded buffer; a writer thread hands
batches of whole lines to the operating system at most :data:`BATCH_WINDOW`
after the first record of the batch arrived. The kernel holds what was handed
to it even if the server is SIGKILLed the next instant, so a killed server
loses at most the last few tens of milliseconds.

A disk that fails (ENOSPC, EIO), stalls (a write that does not return: a hung
NFS mount or SD card, a FIFO nobody reads) or cannot keep up costs records,
never driving:

* the trouble is reported once to the log and through ``on_trouble`` (the
  bridge tells every client), and once more when recording has resumed;
* a full buffer drops the newest records and counts them; it never blocks;
* a failing disk is retried every :data:`RETRY_INTERVAL`; what was lost in the
  meantime is written as one ``{"kind": "gap", ...}`` record in its place,
  saying how many records and from when to when;
* every record is one whole line: a write cut short by a full disk is
  truncated back to its last complete line.

Rotation follows logrotate: past ``max_bytes``, FILE becomes FILE.1, FILE.1
becomes FILE.2, ... and the oldest beyond ``keep`` is overwritten.
:meth:`Recorder.reopen` (the server calls it on SIGHUP) closes FILE and opens
it again by name, for logrotate's rename-then-HUP; ``copytruncate`` is not
needed.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import math
import os
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from teleop.wire.errors import ConfigError

log = logging.getLogger("teleop.server.record")

#: Records waiting for the disk; past this the newest are dropped (and counted).
#: About 2 minutes of a 50 Hz pilot plus 20 Hz readings, and a few MB of memory.
BUFFER_RECORDS = 8192
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
    """One record waiting for the disk: ``kind`` is reading, command, event, or gap (``body`` a :class:`Gap`)."""

    t: float
    kind: str
    body: Any

    def encode(self, now: float) -> bytes:
        if isinstance(self.body, Gap):
            record = self.body.as_record(now)
        else:
            record = {"t": round(self.t, 6), "kind": self.kind, self.kind_key(): self.body}
        # default=str: a value JSON cannot hold is written as text rather than losing the record
        return (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode()

    def kind_key(self) -> str:
        return {"reading": "values", "command": "line"}.get(self.kind, "text")


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


class RecordFile:
    """The file end of the recorder; runs on the writer thread and owns every file operation.

    :meth:`write` takes a batch of entries and never raises: a failure is
    reported through ``trouble``, the entries it could not write become a
    :class:`Gap`, and the next successful write puts the gap record first.
    """

    def __init__(
        self,
        path: str,
        trouble: Trouble,
        *,
        max_bytes: int | None = None,
        keep: int = 4,
        fs: FileSystem | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.trouble = trouble
        self.max_bytes = max_bytes
        self.keep = keep
        self.fs = fs or FileSystem()
        self.clock = clock
        self.monotonic = monotonic
        self.fd: int | None = None
        self.size = 0
        self.regular = True
        self.failing: str | None = None
        self.retry_at = -math.inf
        self.gap = Gap()  # lost by this writer and not yet marked in the file
        self.torn = False  # a cut-short write could not be truncated: start the next one on a new line
        #: monotonic time the current file operation began, None when idle (read by the loop to spot stalls)
        self.busy_since: float | None = None
        self.written = 0
        self.rotations = 0
        self._open()  # at start, an unwritable path is the caller's error to report

    # -- called by the writer thread --------------------------------------------------------

    def write(self, entries: Collection[Entry]) -> None:
        if not entries:
            return
        if self.failing is not None and self.monotonic() < self.retry_at:
            self._lose(entries, self.failing)
            return
        self.busy_since = self.monotonic()
        try:
            if self.fd is None:
                try:
                    self._open()
                except OSError as exc:
                    self._lose(entries, _failed(exc))
                    raise
            now = self.clock()
            lines: list[tuple[Entry, bytes]] = []
            if self.gap.lost:
                lines.append((Entry(now, "gap", self.gap), self.gap_line(now)))
                self.gap = Gap()
            lines += [(e, e.encode(now)) for e in entries]
            self._write_lines(lines)
        except OSError as exc:
            self._fail(exc)
        else:
            self.failing = None
            self.trouble.wrote()
        finally:
            self.busy_since = None

    def reopen(self) -> None:
        """Close the file and open it again by name (after logrotate renamed it)."""
        self._close()
        self.busy_since = self.monotonic()
        try:
            self._open()
        except OSError as exc:
            self._fail(exc)
        finally:
            self.busy_since = None

    def close(self) -> None:
        self._close()

    # -- internals --------------------------------------------------------------------------

    def gap_line(self, now: float) -> bytes:
        return Entry(now, "gap", self.gap).encode(now)

    def _open(self) -> None:
        self.fd, self.size, self.regular = self.fs.open(self.path)

    def _close(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            try:
                self.fs.close(fd)
            except OSError:
                pass

    def _write_lines(self, lines: list[tuple[Entry, bytes]]) -> None:
        """Write whole lines, rotating between lines when the next one would pass ``max_bytes``."""
        start = 0
        while start < len(lines):
            end = len(lines)
            if self.max_bytes and self.regular:
                room = self.max_bytes - self.size
                end = start
                while end < len(lines) and room >= len(lines[end][1]):
                    room -= len(lines[end][1])
                    end += 1
                if end == start and self.size > 0:
                    try:
                        self._rotate()
                    except OSError as exc:
                        self._lose_lines(lines[start:], exc)
                        raise
                    continue
                end = max(end, start + 1)  # one record longer than the limit gets a file of its own
            self._write_chunk(lines[start:end])
            start = end

    def _write_chunk(self, lines: list[tuple[Entry, bytes]]) -> None:
        assert self.fd is not None
        data = b"".join(line for _, line in lines)
        if self.torn:
            data = b"\n" + data
        view = memoryview(data)
        done = 0
        try:
            while done < len(data):
                done += self.fs.write(self.fd, view[done:])
        except OSError as exc:
            self._cut_back(data, done, lines, exc)
            raise
        self.torn = False
        self.size += len(data)
        self.written += len(lines)

    def _cut_back(self, data: bytes, done: int, lines: list[tuple[Entry, bytes]], exc: OSError) -> None:
        """A write stopped after ``done`` bytes: keep the whole lines, remove the torn one, count the rest lost."""
        prefix = 1 if self.torn else 0
        kept_bytes = prefix if done >= prefix else 0
        kept = 0
        for _, line in lines:
            if kept_bytes + len(line) > done:
                break
            kept_bytes += len(line)
            kept += 1
        if done > kept_bytes and self.regular:
            try:
                self.fs.truncate(self.fd, self.size + kept_bytes)  # type: ignore[arg-type]
                self.torn = False
            except OSError:
                self.torn = True
        elif done > kept_bytes:
            self.torn = True
        else:
            self.torn = self.torn and done == 0
        self.size += done if self.torn else kept_bytes
        self.written += kept
        self._lose_lines(lines[kept:], exc)

    def _lose_lines(self, lines: list[tuple[Entry, bytes]], exc: OSError) -> None:
        self._lose([e for e, _ in lines], _failed(exc))

    def _rotate(self) -> None:
        """FILE -> FILE.1 -> ... -> FILE.<keep>, as logrotate does; then a fresh FILE."""
        self._close()
        if self.keep > 0:
            for n in range(self.keep - 1, 0, -1):
                older = f"{self.path}.{n}"
                if self.fs.exists(older):
                    self.fs.rename(older, f"{self.path}.{n + 1}")
            self.fs.rename(self.path, f"{self.path}.1")
        else:
            self.fs.unlink(self.path)
        self.rotations += 1
        self._open()

    def _lose(self, entries: Collection[Entry], reason: str) -> None:
        for entry in entries:
            if isinstance(entry.body, Gap):  # records the loop already dropped: now part of this gap
                self.gap.merge(entry.body)
            else:
                self.gap.add(entry.t, reason)
                self.trouble.lost(entry.t, reason)

    def _fail(self, exc: OSError) -> None:
        reason = _failed(exc)
        self.retry_at = self.monotonic() + RETRY_INTERVAL
        if self.failing is None:
            self.failing = reason
            self.trouble.begin(reason)
        if self.fd is not None and not self.regular:
            self._close()  # a FIFO whose reader left: open it again on the next try


class Recorder:
    """What the bridge calls on the event loop; none of it does file I/O or waits for the disk.

    ``on_trouble(level, text)`` runs on the event loop that created the
    recorder, once when recording gets into trouble and once when it has
    resumed. An unwritable ``path`` raises :class:`ConfigError` here, at start.
    A stalled write is noticed by the next record offered after :data:`STALL_AFTER`
    (while nothing is offered, nothing is waiting to be lost).
    """

    def __init__(
        self,
        path: str,
        *,
        max_bytes: int | None = None,
        keep: int = 4,
        on_trouble: ReportFn | None = None,
        buffer: int = BUFFER_RECORDS,
        fs: FileSystem | None = None,
    ) -> None:
        self.path = path
        self.capacity = buffer
        self.on_trouble = on_trouble
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self.trouble = Trouble(path, self._report)
        try:
            self.file = RecordFile(path, self.trouble, max_bytes=max_bytes, keep=keep, fs=fs)
        except OSError as exc:
            raise ConfigError(f"cannot record to {path}: {_why(exc)}") from None
        self.dropped = 0
        self._queue: deque[Entry] = deque()
        self._dropped_gap: Gap | None = None  # dropped since the last record that got into the queue
        self._cond = threading.Condition(threading.Lock())
        self._reopen = False
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="record-writer", daemon=True)
        self._thread.start()

    # -- the event loop's side --------------------------------------------------------------

    def reading(self, values: dict[str, int | float]) -> None:
        self._offer("reading", dict(values))

    def command(self, line: str) -> None:
        self._offer("command", line)

    def event(self, text: str) -> None:
        self._offer("event", text)

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

    def _offer(self, kind: str, body: Any) -> None:
        now = time.time()
        busy = self.file.busy_since
        if busy is not None and self.trouble.active is None and time.monotonic() - busy > STALL_AFTER:
            self.trouble.begin(f"stalled: a write has not returned for {STALL_AFTER:.0f} s (records wait in memory, up to {self.capacity})")
        with self._cond:
            if self._closing:
                return
            need = 2 if self._dropped_gap is not None else 1
            if len(self._queue) + need > self.capacity:
                self.dropped += 1
                if self._dropped_gap is None:
                    self._dropped_gap = Gap()
                self._dropped_gap.add(now, "buffer full")
            else:
                if self._dropped_gap is not None:
                    self._queue.append(Entry(now, "gap", self._dropped_gap))
                    self._dropped_gap = None
                self._queue.append(Entry(now, kind, body))
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
            with self._cond:
                while not self._queue and not self._reopen and not self._closing:
                    self._cond.wait()
                closing = self._closing
            if not closing:
                time.sleep(BATCH_WINDOW)  # let a burst gather into one write
            with self._cond:
                batch, self._queue = self._queue, deque()  # O(1) under the lock the loop also takes
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
