"""How long the pads rest between reads while not driving (:mod:`teleop.desktop.models.padpace`), on a fake clock."""

from __future__ import annotations

import random

from modelkit import connected_model, status

from teleop.desktop.models.padpace import FLICKER, HANDLED_S, RESTING_S, WATCHING_S, PadPace
from teleop.desktop.models.pads import GamepadInfo, GamepadState
from teleop.wire import protocol
from teleop.wire.protocol import Role

STILL = ([0.0, 0.0, 0.0, 0.0], [0] * 8, [(0, 0)])
STEP = 1 / 127  # one step of an 8-bit stick


def rested(pace: PadPace, now: float) -> float:
    return pace.rest_s(driving=False, another_drives=False, now=now)


def test_while_driving_every_report_is_read_at_once():
    pace = PadPace()
    assert pace.rest_s(driving=True, another_drives=True, now=0.0) == 0.0
    assert pace.rest_s(driving=True, another_drives=False, now=0.0) == 0.0


def test_a_pad_at_rest_that_flickers_is_read_at_the_resting_pace_once_put_down():
    """An 8-bit stick at rest, one step either way at random 250 times a second for ten seconds."""
    pace, rng = PadPace(), random.Random(7)
    pace.seen(*STILL, now=0.0)
    assert rested(pace, 0.0) == WATCHING_S, "a pad just plugged in or picked up is in someone's hands"
    rests = []
    for report in range(2500):
        now = report * 0.004
        axes = [rng.choice((-STEP, 0.0, STEP)) for _ in range(4)]
        pace.seen(axes, [0] * 8, [(0, 0)], now)
        rests.append(rested(pace, now))
    assert set(rests[int(HANDLED_S / 0.004) :]) == {RESTING_S}


def test_another_client_driving_keeps_the_watching_pace_for_this_apps_stop_button():
    pace = PadPace()
    pace.seen(*STILL, now=0.0)
    assert pace.rest_s(driving=False, another_drives=True, now=100.0) == WATCHING_S
    assert pace.rest_s(driving=False, another_drives=False, now=100.0) == RESTING_S


def test_a_button_a_hat_or_a_stick_moved_beyond_the_flicker_brings_the_watching_pace_for_a_while():
    for change in (
        ([0.0, 0.0, 0.0, 0.0], [0, 0, 0, 1, 0, 0, 0, 0], [(0, 0)]),  # a button
        ([0.0, 0.0, 0.0, 0.0], [0] * 8, [(0, 1)]),  # the d-pad
        ([0.0, 0.0, FLICKER * 1.5, 0.0], [0] * 8, [(0, 0)]),  # a stick, a little
    ):
        pace = PadPace()
        pace.seen(*STILL, now=0.0)
        assert rested(pace, 10.0) == RESTING_S
        pace.seen(*change, now=10.0)
        assert rested(pace, 10.0) == WATCHING_S, change
        assert rested(pace, 10.0 + HANDLED_S * 0.9) == WATCHING_S, change
        assert rested(pace, 10.0 + HANDLED_S * 1.1) == RESTING_S, change


def test_a_slow_drift_that_adds_up_to_more_than_the_flicker_counts_as_handled():
    pace = PadPace()
    pace.seen(*STILL, now=0.0)
    handled_at = None
    for step in range(1, 40):
        now = 10.0 + step
        pace.seen([step * FLICKER / 4, 0.0, 0.0, 0.0], [0] * 8, [(0, 0)], now)
        if rested(pace, now) == WATCHING_S:
            handled_at = step
            break
    assert handled_at == 4, "compared with the input at its last change, not with the previous read"


def test_the_pace_follows_the_driving_pad_and_who_drives_the_robot():
    model, _, clock, _ = connected_model(Role.OBSERVER)
    drive = model.drive
    info = GamepadInfo(7, "pad", "g" * 32, 4, 8, 1)
    drive.pad_added(info, GamepadState([0.0] * 4, [0] * 8, [(0, 0)]), model.settings.gamepad)
    drive.select(7)
    clock.now += HANDLED_S * 2
    model._on_message(status(pilot=None))
    assert not model.connection.another_drives
    assert drive.pace.rest_s(driving=False, another_drives=model.connection.another_drives, now=clock.now) == RESTING_S
    model._on_message(status(pilot="browser pilot"))
    assert model.connection.another_drives
    drive.pad_states[7].buttons[2] = 1
    drive.pad_moved(7)
    assert drive.pace.handled(clock.now), "the driving pad's button press was seen"


def test_only_another_client_as_pilot_counts_as_another_driving():
    model, _, _, _ = connected_model(Role.PILOT)
    model._on_message(status(pilot="me"))
    assert not model.connection.another_drives, "this app is the pilot"
    observer, _, _, _ = connected_model(Role.OBSERVER)
    observer._on_message(protocol.Status({"state": "ready"}, {"id": 2, "name": ""}, False, False, 2))
    assert observer.connection.another_drives, "a pilot with no name is still a pilot"
    observer._on_message(status(pilot=None))
    assert not observer.connection.another_drives
