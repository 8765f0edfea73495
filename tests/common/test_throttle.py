"""The throttle family (teleop.common.throttle) on a fake clock: the time is a number passed in."""

from __future__ import annotations

import pytest

from teleop.common.throttle import LogBudget, Notice, RateCap, RateWatch, Verdict, first_and_every, times


def test_a_repeated_notice_is_said_once_per_interval_with_how_often_it_happened():
    notice = Notice(5.0)
    assert notice.due(100.0) == 1  # the first is said at once
    assert [notice.due(100.0 + t) for t in (0.5, 1.0, 4.9)] == [None, None, None]
    assert notice.due(105.0) == 4  # this one and the three held back
    assert notice.due(105.1) is None
    assert notice.total == 6


def test_a_notice_after_a_quiet_spell_is_said_at_once_as_a_single_one():
    notice = Notice(5.0)
    notice.due(0.0)
    assert notice.due(60.0) == 1


def test_the_count_is_worded_only_when_there_is_more_than_one():
    assert times(1, 5.0) == ""
    assert times(12, 5.0) == " (12 times in the last 5 s)"


def test_a_run_of_failures_is_said_first_then_every_nth():
    said = [n for n in range(1, 65) if first_and_every(n, 20)]
    assert said == [1, 20, 40, 60]


def test_a_log_budget_lets_a_few_of_a_kind_through_and_sums_up_the_rest_once():
    budget = LogBudget(per_window=2, window=60.0)
    taken = [budget.take("wrong token", 10.0 + i, peer=f"10.0.0.{i % 3}") for i in range(10)]
    assert taken == [True, True] + [False] * 8
    assert budget.take("full", 15.0)  # another kind has its own budget
    assert budget.due(69.0) == []  # the window is not over yet
    assert budget.due(70.0) == [("wrong token", 8, 3)]
    assert budget.due(200.0) == []  # said once


def test_a_rate_cap_serves_the_limit_each_window_and_refuses_the_rest_for_ever():
    cap = RateCap(3, window=1.0)
    for second in range(100):  # a flood that never stops is never closed, only capped
        allowed = [cap.allow(second + i / 10) for i in range(5)]
        assert allowed == [True, True, True, False, False]
    assert cap.dropped == 200 and cap.window_end == pytest.approx(100.0)


def test_a_rate_cap_window_starts_at_the_first_event_after_the_last_one_ended():
    cap = RateCap(1, window=1.0)
    assert cap.allow(0.5) and not cap.allow(1.4)
    assert cap.allow(1.5)  # a new window from 1.5
    assert not cap.allow(2.4)


def test_a_rate_watch_warns_once_then_closes_a_flood_that_goes_on():
    watch = RateWatch(2, strikes=2)
    assert [watch.frame(0.0 + i / 10) for i in range(4)] == [Verdict.OK, Verdict.OK, Verdict.DROP_AND_WARN, Verdict.DROP]
    assert [watch.frame(1.0 + i / 10) for i in range(3)] == [Verdict.OK, Verdict.OK, Verdict.CLOSE]


def test_a_rate_watch_needs_at_least_one_strike_and_a_cap_at_least_one_event():
    with pytest.raises(ValueError):
        RateWatch(10, strikes=0)
    with pytest.raises(ValueError):
        RateCap(0)
