"""The record writer against a fake disk: full, failing, stalled, rotated, renamed.

Direct tests of teleop_server.record.jsonlines with a fake file system and clock; the
end-to-end ones (a real full disk, a FIFO nobody reads, signals) are in
tests/server/record/test_record_faults.py.
"""

from __future__ import annotations

import errno
import json
import threading
import time

import pytest

from teleop_server.record import jsonlines as record
from teleop_server.record import writer
from teleop_server.record.jsonlines import Entry, FileSystem, Recorder, RecordFile, Trouble


class FakeDisk(FileSystem):
    """Files in memory; ``free`` bytes left (a write past it is cut short, then ENOSPC), ``error`` for EIO & co."""

    def __init__(self, free: int = 1 << 30) -> None:
        self.files: dict[str, bytearray] = {}
        self.fds: dict[int, str] = {}
        self.free = free
        self.error: int | None = None
        self.open_error: int | None = None
        self.gate = threading.Event()  # cleared: writes hang, as on a stalled disk
        self.gate.set()
        self.writes = 0

    def open(self, path):
        if self.open_error is not None:
            raise OSError(self.open_error, "Permission denied")
        self.files.setdefault(path, bytearray())
        fd = len(self.fds) + 3
        self.fds[fd] = path
        return fd, len(self.files[path]), True

    def write(self, fd, data):
        self.gate.wait()
        self.writes += 1
        if self.error is not None:
            raise OSError(self.error, "I/O error")
        if self.free <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = min(len(data), self.free)
        self.files[self.fds[fd]] += bytes(data[:n])
        self.free -= n
        return n

    def truncate(self, fd, length):
        content = self.files[self.fds[fd]]
        self.free += len(content) - length
        del content[length:]

    def close(self, fd):
        del self.fds[fd]

    def exists(self, path):
        return path in self.files

    def rename(self, src, dst):
        for fd, name in self.fds.items():
            if name == src:
                self.fds[fd] = dst  # an open file follows its inode
        self.files[dst] = self.files.pop(src)

    def unlink(self, path):
        del self.files[path]

    def lines(self, path="drive.jsonl") -> int:
        return bytes(self.files.get(path, b"")).count(b"\n")

    def records(self, path="drive.jsonl"):
        text = self.files[path].decode()
        assert text == "" or text.endswith("\n"), f"torn last record: {text[-60:]!r}"
        return [json.loads(line) for line in text.splitlines()]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_file(disk: FakeDisk, clock: Clock, **options):
    reports: list[tuple[str, str]] = []
    trouble = Trouble("drive.jsonl", lambda level, text: reports.append((level, text)), monotonic=clock)
    return RecordFile("drive.jsonl", trouble, fs=disk, clock=clock, monotonic=clock, **options), reports


def commands(start: int, count: int, t: float = 1.0) -> list[Entry]:
    return [Entry(t + n / 100, "command", f"B{start + n}") for n in range(count)]


def test_a_write_cut_short_by_a_full_disk_leaves_whole_lines_and_a_gap_record_once_space_returns():
    disk, clock = FakeDisk(), Clock()
    writer, reports = make_file(disk, clock)
    writer.write(commands(0, 3))
    line_length = len(disk.files["drive.jsonl"]) // 3
    disk.free = line_length + line_length // 2  # the next batch fits one and a half records

    writer.write(commands(3, 3, t=2.0))
    assert [r["line"] for r in disk.records()] == ["B0", "B1", "B2", "B3"], "the torn record is cut back"
    assert reports == [
        (
            "warning",
            "recording to drive.jsonl failed: No space left on device; driving is not affected, records are counted until it recovers",
        )
    ]

    clock.now += 0.1  # still full, and before the retry: lost without touching the disk
    before = disk.writes
    writer.write(commands(6, 2, t=3.0))
    assert disk.writes == before
    clock.now += record.RETRY_INTERVAL  # a retry that fails again is not reported again
    writer.write(commands(8, 1, t=4.0))
    assert len(reports) == 1

    disk.free = 1 << 20  # space is back
    clock.now += record.RETRY_INTERVAL
    writer.write(commands(9, 1, t=5.0))
    records = disk.records()
    gap = records[4]
    assert gap["kind"] == "gap"
    assert (gap["lost"], gap["from"], gap["to"]) == (5, 2.01, 4.0)  # B4, B5, B6, B7, B8
    assert "No space left on device" in gap["reason"]
    assert records[5]["line"] == "B9"
    assert len(reports) == 1, "resumed is said once nothing has been lost for a while"

    clock.now += record.QUIET_BEFORE_RESUMED
    writer.write(commands(10, 1, t=6.0))
    assert reports[1][0] == "info"
    assert reports[1][1].startswith("recording to drive.jsonl resumed: 5 records lost between")


def test_an_io_error_is_reported_once_and_recording_resumes_when_writes_succeed():
    disk, clock = FakeDisk(), Clock()
    writer, reports = make_file(disk, clock)
    disk.error = errno.EIO
    for i in range(20):
        clock.now += 0.1
        writer.write(commands(i, 1, t=float(i)))
    assert [level for level, _ in reports] == ["warning"]
    disk.error = None
    for i in range(20, 40):
        clock.now += 0.1
        writer.write(commands(i, 1, t=float(i)))
    records = disk.records()
    first = int(records[1]["line"][1:])  # the first record written once the disk works again
    assert 20 <= first <= 25, "retried within the retry interval"
    assert (records[0]["kind"], records[0]["lost"], records[0]["from"], records[0]["to"]) == ("gap", first, 0.0, first - 1)
    assert [r["line"] for r in records[1:]] == [f"B{i}" for i in range(first, 40)]
    assert [level for level, _ in reports] == ["warning", "info"]


def test_rotation_keeps_k_files_of_whole_records_each_under_the_limit():
    disk, clock = FakeDisk(), Clock()
    writer, _ = make_file(disk, clock, max_bytes=500, keep=2)
    for i in range(100):
        writer.write(commands(i, 1))
    assert sorted(disk.files) == ["drive.jsonl", "drive.jsonl.1", "drive.jsonl.2"]
    kept = [r["line"] for path in ("drive.jsonl.2", "drive.jsonl.1", "drive.jsonl") for r in disk.records(path)]
    assert kept == [f"B{i}" for i in range(100 - len(kept), 100)], "the newest records, in order, none lost at a boundary"
    assert all(0 < len(content) <= 500 for content in disk.files.values())
    assert writer.rotations > 2


def test_a_batch_larger_than_the_limit_is_split_between_files_at_record_boundaries():
    disk, clock = FakeDisk(), Clock()
    writer, _ = make_file(disk, clock, max_bytes=200, keep=9)
    writer.write(commands(0, 20))
    names = ["drive.jsonl", *(f"drive.jsonl.{n}" for n in range(1, 9))]
    present = [name for name in reversed(names) if name in disk.files]
    assert [r["line"] for name in present for r in disk.records(name)] == [f"B{i}" for i in range(20)]


def test_keep_zero_starts_the_file_afresh():
    disk, clock = FakeDisk(), Clock()
    writer, _ = make_file(disk, clock, max_bytes=200, keep=0)
    for i in range(20):
        writer.write(commands(i, 1))
    assert sorted(disk.files) == ["drive.jsonl"]
    assert disk.records()[-1]["line"] == "B19"


def test_reopen_after_a_rename_writes_to_a_new_file():
    disk, clock = FakeDisk(), Clock()
    writer, _ = make_file(disk, clock)
    writer.write(commands(0, 2))
    disk.rename("drive.jsonl", "drive.jsonl-20261122")  # logrotate's rename
    writer.write(commands(2, 1))
    assert "drive.jsonl" not in disk.files, "until the HUP the open file follows the rename"
    writer.reopen()
    writer.write(commands(3, 1))
    assert [r["line"] for r in disk.records("drive.jsonl-20261122")] == ["B0", "B1", "B2"]
    assert [r["line"] for r in disk.records()] == ["B3"]


def test_a_reopen_that_fails_is_reported_and_recording_resumes_once_the_file_can_be_opened():
    disk, clock = FakeDisk(), Clock()
    writer, reports = make_file(disk, clock)
    writer.write(commands(0, 1))
    disk.rename("drive.jsonl", "drive.jsonl.old")
    disk.open_error = errno.EACCES  # say logrotate left the folder read-only
    writer.reopen()
    writer.write(commands(1, 2, t=2.0))
    assert [level for level, _ in reports] == ["warning"] and "Permission denied" in reports[0][1]
    disk.open_error = None
    clock.now += record.RETRY_INTERVAL
    writer.write(commands(3, 1, t=3.0))
    gap, after = disk.records()
    assert (gap["kind"], gap["lost"], gap["from"], gap["to"]) == ("gap", 2, 2.0, 2.01)
    assert after["line"] == "B3"


def test_a_disk_that_takes_only_the_gap_record_before_failing_again_leaves_one_gap():
    disk, clock = FakeDisk(), Clock()
    writer, _ = make_file(disk, clock)
    writer.write(commands(0, 2))
    disk.free = 0
    writer.write(commands(2, 2, t=2.0))  # lost: the gap holds B2, B3
    gap_length = len(json.dumps({"t": 0, "kind": "gap", "lost": 2, "from": 2.0, "to": 2.01, "reason": "failed: No space left on device"}))
    disk.free = gap_length + 20  # room for the gap record and a piece of the next one
    clock.now += record.RETRY_INTERVAL
    writer.write(commands(4, 2, t=3.0))
    disk.free = 1 << 20
    clock.now += record.RETRY_INTERVAL
    writer.write(commands(6, 1, t=4.0))
    records = disk.records()
    assert [r["kind"] for r in records] == ["command", "command", "gap", "command"], records
    assert records[2]["lost"] == 4 and (records[2]["from"], records[2]["to"]) == (2.0, 3.01)


def test_a_stalled_disk_never_blocks_the_caller_drops_the_newest_and_marks_the_gap(monkeypatch):
    monkeypatch.setattr(writer, "STALL_AFTER", 0.05)
    disk = FakeDisk()
    reports: list[tuple[str, str]] = []
    recorder = Recorder("drive.jsonl", buffer=10, fs=disk, on_trouble=lambda level, text: reports.append((level, text)))
    try:
        recorder.command("B0")
        deadline = time.monotonic() + 2
        while not disk.lines() and time.monotonic() < deadline:
            time.sleep(0.005)
        disk.gate.clear()  # the disk hangs: the next write never returns until released
        recorder.command("B1")
        while recorder.file.busy_since is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.06)
        slowest = 0.0
        for i in range(2, 100):
            started = time.perf_counter()
            recorder.command(f"B{i}")
            slowest = max(slowest, time.perf_counter() - started)
        assert slowest < 0.005, "an offer never waits for the disk"
        assert recorder.dropped == 98 - 10
        assert [level for level, _ in reports] == ["warning"]
        assert "stalled" in reports[0][1]
        disk.gate.set()
        while disk.lines() < 12 and time.monotonic() < deadline:
            time.sleep(0.005)
        recorder.command("B100")
    finally:
        recorder.close()
    records = disk.records()
    assert [r.get("line") for r in records[:12]] == [f"B{i}" for i in range(12)]
    gap = records[12]
    assert gap["kind"] == "gap" and gap["lost"] == 88 and "buffer full" in gap["reason"]
    assert records[13]["line"] == "B100"


def test_an_unwritable_path_is_a_config_error_at_start(tmp_path):
    from teleop.wire.errors import ConfigError

    with pytest.raises(ConfigError, match=r"cannot record to .*: No such file or directory"):
        Recorder(str(tmp_path / "missing" / "drive.jsonl"))


def test_rotation_settings_come_from_the_config_file_and_flags_override_them(tmp_path):
    from teleop_server.cli import build_parser, config_from_args

    path = tmp_path / "robot.toml"
    path.write_text('[record]\nfile = "drive.jsonl"\nmax_mb = 16\nkeep = 3\n')
    config = config_from_args(build_parser().parse_args(["--config", str(path), "--record-keep", "7"]))
    assert (config.record, config.record_max_mb, config.record_keep) == ("drive.jsonl", 16, 7)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("max_mb = -1", "record.max_mb must be 0"),
        ("keep = -1", "record.keep must be 0 or more"),
        ('keep = "3"', "record.keep has the wrong type"),
    ],
)
def test_bad_rotation_settings_are_clear_errors(body, message):
    import tomllib

    from teleop.wire.errors import ConfigError
    from teleop_server.config import parse_config

    with pytest.raises(ConfigError, match=message):
        parse_config(tomllib.loads("[record]\n" + body))


def test_the_servers_pilot_token_is_blanked_in_the_events_a_json_lines_file_keeps():
    from teleop_server.rules import recording

    recording.keep_out("tok-jsonl-0123456789")
    line = record.encode_line(Entry(1.0, "event", "client watcher tok-jsonl-0123456789 is now pilot", "info"), 2.0)
    assert b"tok-jsonl" not in line and json.loads(line)["text"] == "client watcher (removed) is now pilot"
