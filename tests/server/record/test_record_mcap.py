"""The MCAP file end and its rules against a fake disk and a fake clock.

What goes on which channel and when a chunk, a file or a snapshot ends are
decided in teleop_server.rules.recording; teleop_server.record.mcapfile writes
them. The server in its own process (SIGKILL, rotation, the TypeScript reader)
is tested in tests/test_record_mcap_process.py.
"""

from __future__ import annotations

import errno
import io
import json

import jsonschema
import pytest
from mcap.reader import NonSeekingReader, make_reader
from test_record import Clock, FakeDisk

from teleop_server.record.mcapfile import McapFile
from teleop_server.record.writer import Entry, Gap, Trouble
from teleop_server.rules import recording
from teleop_server.rules.recording import ChunkClock, Rotation, SnapshotRing, TripWatch, ns, rotated_names

PATH = "drive.mcap"


def make_file(disk: FakeDisk, clock: Clock, **options) -> tuple[McapFile, list]:
    reports: list[tuple[str, str]] = []
    trouble = Trouble(PATH, lambda level, text: reports.append((level, text)), monotonic=clock)
    return McapFile(PATH, trouble, fs=disk, clock=clock, monotonic=clock, **options), reports


def readings(count: int, t: float = 1000.0, step: float = 0.02) -> list[Entry]:
    return [Entry(t + n * step, "reading", {"A0": n, "wd": 1}, n) for n in range(count)]


def indexed(data: bytes):
    """Every message of a finished file, through its index (what Foxglove does)."""
    reader = make_reader(io.BytesIO(bytes(data)))
    return reader, [(channel.topic, message) for _, channel, message in reader.iter_messages()]


def streamed(data: bytes) -> list[tuple[str, object]]:
    """Every message front to back, as far as the file is whole (a crashed file ends in EndOfFile)."""
    out = []
    try:
        for _, channel, message in NonSeekingReader(io.BytesIO(bytes(data))).iter_messages(log_time_order=False):
            out.append((channel.topic, message))
    except Exception as exc:
        assert type(exc).__name__ == "EndOfFile", exc
    return out


def test_every_stream_gets_its_own_channel_whose_messages_validate_against_its_schema():
    disk, clock = FakeDisk(), Clock()
    file, _ = make_file(disk, clock)
    t = 1_790_000_000.25
    file.write(
        [
            Entry(t, "metadata", {"robot": "rover", "mapping": [{"command": "B"}]}, "session"),
            Entry(t, "reading", {"A0": 512, "wd": 1, "bad": float("nan")}, 7),
            Entry(t + 0.01, "command", "B500"),
            Entry(t + 0.02, "control", json.dumps({"type": "control", "seq": 3, "t": 5.5, "axes": [0.5, -1], "buttons": [1]}), 2),
            Entry(t + 0.03, "control", "not json {", 2),
            Entry(t + 0.04, "event", "serial link lost: unplugged", "warning"),
            Entry(t + 0.05, "frame", b"\xff\xd8jpeg\xff\xd9"),
            Entry(t + 0.06, "gap", Gap(3, t - 1, t - 0.5, ["failed: No space left on device"])),
        ]
    )
    file.close()
    reader, messages = indexed(disk.files[PATH])
    summary = reader.get_summary()
    assert summary is not None
    channels = {c.topic: c for c in summary.channels.values()}
    assert set(channels) == {spec.topic for spec in recording.CHANNELS}
    for topic, message in messages:
        spec = recording.BY_TOPIC[topic]
        schema = summary.schemas[channels[topic].schema_id]
        assert (schema.name, schema.encoding, channels[topic].message_encoding) == (spec.schema_name, "jsonschema", "json")
        jsonschema.validate(json.loads(message.data), json.loads(schema.data))
    by_topic = {topic: json.loads(m.data) for topic, m in messages}
    assert by_topic["/readings"] == {"t": round(t, 6), "seq": 7, "values": {"A0": 512, "wd": 1}}, "NaN is no reading"
    assert messages[0][1].log_time == ns(t), "log time: receive time in ns since the epoch"
    assert by_topic["/events"]["level"] == 3 and by_topic["/events"]["message"] == "serial link lost: unplugged"
    assert by_topic["/recording/gap"]["lost"] == 3
    controls = [json.loads(m.data) for topic, m in messages if topic == "/pilot/control"]
    assert controls[0]["axes"] == [0.5, -1] and controls[0]["sent"] == 5.5, "the pilot's own clock stays in the message"
    assert controls[1]["raw"] == "not json {"
    metadata = {m.name: m.metadata for m in reader.iter_metadata()}
    assert metadata["session"]["robot"] == "rover"
    assert json.loads(metadata["session"]["mapping"]) == [{"command": "B"}]


def test_a_chunk_reaches_the_disk_within_a_second_even_when_nothing_else_arrives():
    disk, clock = FakeDisk(), Clock()
    file, _ = make_file(disk, clock)
    file.write(readings(3))
    assert streamed(disk.files[PATH]) == [], "the chunk is still open"
    assert file.wait() == pytest.approx(recording.CHUNK_SECONDS)
    clock.now += recording.CHUNK_SECONDS
    assert file.wait() == 0
    file.write([])  # what the writer thread does when the chunk's time is up
    assert [topic for topic, _ in streamed(disk.files[PATH])] == ["/readings"] * 3
    assert file.wait() is None, "no chunk open: the writer thread may sleep"


def test_a_chunk_is_closed_at_its_size_so_a_busy_recording_reaches_the_disk_in_small_steps():
    disk, clock = FakeDisk(), Clock()
    file, _ = make_file(disk, clock, chunk_bytes=4096)
    file.write(readings(200))
    on_disk = len(streamed(disk.files[PATH]))
    assert 150 <= on_disk < 200, on_disk


def test_rotation_by_size_keeps_k_indexed_files_under_the_limit_in_order():
    disk, clock = FakeDisk(), Clock()
    limit = 24 * 1024
    file, _ = make_file(disk, clock, max_bytes=limit, keep=2, chunk_bytes=2048)
    for n in range(40):
        file.write(readings(50, t=1000 + n))
        clock.now += 1
    file.close()
    assert set(disk.files) == {PATH, f"{PATH}.1", f"{PATH}.2"}
    times = []
    for name in (f"{PATH}.2", f"{PATH}.1", PATH):
        data = disk.files[name]
        assert len(data) <= limit, (name, len(data))
        _, messages = indexed(data)  # every rotated file is finished with its index
        times += [m.log_time for _, m in messages]
    assert times == sorted(times) and len(times) == len(set(times))
    assert file.rotations >= 3


def test_rotation_by_age_starts_a_new_file_once_the_old_one_is_old_enough():
    disk, clock = FakeDisk(), Clock()
    file, _ = make_file(disk, clock, max_seconds=60, keep=3)
    file.write(readings(5))
    clock.now += 59
    file.write(readings(5, t=1059))
    assert set(disk.files) == {PATH}
    clock.now += 1
    file.write(readings(5, t=1060))
    file.close()
    assert set(disk.files) == {PATH, f"{PATH}.1"}
    assert len(indexed(disk.files[f"{PATH}.1"])[1]) == 10
    assert len(indexed(disk.files[PATH])[1]) == 5


def test_a_recording_left_by_an_earlier_run_is_rotated_away_never_appended_to():
    disk, clock = FakeDisk(), Clock()
    first, _ = make_file(disk, clock)
    first.write(readings(4))
    first.close()
    earlier = bytes(disk.files[PATH])
    second, _ = make_file(disk, clock)
    second.write(readings(2, t=2000))
    second.close()
    assert bytes(disk.files[f"{PATH}.1"]) == earlier
    assert len(indexed(disk.files[PATH])[1]) == 2


def test_a_failing_disk_leaves_whole_chunks_and_the_next_file_begins_with_the_gap():
    disk, clock = FakeDisk(), Clock()
    file, reports = make_file(disk, clock, chunk_bytes=2048)
    file.write(readings(100))
    before = len(streamed(disk.files[PATH]))
    whole = len(disk.files[PATH])
    disk.free = 100  # the next chunk is cut short, then ENOSPC
    file.write(readings(100, t=1100))
    assert reports and reports[0][0] == "warning" and "No space left" in reports[0][1]
    assert len(disk.files[PATH]) == whole, "the torn chunk is cut back to the last whole one"
    assert len(streamed(disk.files[PATH])) == before
    disk.free = 1 << 30
    clock.now += 1  # past the retry interval
    file.write(readings(10, t=1200))
    file.close()
    assert len(streamed(disk.files[f"{PATH}.1"])) == before, "the broken file is kept, for repair"
    _, messages = indexed(disk.files[PATH])
    assert messages[0][0] == "/recording/gap"
    gap = json.loads(messages[0][1].data)
    assert gap["lost"] == 200 - before and gap["reason"].startswith("failed: No space left")
    assert [topic for topic, _ in messages[1:]] == ["/readings"] * 10


def test_an_open_that_fails_is_retried_and_metadata_offered_meanwhile_is_kept():
    disk, clock = FakeDisk(), Clock()
    file, _ = make_file(disk, clock)
    file.close()
    disk.open_error = errno.EACCES
    file.write([Entry(1000, "metadata", {"name": "teleop-sim"}, "device"), *readings(2)])
    disk.open_error = None
    clock.now += 1
    file.write(readings(1, t=1001))
    file.close()
    reader, messages = indexed(disk.files[PATH])
    assert {m.name: dict(m.metadata) for m in reader.iter_metadata()} == {"device": {"name": "teleop-sim"}}
    assert json.loads(messages[0][1].data)["lost"] == 2


def test_reopen_finishes_the_file_with_its_index_and_records_on_in_a_new_one():
    disk, clock = FakeDisk(), Clock()
    file, _ = make_file(disk, clock)
    file.write(readings(3))
    disk.rename(PATH, "drive-old.mcap")  # logrotate's rename, then SIGHUP
    file.reopen()
    file.write(readings(2, t=2000))
    file.close()
    assert len(indexed(disk.files["drive-old.mcap"])[1]) == 3
    assert len(indexed(disk.files[PATH])[1]) == 2


# -- the pure rules ------------------------------------------------------------------------------


def test_rotation_rule_by_size_and_age_never_leaves_an_empty_file():
    rule = Rotation(max_bytes=1000, max_seconds=60)
    assert not rule.due(0, 0, 1000, adding=5000), "one record bigger than the limit gets a file of its own"
    assert rule.due(900, 0, 1, adding=101) and not rule.due(900, 0, 1, adding=100)
    assert rule.due(10, 0, 60) and not rule.due(10, 0, 59.9)
    assert not Rotation().due(10**12, 0, 10**9)
    assert rotated_names("d.mcap", 2) == [("d.mcap.1", "d.mcap.2"), ("d.mcap", "d.mcap.1")]
    assert rotated_names("d.mcap", 0) == []


def test_chunk_clock_closes_at_size_or_age_whichever_is_first():
    chunk = ChunkClock(max_bytes=100, max_seconds=1.0)
    assert chunk.wait(5.0) is None and not chunk.due(5.0)
    chunk.added(10, 5.0)
    assert chunk.wait(5.25) == pytest.approx(0.75) and not chunk.due(5.9)
    assert chunk.due(6.0)
    chunk.closed()
    chunk.added(100, 7.0)
    assert chunk.due(7.0)


def test_snapshot_ring_keeps_the_last_n_seconds_within_its_memory_bound():
    ring = SnapshotRing(seconds=30, max_bytes=1000)
    for n in range(100):
        ring.add(1000 + n, n, 5)
    assert ring.window(1099) == list(range(69, 100)), "the last 30 s, oldest first"
    assert ring.window(1099, seconds=5) == list(range(94, 100))
    ring.add(1099.5, "frame", 900)
    assert ring.size <= 1000 and ring.items[-1].item == "frame", "a big frame pushes the oldest out"
    assert ring.window(2000) == []


def test_a_trip_saves_a_snapshot_once_when_it_happens_and_only_if_configured():
    watch = TripWatch(on_estop=True, on_failsafe=True)
    assert watch.changed(estop=False, failsafe=True) is None, "neutral at start is no trip"
    assert watch.changed(estop=False, failsafe=False) is None
    assert watch.changed(estop=False, failsafe=True) == "the failsafe tripped"
    assert watch.changed(estop=False, failsafe=True) is None, "once per trip"
    assert watch.changed(estop=False, failsafe=False) is None
    assert watch.changed(estop=True, failsafe=True) == "the emergency stop was engaged"
    off = TripWatch()
    assert [off.changed(False, False), off.changed(True, True)] == [None, None]


def test_bad_control_frames_are_kept_as_text_and_never_raise():
    for junk in ["", "[]", '{"type": "control", "axes": [NaN]}', b"\xff\xfe", '{"type": "hello"}', "x" * 10000]:
        message = json.loads(recording.control_message(1.0, 1, junk))
        jsonschema.validate(message, recording.CONTROLS.schema)
        assert "raw" in message


@pytest.mark.parametrize(
    "frame",
    [
        '{"type": "request_control", "takeover": true, "token": "s3cret-pilot-token"}',
        '{"token":"s3cret-pilot-token","type":"speed_cap","value":0.5}',
        '{"type": "request_control", "token" : "s3cret-pilot-token"',  # cut short: not JSON any more
        '{"type": "request_control", "token": "s3cret-pilot-tok',
    ],
)
def test_the_pilot_token_never_reaches_the_recorded_control_channel(frame):
    """The pilot's frames are recorded (and sent to Foxglove) as received: a request to drive carries the token."""
    message = recording.control_message(1.0, 1, frame)
    assert b"s3cret" not in message
    jsonschema.validate(json.loads(message), recording.CONTROLS.schema)
    assert "token" in json.loads(message)["raw"], "what was there is still seen, only not its value"


def test_the_servers_own_token_is_blanked_in_every_shape_a_pilots_frame_can_carry_it():
    """Under a key of any name, as a control's field, across the 4 KB cut, and JSON-escaped (a token the owner chose)."""
    token = 'own "tökén" 0123456789'
    recording.keep_out(token)
    escaped = json.dumps(token)[1:-1]
    frames = [
        json.dumps({"type": "control", "axes": [token], "layout": token}),
        json.dumps({"type": "control", "axes": [0.5], "layout": token}),  # fits the schema: recorded by its fields
        json.dumps({"type": "record", "command": "mark", "note": "x" * (4096 - 40) + token}),
        json.dumps({"type": "request_control", "Token": [token]}),
        json.dumps({"type": "request_control", "Token": [token]}, ensure_ascii=False),
        f"not json {token}",
    ]
    for frame in frames:
        message = recording.control_message(1.0, 1, frame).decode()
        assert token not in message and escaped not in message and "0123456789" not in message, message[-200:]
        jsonschema.validate(json.loads(message), recording.CONTROLS.schema)
