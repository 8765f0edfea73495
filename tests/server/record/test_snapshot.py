""" "Save the last 30 s": from the dashboard in headless Chromium, from the protocol, and by itself on an e-stop.

The server runs in its own process (sim device); the files are read back with the ``mcap`` reader.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from guitools import ARTIFACTS, ServerProcess
from launcher import sync_client
from mcap.reader import make_reader


def until(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"{what} not met in time"
        time.sleep(0.02)
    return value


def read(path: Path):
    with path.open("rb") as f:
        reader = make_reader(f)
        messages = [(channel.topic, json.loads(message.data), message.log_time) for _, channel, message in reader.iter_messages()]
        metadata = {m.name: dict(m.metadata) for m in reader.iter_metadata()}
    return messages, metadata


def drive(ws, value: float, count: int) -> None:
    for _ in range(count):
        ws.send(json.dumps({"type": "control", "axes": [value]}))
        time.sleep(0.02)


def events(ws, text: str, timeout: float = 10.0) -> dict:
    """Read until an event containing ``text`` arrives (everything else is skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if message.get("type") in ("event", "error") and text in message.get("text", message.get("message", "")):
            return message


@pytest.fixture
def server(tmp_path):
    config = tmp_path / "robot.toml"
    config.write_text(f'[snapshot]\nfolder = "{tmp_path / "snaps"}"\non_estop = true\n')
    process = ServerProcess("sim", extra=["--config", str(config)]).start()
    process.snaps = tmp_path / "snaps"
    yield process
    process.stop()


def test_the_dashboards_button_saves_the_last_30_seconds_with_every_stream(server, browser):
    page = browser.new_context(viewport={"width": 1280, "height": 1000}, bypass_csp=True).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"http://127.0.0.1:{server.port}/#token={server.token}")
    page.wait_for_selector("#connection[data-state='connected']", timeout=10_000)
    with sync_client(server.url) as pilot:
        pilot.send(json.dumps({"type": "hello", "role": "pilot", "client": "driver", "token": server.token}))
        drive(pilot, 0.7, 50)
        started = time.time()
        page.locator("#snapshot").click()
        page.wait_for_selector("#events li:has-text('snapshot saved')", timeout=10_000)
    text = page.locator("#events li:has-text('snapshot saved')").first.text_content()
    path = Path(re.search(r"snapshot saved: (\S+\.mcap)", text).group(1))
    assert path.parent == server.snaps
    messages, metadata = read(path)
    topics = {topic for topic, _, _ in messages}
    assert {"/readings", "/device/commands", "/pilot/control", "/events"} <= topics
    assert "B700" in [m["line"] for topic, m, _ in messages if topic == "/device/commands"]
    assert max(t for *_, t in messages) / 1e9 <= started + 1
    assert "session" in metadata and "snapshot" in metadata
    page.screenshot(path=str(ARTIFACTS / "dashboard-snapshot.png"), full_page=True)
    assert not errors, errors


def test_save_snapshot_needs_the_token_and_an_estop_saves_one_by_itself(server):
    with sync_client(server.url) as observer:
        observer.send(json.dumps({"type": "hello", "role": "observer", "client": "watcher"}))
        observer.send(json.dumps({"type": "save_snapshot"}))
        refused = events(observer, "needs the pilot token")
        assert refused["type"] == "error" and refused["code"] == "unauthorized"
        with sync_client(server.url) as pilot:
            pilot.send(json.dumps({"type": "hello", "role": "pilot", "client": "driver", "token": server.token}))
            drive(pilot, 0.5, 20)
            pilot.send(json.dumps({"type": "save_snapshot", "seconds": 2}))
            asked = events(observer, "snapshot saved")
            first = Path(re.search(r"snapshot saved: (\S+\.mcap)", asked["text"]).group(1))
            messages, _ = read(first)
            span = (max(t for *_, t in messages) - min(t for *_, t in messages)) / 1e9
            assert span <= 2.1, "the last 2 s asked for"
            time.sleep(2.1)  # one snapshot per 2 s at most
            observer.send(json.dumps({"type": "estop", "engaged": True}))  # anyone may stop the robot
            tripped = events(observer, "emergency stop was engaged")
            assert "snapshot saved" in tripped["text"]
    assert len(list(server.snaps.glob("snapshot-*.mcap"))) == 2


def test_a_record_button_starts_marks_and_stops_a_recording_beside_the_snapshots(server):
    """What the pad's record and mark buttons send, against the server in its own process."""
    with sync_client(server.url) as ws:
        ws.send(json.dumps({"type": "hello", "role": "pilot", "client": "pilot", "token": server.token}))
        ws.send(json.dumps({"type": "record", "command": "start"}))
        started = events(ws, "recording to ")
        path = Path(re.search(r"recording to (\S+\.mcap), started by pilot", started["text"]).group(1))
        assert path.parent == server.snaps
        ws.send(json.dumps({"type": "record", "command": "start"}))
        assert "already recording" in events(ws, "already recording")["text"]
        drive(ws, 0.3, 20)
        ws.send(json.dumps({"type": "record", "command": "mark", "note": "the bump"}))
        events(ws, "mark by pilot: the bump")
        ws.send(json.dumps({"type": "record", "command": "stop"}))
        events(ws, "recording stopped by pilot")
        ws.send(json.dumps({"type": "record", "command": "stop"}))
        events(ws, "not recording")
    messages, metadata = read(path)  # a clean stop leaves an indexed file
    assert "session" in metadata
    topics = {topic for topic, _, _ in messages}
    assert {"/readings", "/device/commands", "/events"} <= topics
    assert any(topic == "/events" and "mark by pilot: the bump" in body.get("message", "") for topic, body, _ in messages)


def test_a_client_never_stops_the_recording_the_server_was_started_with(tmp_path):
    record = tmp_path / "own.mcap"
    process = ServerProcess("sim", extra=["--record", str(record)]).start()
    try:
        with sync_client(process.url) as ws:
            ws.send(json.dumps({"type": "hello", "role": "pilot", "client": "pilot", "token": process.token}))
            ws.send(json.dumps({"type": "record", "command": "stop"}))
            assert "is not stopped from a client" in events(ws, "is not stopped from a client")["text"]
    finally:
        process.stop()
    assert read(record)[0], "the server's own recording went on and was finished at the stop"


@pytest.mark.parametrize(("kept", "shown"), [(0, None), (12, "Save the last 12 s")], ids=["snapshots off", "12 s kept"])
def test_the_dashboard_offers_only_the_seconds_the_server_keeps(kept, shown, tmp_path, browser):
    """[snapshot] seconds = 0 turns snapshots off: no button that can only fail. Fewer than 30 kept: the button says so."""
    config = tmp_path / "robot.toml"
    config.write_text(f'[snapshot]\nfolder = "{tmp_path / "snaps"}"\nseconds = {kept}\n')
    server = ServerProcess("sim", extra=["--config", str(config)]).start()
    try:
        with sync_client(server.url) as ws:
            ws.send(json.dumps({"type": "hello", "role": "observer", "client": "watcher"}))
            assert json.loads(ws.recv(timeout=10))["limits"]["snapshot_seconds"] == kept
        page = browser.new_context(viewport={"width": 1280, "height": 1000}, bypass_csp=True).new_page()
        page.goto(f"http://127.0.0.1:{server.port}/#token={server.token}")
        page.wait_for_selector("#connection[data-state='connected']", timeout=10_000)
        page.wait_for_selector("#events li:has-text('connected to')", timeout=10_000)  # the welcome was handled
        if shown is None:
            assert page.locator("#snapshot").is_hidden()
            assert page.locator("#snapshot-off").is_visible(), "the card says why it offers nothing"
        else:
            assert page.locator("#snapshot").text_content() == shown
            assert page.locator("#snapshot-off").is_hidden()
    finally:
        server.stop()
