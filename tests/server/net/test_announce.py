"""The rule that keeps two robots from sharing one mDNS name after probing missed it (the wiring: test_discovery)."""

from __future__ import annotations

from teleop_server.net.announce import Claim, gives_way, next_free_name

FIRST = Claim("raspberrypi-teleop-1a2b3c.local.", 8765)
SECOND = Claim("raspberrypi-teleop-9f8e7d.local.", 8765)


def test_of_two_robots_claiming_one_name_exactly_one_gives_it_up():
    assert gives_way(SECOND, [FIRST]) is True
    assert gives_way(FIRST, [SECOND]) is False


def test_a_robot_on_one_host_with_another_port_is_another_claim():
    assert gives_way(Claim(FIRST.server, 8766), [FIRST]) is True
    assert gives_way(FIRST, [Claim(FIRST.server, 8766)]) is False


def test_our_own_record_heard_back_is_no_conflict():
    assert gives_way(FIRST, [FIRST]) is False
    assert gives_way(SECOND, []) is False


def test_of_three_robots_with_one_name_only_the_first_keeps_it():
    claims = [SECOND, FIRST, Claim("zz.local.", 1)]
    assert [gives_way(claim, claims) for claim in claims] == [True, False, True]


def test_the_new_name_skips_names_other_robots_already_hold():
    assert next_free_name("raspberrypi", lambda name: False) == "raspberrypi-2"
    assert next_free_name("raspberrypi", {"raspberrypi-2", "raspberrypi-3"}.__contains__) == "raspberrypi-4"
