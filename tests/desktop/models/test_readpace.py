"""How long the robot's socket rests between reads (:mod:`teleop.desktop.models.readpace`), on a fake clock."""

from __future__ import annotations

from teleop.desktop.models.readpace import ANSWER_S, DRIVING_REST_S, PONG_WAIT_S, READ_REST_S, ReadPace


def test_a_watching_app_reads_the_robot_at_the_pace_its_readings_are_shown():
    pace = ReadPace()
    assert pace.rest_s(driving=False, now=0.0) == READ_REST_S


def test_a_driving_app_reads_what_the_robot_says_sooner():
    pace = ReadPace()
    assert 0 < pace.rest_s(driving=True, now=0.0) == DRIVING_REST_S < READ_REST_S


def test_a_pong_is_read_the_moment_it_comes_so_the_round_trip_stays_true():
    pace = ReadPace()
    pace.pinged(1, 10.0)
    assert pace.rest_s(driving=False, now=10.0) == 0.0
    assert pace.rest_s(driving=True, now=10.5) == 0.0
    pace.ponged(1)
    assert pace.rest_s(driving=False, now=10.5) == READ_REST_S


def test_a_late_pong_of_an_earlier_ping_does_not_end_the_wait_for_the_newest():
    pace = ReadPace()
    pace.pinged(1, 10.0)
    pace.pinged(2, 11.0)  # a round trip over a second: the first pong is still on its way
    pace.ponged(1)
    assert pace.rest_s(driving=False, now=11.1) == 0.0
    pace.ponged(2)
    assert pace.rest_s(driving=False, now=11.1) == READ_REST_S


def test_a_new_connection_awaits_no_pong_of_the_old_one():
    pace = ReadPace()
    pace.pinged(7, 10.0)
    pace.ponged(None)
    assert pace.rest_s(driving=False, now=10.1) == READ_REST_S


def test_a_pong_that_never_comes_ends_the_wait_for_it():
    pace = ReadPace()
    pace.pinged(1, 10.0)
    assert pace.rest_s(driving=False, now=10.0 + PONG_WAIT_S - 0.01) == 0.0
    assert pace.rest_s(driving=False, now=10.0 + PONG_WAIT_S) == READ_REST_S


def test_the_answer_to_what_the_user_asked_for_shows_at_once():
    pace = ReadPace()
    pace.asked(5.0)
    assert pace.rest_s(driving=False, now=5.0) == 0.0
    assert pace.rest_s(driving=False, now=5.0 + ANSWER_S - 0.01) == 0.0
    assert pace.rest_s(driving=False, now=5.0 + ANSWER_S) == READ_REST_S


def test_a_pong_does_not_end_the_wait_for_an_answer_asked_for():
    pace = ReadPace()
    pace.asked(5.0)
    pace.pinged(1, 5.1)
    pace.ponged(1)
    assert pace.rest_s(driving=False, now=5.2) == 0.0


def test_asking_again_keeps_the_later_answer_due():
    pace = ReadPace()
    pace.asked(5.0)
    pace.asked(5.5)
    assert pace.rest_s(driving=False, now=5.0 + ANSWER_S) == 0.0
    assert pace.rest_s(driving=False, now=5.5 + ANSWER_S) == READ_REST_S
