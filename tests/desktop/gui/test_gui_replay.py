"""The replay bar on a real display: the app connected to a server replaying a recording made here."""

from __future__ import annotations

import pytest
from guitools import ServerProcess, wait_until
from PySide6.QtCore import QSettings
from recordkit import record_a_session
from test_gui import click, connect, shoot, shown_window, stop_server

from teleop.desktop.gui.adapter import QtAdapter
from teleop.desktop.models.appsettings import AppSettings
from teleop.desktop.session.teleop_model import TeleopModel


@pytest.fixture
def window(qtbot, loop, tmp_path):
    store = QSettings(str(tmp_path / "teleop.ini"), QSettings.Format.IniFormat)
    yield from shown_window(loop, QtAdapter(TeleopModel(AppSettings())), store)


def test_the_replay_bar_shows_a_replay_and_its_button_pauses_it(window, loop, tmp_path, display):
    path = tmp_path / "drive.mcap"
    record_a_session(path, seconds=2.5)
    server = ServerProcess("sim", extra=["--replay", str(path)]).start()
    try:
        assert not window.replay_bar.isVisible()
        connect(window, loop, server.pilot_url)
        wait_until(loop, window.replay_bar.isVisible, what="the replay bar shown")
        wait_until(loop, lambda: window.link_state.toolTip().startswith("REPLAY of drive.mcap"), what="REPLAY in the connection bar")
        click(display, window.replay_bar.play)
        wait_until(loop, lambda: window.replay_bar.play.text() == "Play", what="paused from the bar")
        assert not window.model.connection.status.replay.playing
        shoot(display, "replay-bar")
    finally:
        stop_server(window, loop, server)
    wait_until(loop, lambda: not window.replay_bar.isVisible(), what="the bar hidden once disconnected")
