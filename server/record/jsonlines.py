"""``--record FILE``: every reading, every command written to the device and every link event, as JSON lines.

The writer thread, the bounded buffer and trouble reports are shared with the
MCAP format (:mod:`teleop_server.record.writer`); this is the file end that
writes whole lines. The kernel holds what was handed to it even if the server
is SIGKILLed the next instant, so a killed server loses at most the last few
tens of milliseconds.

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

import json
import time
from collections.abc import Callable, Collection

from teleop_server.record.writer import (
    BATCH_WINDOW,
    BUFFER_RECORDS,
    QUIET_BEFORE_RESUMED,
    RETRY_INTERVAL,
    STALL_AFTER,
    Entry,
    FileState,
    FileSystem,
    Gap,
    ReportFn,
    Trouble,
    _failed,
    rotate,
)
from teleop_server.record.writer import Recorder as _Recorder
from teleop_server.rules.recording import without_secrets

__all__ = [
    "BATCH_WINDOW",
    "QUIET_BEFORE_RESUMED",
    "RETRY_INTERVAL",
    "STALL_AFTER",
    "Entry",
    "FileSystem",
    "Gap",
    "RecordFile",
    "Recorder",
    "Trouble",
    "encode_line",
]


def encode_line(entry: Entry, now: float) -> bytes:
    """One record as one line of JSON."""
    if isinstance(entry.body, Gap):
        record = entry.body.as_record(now)
    else:
        key = {"reading": "values", "command": "line"}.get(entry.kind, "text")
        body = without_secrets(entry.body) if entry.kind == "event" and isinstance(entry.body, str) else entry.body
        record = {"t": round(entry.t, 6), "kind": entry.kind, key: body}
        if entry.kind == "event" and entry.detail and entry.detail != "info":
            record["level"] = entry.detail
    # default=str: a value JSON cannot hold is written as text rather than losing the record
    return (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode()


class RecordFile(FileState):
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
        max_seconds: float | None = None,
        keep: int = 4,
        fs: FileSystem | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(path, trouble, max_bytes=max_bytes, max_seconds=max_seconds, keep=keep, fs=fs, clock=clock, monotonic=monotonic)
        self.torn = False  # a cut-short write could not be truncated: start the next one on a new line
        self._open()  # at start, an unwritable path is the caller's error to report

    # -- called by the writer thread --------------------------------------------------------

    def write(self, entries: Collection[Entry]) -> None:
        if not entries:
            return
        if self.failing is not None and self._resting():
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
            lines += [(e, encode_line(e, now)) for e in entries]
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
        return encode_line(Entry(now, "gap", self.gap), now)

    def wait(self) -> float | None:
        return None  # every batch is written whole: nothing waits in here

    def _open(self) -> None:
        self.fd, self.size, self.regular = self.fs.open(self.path)
        self.opened_at = self.clock()

    def _close(self) -> None:
        self._close_fd()

    def _write_lines(self, lines: list[tuple[Entry, bytes]]) -> None:
        """Write whole lines, rotating between lines when the next one would pass ``max_bytes``.

        A file older than ``max_seconds`` is rotated before the batch.
        """
        if self.regular and self.rotation.max_seconds and self.rotation.due(self.size, self.opened_at, self.clock()):
            try:
                self._rotate()
            except OSError as exc:
                self._lose_lines(lines, exc)
                raise
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
        if kept == 1 and lines[0][0].kind == "gap" and self.regular:
            # only the gap record got through: take it back, so the loss that follows joins it
            # (one gap record for one stretch of trouble, not two in a row)
            kept, kept_bytes = 0, prefix if done >= prefix else 0
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
        rotate(self.fs, self.path, self.keep)
        self.rotations += 1
        self._open()

    def _fail(self, exc: OSError) -> None:
        self._begin_failing(exc)
        if self.fd is not None and not self.regular:
            self._close()  # a FIFO whose reader left: open it again on the next try


class Recorder(_Recorder):
    """``--record FILE`` in JSON lines: readings, commands and events (see :class:`teleop_server.record.writer.Recorder`)."""

    def __init__(
        self,
        path: str,
        *,
        max_bytes: int | None = None,
        max_seconds: float | None = None,
        keep: int = 4,
        on_trouble: ReportFn | None = None,
        buffer: int = BUFFER_RECORDS,
        fs: FileSystem | None = None,
    ) -> None:
        super().__init__(
            path,
            lambda trouble: RecordFile(path, trouble, max_bytes=max_bytes, max_seconds=max_seconds, keep=keep, fs=fs),
            on_trouble=on_trouble,
            buffer=buffer,
        )
