"""``--record FILE.mcap``: the session as an MCAP file that Foxglove, Lichtblick and PlotJuggler open.

The writer thread, the bounded buffer, gap records and trouble reports are
:mod:`teleop_server.record.writer`'s; what goes into the file is
:mod:`teleop_server.rules.recording`'s. This is the file end: it feeds the
``mcap`` library's writer, which writes into memory, and hands the bytes to the
disk itself, so a failing or full disk is handled here exactly as for JSON lines.

Crash-safe by construction: messages are gathered in chunks closed at
:data:`~teleop_server.rules.recording.CHUNK_BYTES` or after
:data:`~teleop_server.rules.recording.CHUNK_SECONDS`, and every closed chunk goes
straight to the operating system. A SIGKILL or a power cut loses the open chunk
(about a second) and the index at the end; ``teleop-server --repair-recording``
rebuilds the index from the complete chunks. A clean stop, a rotation and a
SIGHUP finish the file with its index.

An MCAP file cannot be appended to: a FILE left by an earlier run (or by a write
that failed half-way) is rotated away to FILE.1 before a new one is begun, so no
recording is ever overwritten beyond ``keep``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any

from mcap.writer import CompressionType, Writer

from teleop import __version__
from teleop_server.record.writer import BUFFER_RECORDS, Entry, FileState, FileSystem, Gap, ReportFn, Trouble, _failed, rotate
from teleop_server.record.writer import Recorder as _Recorder
from teleop_server.rules import recording
from teleop_server.rules.recording import CHANNELS, CHUNK_BYTES, CHUNK_SECONDS, ChunkClock, ns

#: Room left for the index a finished file ends with: a few KiB of schemas and
#: channels, and a chunk index entry per chunk (counted separately).
SUMMARY_BYTES = 8 * 1024
CHUNK_INDEX_BYTES = 160
#: Bytes a message costs beyond its data inside a chunk (record header, times, its index entry).
MESSAGE_OVERHEAD = 47
LIBRARY = f"teleop-server {__version__}"


class MemorySink:
    """What the ``mcap`` writer writes to: memory, drained by :class:`McapFile` to the real file.

    ``tell`` counts every byte ever written, so the offsets in the index are file offsets.
    """

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.offset = 0

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def tell(self) -> int:
        return self.offset + len(self.buffer)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.offset += len(data)
        self.buffer.clear()
        return data


def encode(entry: Entry) -> tuple[recording.ChannelSpec, bytes]:
    """The channel and JSON message for one record (never raises: what JSON cannot hold becomes text)."""
    kind, t, body = entry.kind, entry.t, entry.body
    if isinstance(body, Gap):
        return recording.GAPS, recording.gap_message(t, body.lost, body.first, body.last, "; ".join(body.reasons))
    if kind == "reading":
        return recording.READINGS, recording.reading_message(t, body, entry.detail or 0)
    if kind == "command":
        return recording.COMMANDS, recording.command_message(t, str(body))
    if kind == "control":
        return recording.CONTROLS, recording.control_message(t, entry.detail or 0, body)
    if kind == "frame":
        return recording.VIDEO, recording.image_message(t, body)
    return recording.EVENTS, recording.log_message(t, entry.detail or "info", str(body))


class McapFile(FileState):
    """The MCAP file end; runs on the writer thread and owns every file operation.

    :meth:`write` never raises: a failed write is reported through ``trouble``;
    the file is cut back to its last whole chunk and left for repair, what was
    not on disk becomes a gap, and the next write that succeeds begins a new
    file (the broken one rotated to FILE.1) whose first message is the gap.
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
        chunk_bytes: int = CHUNK_BYTES,
        chunk_seconds: float = CHUNK_SECONDS,
        compression: CompressionType = CompressionType.ZSTD,
        metadata: dict[str, dict[str, str]] | None = None,
    ) -> None:
        super().__init__(path, trouble, max_bytes=max_bytes, max_seconds=max_seconds, keep=keep, fs=fs, clock=clock, monotonic=monotonic)
        self.chunk = ChunkClock(chunk_bytes, chunk_seconds)
        self.compression = compression
        #: the newest metadata record of each name: repeated at the start of every new file
        self.metadata: dict[str, dict[str, str]] = dict(metadata or {})
        self.writer: Writer | None = None
        self.sink = MemorySink()
        self.channel_ids: dict[str, int] = {}
        self.in_file = 0  # messages in the current file
        self.chunks = 0
        self.open_chunk: list[Entry] = []  # in the writer's open chunk
        self.unwritten: list[Entry] = []  # in the sink, not yet on disk
        self._begin()  # at start, an unwritable path is the caller's error to report

    # -- called by the writer thread --------------------------------------------------------

    def write(self, entries: Collection[Entry]) -> None:
        if not entries and (self.writer is None or not self.chunk.due(self.monotonic())):
            return
        if self.failing is not None and self._resting():
            self._lose(entries, self.failing)
            return
        self.busy_since = self.monotonic()
        try:
            batch = [e for e in entries if not self._remember(e)]
            if self.writer is None:
                try:
                    self._begin()  # writes every metadata record remembered
                except OSError as exc:
                    self._lose(batch, _failed(exc))
                    raise
            elif len(batch) < len(entries):
                for entry in entries:
                    if entry.kind == "metadata":
                        self.writer.add_metadata(str(entry.detail), self.metadata[str(entry.detail)])
            if self.gap.lost:
                batch.insert(0, Entry(self.clock(), "gap", self.gap))
                self.gap = Gap()
            for i, entry in enumerate(batch):
                try:
                    self._add(entry)
                except OSError as exc:
                    self._lose(batch[i:], _failed(exc))
                    raise
            if self.chunk.due(self.monotonic()):
                self._close_chunk()
            self._drain()
        except OSError as exc:
            self._fail(exc)
        else:
            self.failing = None
            self.trouble.wrote()
        finally:
            self.busy_since = None

    def wait(self) -> float | None:
        return self.chunk.wait(self.monotonic()) if self.writer is not None else None

    def reopen(self) -> None:
        """Finish FILE with its index and begin a new one by that name (after logrotate renamed it)."""
        self.busy_since = self.monotonic()
        try:
            self._finish()
            self._begin()
        except OSError as exc:
            self._fail(exc)
        finally:
            self.busy_since = None

    def close(self) -> None:
        try:
            self._finish()
        except OSError as exc:
            self._fail(exc)
            self._abandon()

    # -- internals --------------------------------------------------------------------------

    def _begin(self) -> None:
        """Open FILE (an earlier one rotated away first) and write the header, channels and metadata."""
        self._close_fd()
        fd, size, regular = self.fs.open(self.path)
        if size and regular:
            self.fs.close(fd)
            rotate(self.fs, self.path, self.keep)
            self.rotations += 1
            fd, size, regular = self.fs.open(self.path)
        self.fd, self.size, self.regular = fd, 0, regular
        self.opened_at = self.clock()
        self.sink = MemorySink()
        # chunk_size is only a backstop: the chunk clock closes chunks first
        writer = Writer(self.sink, chunk_size=self.chunk.max_bytes, compression=self.compression)  # type: ignore[arg-type]  # duck-typed: write and tell are all it uses
        writer.start(recording.PROFILE, LIBRARY)
        self.channel_ids = {}
        for spec in CHANNELS:
            schema = writer.register_schema(spec.schema_name, recording.SCHEMA_ENCODING, spec.schema_bytes)
            self.channel_ids[spec.topic] = writer.register_channel(spec.topic, recording.MESSAGE_ENCODING, schema)
        for name, values in self.metadata.items():
            writer.add_metadata(name, values)
        self.writer = writer
        self.in_file = 0
        self.chunks = 0
        self.chunk.closed()
        self._drain()

    def _remember(self, entry: Entry) -> bool:
        """Keep a metadata record for every file from now on (even while the disk fails); True if it was one."""
        if entry.kind != "metadata":
            return False
        self.metadata[str(entry.detail)] = recording.metadata_text(entry.body)
        return True

    def _add(self, entry: Entry) -> None:
        assert self.writer is not None
        spec, data = encode(entry)
        cost = len(data) + MESSAGE_OVERHEAD
        pending = len(self.sink.buffer) + self.chunk.size + SUMMARY_BYTES + CHUNK_INDEX_BYTES * (self.chunks + 1)
        if self.in_file and self.regular and self.rotation.due(self.size + pending, self.opened_at, self.clock(), adding=cost):
            self._finish()
            self._begin()
            assert self.writer is not None
        before = self.sink.tell()
        time_ns = ns(entry.t)
        self.writer.add_message(self.channel_ids[spec.topic], time_ns, data, time_ns)
        self.open_chunk.append(entry)
        self.in_file += 1
        self.chunk.added(cost, self.monotonic())
        if self.sink.tell() != before:  # the writer closed the chunk at its size: this message is in it
            self._chunk_closed()

    def _close_chunk(self) -> None:
        assert self.writer is not None
        self.writer.flush()
        self._chunk_closed()

    def _chunk_closed(self) -> None:
        self.unwritten += self.open_chunk
        self.open_chunk = []
        self.chunks += 1
        self.chunk.closed()

    def _finish(self) -> None:
        """End the file with its index, on disk; the next write begins a new one."""
        if self.writer is not None:
            writer, self.writer = self.writer, None
            writer.finish()
            self.unwritten += self.open_chunk
            self.open_chunk = []
            self.chunk.closed()
            self._drain()
        self._close_fd()

    def _drain(self) -> None:
        """Hand what the writer produced to the disk: whole records, or the file is cut back and abandoned."""
        data = self.sink.take()
        if not data:
            return
        assert self.fd is not None
        view = memoryview(data)
        done = 0
        try:
            while done < len(data):
                done += self.fs.write(self.fd, view[done:])
        except OSError as exc:
            if done and self.regular:
                try:
                    self.fs.truncate(self.fd, self.size)  # back to the last whole chunk: readable and repairable
                except OSError:
                    pass
            self._lose(self.unwritten + self.open_chunk, _failed(exc))
            self.unwritten, self.open_chunk = [], []
            self._abandon()
            raise
        self.size += len(data)
        self.written += sum(1 for e in self.unwritten if e.kind != "gap")
        self.unwritten = []

    def _abandon(self) -> None:
        """Give up on the current file (left without its index); the next write begins a new one."""
        self.writer = None
        self.chunk.closed()
        self._close_fd()

    def _fail(self, exc: OSError) -> None:
        reason = self._begin_failing(exc)
        self._lose(self.open_chunk, reason)
        self.open_chunk = []
        self._abandon()


class McapRecorder(_Recorder):
    """``--record FILE.mcap``: every stream on its own channel (see :mod:`teleop_server.rules.recording`)."""

    def __init__(
        self,
        path: str,
        *,
        max_bytes: int | None = None,
        max_seconds: float | None = None,
        keep: int = 4,
        video: bool = False,
        on_trouble: ReportFn | None = None,
        buffer: int = BUFFER_RECORDS,
        fs: FileSystem | None = None,
        **options: Any,
    ) -> None:
        self.kinds = frozenset({"reading", "command", "event", "control", "metadata", *(["frame"] if video else [])})
        super().__init__(
            path,
            lambda trouble: McapFile(path, trouble, max_bytes=max_bytes, max_seconds=max_seconds, keep=keep, fs=fs, **options),
            on_trouble=on_trouble,
            buffer=buffer,
        )
