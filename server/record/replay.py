"""``teleop-server --replay FILE.mcap``: a recording played back to clients as if it were live.

The clock (position, pause, seek, speed, what is due) is
:class:`teleop_server.rules.replay.Playback`'s; this is the file end and the
waiting. Messages are handed to the bridge through the same paths a live
device's take (readings, events, camera frames), so every client, the
dashboard and the Foxglove endpoint see a replay exactly as they would the
robot. Nothing is written to a device.

An indexed file is read where asked (a seek jumps straight there). A file
without its index (a recording cut short by a crash or power loss) is read
front to back up to its last whole chunk; a seek then reads it again from the start.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from teleop.wire.errors import ConfigError
from teleop.wire.mjpeg import VIDEO_PATH
from teleop.wire.protocol import ReplayControl
from teleop.wire.records import CameraStatus, SerialStatus
from teleop_server.record.formats import mcap_recorder_class
from teleop_server.rules import recording
from teleop_server.rules.replay import STATUS_INTERVAL, Playback, Steered

log = logging.getLogger("teleop.server.replay")

#: How every MCAP file begins (the spec's magic): anything else is refused before the reader guesses at it.
MCAP_MAGIC = b"\x89MCAP0\r\n"
#: The topics a replay plays (commands and the pilot's controls are what was *sent*: they drive nothing now).
PLAYED = (recording.READINGS.topic, recording.EVENTS.topic, recording.VIDEO.topic)
#: Messages handed over in one go before the loop is let to run (a 64x replay of a busy file).
BATCH = 200
#: How far back a seek looks for the reading to show at the new position.
LOOKBACK_NS = 10_000_000_000
LEVEL_NAMES = {number: name for name, number in recording.LOG_LEVELS.items()}


@dataclass(frozen=True, slots=True)
class Recorded:
    topic: str
    log_time: int
    data: bytes


@dataclass
class McapSource:
    """One MCAP file's messages from a given time; falls back to reading front to back when it has no index."""

    path: Path
    start_ns: int = 0
    end_ns: int = 0
    topics: set[str] = field(default_factory=set)
    metadata: dict[str, dict[str, str]] = field(default_factory=dict)
    #: None for an indexed file; else why it is read front to back
    problem: str | None = None

    @classmethod
    def open(cls, path: str | Path) -> McapSource:
        mcap_recorder_class()  # a clear error without the record extra
        from mcap.reader import make_reader

        source = cls(Path(path))
        try:
            with source.path.open("rb") as stream:
                if stream.read(len(MCAP_MAGIC)) != MCAP_MAGIC:
                    raise ConfigError(f"{path} is not an MCAP file: --replay plays what --record FILE.mcap wrote")
                stream.seek(0)
                reader = make_reader(stream)
                summary = reader.get_summary()
                statistics = summary.statistics if summary is not None else None
                if statistics is None or summary is None:
                    raise ValueError("no summary")
                source.start_ns, source.end_ns = statistics.message_start_time, statistics.message_end_time
                source.topics = {c.topic for c in summary.channels.values() if statistics.channel_message_counts.get(c.id)}
                source.metadata = {m.name: dict(m.metadata) for m in reader.iter_metadata()}
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
        except ConfigError:
            raise
        except Exception as exc:  # no index at the end: a crashed recording
            source.problem = f"{source.path.name} has no index (cut short?): replaying it up to its last whole chunk"
            log.info("%s (%s)", source.problem, type(exc).__name__)
            source._scan()
        return source

    @property
    def indexed(self) -> bool:
        return self.problem is None

    def _scan(self) -> None:
        """Times and topics of a file without its index: one pass over every complete chunk."""
        first = last = None
        for item in self._stream(None, None):
            first = item.log_time if first is None else min(first, item.log_time)
            last = item.log_time if last is None else max(last, item.log_time)
            self.topics.add(item.topic)
        if first is None or last is None:
            raise ConfigError(f"{self.path} holds no message that can be read")
        self.start_ns, self.end_ns = first, last
        from mcap.records import Metadata
        from mcap.stream_reader import StreamReader

        with self.path.open("rb") as stream:
            try:
                for record in StreamReader(stream).records:
                    if isinstance(record, Metadata):
                        self.metadata[record.name] = dict(record.metadata)
            except Exception:  # the torn end
                pass

    def _stream(self, start_ns: int | None, topics: tuple[str, ...] | None, end_ns: int | None = None) -> Iterator[Recorded]:
        from mcap.reader import NonSeekingReader

        with self.path.open("rb") as stream:
            reader = NonSeekingReader(stream)
            try:
                for _, channel, message in reader.iter_messages(
                    topics=topics, starting_at=start_ns, ending_at=end_ns, log_time_order=False
                ):
                    yield Recorded(channel.topic, message.log_time, message.data)
            except Exception as exc:  # the chunk that was never completed
                log.debug("%s: stopped at the torn end (%s)", self.path, exc)

    def _indexed(
        self, stream: IO[bytes], start_ns: int | None, topics: tuple[str, ...] | None, end_ns: int | None = None, reverse: bool = False
    ) -> Iterator[Recorded]:
        from mcap.reader import make_reader

        reader = make_reader(stream)
        for _, channel, message in reader.iter_messages(topics=topics, starting_at=start_ns, ending_at=end_ns, reverse=reverse):
            yield Recorded(channel.topic, message.log_time, message.data)

    def messages(self, start_ns: int) -> Iterator[Recorded]:
        """Every played message logged at or after ``start_ns``, in order (the file is opened for this iterator)."""
        if not self.indexed:
            yield from self._stream(start_ns, PLAYED)
            return
        with self.path.open("rb") as stream:
            yield from self._indexed(stream, start_ns, PLAYED)

    def reading_at(self, at_ns: int) -> Recorded | None:
        """The newest reading logged at or before ``at_ns``: what the robot reported at that moment."""
        since = max(self.start_ns, at_ns - LOOKBACK_NS)
        topics = (recording.READINGS.topic,)
        if self.indexed:
            with self.path.open("rb") as stream:
                return next(self._indexed(stream, since, topics, at_ns, reverse=True), None)
        newest = None
        for item in self._stream(since, topics, at_ns):
            newest = item
        return newest


class Replayer:
    """Plays an :class:`McapSource` to the bridge's callbacks on :class:`Playback`'s clock. Run it with :meth:`run`."""

    def __init__(
        self,
        path: str,
        *,
        on_reading: Callable[[dict[str, int | float]], None],
        on_event: Callable[[str, str], None],
        on_frame: Callable[[bytes], None],
        on_changed: Callable[[], None],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = McapSource.open(path)
        self.file = self.source.path.name
        self.monotonic = monotonic
        self.clock = Playback(self.source.start_ns, self.source.end_ns)
        self.on_reading, self.on_event, self.on_frame, self.on_changed = on_reading, on_event, on_frame, on_changed
        self._jump: int | None = self.source.start_ns
        self._wake = asyncio.Event()
        self._iterator: Iterator[Recorded] | None = None
        self._next: Recorded | None = None
        #: the pilots already told that driving goes nowhere (each once)
        self.told: set[int] = set()

    @property
    def has_video(self) -> bool:
        return recording.VIDEO.topic in self.source.topics

    def now_ns(self) -> int:
        """The recording's time now (ns since the epoch): what a live view stamps replayed messages with."""
        return self.clock.due_ns(self.monotonic())

    def describe(self) -> dict[str, object]:
        described = self.clock.describe(self.file, self.monotonic())
        if self.source.problem:
            described["problem"] = self.source.problem  # a client that joins later is told too
        return described

    def serial(self) -> SerialStatus:
        """``Status.serial`` during a replay: no port; the recorded device's name and firmware."""
        device = dict(self.source.metadata.get("device", {}))
        return SerialStatus("replay", "", f"replaying {self.file}: no device is driven", device, None)

    def camera(self) -> CameraStatus | None:
        """``Status.camera`` when the recording has video: served at /video.mjpg like a live camera."""
        if not self.has_video:
            return None
        return CameraStatus("live", VIDEO_PATH, f"recorded video from {self.file}", "replay")

    def steer(self, message: ReplayControl) -> Steered:
        """A client's play/pause/seek/speed; the loop wakes to follow it."""
        steered = self.clock.steer(message.action, message.position, message.speed, self.monotonic())
        if steered.jump:
            self._jump = self.clock.due_ns(self.monotonic())
        if steered.changed:
            self._wake.set()
            self.on_changed()
        return steered

    async def run(self) -> None:
        if self.source.problem:
            self.on_event("warning", self.source.problem)
        self.clock.seek(0.0, self.monotonic())  # the replay begins when the server is up, not when the file was opened
        last_status = self.monotonic()
        while True:
            if self._jump is not None:
                target, self._jump = self._jump, None
                await self._reopen(target)
                continue  # a seek asked while reading starts again
            now = self.monotonic()
            due = self.clock.due_ns(now)
            handed = 0
            while self._next is not None and self._next.log_time <= due and handed < BATCH and self._jump is None:
                self._play(self._next)
                self._next = next(self._iterator, None) if self._iterator is not None else None
                handed += 1
            if handed >= BATCH:
                await asyncio.sleep(0)
                continue
            if self._next is None and self.clock.at_end(now) and self.clock.ended(now):
                self.on_event("info", f"end of the recording {self.file}: paused (play starts it again from the beginning)")
                self.on_changed()
            if self.clock.playing and now - last_status >= STATUS_INTERVAL:
                last_status = now
                self.on_changed()
            if self._jump is not None:
                continue
            wait = self.clock.wait(self._next.log_time if self._next is not None else self.clock.end_ns, now)
            if self.clock.playing:
                wait = STATUS_INTERVAL if wait is None else min(wait, STATUS_INTERVAL)
            self._wake.clear()
            try:
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def _reopen(self, target: int) -> None:
        """Start reading at ``target`` (off the loop: a file without its index is read from its start) and show the reading of that moment."""

        def open_at() -> tuple[Iterator[Recorded], Recorded | None, Recorded | None]:
            iterator = self.source.messages(target)
            return iterator, next(iterator, None), self.source.reading_at(target)

        self._iterator, self._next, current = await asyncio.to_thread(open_at)
        if current is not None:
            self._play(current)

    def _play(self, item: Recorded) -> None:
        try:
            message = json.loads(item.data)
        except ValueError:
            return  # not JSON: not one of ours
        if not isinstance(message, dict):
            return
        if item.topic == recording.READINGS.topic:
            values = message.get("values")
            if isinstance(values, dict):
                self.on_reading({str(k): v for k, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)})
        elif item.topic == recording.EVENTS.topic:
            level = message.get("level")
            self.on_event(LEVEL_NAMES.get(level, "info") if isinstance(level, int) else "info", str(message.get("message", "")))
        elif item.topic == recording.VIDEO.topic:
            try:
                self.on_frame(base64.b64decode(str(message.get("data", "")), validate=True))
            except (binascii.Error, ValueError):
                pass
