"""Turn a recording cut short (SIGKILL, power loss, a full disk) into an indexed MCAP file.

A crashed MCAP file has every complete chunk but no index at its end, so
indexed readers (Foxglove, ``mcap``'s ``make_reader``) refuse it. Reading it
front to back recovers every complete chunk; writing that out again gives a
file with its index. The part of the last chunk that was never completed is
dropped (about a second of the session).

    teleop-server --repair-recording FILE.mcap
    python -m teleop_server.record.repair FILE.mcap [OUT.mcap]

Without an output the file is replaced, atomically, once the repaired copy is complete.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from teleop.wire.errors import ConfigError
from teleop_server.record.formats import mcap_recorder_class


@dataclass
class Repaired:
    messages: int
    first_ns: int | None
    last_ns: int | None
    was_complete: bool
    problem: str | None  # why reading stopped before the end, if it did

    def describe(self, path: str) -> str:
        if self.was_complete:
            return f"{path} was complete; rewritten with {self.messages} messages"
        span = ""
        if self.first_ns is not None and self.last_ns is not None:
            span = f" covering {(self.last_ns - self.first_ns) / 1e9:.1f} s"
        return f"{path}: recovered {self.messages} messages{span}; the incomplete end was dropped ({self.problem})"


def repair(source: str | Path, target: str | Path | None = None) -> Repaired:
    """Copy every complete record of ``source`` into an indexed MCAP file at ``target`` (default: replace ``source``)."""
    mcap_recorder_class()  # a clear error without the record extra
    from mcap.records import Channel, DataEnd, Footer, Message, Metadata, Schema
    from mcap.stream_reader import StreamReader
    from mcap.writer import Writer

    source = Path(source)
    target = Path(target) if target is not None else source
    try:
        stream = source.open("rb")
    except OSError as exc:
        raise ConfigError(f"cannot read {source}: {exc.strerror or exc}") from None
    folder = target.parent
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".repairing", dir=folder)
    result = Repaired(0, None, None, False, None)
    try:
        with stream, os.fdopen(fd, "wb") as out:
            writer = Writer(out)
            started = False
            schemas: dict[int, int] = {}
            channels: dict[int, int] = {}
            pending_channels: dict[int, Channel] = {}
            reader = StreamReader(stream, skip_magic=False, validate_crcs=True)
            try:
                for record in reader.records:
                    if not started:
                        writer.start(getattr(record, "profile", ""), getattr(record, "library", "teleop-server (repaired)"))
                        started = True
                    if isinstance(record, Schema):
                        schemas.setdefault(record.id, writer.register_schema(record.name, record.encoding, record.data))
                    elif isinstance(record, Channel):
                        pending_channels[record.id] = record
                    elif isinstance(record, Metadata):
                        writer.add_metadata(record.name, dict(record.metadata))
                    elif isinstance(record, Message):
                        if record.channel_id not in channels:
                            channel = pending_channels.get(record.channel_id)
                            if channel is None:
                                continue  # a message whose channel was lost cannot be read by anyone
                            schema = schemas.get(channel.schema_id, 0)
                            channels[record.channel_id] = writer.register_channel(
                                channel.topic, channel.message_encoding, schema, dict(channel.metadata)
                            )
                        writer.add_message(channels[record.channel_id], record.log_time, record.data, record.publish_time, record.sequence)
                        result.messages += 1
                        result.first_ns = record.log_time if result.first_ns is None else min(result.first_ns, record.log_time)
                        result.last_ns = record.log_time if result.last_ns is None else max(result.last_ns, record.log_time)
                    elif isinstance(record, DataEnd | Footer):
                        result.was_complete = True
            except Exception as exc:  # a torn chunk fails in the reader, the decompressor or the CRC check
                result.problem = type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {exc}"
            if not started:
                raise ConfigError(f"{source} is not an MCAP file (no MCAP header)")
            writer.finish()
            out.flush()
            os.fsync(out.fileno())
        # mkstemp made it private (0600): the repaired file gets the mode the recording has
        os.chmod(temporary, stat.S_IMODE(os.stat(target if target.exists() else source).st_mode))
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    if result.problem is None and not result.was_complete:
        result.problem = "the file ends without its index"
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2 or args[0].startswith("-"):
        print("usage: python -m teleop_server.record.repair FILE.mcap [OUT.mcap]", file=sys.stderr)
        return 2
    try:
        result = repair(args[0], args[1] if len(args) > 1 else None)
    except ConfigError as exc:
        print(f"repair: error: {exc}", file=sys.stderr)
        return 2
    print(result.describe(args[1] if len(args) > 1 else args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
