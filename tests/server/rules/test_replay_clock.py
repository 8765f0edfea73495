"""The replay's clock (teleop_server.rules.replay) on a fake clock: position, pause, seek, speed, what is due."""

from __future__ import annotations

import pytest

from teleop_server.rules.replay import MAX_SPEED, MIN_SPEED, Playback

S = 1_000_000_000
START = 1_700_000_000 * S


def playback(seconds: float = 60.0, now: float = 100.0) -> Playback:
    clock = Playback(START, START + round(seconds * S))
    clock.seek(0.0, now)
    return clock


def test_a_replay_plays_in_real_time_from_the_start():
    clock = playback()
    assert clock.position(100.0) == 0.0
    assert clock.position(112.5) == pytest.approx(12.5)
    assert clock.due_ns(112.5) == START + 12_500_000_000


def test_messages_are_due_once_their_recorded_time_is_reached():
    clock = playback()
    message = START + 3 * S
    assert clock.wait(message, 100.0) == pytest.approx(3.0)
    assert clock.wait(message, 102.0) == pytest.approx(1.0)
    assert clock.wait(message, 104.0) == 0.0
    assert clock.due_ns(103.0) >= message > clock.due_ns(102.9)


def test_pause_holds_the_position_and_nothing_becomes_due():
    clock = playback()
    clock.pause(110.0)
    assert clock.position(500.0) == pytest.approx(10.0)
    assert clock.wait(START + 11 * S, 500.0) is None
    clock.play(600.0)
    assert clock.position(602.0) == pytest.approx(12.0)


def test_seek_lands_where_asked_and_restarts_reading():
    clock = playback()
    steered = clock.seek(42.0, 105.0)
    assert steered.jump and steered.changed
    assert clock.position(105.0) == pytest.approx(42.0)
    assert clock.due_ns(105.0) == START + 42 * S
    assert clock.position(106.0) == pytest.approx(43.0)


def test_seek_while_paused_stays_paused_at_the_new_position():
    clock = playback()
    clock.pause(101.0)
    clock.seek(30.0, 200.0)
    assert not clock.playing
    assert clock.position(300.0) == pytest.approx(30.0)


def test_a_seek_outside_the_recording_is_clamped_to_it():
    clock = playback(60.0)
    clock.seek(1e6, 100.0)
    assert clock.position(100.0) == pytest.approx(60.0)
    clock.seek(-5.0, 100.0)
    assert clock.position(100.0) == 0.0


def test_speed_changes_how_fast_the_position_advances_from_now_on():
    clock = playback()
    clock.set_speed(4.0, 110.0)  # 10 s played at 1x
    assert clock.position(112.0) == pytest.approx(18.0)
    assert clock.wait(START + 26 * S, 112.0) == pytest.approx(2.0)
    clock.set_speed(0.5, 112.0)
    assert clock.position(114.0) == pytest.approx(19.0)


def test_speed_is_kept_within_its_bounds():
    clock = playback()
    clock.set_speed(1000.0, 100.0)
    assert clock.speed == MAX_SPEED
    clock.set_speed(0.0, 100.0)
    assert clock.speed == MIN_SPEED


def test_the_end_pauses_there_and_play_starts_again_from_the_beginning():
    clock = playback(10.0)
    assert clock.position(150.0) == pytest.approx(10.0)  # never past the end
    assert clock.at_end(150.0)
    assert clock.ended(150.0)
    assert not clock.playing and not clock.ended(151.0)
    steered = clock.play(160.0)
    assert steered.jump and clock.position(160.0) == 0.0 and clock.playing


def test_requests_it_cannot_follow_change_nothing_and_say_why():
    clock = playback()
    clock.pause(110.0)
    for action, position, speed in (("seek", None, None), ("speed", None, None), ("seek", float("nan"), None), ("rewind", None, None)):
        steered = clock.steer(action, position, speed, 120.0)
        assert not steered.changed and not steered.jump and steered.text
    assert clock.position(130.0) == pytest.approx(10.0) and clock.speed == 1.0
    assert not clock.pause(130.0).changed


def test_the_status_says_file_position_duration_playing_and_speed():
    clock = playback(3600.0)
    clock.set_speed(2.0, 100.0)
    assert clock.describe("drive.mcap", 110.0) == {
        "file": "drive.mcap",
        "position": 20.0,
        "duration": 3600.0,
        "playing": True,
        "speed": 2.0,
    }


def test_an_empty_or_backwards_span_is_a_zero_length_recording():
    clock = Playback(START, START - S)
    assert clock.duration == 0.0
    assert clock.at_end(0.0)
