"""The desktop app's safety rules, tested on the Qt-free models with a fake session and a fake clock."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket

from modelkit import Clock, FakeSession, connected_model, is_neutral, status  # noqa: F401

from teleop.common.events import Event
from teleop.desktop.models.appsettings import AppSettings
from teleop.desktop.models.connection import ConnectionState, LogLevel, Problem, plain_message
from teleop.desktop.models.driving import DriveOff
from teleop.desktop.models.pads import GamepadInfo, GamepadState
from teleop.desktop.net import client as client_module
from teleop.desktop.net.client import ClientSession
from teleop.desktop.session.teleop_model import TeleopModel
from teleop.wire import protocol
from teleop.wire.protocol import Role


def test_an_observer_cannot_enable_driving_and_is_told_why():
    model, session, _, _ = connected_model(Role.OBSERVER)
    model.connection.refused = "the pilot token you sent is wrong"
    assert model.enable_driving() is False
    assert not model.drive.enabled and model.drive.blocked is DriveOff.NOT_PILOT
    model.drive.set_virtual_axis(0, 1.0)
    assert session.sent == [], "an observer's stick must not be sent"


def test_not_connected_cannot_enable():
    model = TeleopModel(AppSettings())
    assert model.enable_driving() is False
    assert model.drive.blocked is DriveOff.NOT_CONNECTED


def test_a_pilot_enables_and_the_stick_is_sent():
    model, session, clock, _ = connected_model()
    assert model.enable_driving()
    assert is_neutral(session.sent[-1]) and len(session.sent[-1].axes) == 4
    clock.now += 0.01
    model.drive.set_virtual_axis(0, 0.5)
    assert session.sent[-1].axes[0] == 0.5


def test_the_link_dropping_stops_driving_until_the_pilot_enables_again():
    model, session, clock, log = connected_model()
    model.enable_driving()
    clock.now += 0.01
    model.drive.set_virtual_axis(0, 0.5)
    assert session.sent[-1].axes[0] == 0.5
    sent = len(session.sent)
    session.state = ConnectionState.RECONNECTING
    session.problem = Problem.LOST
    model._on_state(ConnectionState.RECONNECTING, "connection lost; retrying in 0.1 s")
    assert not model.drive.enabled and model.drive.off_reason is DriveOff.LINK_LOST
    # nothing can cross a dead link (the server's failsafe holds neutral); nothing is queued for the next one
    assert len(session.sent) == sent
    assert any(line.level is LogLevel.WARNING and "connection lost" in line.text for line in log)
    assert model.enable_driving() is False and model.drive.blocked is DriveOff.LINK_LOST


def test_another_pilot_taking_over_stops_driving():
    model, session, _, _ = connected_model()
    model.enable_driving()
    session.role = Role.OBSERVER
    model._on_message(status(pilot="someone else"))
    assert not model.drive.enabled and model.drive.off_reason is DriveOff.TAKEN_OVER
    assert is_neutral(session.sent[-1])


def test_an_emergency_stop_pressed_elsewhere_stops_driving_and_re_enabling_clears_it():
    model, session, _, _ = connected_model()
    model.enable_driving()
    model._on_message(status(estop=True))
    assert not model.drive.enabled and model.drive.off_reason is DriveOff.STOPPED_ELSEWHERE
    assert model.enable_driving()
    assert session.estops == [False], "the pilot's enable lifts the server's emergency stop"


def test_the_emergency_stop_sends_neutral_and_tells_the_server_whatever_the_state():
    model, session, _, _ = connected_model()
    model.enable_driving()
    model.drive.set_virtual_axis(0, -0.7)
    model.emergency_stop()
    assert not model.drive.enabled and model.drive.off_reason is DriveOff.EMERGENCY_STOP
    assert is_neutral(session.sent[-1]) and session.estops == [True]
    model.emergency_stop()  # again, while not driving: the server still hears it
    assert session.estops == [True, True]


def test_unplugging_the_gamepad_in_use_stops_driving():
    model, session, _, _ = connected_model()
    info = GamepadInfo(7, "pad", "guid", 2, 2, 0)
    model.drive.pad_added(info, GamepadState([0.0, 0.0], [0, 0], []))
    assert model.drive.selected == 7
    model.enable_driving()
    model.drive.pad_states[7].axes[0] = 0.9
    model.drive.pad_moved(7)
    model.drive.pad_removed(7)
    assert not model.drive.enabled and model.drive.off_reason is DriveOff.GAMEPAD_UNPLUGGED
    assert is_neutral(session.sent[-1]) and model.drive.selected is None


def test_readings_go_stale_when_the_link_drops_and_fresh_when_they_come_back():
    model, session, _, _ = connected_model()
    model._on_message(protocol.Reading(1.0, {"A0": 5}, 1))
    session.state = ConnectionState.RECONNECTING
    model._on_state(ConnectionState.RECONNECTING, "lost")
    assert model.readings.stale and model.connection.status_stale
    _, ys = model.readings.store.series("A0", 2.0)
    assert ys[-1] != ys[-1], "the plot gets a gap marker"
    session.state = ConnectionState.CONNECTED
    model._on_state(ConnectionState.CONNECTED, "connected")
    model._on_message(protocol.Reading(3.0, {"A0": 6}, 2))
    assert not model.readings.stale and not model.connection.status_stale


def test_the_servers_idle_failsafe_is_news_not_a_warning():
    model, _, _, log = connected_model()
    model._on_message(protocol.Event("warning", "failsafe: no control from the pilot for 250 ms", kind=protocol.EventKind.FAILSAFE))
    assert log[-1].level is LogLevel.INFO
    model.enable_driving()
    model._on_message(protocol.Event("warning", "failsafe: no control from the pilot for 250 ms", kind=protocol.EventKind.FAILSAFE))
    assert log[-1].level is LogLevel.WARNING, "while we drive it is a warning"


def test_connection_messages_are_plain_words():
    assert plain_message(ConnectionState.CONNECTED, Problem.NONE, "robot:8765") == "Connected to robot:8765"
    assert "Cannot find robot" in plain_message(ConnectionState.RECONNECTING, Problem.UNKNOWN_HOST, "robot:8765")
    assert "No teleop server" in plain_message(ConnectionState.RECONNECTING, Problem.REFUSED, "robot:8765")
    for problem in Problem:
        text = plain_message(ConnectionState.RECONNECTING, problem, "robot:8765")
        assert "errno" not in text.lower() and "1008" not in text


def test_a_broken_view_does_not_stop_the_model(caplog):
    event: Event[int] = Event()
    got: list[int] = []

    def broken(value: int) -> None:
        raise RuntimeError("a bug in a widget")

    event.connect(broken)
    event.connect(got.append)
    with caplog.at_level(logging.ERROR):
        event.emit(1)
    assert got == [1] and "a bug in a widget" in caplog.text


async def test_an_unknown_host_is_retried_slowly_with_one_log_line(monkeypatch, caplog):
    """No DNS query leaves the machine: the resolver's failure is what ``connect`` raises here."""
    attempts: list[float] = []

    def unresolvable(*args, **kwargs):
        attempts.append(asyncio.get_running_loop().time())
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(client_module, "connect", unresolvable)
    states = []
    session = ClientSession("ws://no-such-robot.invalid:8765", client_module.SessionEvents(state=lambda s, d: states.append((s, d))))
    session.unknown_host_retry = 0.2
    caplog.set_level(logging.INFO, logger="teleop.desktop.net.client")
    session.start()
    try:
        for _ in range(300):
            if len(attempts) >= 4:
                break
            await asyncio.sleep(0.01)
        assert len(attempts) >= 4
        gaps = [b - a for a, b in itertools.pairwise(attempts)]
        assert min(gaps) >= 0.19, f"retried faster than the slow retry: {gaps}"
        assert session.problem is Problem.UNKNOWN_HOST
        lines = [r for r in caplog.records if r.levelno >= logging.INFO and "reconnecting" in r.getMessage()]
        assert len(lines) == 1, [r.getMessage() for r in lines]
    finally:
        await session.stop()


def test_stop_then_enable_at_once_is_not_undone_by_the_servers_late_echo():
    model, session, _, _ = connected_model()
    model.enable_driving()
    model.emergency_stop()
    assert model.enable_driving(), "re-enable before the server's e-stop status arrives"
    assert session.estops == [True, False]
    model._on_message(status(estop=True))  # the echo of our own stop
    assert model.drive.enabled
    model._on_message(status(estop=False))
    model._on_message(status(estop=True))  # now someone else's
    assert not model.drive.enabled and model.drive.off_reason is DriveOff.STOPPED_ELSEWHERE


def refused(code: protocol.ErrorCode, text: str) -> protocol.Error:
    return protocol.Error(code, text, "control")


def test_controls_refused_for_a_takeover_the_window_already_shows_are_not_logged_as_errors():
    """Controls on their way when another client took over are refused; the takeover itself was said."""
    model, session, _, log = connected_model()
    model._on_message(status())
    model.enable_driving()
    session.role = Role.OBSERVER  # as the real session sets it from the status below
    model._on_message(status(pilot="browser"))
    model._on_message(refused(protocol.ErrorCode.NOT_PILOT, "control ignored: you are an observer and browser is pilot"))
    assert log[-1].level is LogLevel.INFO
    assert not model.drive.enabled


def test_controls_refused_for_an_emergency_stop_the_window_already_shows_are_not_logged_as_errors():
    model, _, _, log = connected_model()
    model._on_message(status())
    model.enable_driving()
    model._on_message(status(estop=True))
    model._on_message(refused(protocol.ErrorCode.ESTOP_ACTIVE, "emergency stop is engaged; send estop with engaged: false to resume"))
    assert log[-1].level is LogLevel.INFO


def test_a_refusal_the_window_cannot_explain_is_an_error():
    model, _, _, log = connected_model()
    model._on_message(status())
    model._on_message(refused(protocol.ErrorCode.NOT_PILOT, "control ignored: you are an observer and nobody is pilot"))
    assert log[-1].level is LogLevel.ERROR
    model._on_message(refused(protocol.ErrorCode.ESTOP_ACTIVE, "emergency stop is engaged"))
    assert log[-1].level is LogLevel.ERROR


def test_a_control_refused_because_the_server_is_stopping_is_not_logged_as_an_error():
    """The server said it is stopping in an event of its own; the controls on their way meanwhile are refused."""
    model, _, _, log = connected_model()
    model._on_message(status())
    model.enable_driving()
    model._on_message(refused(protocol.ErrorCode.SERVER_STOPPING, "control ignored: the server is stopping; every output stays at neutral"))
    assert log[-1].level is LogLevel.INFO
