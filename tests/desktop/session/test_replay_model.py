"""The desktop app's models against a server replaying a recording: they say it is a replay and steer it.

The recording is made here by a server on the sim device; the replaying server runs in its own process.
"""

from __future__ import annotations

import json

import pytest
from conftest import wait_for
from launcher import ServerProcess
from mcap.reader import make_reader
from recordkit import record_a_session

from teleop.desktop.models.appsettings import AppSettings
from teleop.desktop.session.teleop_model import TeleopModel


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    path = tmp_path_factory.mktemp("replay-app") / "drive.mcap"
    return record_a_session(path)


def reading_at(path, seconds: float) -> dict:
    with path.open("rb") as f:
        reader = make_reader(f)
        start = reader.get_summary().statistics.message_start_time
        target = start + round(seconds * 1e9)
        readings = [json.loads(m.data)["values"] for _, _, m in reader.iter_messages(topics=["/readings"], ending_at=target)]
    return readings[-1]


async def test_the_app_shows_a_replay_and_pauses_and_seeks_it(recorded):
    server = ServerProcess("sim", extra=["--replay", str(recorded)], quiet=True).start()
    model = TeleopModel(AppSettings())
    try:
        await model.connect(server.pilot_url)
        await wait_for(lambda: model.connection.status.replay is not None, what="a status saying replay")
        replay = model.connection.status.replay
        assert replay.file == "drive.mcap" and replay.duration > 1.0
        assert replay.describe().startswith("REPLAY of drive.mcap: ")
        await wait_for(lambda: "REPLAY of drive.mcap" in model.connection.message, what="the connection bar saying replay")
        await wait_for(lambda: "A0" in model.readings.store.latest, what="replayed readings")

        model.steer_replay("pause")
        await wait_for(lambda: not model.connection.status.replay.playing, what="paused")
        assert "paused" in model.connection.status.replay.describe()
        expected = reading_at(recorded, 1.2)
        model.steer_replay("seek", 1.2)
        await wait_for(lambda: model.connection.status.replay.position == pytest.approx(1.2), what="at 1.2 s")
        await wait_for(lambda: model.readings.store.latest.get("A0") == expected["A0"], what="the reading recorded at 1.2 s")
        assert {k: model.readings.store.latest[k] for k in expected} == expected

        model.steer_replay("speed", speed=2.0)
        model.steer_replay("play")
        await wait_for(lambda: model.connection.status.replay.playing and model.connection.status.replay.speed == 2.0, what="2x")
    finally:
        await model.shutdown()
        server.stop()


async def test_the_app_says_a_live_robot_is_no_replay():
    server = ServerProcess("sim", quiet=True).start()
    model = TeleopModel(AppSettings())
    try:
        await model.connect(server.pilot_url)
        await wait_for(lambda: model.connection.status.device == "ready", what="the live device ready")
        assert model.connection.status.replay is None
        assert "REPLAY" not in model.connection.message
        model.steer_replay("pause")  # told it is not a replay; nothing is sent
    finally:
        await model.shutdown()
        server.stop()
