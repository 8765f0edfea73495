"""The seat, token-guess, log-budget and latest-wins rules, sans-I/O with a fake clock.

The same rules against a real server process and real attackers are in tests/server/net/test_network_attacks.py.
"""

from __future__ import annotations

import json
import math

from websockets.datastructures import Headers
from websockets.http11 import Request

from teleop.common.throttle import LogBudget
from teleop.wire import protocol
from teleop.wire.protocol import Event, Reading, Status
from teleop_server.net.fanout import Outbox
from teleop_server.net.httpgate import HostCheck, check_request, host_name, own_names
from teleop_server.rules.admission import CLOSED_AT_ONCE, FIRST_CHANCE, Admission, PerPeerOnce, TokenGuard, socket_budget

# -- seats ---------------------------------------------------------------------------------


def test_the_token_holder_gets_a_reserved_seat_when_observers_fill_the_rest():
    seats = Admission(4, max_sockets=100, pilot_reserve=1, sessions_per_address=10)
    for i in range(4):
        assert seats.opened(f"o{i}", "10.0.0.2", 0.0).admitted
        assert seats.admit(f"o{i}", trusted=False).admitted
    assert seats.opened("late", "10.0.0.3", 0.0).admitted
    assert not seats.admit("late", trusted=False).admitted, "the public seats are full"
    seats.closed("late")
    assert seats.opened("pilot", "10.0.0.9", 0.0).admitted
    assert seats.admit("pilot", trusted=True).admitted, "the pilot always gets in"
    seats.closed("pilot")
    assert seats.opened("pilot again", "10.0.0.9", 1.0).admitted
    assert seats.admit("pilot again", trusted=True).admitted, "and again after dropping off"


def test_one_address_cannot_take_every_public_seat():
    seats = Admission(10, max_sockets=100, sessions_per_address=3)
    for i in range(3):
        seats.opened(i, "10.0.0.2", 0.0)
        assert seats.admit(i, trusted=False).admitted
    seats.opened("fourth", "10.0.0.2", 0.0)
    refused = seats.admit("fourth", trusted=False)
    assert not refused.admitted and "your address" in refused.reason
    seats.opened("neighbour", "10.0.0.3", 0.0)
    assert seats.admit("neighbour", trusted=False).admitted
    seats.closed(0)
    seats.opened("fifth", "10.0.0.2", 0.0)
    assert seats.admit("fifth", trusted=False).admitted, "a seat freed by the same address can be reused"


# -- which waiting socket makes room --------------------------------------------------------------

T = FIRST_CHANCE


def test_past_their_first_chance_an_addresss_sockets_beyond_its_share_go_at_its_next_newcomer_the_slowest_first():
    seats = Admission(10, max_sockets=100, pending_per_address=3)
    for i, sent in enumerate((5, 2, 9, 2, 7)):
        assert seats.opened(("a", i), "10.0.0.2", 0.0, received=sent).evict == ()
    assert seats.opened("silent", "10.0.0.2", 0.5).evict == (), "nothing is past its first chance yet"
    decision = seats.opened("newcomer", "10.0.0.2", T)
    assert decision.admitted and decision.evict == (("a", 1), ("a", 3)), "the two that sent the least, the oldest first"
    assert seats.pending("10.0.0.2") == 5, "its share of three, and the two still in their first chance"
    assert seats.opened("pilot", "10.0.0.9", T).evict == (), "another address is not touched"
    assert seats.opened("next", "10.0.0.2", 0.5 + T).evict == ("silent",), "it had its chance and sent nothing"


def test_a_socket_whose_request_is_still_on_its_way_outlasts_a_reconnect_storm_from_its_address():
    """The pilot's socket accepted before its request arrived: nothing sent yet, behind a crowd that dribbles bytes."""
    seats = Admission(10, max_sockets=10_000, pending_per_address=16)
    for i in range(40):  # the crowd's waiting sockets, a byte each
        seats.opened(("crowd", i), "10.0.0.2", 0.0, received=1)
    pushed_out = list(seats.opened("pilot", "10.0.0.2", 5.0).evict)  # accepted; its request is a round trip away
    for i in range(40, 1040):  # a thousand crowd sockets in the pilot's first moments, each arriving with a byte
        pushed_out += seats.opened(("crowd", i), "10.0.0.2", 5.0 + (T / 2) * (i - 40) / 1000, received=1).evict
    assert "pilot" not in pushed_out
    assert len(pushed_out) == 24, "the crowd past its first chance, down to its share"
    seats.progress("pilot", 180, True)
    assert seats.admit("pilot", trusted=True).admitted


def test_a_socket_that_has_sent_more_than_the_crowd_outlasts_it_past_its_first_chance():
    """A pilot on wss:// whose ClientHello is in but whose handshake takes seconds on a lossy link, in a storm."""
    seats = Admission(10, max_sockets=100_000, pending_per_address=16)
    for i in range(16):
        seats.opened(("crowd", i), "10.0.0.2", 0.0, received=1)
    seats.opened("pilot", "10.0.0.2", 0.0, received=517)
    pushed_out: list = []
    for i in range(16, 3016):  # a new one-byte socket every millisecond for three seconds
        pushed_out += seats.opened(("crowd", i), "10.0.0.2", 0.001 * (i - 16), received=1).evict
    assert "pilot" not in pushed_out
    assert len(pushed_out) > 1900, "the storm's sockets went as they grew"
    assert seats.pending("10.0.0.2") <= 16 + 1000, "its share, and a second's worth of newcomers"


def test_a_complete_request_is_never_closed_for_room_and_among_equally_slow_sockets_the_oldest_goes():
    seats = Admission(10, max_sockets=100, pending_per_address=2)
    seats.opened("a", "10.0.0.2", 0.0)
    seats.opened("b", "10.0.0.2", 0.5)
    seats.opened("c", "10.0.0.2", 0.6)
    seats.progress("b", 200, True)  # its request is all in: it no longer waits, nor counts toward the share
    seats.opened("d", "10.0.0.2", 2.0)
    seats.opened("e", "10.0.0.2", 2.0)
    assert seats.opened("f", "10.0.0.2", 2.0 + T).evict == ("a", "c")
    assert seats.pending("10.0.0.2") == 4, "the complete one, the share of two and the newcomer"
    assert seats.admit("b", trusted=True).admitted


def test_when_file_descriptors_run_short_the_slowest_of_the_longest_lingering_goes_whatever_its_address():
    seats = Admission(2, max_sockets=5, pending_per_address=16)
    for i in range(3):
        seats.opened(("x", i), "10.0.0.2", float(i), received=10 - i)
    seats.opened("done", "10.0.0.3", 3.0, received=200, complete=True)
    seats.opened("other", "10.0.0.4", 3.5, received=9)
    decision = seats.opened("pilot", "10.0.0.9", 5.0)
    assert decision.admitted and decision.evict == (("x", 2),)
    assert seats.sockets == 5
    seats.progress("pilot", 180, True)
    assert seats.opened("pilot2", "10.0.0.9", 6.0).evict == (("x", 1),), "sent 9, as other did, but came first"


def test_out_of_descriptors_lingering_sockets_from_other_addresses_go_before_a_busier_addresss_new_ones():
    """Stalled TLS handshakes from nine addresses, then the classroom's pilot and page loads: the lingering pay."""
    seats = Admission(10, max_sockets=100, pending_per_address=16)
    for a in range(9):
        for i in range(10):
            seats.opened((a, i), f"10.0.0.{a + 2}", 0.0, received=6)
    seats.opened("pilot", "10.0.1.1", 2.0)
    for i in range(10):
        seats.opened(("page", i), "10.0.1.1", 2.0 + 0.01 * i)
    assert seats.sockets == 100, "the budget is full"
    pushed_out = []
    for i in range(20):  # more of the stalled kind
        pushed_out += seats.opened(("late", i), "10.0.0.2", 2.2 + 0.01 * i, received=6).evict
    assert len(pushed_out) == 20 and all(isinstance(key, tuple) and isinstance(key[0], int) for key in pushed_out), pushed_out


def test_a_burst_past_its_share_is_closed_over_its_addresss_next_newcomers_not_all_in_one_go():
    seats = Admission(10, max_sockets=100_000, pending_per_address=16)
    for i in range(1000):
        seats.opened(i, "10.0.0.2", 0.0)
    closed = [len(seats.opened(("next", n), "10.0.0.2", T + 0.001 * n).evict) for n in range(5)]
    assert closed == [CLOSED_AT_ONCE, CLOSED_AT_ONCE, CLOSED_AT_ONCE, 1000 - 16 - 3 * CLOSED_AT_ONCE, 0]
    assert seats.pending("10.0.0.2") == 16 + 5


def test_the_same_key_opened_again_is_a_new_socket():
    seats = Admission(10, max_sockets=100, pending_per_address=16)
    seats.opened("k", "10.0.0.2", 0.0)
    seats.opened("k", "10.0.0.2", 0.1, complete=True)
    seats.closed("k")
    assert seats.opened("n", "10.0.0.2", 5.0).admitted
    assert seats.sockets == 1 and seats.pending("10.0.0.2") == 1


def test_out_of_descriptors_a_storming_address_loses_its_own_new_sockets_and_others_still_get_in():
    seats = Admission(10, max_sockets=50, pending_per_address=4)
    for i in range(50):  # fifty sockets in a tenth of a second, all in their first chance
        seats.opened(("storm", i), "10.0.0.2", 0.002 * i)
    decision = seats.opened("pilot", "10.0.0.9", 0.1)
    assert decision.admitted and decision.evict == (("storm", 0),)
    decision = seats.opened(("storm", 50), "10.0.0.2", 0.11)
    assert decision.admitted and decision.evict == (("storm", 1),), "the storm pays, not the pilot"
    assert seats.sockets == 50


def test_a_clock_that_goes_back_or_is_not_a_number_never_makes_the_rules_raise():
    seats = Admission(3, max_sockets=2)
    seats.opened("a", "10.0.0.2", 0.0)
    seats.opened("b", "10.0.0.2", 1.5)
    seats.progress("b", 10, True)
    assert seats.opened("c", "10.0.0.3", 0.5).admitted
    seats = Admission(3, max_sockets=1)
    seats.opened("a", "10.0.0.2", 0.0)
    assert seats.opened("c", "10.0.0.3", math.nan).admitted


def test_a_new_socket_is_refused_only_when_every_socket_is_a_seated_client():
    seats = Admission(2, max_sockets=2, pilot_reserve=0)
    for key in ("a", "b"):
        seats.opened(key, key, 0.0)
        seats.admit(key, trusted=False)
    assert not seats.opened("c", "c", 0.0).admitted


def test_closing_twice_or_unknown_keys_changes_nothing():
    seats = Admission(2, max_sockets=10)
    seats.opened("a", "10.0.0.2", 0.0)
    seats.admit("a", trusted=True)
    seats.closed("a")
    seats.closed("a")
    seats.closed("never")
    assert seats.sessions == 0 and seats.sockets == 0
    assert not seats.admit("a", trusted=True).admitted


def test_socket_budget_leaves_room_for_everything_else():
    assert socket_budget(1024, 64) == 1024 - 256
    assert socket_budget(100, 64) >= 64 + 4


# -- token guessing ------------------------------------------------------------------------


def test_token_guessing_locks_the_address_out_and_the_lock_doubles():
    guard = TokenGuard(allowed=3, window=60, first_lockout=2, max_lockout=8)
    assert [guard.failed("10.0.0.2", 0.1 * i) for i in range(3)] == [0, 0, 0]
    assert guard.failed("10.0.0.2", 0.4) == 2.0
    assert guard.locked("10.0.0.2", 1.0) == 1.4
    assert guard.locked("10.0.0.3", 1.0) == 0, "other addresses are not affected"
    assert guard.locked("10.0.0.2", 2.5) == 0
    for i in range(3):
        guard.failed("10.0.0.2", 3.0 + 0.1 * i)
    assert guard.failed("10.0.0.2", 3.5) == 4.0, "the second lock-out is twice as long"
    for t in (10.0, 10.1, 10.2, 10.3):
        lock = guard.failed("10.0.0.2", t)
    assert lock == 8.0
    for t in (20.0, 20.1, 20.2, 20.3):
        lock = guard.failed("10.0.0.2", t)
    assert lock == 8.0, "capped at max_lockout"


def test_an_address_that_stays_quiet_is_forgiven():
    guard = TokenGuard(allowed=1, first_lockout=2, forgive=100)
    guard.failed("a", 0.0)
    assert guard.failed("a", 0.1) == 2.0
    assert guard.failed("a", 500.0) == 0.0
    assert guard.failed("a", 500.1) == 2.0, "back to the first lock-out"


def test_the_guard_forgets_the_least_recent_address_when_full():
    guard = TokenGuard(allowed=0, max_addresses=2)
    for address in ("a", "b", "c"):
        guard.failed(address, 0.0)
    assert guard.locked("a", 0.5) == 0 and guard.locked("c", 0.5) > 0


# -- log budget ----------------------------------------------------------------------------


def test_a_flood_of_log_lines_becomes_a_few_lines_and_one_count_per_window():
    budget = LogBudget(per_window=3, window=60)
    logged = [budget.take("wrong token", 0.01 * i, f"10.0.0.{i % 4}") for i in range(2500)]
    assert logged.count(True) == 3
    assert budget.due(30.0) == []
    assert budget.due(60.0) == [("wrong token", 2497, 4)]
    assert budget.due(61.0) == []
    assert budget.take("wrong token", 62.0), "a new window logs again"


def test_the_count_is_not_lost_when_the_next_line_opens_a_new_window():
    budget = LogBudget(per_window=1, window=10)
    budget.take("k", 0.0)
    budget.take("k", 1.0)
    assert budget.take("k", 11.0)
    assert budget.due(11.0) == [("k", 1, 1)]


def test_per_peer_once_is_bounded():
    once = PerPeerOnce(max_peers=2)
    assert once.first("a") and not once.first("a")
    once.first("b")
    once.first("c")
    assert once.first("a"), "forgotten after two newer peers"


# -- latest wins for a client that does not drain ---------------------------------------------


def reading(seq: int, **values: float) -> str:
    return protocol.encode(Reading(float(seq), values, seq))


def test_a_blocked_client_gets_one_merged_reading_with_every_key_at_its_newest_value():
    box = Outbox(limit=8)
    assert not box.busy
    box.block(10.0)
    assert box.busy
    box.hold(reading(1, A0=1, A1=10))
    box.hold(reading(2, A0=2, only_in_two=7))
    box.hold(reading(3, A0=3))
    held = [json.loads(text) for text in box.take()]
    assert held == [{"type": "reading", "t": 3.0, "values": {"A0": 3, "A1": 10, "only_in_two": 7}, "seq": 3}]
    assert box.skipped == 2


def test_snapshots_keep_only_the_newest_and_events_keep_their_order():
    box = Outbox(limit=8)
    box.block(0.0)
    status = [protocol.encode(Status(serial={"state": s}, pilot=None, failsafe=False, estop=False, clients=1)) for s in ("lost", "ready")]
    events = [protocol.encode(Event("info", f"event {i}", 0.0)) for i in range(3)]
    for text in (events[0], status[0], events[1], status[1], reading(1, A0=1), events[2]):
        assert box.hold(text)
    assert box.take() == [*events, status[1], reading(1, A0=1)]
    assert not box.busy or box.blocked_since is not None


def test_ordered_messages_past_the_limit_mean_the_client_must_go():
    box = Outbox(limit=2)
    box.block(0.0)
    error = '{"type":"error","code":"invalid_message","message":"x"}'
    assert box.hold(error) and box.hold(error)
    assert not box.hold(error)
    for seq in range(100):
        assert box.hold(reading(seq, A0=seq)), "readings never overflow: they merge"


def test_a_client_is_stuck_only_after_taking_nothing_for_the_whole_timeout():
    box = Outbox(limit=8)
    box.block(100.0)
    assert not box.stalled(104.9, 5.0)
    assert box.stalled(105.0, 5.0)
    box.unblock()
    box.block(106.0)
    assert not box.stalled(110.0, 5.0), "draining once restarts the count"


# -- the HTTP rules ----------------------------------------------------------------------------


def request(method: str = "GET", **headers: str | list[str]) -> Request:
    h = Headers()
    for name, value in headers.items():
        for v in value if isinstance(value, list) else [value]:
            h[name.replace("_", "-")] = v
    return Request("/", h, method)


HOSTS = HostCheck(own_names(["robot.lab"]))


def test_host_names_the_robot_really_has_are_served_and_others_refused():
    for ok in ("127.0.0.1:8765", "[::1]:8765", "192.168.1.20", "localhost:8765", "ROBOT.LAB.", "robot.lab:80"):
        assert HOSTS.allows(ok), ok
    for bad in ("evil.example", "evil.example:8765", "127.0.0.1.evil.example", "", "[", None):
        assert not HOSTS.allows(bad), bad
    assert host_name("Robot.Local.:8765") == "robot.local"
    import socket

    assert HOSTS.allows(socket.gethostname()) and HOSTS.allows(socket.gethostname().split(".")[0] + ".local:8765")


def test_refusals_say_which_option_to_use():
    rebind = check_request(request(Host="evil.example:8765"), HOSTS, frozenset(), False)
    assert rebind is not None and rebind.status == 403 and "--allow-host evil.example" in rebind.text
    upgrade = {"Host": "127.0.0.1:8765", "Upgrade": "websocket", "Connection": "Upgrade"}
    page = check_request(request(Origin="null", **upgrade), HOSTS, frozenset(), False)
    assert page is not None and page.status == 403 and "--allow-origin null" in page.text
    assert check_request(request(Origin="null", **upgrade), HOSTS, frozenset({"null"}), False) is None
    assert check_request(request(Origin="http://127.0.0.1:8765", **upgrade), HOSTS, frozenset(), False) is None


def test_bad_methods_and_ambiguous_headers_are_refused_not_crashed_on():
    for method in ("PUT", "DELETE", "OPTIONS", "TRACE", "POST"):
        refusal = check_request(request(method, Host="127.0.0.1"), HOSTS, frozenset(), False)
        assert refusal is not None and refusal.status == 405 and refusal.allow
    assert check_request(request("HEAD", Host="127.0.0.1"), HOSTS, frozenset(), False) is None
    two_origins = request(Host="127.0.0.1", Upgrade="websocket", Origin=["http://a", "http://b"])
    assert check_request(two_origins, HOSTS, frozenset(), False).status == 400
    two_upgrades = request(Host="127.0.0.1", Upgrade=["websocket", "websocket"])
    assert check_request(two_upgrades, HOSTS, frozenset(), False).status == 400
    garbled = request(Host="127.0.0.1", Upgrade="web socket")
    assert check_request(garbled, HOSTS, frozenset(), False).status == 400
    assert check_request(request(), HOSTS, frozenset(), False).status == 400, "no Host header"


def test_allowed_hosts_and_origins_come_from_the_file_and_the_flags(tmp_path):
    import pytest

    from teleop.wire.errors import ConfigError
    from teleop_server.cli import build_parser, config_from_args

    config_file = tmp_path / "robot.toml"
    config_file.write_text('[server]\nallow_hosts = ["robot.lab"]\nallow_origins = ["null"]\n[limits]\nmax_per_address = 4\n')
    args = build_parser().parse_args(["--config", str(config_file), "--allow-host", "robot.example", "--allow-origin", "http://lab:8000"])
    config = config_from_args(args)
    assert config.allow_hosts == ("robot.lab", "robot.example")
    assert config.allow_origins == ("null", "http://lab:8000")
    assert config.max_per_address == 4
    with pytest.raises(ConfigError, match="not an origin"):
        config_from_args(build_parser().parse_args(["--allow-origin", "lab.example"]))
    with pytest.raises(ConfigError, match="not a host name"):
        config_from_args(build_parser().parse_args(["--allow-host", "http://robot.lab"]))


def test_any_repeated_log_line_is_held_back_and_counted():
    import logging

    from teleop_server.net.gate import LogFlood

    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("teleop.test-flood")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(Keep())
    flood = LogFlood(per_window=3, window=0.2)
    logger.addFilter(flood)
    for i in range(1000):
        logger.info("client %s connected", i)
    assert len(records) == 3
    import time

    time.sleep(0.25)
    logger.info("client %s connected", "late")
    assert "997 more lines like 'client %s connected'" in records[-2] and records[-1] == "client late connected"


# -- the token guard inside the bridge's rules ---------------------------------------------------


def test_the_rules_lock_out_an_address_across_connections_and_spare_the_pilots():
    from teleop_server.rules.auth import Access
    from teleop_server.rules.control import Close, ControlRules, Send
    from teleop_server.rules.mapping import CommandMapper

    token = "pilot-token-0123456789"
    rules = ControlRules(Access(token), CommandMapper(), wall_clock=lambda: 1000.0)
    guess = json.dumps({"type": "request_control", "token": "a-wrong-guess-0000"})
    observer = json.dumps({"type": "hello", "role": "observer", "client": "guesser"})
    closed_after = []
    for connection in range(1, 5):  # four connections from one address, guessing until closed
        rules.join(connection, "10.0.0.2", observer, 0.0)
        for n in range(1, 6):
            if any(isinstance(e, Close) for e in rules.frame(connection, guess, 0.1 * connection)):
                closed_after.append(n)
                break
        rules.leave(connection, 1.0)
    assert closed_after[:2] == [5, 5] and closed_after[2] == 1, "the eleventh wrong token locks the address and closes at once"
    pilot_hello = json.dumps({"type": "hello", "role": "pilot", "client": "guesser", "token": token})
    refused = rules.join(9, "10.0.0.2", pilot_hello, 1.5)
    assert any(isinstance(e, Close) for e in refused), "while locked, not even the right token is checked"
    assert "from your address" in next(e.message.message for e in refused if isinstance(e, Send))
    rules.join(10, "10.0.0.3", pilot_hello, 1.5)
    assert rules.pilot is rules.members[10], "another address drives"
    rules.join(11, "10.0.0.2", json.dumps({"type": "hello", "role": "observer", "client": "x"}), 1.5)
    assert 11 in rules.members, "the locked address may still watch without a token"
