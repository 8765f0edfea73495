"""Failsafe timing, tested with a fake clock."""

from teleop_server.rules.failsafe import Action, PilotWatch


def test_starts_in_failsafe_and_the_first_control_clears_it():
    watch = PilotWatch(timeout=0.25, keepalive=0.1)
    assert watch.failsafe
    assert watch.control(0.0) is True
    assert not watch.failsafe


def test_quiet_pilot_trips_failsafe_at_the_timeout():
    watch = PilotWatch(timeout=0.25, keepalive=0.1)
    watch.control(0.0)
    watch.written(0.0)
    assert watch.poll(0.2) == [Action.KEEPALIVE]
    assert watch.deadline() == 0.25
    assert watch.poll(0.25) == [Action.ENTER_FAILSAFE]
    assert watch.failsafe and watch.poll(1.0) == []
    assert watch.control(1.0) is True


def test_keepalive_only_when_no_line_went_out_recently():
    watch = PilotWatch(timeout=10, keepalive=0.1)
    watch.control(0.0)
    watch.written(0.05)
    assert watch.poll(0.1) == []
    assert watch.poll(0.16) == [Action.KEEPALIVE]
    assert watch.poll(0.2) == []  # 40 ms after the keepalive


def test_pilot_leaving_enters_failsafe_once():
    watch = PilotWatch()
    watch.control(0.0)
    assert watch.force() is True
    assert watch.force() is False
