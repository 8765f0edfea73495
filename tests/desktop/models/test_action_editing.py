"""Binding pad buttons in Settings, and what the window says about speed and the pad, without a window."""

from __future__ import annotations

from test_pads_model import known_pad
from test_pilot_aids import B, driving_pad, press

from teleop.desktop.models.actions import Action
from teleop.desktop.models.padhealth import Battery, Staleness, health_warning
from teleop.desktop.models.profiles import PadProfile
from teleop.desktop.models.settings_draft import ButtonCapture, PadDraft
from teleop.desktop.models.speed import SpeedScale, SpeedSettings


def test_one_button_pressed_and_let_go_is_captured():
    capture = ButtonCapture()
    assert capture.feed({"x"}) is None
    assert capture.feed(set()) == "x" and capture.problem is None


def test_a_chord_is_every_button_held_together_taken_when_all_are_let_go():
    capture = ButtonCapture()
    assert capture.feed({"back"}) is None
    assert capture.feed({"back", "start"}) is None
    assert capture.feed({"start"}) is None, "still one held"
    assert capture.feed(set()) == "back+start"


def test_a_button_held_when_capture_starts_counts_only_once_let_go_and_pressed_again():
    capture = ButtonCapture({"rightshoulder"})
    assert capture.feed({"rightshoulder", "a"}) is None
    assert capture.feed({"rightshoulder"}) == "a"
    again = ButtonCapture({"rightshoulder"})
    assert again.feed(set()) is None and again.feed({"rightshoulder"}) is None and again.feed(set()) == "rightshoulder"


def test_more_buttons_than_a_chord_may_have_is_refused():
    capture = ButtonCapture()
    capture.feed({"a", "b", "x", "y"})
    assert capture.feed(set()) is not None and "at most 3" in (capture.problem or "")


def test_a_binding_does_one_thing_and_moving_it_says_which_action_lost_it():
    pad, _ = known_pad(1)
    draft = PadDraft.of(pad, True, PadProfile(pad.guid, actions={"b": Action.ESTOP, "x": Action.SNAPSHOT}), {})
    note = draft.bind(Action.MARK, "x")
    assert draft.actions == {"b": Action.ESTOP, "x": Action.MARK} and "Snapshot" in note
    draft.bind(Action.ESTOP, "back+start")
    assert draft.bindings_of(Action.ESTOP) == ["back+start"], "an action's old button is replaced"
    draft.unbind(Action.MARK)
    assert draft.collect("").actions == {"back+start": Action.ESTOP}


def test_while_settings_waits_for_a_button_no_action_fires_and_afterwards_a_held_button_fires_nothing():
    model, session, clock, state, _ = driving_pad(PadProfile("x", actions={"b": Action.ESTOP}))
    model.drive.set_capturing(True)
    press(model, state, B, clock=clock)
    assert model.drive.enabled and not session.estops, "binding the e-stop button elsewhere must not stop the robot"
    model.drive.set_capturing(False)
    assert model.drive.enabled and not session.estops
    press(model, state, B, False, clock=clock)
    press(model, state, B, clock=clock)
    assert session.estops == [True]


def test_the_speed_is_said_with_the_robots_cap_when_it_holds_the_pilot_back():
    speed = SpeedScale(SpeedSettings(scale=0.8))
    assert speed.describe() == "speed"
    speed.set_cap(0.5)
    assert "caps it at 50%" in speed.describe() and "80%" in speed.describe()
    speed.press("slow", True)
    assert speed.describe() == "slow (the robot's cap: 50%)"


def test_the_pad_warning_puts_a_dead_pad_before_a_low_battery():
    assert health_warning(Battery.FULL, Staleness.FRESH, 5) == ""
    assert "low (coarse level)" in health_warning(Battery.LOW, Staleness.FRESH, 5)
    assert "failsafe" in health_warning(Battery.LOW, Staleness.STALE, 5)
    assert "still connected" in health_warning(Battery.UNKNOWN, Staleness.WARNING, 5)


def test_the_stale_pad_time_is_a_setting_kept_across_restarts_and_applied_to_the_guard():
    from teleop.desktop.models.appsettings import AppSettings
    from teleop.desktop.session.teleop_model import TeleopModel

    settings = AppSettings(stale_pad_s=2.5)
    again = AppSettings.from_json(settings.to_json())
    assert again.stale_pad_s == 2.5
    assert AppSettings.from_json('{"stale_pad_s": -1}').stale_pad_s == 5.0, "a nonsense value falls back to the default"
    model = TeleopModel(again)
    assert model.drive.stale.settings.stale_after == 2.5
    model.apply_settings(AppSettings(stale_pad_s=0.0))
    assert model.drive.stale.settings.stale_after == 0.0, "0 switches the guard off"
