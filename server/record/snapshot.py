""" "Save the last 30 seconds": the server keeps the newest stretch of the session in memory.

Every stream the MCAP recording has goes into a ring (:class:`teleop_server.rules.recording.SnapshotRing`)
bounded by time and bytes; :meth:`Snapshots.save` writes what the ring holds to a
new MCAP file, off the event loop, with the same file end as ``--record``. The
dashboard's button, the ``save_snapshot`` message and (if configured) an e-stop
or a failsafe trip ask for one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teleop_server.config import ServerConfig
from teleop_server.record.writer import Entry, Trouble
from teleop_server.rules import recording
from teleop_server.rules.recording import SNAPSHOT_INTERVAL, SnapshotRing, snapshot_name

log = logging.getLogger("teleop.server.record")

#: What a message other than a camera frame is counted as in the ring's byte bound.
SMALL_MESSAGE_BYTES = 256


@dataclass
class Saved:
    path: str | None
    messages: int
    seconds: float
    problem: str | None = None

    def describe(self) -> str:
        if self.problem:
            return f"snapshot not saved: {self.problem}"
        return f"snapshot saved: {self.path} (last {self.seconds:.0f} s, {self.messages} messages)"


def snapshot_folder(config: ServerConfig) -> Path:
    """Where snapshots go: the configured folder, else beside the --record file, else the service's state folder."""
    if config.snapshot_dir:
        return Path(config.snapshot_dir).expanduser()
    if config.record:
        return Path(config.record).expanduser().resolve().parent
    state = os.environ.get("STATE_DIRECTORY")  # systemd's StateDirectory=
    return Path(state.split(":")[0]) if state else Path.home() / ".local" / "state" / "teleop" / "snapshots"


class Snapshots:
    """A recording sink that keeps the last ``seconds`` in memory and saves them on request."""

    def __init__(self, folder: Path, seconds: float = 30.0, *, video: bool = False, max_bytes: int = 64 * 1024 * 1024) -> None:
        from teleop_server.record.formats import mcap_recorder_class

        mcap_recorder_class()  # snapshots are MCAP files: a clear error now without the record extra
        self.folder = folder
        self.ring = SnapshotRing(seconds, max_bytes)
        self.kinds = frozenset({"reading", "command", "event", "control", "metadata", *(["frame"] if video else [])})
        self.records: dict[str, dict[str, str]] = {}  # the newest metadata record of each name
        self._saving = False
        self._last_save = -float("inf")

    # -- the sink: called on the event loop for every message -------------------------------------

    def _keep(self, kind: str, body: Any, detail: Any = None, size: int = SMALL_MESSAGE_BYTES, t: float | None = None) -> None:
        now = time.time() if t is None else t
        self.ring.add(now, Entry(now, kind, body, detail), size)

    def reading(self, values: dict[str, int | float], seq: int = 0) -> None:
        self._keep("reading", dict(values), seq)

    def command(self, line: str) -> None:
        self._keep("command", line)

    def event(self, text: str, level: str = "info") -> None:
        self._keep("event", text, level)

    def control(self, client: int, frame: str | bytes) -> None:
        self._keep("control", frame, client, max(SMALL_MESSAGE_BYTES, len(frame)))

    def frame(self, jpeg: bytes, t: float) -> None:
        if "frame" in self.kinds:
            self._keep("frame", jpeg, size=len(jpeg), t=t)

    def metadata(self, name: str, values: dict[str, Any]) -> None:
        self.records[name] = recording.metadata_text(values)

    # -- saving -------------------------------------------------------------------------------------

    async def save(self, seconds: float | None = None) -> Saved:
        """Write the last ``seconds`` (default: all kept) to a new file in :attr:`folder`; never raises."""
        now = time.time()
        if self._saving or time.monotonic() - self._last_save < SNAPSHOT_INTERVAL:
            return Saved(None, 0, 0, "one was saved moments ago; ask again in a few seconds")
        entries = self.ring.window(now, seconds)
        if not entries:
            return Saved(None, 0, 0, "nothing was recorded in the last seconds")
        self._saving = True
        try:
            return await asyncio.to_thread(self._write, entries, now, dict(self.records))
        finally:
            self._saving = False
            self._last_save = time.monotonic()

    def _write(self, entries: list[Entry], now: float, metadata: dict[str, dict[str, str]]) -> Saved:
        from teleop_server.record.mcapfile import McapFile

        span = now - entries[0].t
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return Saved(None, 0, 0, f"cannot create {self.folder}: {exc.strerror or exc}")
        path = self.folder / snapshot_name(now, time.localtime(now))
        n = 1
        while path.exists():
            n += 1
            path = path.with_name(f"{snapshot_name(now, time.localtime(now))[:-5]}-{n}.mcap")
        problems: list[str] = []
        trouble = Trouble(str(path), lambda level, text: problems.append(text) if level == "warning" else None)
        try:
            file = McapFile(str(path), trouble, metadata={**metadata, "snapshot": {"seconds": f"{span:.1f}", "saved_at": f"{now:.3f}"}})
        except OSError as exc:
            return Saved(None, 0, 0, f"cannot write {path}: {exc.strerror or exc}")
        file.write(entries)
        file.close()
        if problems:
            return Saved(str(path), file.written, span, problems[0])
        return Saved(str(path), len(entries), span)


def open_snapshots(config: ServerConfig) -> Snapshots | None:
    """The snapshot ring ``config`` asks for; None when off, or when MCAP support is not installed (logged once)."""
    if not config.snapshot_seconds:
        return None
    try:
        return Snapshots(snapshot_folder(config), config.snapshot_seconds, video=config.record_video)
    except Exception as exc:  # the record extra missing: the server runs on without snapshots
        log.info("snapshots are off: %s", exc)
        return None
