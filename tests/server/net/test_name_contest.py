"""Which of two robots announcing one mDNS name moves, and when: the rule on a fake clock (the wiring: test_discovery)."""

from __future__ import annotations

from teleop_server.net.name_contest import (
    ANNOUNCE_AGAIN_S,
    ANNOUNCE_EARLY_S,
    CLAIM_HEARD_S,
    FRESH_S,
    INCUMBENT_WAIT_S,
    MAX_LABEL,
    NEWCOMER_WAIT_S,
    Claim,
    ClaimsHeard,
    NameContest,
    next_free_name,
)

LOW = Claim("raspberrypi-teleop-1a2b3c.local.", 8765)
HIGH = Claim("raspberrypi-teleop-9f8e7d.local.", 8765)
LONG_AGO = 0.0
NOW = 1000.0  # the incumbent registered long before


def moves(contest: NameContest, ours: Claim, other: Claim, now: float = NOW) -> float | None:
    return contest.move_at(ours, {other}, now)


def test_the_robot_that_held_the_name_first_keeps_it_whichever_sorts_first():
    for newcomer_claim, incumbent_claim in ((LOW, HIGH), (HIGH, LOW)):
        newcomer, incumbent = NameContest(registered_at=NOW - 2), NameContest(registered_at=LONG_AGO)
        newcomer_moves = moves(newcomer, newcomer_claim, incumbent_claim)
        incumbent_moves = moves(incumbent, incumbent_claim, newcomer_claim)
        assert newcomer_moves is not None and newcomer_moves <= NOW + NEWCOMER_WAIT_S
        assert incumbent_moves is None or incumbent_moves > newcomer_moves + 10  # the newcomer has long moved by then


def test_a_newcomer_that_sorts_later_moves_at_once_and_one_that_sorts_first_waits_for_it():
    assert moves(NameContest(NOW - 2), HIGH, LOW) == NOW
    assert moves(NameContest(NOW - 2), LOW, HIGH) == NOW + NEWCOMER_WAIT_S


def test_two_robots_started_together_do_not_both_move():
    first, second = NameContest(NOW - 1), NameContest(NOW - 1)
    assert moves(first, LOW, HIGH) == NOW + NEWCOMER_WAIT_S  # the other moves at once: the contest is over before this
    assert moves(second, HIGH, LOW) == NOW
    assert first.move_at(LOW, set(), NOW + 1) is None  # it moved: no contest, nothing due


def test_two_incumbents_on_joined_networks_settle_on_the_sort_order():
    assert moves(NameContest(LONG_AGO), HIGH, LOW) == NOW + INCUMBENT_WAIT_S
    assert moves(NameContest(LONG_AGO), LOW, HIGH) is None


def test_the_wait_counts_from_when_the_contest_was_first_heard():
    contest = NameContest(LONG_AGO)
    assert moves(contest, HIGH, LOW, NOW) == NOW + INCUMBENT_WAIT_S
    assert moves(contest, HIGH, LOW, NOW + 5) == NOW + INCUMBENT_WAIT_S
    assert contest.move_at(HIGH, set(), NOW + 6) is None  # the other moved
    assert moves(contest, HIGH, LOW, NOW + 30) == NOW + 30 + INCUMBENT_WAIT_S  # a new contest, a new wait


def test_a_robot_that_registered_within_the_fresh_time_is_the_newcomer():
    assert moves(NameContest(NOW - FRESH_S + 1), HIGH, LOW) == NOW
    assert moves(NameContest(NOW - FRESH_S - 1), HIGH, LOW) == NOW + INCUMBENT_WAIT_S


def test_our_own_record_heard_back_is_no_contest():
    contest = NameContest(NOW - 1)
    assert contest.move_at(LOW, {LOW}, NOW) is None
    assert contest.since is None


def test_a_robot_on_the_same_host_with_another_port_is_another_claim():
    assert moves(NameContest(NOW - 1), Claim(LOW.server, 8766), LOW) == NOW


def test_an_incumbent_announces_itself_again_often_at_first_then_once_a_minute():
    contest = NameContest(LONG_AGO)
    contest.move_at(LOW, {HIGH}, NOW)
    assert contest.announce_again({HIGH}, NOW) is True
    assert contest.announce_again({HIGH}, NOW + 1) is False
    assert contest.announce_again({HIGH}, NOW + ANNOUNCE_EARLY_S) is True  # one announcement lost must not decide it
    assert contest.announce_again({HIGH, Claim("other.local.", 1)}, NOW + ANNOUNCE_EARLY_S + 1) is True  # a new claimant at once
    assert contest.announce_again({HIGH}, NOW + INCUMBENT_WAIT_S + 1) is False  # one that never moves: not a stream
    assert contest.announce_again({HIGH}, NOW + ANNOUNCE_EARLY_S + ANNOUNCE_AGAIN_S) is True


def test_a_newcomer_never_announces_itself_again():
    contest = NameContest(NOW - 2)
    contest.move_at(LOW, {HIGH}, NOW)
    assert contest.announce_again({HIGH}, NOW) is False


def test_a_claim_stands_while_it_is_heard_and_falls_with_its_goodbye():
    claims = ClaimsHeard()
    claims.heard(HIGH, 120, NOW)
    claims.heard(LOW, 120, NOW)
    claims.heard(HIGH, 120, NOW + ANNOUNCE_EARLY_S)  # an incumbent announcing itself again keeps its claim alive
    assert claims.standing(NOW + CLAIM_HEARD_S - 1) == {HIGH, LOW}
    assert claims.standing(NOW + CLAIM_HEARD_S + 1) == {HIGH}  # one not heard again (it moved, its goodbye lost) lapses
    claims.heard(HIGH, 0, NOW + CLAIM_HEARD_S + 2)  # its goodbye
    assert claims.standing(NOW + CLAIM_HEARD_S + 2) == set()


def test_a_newcomers_claim_lapses_before_an_incumbent_that_sorts_later_would_move():
    """The newcomer moves within NEWCOMER_WAIT_S; if its goodbye is lost, its claim must lapse in time."""
    assert NEWCOMER_WAIT_S + CLAIM_HEARD_S + 5 < INCUMBENT_WAIT_S
    assert 2 * ANNOUNCE_EARLY_S < CLAIM_HEARD_S  # an incumbent's claim survives one lost announcement


def test_the_new_name_skips_names_other_robots_already_hold():
    assert next_free_name("raspberrypi", lambda name: False) == "raspberrypi-2"
    assert next_free_name("raspberrypi", {"raspberrypi-2", "raspberrypi-3"}.__contains__) == "raspberrypi-4"
    long = "r" * MAX_LABEL
    assert next_free_name(long, lambda name: False) == "r" * (MAX_LABEL - 2) + "-2"
    assert len(next_free_name("é" * 40, lambda name: False).encode()) <= MAX_LABEL
