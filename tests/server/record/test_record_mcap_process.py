"""``--record FILE.mcap`` as a Pi owner runs it: the server in its own process, a pty device, a pilot process.

Each file is read back by two readers: the ``mcap`` Python reader and the
TypeScript ``@mcap/core`` from npm under Debian's node (tests/node), one none
of us wrote. The server is SIGKILLed mid-recording to prove what a crash costs,
and ``teleop-server --repair-recording`` makes the file indexed again.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
from conftest import device_lines, wait_for
from faultkit import TOKEN, record_figure
from guitools import ServerProcess
from launcher import running
from mcap.reader import NonSeekingReader, make_reader
from nodetools import read_mcap_with_typescript
from test_record_faults import piloting

from teleop_server.rules import recording


def streamed(path: Path) -> list[tuple[str, object]]:
    """Messages front to back, as far as the file is whole."""
    out = []
    with path.open("rb") as f:
        try:
            for _, channel, message in NonSeekingReader(f).iter_messages(log_time_order=False):
                out.append((channel.topic, message))
        except Exception as exc:
            assert type(exc).__name__ == "EndOfFile", exc
    return out


def indexed(path: Path):
    with path.open("rb") as f:
        reader = make_reader(f)
        summary = reader.get_summary()
        messages = [(channel.topic, message) for _, channel, message in reader.iter_messages()]
        metadata = {m.name: dict(m.metadata) for m in reader.iter_metadata()}
    return summary, messages, metadata


def is_indexed(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return make_reader(f).get_summary() is not None
    except Exception:
        return False


async def test_a_recorded_session_reads_back_in_python_and_typescript_with_every_message_valid(pty_device, tmp_path):
    record = tmp_path / "drive.mcap"
    server = ServerProcess(pty_device.path, extra=["--record", str(record)], token=TOKEN)
    async with running(server), piloting(server.url):
        await wait_for(lambda: "B500" in device_lines(pty_device), timeout=5, what="the pilot drives")
        await asyncio.sleep(1.5)
        server.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(server.process.wait, 5) == 0
    summary, messages, metadata = indexed(record)
    topics = {topic for topic, _ in messages}
    assert {"/readings", "/device/commands", "/pilot/control", "/events"} <= topics
    channels = {c.topic: c for c in summary.channels.values()}
    for topic, message in messages:
        jsonschema.validate(json.loads(message.data), json.loads(summary.schemas[channels[topic].schema_id].data))
    assert "B500" in [json.loads(m.data)["line"] for topic, m in messages if topic == "/device/commands"]
    assert metadata["session"]["serial"] == pty_device.path
    assert metadata["device"]["name"], "the firmware's name and version, once the device answered"
    now = time.time_ns()
    assert all(now - 60e9 < m.log_time <= now for _, m in messages), "log time: ns since the Unix epoch"

    typescript = await asyncio.to_thread(read_mcap_with_typescript, record)
    python_counts: dict[str, int] = {}
    for topic, _ in messages:
        python_counts[topic] = python_counts.get(topic, 0) + 1
    assert typescript["counts"] == python_counts
    assert typescript["messageCount"] == len(messages)
    assert typescript["metadata"]["session"]["robot"] == metadata["session"]["robot"]
    for topic, channel in typescript["channels"].items():
        spec = recording.BY_TOPIC[topic]
        assert (channel["schemaName"], channel["schemaEncoding"], channel["messageEncoding"]) == (spec.schema_name, "jsonschema", "json")
        assert json.loads(channel["schema"]) == spec.schema
    for message in typescript["messages"]:
        jsonschema.validate(message["data"], recording.BY_TOPIC[message["topic"]].schema)


async def test_a_sigkilled_server_loses_at_most_about_a_second_and_the_repair_command_makes_the_file_indexed(pty_device, tmp_path):
    record = tmp_path / "drive.mcap"
    server = ServerProcess(pty_device.path, extra=["--record", str(record)], token=TOKEN)
    async with running(server), piloting(server.url):
        await wait_for(lambda: "B500" in device_lines(pty_device), timeout=5, what="the pilot drives")
        await asyncio.sleep(3)
        killed = time.time()
        server.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(server.process.wait, 5)
    assert not is_indexed(record), "a killed writer leaves no index: indexed readers refuse the file"
    recovered = streamed(record)
    controls = [m for topic, m in recovered if topic == "/pilot/control"]
    assert len(controls) > 50, "the pilot's controls up to the last whole chunk are there"
    lost = killed - max(m.log_time for _, m in recovered) / 1e9
    record_figure("MCAP recording, server SIGKILL -> session lost (newest message recovered to kill)", lost * 1000, 1500)
    assert lost < 1.5, f"{lost:.2f} s lost"
    typescript = await asyncio.to_thread(read_mcap_with_typescript, record, "stream")
    assert sum(typescript["counts"].values()) == len(recovered), "@mcap/core reads the same whole chunks"

    record.chmod(0o644)  # as the recording's owner left it: others may read it
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "teleop_server", "--repair-recording", str(record)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"recovered {len(recovered)} messages" in result.stdout
    assert record.stat().st_mode & 0o777 == 0o644, "the repaired file keeps the recording's mode"
    summary, messages, metadata = indexed(record)
    assert len(messages) == len(recovered) == summary.statistics.message_count
    assert "session" in metadata
    repaired = await asyncio.to_thread(read_mcap_with_typescript, record)
    assert repaired["messageCount"] == len(recovered)


async def test_the_recording_rotates_by_size_keeping_k_indexed_files_in_order(pty_device, tmp_path):
    record = tmp_path / "drive.mcap"
    limit = 0.015  # MiB: a few seconds of driving per file
    extra = ["--record", str(record), "--record-max-mb", str(limit), "--record-keep", "2"]
    async with running(ServerProcess(pty_device.path, extra=extra, token=TOKEN)) as server, piloting(server.url):
        oldest = Path(f"{record}.2")
        await wait_for(oldest.exists, timeout=30, what="two rotations")
        first = oldest.read_bytes()[:4096]
        await wait_for(lambda: oldest.read_bytes()[:4096] != first, timeout=30, what="a third rotation")
    assert not Path(f"{record}.3").exists(), "keep 2: FILE.1 and FILE.2 only"
    times = []
    for path in (oldest, Path(f"{record}.1"), record):
        assert path.stat().st_size <= limit * 1024 * 1024, path
        _, messages, metadata = indexed(path)
        assert "session" in metadata and "device" in metadata, "every file says what it is"
        assert not [topic for topic, _ in messages if topic == "/recording/gap"], "nothing lost at a rotation"
        if path != record:  # a file rotated out was full of the session; the one being written may have just begun
            assert [topic for topic, _ in messages if topic == "/readings"], f"{path.name} holds no readings"
        times += [m.log_time for _, m in messages]
    assert times == sorted(times)


async def test_mcap_without_the_record_extra_and_video_in_json_lines_are_clear_errors(tmp_path):
    from ports import steady_port

    result = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "server",
            "--no-auth",
            "--no-announce",
            "--port",
            str(steady_port()),
            "--record",
            str(tmp_path / "d.jsonl"),
            "--record-video",
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2
    assert "--record-video needs an MCAP recording" in result.stderr
    without_mcap = "import sys; sys.modules['mcap'] = None; from teleop_server.cli import main; sys.exit(main(sys.argv[1:]))"
    result = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-c",
            without_mcap,
            "--no-auth",
            "--no-announce",
            "--port",
            str(steady_port()),
            "--record",
            str(tmp_path / "d.mcap"),
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2
    assert "pipx install --force 'teleop-robot[record]'" in result.stderr and "install.sh --extras record" in result.stderr


def test_the_pilot_token_is_in_no_recording_when_a_pilot_takes_control(tmp_path):
    """A watcher who takes control sends the token; the pilot's frames are recorded as received."""
    from launcher import sync_client

    path = tmp_path / "session.mcap"
    server = ServerProcess("sim", extra=["--record", str(path)]).start()
    try:
        with sync_client(server.url) as ws:
            ws.send(json.dumps({"type": "hello", "role": "observer", "client": f"watcher {server.token}"}))
            ws.send(json.dumps({"type": "request_control", "takeover": True, "token": server.token}))
            # the token where no key names it: in a list, under another key, in a note, in text that is not JSON
            for odd in (
                {"type": "request_control", "token": [server.token]},
                {"type": "request_control", "Token": server.token},
                {"type": "record", "command": "mark", "note": f"token is {server.token}"},
            ):
                ws.send(json.dumps(odd))
            ws.send(f"not json {server.token}")
            for _ in range(20):
                ws.send(json.dumps({"type": "control", "axes": [0.3]}))
                ws.send(json.dumps({"type": "request_control", "takeover": True, "token": server.token}))
                time.sleep(0.02)
    finally:
        server.stop()
    _, messages, metadata = indexed(path)  # chunks are compressed: the token is looked for in what a reader gets
    assert any(topic == "/pilot/control" and b"request_control" in m.data for topic, m in messages), "the frames were recorded"
    assert not [m.data for _, m in messages if server.token.encode() in m.data]
    assert server.token not in json.dumps(metadata)


def test_recording_video_without_a_camera_says_why_the_file_holds_none(tmp_path):
    server = ServerProcess("sim", extra=["--record", str(tmp_path / "d.mcap"), "--record-video"]).start()
    output = server.stop()
    assert "no camera" in output and "no video is recorded" in output, output[-2000:]
