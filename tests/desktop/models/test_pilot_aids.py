"""Speed scale, pad actions, pad health and pinned control in the Qt-free models, with a fake clock."""

from __future__ import annotations

import pytest
from test_models import connected_model, is_neutral, status
from test_pads_model import known_pad

from teleop.desktop.models.actions import Action, ActionWatcher, Fired, parse_action_map
from teleop.desktop.models.padhealth import Battery, Staleness, StaleSettings
from teleop.desktop.models.pads import GamepadInfo, GamepadState
from teleop.desktop.models.profiles import PadProfile, ProfileError
from teleop.desktop.models.speed import Hold, SpeedSettings
from teleop.wire import protocol
from teleop.wire.layout import STANDARD_BUTTONS, Layout
from teleop.wire.mjpeg import Frame

A, B, X, Y, BACK, START = (STANDARD_BUTTONS.index(n) for n in ("a", "b", "x", "y", "back", "start"))
LB, RB = STANDARD_BUTTONS.index("leftshoulder"), STANDARD_BUTTONS.index("rightshoulder")


def driving_pad(profile: PadProfile | None = None, instance_id: int = 1):
    """A connected pilot driving a known pad with ``profile``; (model, session, clock, pad state)."""
    model, session, clock, log = connected_model()
    info, state = known_pad(instance_id)
    if profile is not None:
        model.settings.set_profile(PadProfile(info.guid, "Pad", speed=profile.speed, actions=profile.actions))
    model.drive.pad_added(info, state)
    model.enable_driving()
    return model, session, clock, state, log


def press(model, state, index: int, down: bool = True, clock=None) -> None:
    state.standard.buttons[index] = int(down)
    if clock is not None:
        clock.now += 0.01
    model.drive.pad_moved(1)


def stick(model, state, clock, leftx: float) -> None:
    state.standard.axes[0] = leftx
    clock.now += 0.01
    model.drive.pad_moved(1)


# -- speed scale -----------------------------------------------------------------------------


def test_full_stick_sends_the_profiles_speed_scale():
    model, session, clock, state, _ = driving_pad(PadProfile("x", speed=SpeedSettings(scale=0.4)))
    stick(model, state, clock, 1.0)
    assert session.sent[-1].axes[0] == pytest.approx(0.4)


def test_slow_held_slows_and_letting_go_restores_at_once():
    profile = PadProfile("x", speed=SpeedSettings(scale=0.8, slow=0.2), actions={"leftshoulder": Action.SLOW})
    model, session, clock, state, _ = driving_pad(profile)
    stick(model, state, clock, 1.0)
    press(model, state, LB, clock=clock)
    assert session.sent[-1].axes[0] == pytest.approx(0.2)
    press(model, state, LB, False, clock=clock)
    assert session.sent[-1].axes[0] == pytest.approx(0.8)


def test_turbo_toggled_stays_on_until_pressed_again():
    speed = SpeedSettings(scale=0.5, turbo=1.0, hold=Hold.TOGGLE)
    model, session, clock, state, _ = driving_pad(PadProfile("x", speed=speed, actions={"rightshoulder": Action.TURBO}))
    stick(model, state, clock, 1.0)
    press(model, state, RB, clock=clock)
    press(model, state, RB, False, clock=clock)
    assert model.drive.speed.fraction == 1.0 and session.sent[-1].axes[0] == pytest.approx(1.0)
    press(model, state, RB, clock=clock)
    assert model.drive.speed.fraction == 0.5


def test_speed_steps_stay_between_the_lowest_useful_speed_and_full():
    speed = SpeedSettings(scale=0.5, step=0.25)
    model, _, clock, state, _ = driving_pad(PadProfile("x", speed=speed, actions={"y": Action.SPEED_UP, "a": Action.SPEED_DOWN}))
    for _ in range(4):
        press(model, state, Y, clock=clock)
        press(model, state, Y, False, clock=clock)
    assert model.drive.speed.fraction == 1.0
    for _ in range(8):
        press(model, state, A, clock=clock)
        press(model, state, A, False, clock=clock)
    assert model.drive.speed.fraction == 0.05


def test_the_keys_speed_steps_survive_the_settings_being_applied():
    model, session, clock, _ = connected_model()
    model.enable_driving()
    for _ in range(3):
        model.drive.step_speed(-1)
    clock.now += 0.1
    model.drive.set_virtual_axis(1, 1.0)  # the Down key held
    assert session.sent[-1].axes[1] == pytest.approx(0.7)
    for rate in (30.0, 50.0):  # the first OK of the Settings dialog, and the next
        clock.now += 0.1
        model.settings.rate_hz = rate
        model.apply_settings(model.settings)
        assert model.drive.speed.fraction == pytest.approx(0.7)
        assert session.sent[-1].axes[1] == pytest.approx(0.7)


def test_each_control_says_what_drives_the_keys_the_on_screen_sticks_or_a_pad():
    model, session, clock, _ = connected_model()
    model.enable_driving()
    clock.now += 0.1
    model.drive.set_virtual_axes({1: 1.0})  # a key
    assert session.sent[-1].input is protocol.InputKind.KEYBOARD
    clock.now += 0.1
    model.drive.set_virtual_axes({0: 0.5, 1: 0.5}, protocol.InputKind.TOUCH)  # the mouse on an on-screen stick
    assert session.sent[-1].input is protocol.InputKind.TOUCH
    info, state = known_pad(1)
    model.drive.pad_added(info, state)
    model.drive.select(1)
    model.enable_driving()
    assert session.sent[-1].input is protocol.InputKind.GAMEPAD and model.drive.input_kind is protocol.InputKind.GAMEPAD


def test_the_servers_cap_is_a_ceiling_on_every_scale():
    model, session, clock, state, _ = driving_pad(PadProfile("x", speed=SpeedSettings(scale=0.9)))
    stick(model, state, clock, 1.0)
    model._on_message(protocol.Status({"state": "ready"}, {"id": 1, "name": "me"}, False, False, 1, speed_cap=0.3))
    assert model.drive.speed.capped and session.sent[-1].axes[0] == pytest.approx(0.3), "sent at once, not at the next re-send"


# -- action map ------------------------------------------------------------------------------


def test_an_action_fires_once_per_press_not_while_held():
    watcher = ActionWatcher({"a": Action.SNAPSHOT})
    watcher.suspend(False)
    assert watcher.feed({"a"}) == [Fired(Action.SNAPSHOT)]
    assert watcher.feed({"a", "b"}) == []
    assert watcher.feed(set()) == [] and watcher.feed({"a"}) == [Fired(Action.SNAPSHOT)]


def test_a_chord_beats_the_single_button_that_completes_it():
    watcher = ActionWatcher({"start": Action.ENABLE, "back+start": Action.TAKE_CONTROL})
    watcher.suspend(False)
    watcher.feed({"back"})
    assert watcher.feed({"back", "start"}) == [Fired(Action.TAKE_CONTROL)]
    assert watcher.feed(set()) == [] and watcher.feed({"start"}) == [Fired(Action.ENABLE)]


def test_no_action_fires_while_a_text_field_has_focus_nor_from_a_button_held_through_it():
    model, session, clock, state, _ = driving_pad(PadProfile("x", actions={"b": Action.ESTOP}))
    model.drive.set_text_focus(True)
    press(model, state, B, clock=clock)
    assert model.drive.enabled and not session.estops
    model.drive.set_text_focus(False)
    press(model, state, X, clock=clock)  # b still held from before: nothing
    assert model.drive.enabled and not session.estops
    press(model, state, B, False, clock=clock)
    press(model, state, B, clock=clock)
    assert not model.drive.enabled and session.estops == [True]


def test_a_pad_that_is_not_driving_fires_nothing():
    model, session, _clock, _state, _ = driving_pad(PadProfile("x", actions={"b": Action.ESTOP}))
    other, other_state = known_pad(2, guid="0300aaaa")  # same model: same profile, same binding
    model.drive.pad_added(other, other_state)
    other_state.standard.buttons[B] = 1
    model.drive.pad_moved(2)
    assert model.drive.enabled and not session.estops


def test_pad_buttons_enable_take_control_snapshot_and_drive_the_recording(tmp_path):
    actions = {"start": Action.ENABLE, "back+start": Action.TAKE_CONTROL, "x": Action.SNAPSHOT, "y": Action.RECORD, "a": Action.MARK}
    model, session, clock, state, _log = driving_pad(PadProfile("x", actions=actions))
    recorded: list = []
    session.record = lambda command, seconds=0.0: recorded.append(command)
    model.snapshot_dir = tmp_path
    model.disable_driving()
    press(model, state, START, clock=clock)
    assert model.drive.enabled
    press(model, state, START, False, clock=clock)
    press(model, state, BACK, clock=clock)
    press(model, state, START, clock=clock)
    assert session.requests == [True]
    model.video.latest = frame = Frame(b"\xff\xd8jpeg\xff\xd9", 7, None)
    press(model, state, X, clock=clock)
    saved = list(tmp_path.iterdir())
    assert len(saved) == 1 and saved[0].read_bytes() == frame.jpeg and saved[0].name.endswith("-received.jpg")
    for _ in range(2):
        press(model, state, Y, clock=clock)
        press(model, state, Y, False, clock=clock)
    press(model, state, A, clock=clock)
    assert recorded == [protocol.RecordCommand.START, protocol.RecordCommand.STOP, protocol.RecordCommand.MARK]


def test_action_maps_in_profiles_are_checked_and_survive_a_round_trip():
    profile = PadProfile("0300aaaa", actions={"back+start": Action.ESTOP}, speed=SpeedSettings(0.5, 0.2, 0.9, 0.1, Hold.TOGGLE))
    assert PadProfile.from_dict(profile.to_dict()) == profile
    assert isinstance(parse_action_map({"nose": "estop"}), str)
    assert isinstance(parse_action_map({"a": "launch"}), str)
    with pytest.raises(ProfileError, match=r"speed\.scale"):
        PadProfile.from_dict({**profile.to_dict(), "speed": {"scale": 2}})


# -- pad health ------------------------------------------------------------------------------


def test_battery_levels_are_said_as_coarse_and_low_warns():
    assert Battery.of("low").warning and Battery.of("empty").warning and not Battery.of("max").warning
    assert Battery.of("medium").describe() == "battery medium (coarse level)"
    assert Battery.of(None) is Battery.UNKNOWN and Battery.of("wired").describe() == "wired"


def test_a_pad_that_stops_changing_while_driving_is_warned_about_then_no_longer_re_sent():
    model, session, clock, state, _ = driving_pad()
    model.drive.stale.settings = StaleSettings(stale_after=2.0)
    stick(model, state, clock, 0.7)
    sent = len(session.sent)
    while clock.now < 101.0:
        clock.now += 0.02
        if model.drive.due():
            model.drive.tick()
    assert model.drive.staleness is Staleness.FRESH and len(session.sent) > sent, "re-sent while fresh"
    while clock.now < 101.5:
        clock.now += 0.02
        if model.drive.due():
            model.drive.tick()
    assert model.drive.staleness is Staleness.WARNING
    while clock.now < 102.2:
        clock.now += 0.02
        if model.drive.due():
            model.drive.tick()
    assert model.drive.staleness is Staleness.STALE
    quiet = len(session.sent)
    clock.now += 1.0
    assert not model.drive.due()
    model.drive.tick()
    assert len(session.sent) == quiet, "a stale pad is not re-sent: the server's failsafe takes over"
    stick(model, state, clock, 0.69)  # the pad speaks again
    assert model.drive.staleness is Staleness.FRESH and len(session.sent) == quiet + 1


def test_a_pad_resting_at_neutral_is_never_called_stale():
    model, session, clock, _state, _ = driving_pad()
    model.drive.stale.settings = StaleSettings(stale_after=0.5)
    clock.now += 5.0
    model.drive.tick()
    assert model.drive.staleness is Staleness.FRESH and is_neutral(session.sent[-1])


# -- pinned control --------------------------------------------------------------------------


def test_a_replugged_driving_pad_comes_back_with_its_profile_and_another_pad_never_takes_over():
    profile = PadProfile("x", speed=SpeedSettings(scale=0.4), actions={"b": Action.ESTOP})
    model, _session, _clock, _state, _ = driving_pad(profile)
    drive = model.drive
    drive.pad_removed(1)
    assert drive.selected is None and not drive.enabled
    stranger = GamepadInfo(5, "Other pad", "0300bbbb", 6, 15, 1, known=True)
    drive.pad_added(stranger, GamepadState([0.0] * 6, [0] * 15, [(0, 0)], standard=GamepadState([0.0] * 6, [0] * 15, [], Layout.STANDARD)))
    assert drive.selected is None, "a different pad plugged in does not take over"
    info, again = known_pad(7)
    drive.pad_added(info, again)
    assert drive.selected == 7 and drive.speed.fraction == 0.4 and not drive.enabled, "same pad back, its profile, Enable needed"
    model._on_message(status())
    assert model.connection.status.speed_cap == 1.0
