"""``teleop-server --replay FILE.mcap``: a session recorded here (server in its own process, sim device) played back.

Clients are WebSocket clients and the dashboard in headless Chromium; what they are
shown is checked against the file as the ``mcap`` reader reads it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from guitools import ARTIFACTS, ServerProcess
from launcher import sync_client
from mcap.exceptions import McapError
from mcap.reader import make_reader

SEEK_TO = 1.6


def drive_for(server: ServerProcess, seconds: float) -> None:
    with sync_client(server.url) as pilot:
        pilot.send(json.dumps({"type": "hello", "role": "pilot", "client": "recorder", "token": server.token}))
        end = time.monotonic() + seconds
        value = 0.1
        while time.monotonic() < end:
            pilot.send(json.dumps({"type": "control", "axes": [value]}))
            value = -value
            time.sleep(0.05)
            try:
                while True:
                    pilot.recv(timeout=0)
            except TimeoutError:
                pass


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    """A four-second session on the sim device, with a pilot driving, recorded to MCAP and finished cleanly."""
    path = tmp_path_factory.mktemp("replay") / "session.mcap"
    server = ServerProcess("sim", extra=["--record", str(path)]).start()
    try:
        drive_for(server, 4.0)
    finally:
        server.stop()
    return path


def recorded_readings(path: Path) -> tuple[int, list[tuple[int, dict]]]:
    with path.open("rb") as f:
        reader = make_reader(f)
        start = reader.get_summary().statistics.message_start_time
        readings = [(m.log_time, json.loads(m.data)["values"]) for _, _, m in reader.iter_messages(topics=["/readings"])]
    return start, readings


def reading_at(path: Path, seconds: float) -> dict:
    start, readings = recorded_readings(path)
    target = start + round(seconds * 1e9)
    return [values for t, values in readings if t <= target][-1]


def messages(ws, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        yield json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))


def wait_for(ws, predicate, timeout: float = 10.0) -> dict:
    for message in messages(ws, timeout):
        if predicate(message):
            return message
    raise AssertionError("unreachable")


def is_event(text: str):
    return lambda m: m.get("type") == "event" and text in m.get("text", "")


@pytest.fixture
def replaying(recorded):
    server = ServerProcess("sim", extra=["--replay", str(recorded)]).start()
    yield server
    server.stop()


def test_every_client_is_told_it_is_a_replay_and_gets_the_recorded_readings(replaying, recorded):
    _, readings = recorded_readings(recorded)
    recorded_values = [values for _, values in readings]
    with sync_client(replaying.url) as ws:
        ws.send(json.dumps({"type": "hello", "role": "observer", "client": "watcher"}))
        welcome = json.loads(ws.recv(timeout=10))
        replay = welcome["status"]["replay"]
        assert replay["file"] == "session.mcap" and replay["playing"]
        assert replay["duration"] == pytest.approx(3.5, abs=1.5)
        assert welcome["status"]["serial"]["state"] == "replay"
        assert welcome["status"]["serial"]["device"]["name"] == "teleop-sim"  # the recorded device's info
        got = [wait_for(ws, lambda m: m["type"] == "reading")["values"] for _ in range(10)]
    assert all(values in recorded_values for values in got)  # readings are the file's, not a live device's


def test_seeking_lands_where_asked_and_shows_the_readings_recorded_then(replaying, recorded):
    expected = reading_at(recorded, SEEK_TO)
    with sync_client(replaying.url) as ws:
        ws.send(json.dumps({"type": "hello", "role": "observer", "client": "steerer", "token": replaying.token}))
        ws.send(json.dumps({"type": "replay", "action": "pause"}))
        paused = wait_for(ws, lambda m: m["type"] == "status" and m.get("replay") and not m["replay"]["playing"])
        assert paused["replay"]["position"] < 3.0
        time.sleep(0.3)  # let a reading flushed just before the pause go by
        ws.send(json.dumps({"type": "replay", "action": "seek", "position": SEEK_TO}))
        wait_for(ws, is_event(f"replay moved to {SEEK_TO:.1f} s"))
        status = wait_for(ws, lambda m: m["type"] == "status")
        assert status["replay"]["position"] == pytest.approx(SEEK_TO) and not status["replay"]["playing"]
        shown = wait_for(ws, lambda m: m["type"] == "reading")
        assert shown["values"] == expected
        ws.send(json.dumps({"type": "replay", "action": "speed", "speed": 4}))
        wait_for(ws, lambda m: m["type"] == "status" and m["replay"]["speed"] == 4)


def test_steering_a_replay_needs_the_token_and_driving_goes_nowhere(replaying):
    with sync_client(replaying.url) as watcher:
        watcher.send(json.dumps({"type": "hello", "role": "observer", "client": "watcher"}))
        watcher.send(json.dumps({"type": "replay", "action": "pause"}))
        refused = wait_for(watcher, lambda m: m["type"] == "error")
        assert "token" in refused["message"]
    with sync_client(replaying.url) as pilot:
        pilot.send(json.dumps({"type": "hello", "role": "pilot", "client": "driver", "token": replaying.token}))
        pilot.send(json.dumps({"type": "control", "axes": [0.8]}))
        told = wait_for(pilot, is_event("no device is driven"))
        assert told["level"] == "warning"


def test_the_end_of_a_recording_pauses_the_replay(replaying):
    with sync_client(replaying.url) as ws:
        ws.send(json.dumps({"type": "hello", "role": "observer", "client": "steerer", "token": replaying.token}))
        ws.send(json.dumps({"type": "replay", "action": "speed", "speed": 10}))
        wait_for(ws, is_event("end of the recording"))
        status = wait_for(ws, lambda m: m["type"] == "status")
        assert not status["replay"]["playing"] and status["replay"]["position"] == pytest.approx(status["replay"]["duration"])


def test_a_crashed_recording_replays_up_to_its_last_whole_chunk(tmp_path):
    path = tmp_path / "crashed.mcap"
    recorder = ServerProcess("sim", extra=["--record", str(path)]).start()
    try:
        drive_for(recorder, 3.0)
        os.kill(recorder.pid, signal.SIGKILL)
        recorder.process.wait(10)
    finally:
        recorder.stop()
    with path.open("rb") as f, pytest.raises(McapError):
        make_reader(f).get_summary()  # no index: what an indexed reader refuses
    copy = tmp_path / "copy.mcap"
    shutil.copy(path, copy)
    server = ServerProcess("sim", extra=["--replay", str(copy)]).start()
    try:
        with sync_client(server.url) as ws:
            ws.send(json.dumps({"type": "hello", "role": "observer", "client": "watcher"}))
            welcome = json.loads(ws.recv(timeout=10))
            assert welcome["status"]["replay"]["duration"] > 1.0
            assert "has no index" in welcome["status"]["replay"]["problem"]
            wait_for(ws, lambda m: m["type"] == "reading")
    finally:
        server.stop()


def test_replay_drives_the_dashboard_its_controls_pause_and_seek(replaying, recorded, browser):
    expected = reading_at(recorded, SEEK_TO)
    page = browser.new_context(viewport={"width": 1280, "height": 1000}, bypass_csp=True).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"http://127.0.0.1:{replaying.port}/#token={replaying.token}")
    page.wait_for_selector("#connection[data-state='connected']", timeout=10_000)
    page.wait_for_selector("#replay:not([hidden])", timeout=10_000)
    assert page.locator("#replay-file").text_content() == "session.mcap"
    assert page.locator("#snapshot").is_hidden()  # nothing live to save
    page.wait_for_selector("#readings tbody tr:has-text('A0')", timeout=10_000)
    page.locator("#replay-play").click()  # it plays on start: this pauses
    page.wait_for_selector("#replay-play:has-text('Play')", timeout=10_000)
    page.locator("#replay-seek").fill(str(SEEK_TO))
    page.wait_for_selector(f"#replay-position:has-text('{SEEK_TO:.1f} s of')", timeout=10_000)
    page.wait_for_selector(f"#events li:has-text('replay moved to {SEEK_TO:.1f} s')", timeout=10_000)
    page.wait_for_function(f"state.latest.A0 === {expected['A0']} && state.latest.A3 === {expected['A3']}", timeout=10_000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-replay.png"))
    page.locator("#replay-play").click()
    page.wait_for_selector("#replay-play:has-text('Pause')", timeout=10_000)
    assert errors == []


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="Debian's ffmpeg is not installed (apt install ffmpeg)")
def test_recorded_video_is_served_again_at_the_video_path_frame_for_frame(tmp_path):
    """``--record-video`` then ``--replay``: a player none of us wrote (Debian's ffmpeg) reads /video.mjpg
    and gets the recorded JPEGs byte for byte, in the order they were recorded."""
    path = tmp_path / "with-video.mcap"
    recorder = ServerProcess("sim", extra=["--camera", "sim", "--record", str(path), "--record-video"]).start()
    try:
        drive_for(recorder, 3.0)
    finally:
        recorder.stop()
    with path.open("rb") as f:
        frames = [base64.b64decode(json.loads(m.data)["data"]) for _, _, m in make_reader(f).iter_messages(topics=["/camera/image"])]
    assert len(frames) > 30, "the sim camera was recorded"
    order = {frame: i for i, frame in enumerate(frames)}

    server = ServerProcess("sim", extra=["--replay", str(path)]).start()
    try:
        with sync_client(server.url) as ws:
            ws.send(json.dumps({"type": "hello", "role": "observer", "client": "watcher"}))
            camera = json.loads(ws.recv(timeout=10))["status"]["camera"]
        assert camera["state"] == "live" and camera["source"] == "replay", camera
        out = tmp_path / "played"
        out.mkdir()
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-f", "mpjpeg", "-i", f"http://127.0.0.1:{server.port}{camera['path']}",
             "-frames:v", "20", "-c", "copy", "-f", "image2", str(out / "%03d.jpg")],
            check=True, timeout=30,
        )  # fmt: skip
    finally:
        server.stop()
    played = [p.read_bytes() for p in sorted(out.glob("*.jpg"))]
    assert len(played) == 20
    positions = [order.get(frame) for frame in played]
    assert None not in positions, "every frame served is one that was recorded, unchanged"
    assert positions == sorted(positions) and len(set(positions)) == len(positions), positions


def test_a_replay_says_it_opens_no_device_even_when_given_one(recorded):
    server = ServerProcess("/dev/ttyACM9", extra=["--replay", str(recorded)]).start()
    # the port takes connections from the moment it listens; a welcome comes once the server has said it is up
    with sync_client(server.url) as ws:
        ws.send(json.dumps({"type": "hello", "role": "observer", "client": "watcher"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
    output = server.stop()
    assert "replaying" in output and "no device is opened" in output, output[-2000:]
    assert "--serial /dev/ttyACM9 is not opened" in output and "serial: /dev/ttyACM9" not in output


@pytest.mark.parametrize("name,content", [("drive.jsonl", b'{"kind":"reading"}\n'), ("drive.mcap", b"not a recording")])
def test_replaying_a_file_that_is_not_mcap_says_so_and_what_replay_plays(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    done = subprocess.run(
        [sys.executable, "-m", "teleop_server", "--replay", str(path), "--port", "1"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode != 0
    assert f"{path} is not an MCAP file" in done.stderr and "--record FILE.mcap" in done.stderr, done.stderr
    assert "no index" not in done.stderr
