"""The rules behind the closed doors, sans-I/O with a fake clock: one token judge, control-frame floods,
device events merged, and which waiting socket makes room.

The same rules against a real server process and real attackers are in tests/test_attack_doors.py.
"""

from __future__ import annotations

import json
import math

from teleop.wire.protocol import ErrorCode, Role
from teleop_server.rules.auth import Access
from teleop_server.rules.control import Close, ControlRules, Hold, Send, SendWelcome
from teleop_server.rules.mapping import CommandMapper
from teleop_server.rules.tokens import Judgement, TokenJudge

TOKEN = "pilot-token-0123456789"


def rules() -> ControlRules:
    return ControlRules(Access(TOKEN), CommandMapper(), wall_clock=lambda: 1000.0)


def hello(role: str, token: str | None, client: str = "guesser") -> str:
    return json.dumps({"type": "hello", "role": role, "client": client, "token": token})


# -- one token judge -------------------------------------------------------------------------------


def test_a_wrong_token_in_an_observer_hello_is_told_counted_and_never_makes_pilot_later():
    r = rules()
    out = r.join(1, "10.0.0.2", hello("observer", "a-wrong-guess-0000"), 0.0)
    assert SendWelcome(1) in out, "a wrong token does not cost an open server's observer its view"
    told = [e.message for e in out if isinstance(e, Send)]
    assert told and told[0].code is ErrorCode.UNAUTHORIZED and "wrong" in told[0].message
    later = r.frame(1, json.dumps({"type": "request_control"}), 0.1)
    assert r.pilot is None and any(isinstance(e, Send) and e.message.code is ErrorCode.UNAUTHORIZED for e in later)
    assert r.tokens.wrong == 1


def test_observer_hello_guesses_lock_the_address_out_and_then_the_right_token_is_not_even_compared():
    r = rules()
    for n in range(11):  # ten wrong tokens a minute are allowed; the eleventh locks the address
        r.join(n, "10.0.0.2", hello("observer", f"guess-{n:016d}"), 0.01 * n)
        r.leave(n, 0.01 * n)
    assert r.guard.locked("10.0.0.2", 0.2) > 0
    out = r.join(50, "10.0.0.2", hello("observer", TOKEN), 0.3)
    assert any(isinstance(e, Close) for e in out) and 50 not in r.members
    assert r.tokens.compared == 11, "the right token was refused unseen"
    r.join(51, "10.0.0.2", hello("observer", None), 0.3)
    r.frame(51, json.dumps({"type": "request_control"}), 0.4)
    assert r.pilot is None, "a token judged right never sticks to the address"
    r.join(60, "10.0.0.3", hello("pilot", TOKEN, "owner"), 0.5)
    assert r.pilot is not None and r.pilot.role is Role.PILOT and r.pilot.host == "10.0.0.3"


def test_hellos_request_control_and_video_urls_count_toward_one_lockout():
    judge = TokenJudge(Access(TOKEN))
    paths = ["client #1 x (10.0.0.2) said hello", "client #1 x (10.0.0.2) asked to drive", "a video request from 10.0.0.2 came"]
    verdicts = [judge.judge("10.0.0.2", f"guess-{n:016d}", 0.01 * n, paths[n % 3]).judgement for n in range(12)]
    assert verdicts[:11] == [Judgement.WRONG] * 11 and verdicts[11] is Judgement.LOCKED
    assert judge.judge("10.0.0.2", TOKEN, 0.5, paths[2]).judgement is Judgement.LOCKED
    assert judge.judge("10.0.0.3", TOKEN, 0.5, paths[2]).judgement is Judgement.RIGHT
    assert judge.judge("10.0.0.2", TOKEN, 0.5 + 2.1, paths[0]).judgement is Judgement.RIGHT, "the first lock-out lasts 2 s"
    assert judge.judge("10.0.0.2", None, 0.0, paths[0]).judgement is Judgement.ABSENT
    assert TokenJudge(Access(None)).judge("10.0.0.2", "anything", 0.0, paths[0]).judgement is Judgement.ABSENT, "--no-auth"


def test_token_lines_from_every_path_share_one_log_budget(caplog):
    judge = TokenJudge(Access(TOKEN))
    with caplog.at_level("WARNING", logger="teleop.server"):
        for n in range(300):
            judge.judge(f"10.0.{n % 7}.2", f"guess-{n:016d}", 0.1 * n, ["said hello", "asked to drive", "a video request came"][n % 3])
            judge.note("client asked to drive with no pilot token", "10.0.0.9", 0.1 * n)
        judge.judge("10.0.0.2", "one-more-guess-0000", 61.0, "said hello")  # the next minute: its line, then the count
    lines = caplog.messages
    assert len(lines) == 5 + 2, lines
    assert lines[6].startswith("held back 595 more lines about refused tokens") and "from 8 address(es)" in lines[6]


# -- pings and pongs are messages too ----------------------------------------------------------------


def test_pings_count_toward_the_rate_limit_and_a_ping_flooder_is_held_warned_then_closed():
    r = ControlRules(Access(TOKEN), CommandMapper(), control_hz=10)  # 40 messages a second
    r.join(1, "10.0.0.2", hello("observer", None), 0.0)
    assert r.control_frame(2, 0.0) == (False, []), "a client that has not joined gets no answer"
    answers = [r.control_frame(1, 0.001 * i) for i in range(30)]
    assert all(answer for answer, _ in answers)
    r.frame(1, json.dumps({"type": "ping", "id": 1, "t": 0}), 0.031)  # data frames draw on the same 40
    answers = [r.control_frame(1, 0.04 + 0.001 * i) for i in range(20)]
    answered = [answer for answer, _ in answers]
    assert answered == [True] * 9 + [False] * 11, "ten frames a second past the limit: the rest go unanswered"
    warned = answers[9][1]
    assert Hold(1, 1.0) in warned, "held until the second is over: nothing more of it is read"
    assert any(isinstance(e, Send) and e.message.code is ErrorCode.RATE_LIMITED for e in warned)
    assert all(effects == [] for _, effects in answers[10:]), "one warning, one hold"
    later = [r.control_frame(1, 1.0 + 0.001 * i) for i in range(41)]
    closed = later[-1][1]
    assert Hold(1, math.inf) in closed and any(isinstance(e, Close) and e.code == 1008 for e in closed)
    assert 1 not in r.members


def test_a_calm_second_forgives_a_burst_of_pings():
    r = ControlRules(Access(TOKEN), CommandMapper(), control_hz=10)
    r.join(1, "10.0.0.2", hello("observer", None), 0.0)
    for i in range(41):
        r.control_frame(1, 0.001 * i)
    assert [r.control_frame(1, 1.5 + 0.1 * i)[0] for i in range(5)] == [True] * 5
    burst = [r.control_frame(1, 3.0 + 0.001 * i)[1] for i in range(41)]
    assert not any(isinstance(e, Close) for effects in burst for e in effects), "warned again, not closed"


# -- one log budget for every logger -------------------------------------------------------------------


def test_a_librarys_traceback_is_logged_once_a_minute_and_its_repeats_are_one_line_then_a_count():
    import logging

    from teleop_server.net.gate import LogFlood

    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            self.format(record)
            seen.append(record)

    handler = Keep()
    handler.addFilter(LogFlood(per_window=3))
    logger = logging.getLogger("websockets.test-flood")
    logger.propagate = False
    logger.addHandler(handler)
    for _ in range(100):
        try:
            raise AssertionError("send_eof")
        except AssertionError:
            logger.error("unexpected internal error", exc_info=True)
    assert len(seen) == 3
    assert seen[0].exc_text and "Traceback" in seen[0].exc_text
    assert not seen[1].exc_info and "AssertionError('send_eof')" in seen[1].getMessage()


# -- device events, merged -----------------------------------------------------------------------------


def test_a_flood_of_device_events_passes_a_few_then_is_merged_newest_wins_with_a_count():
    from teleop.common.throttle import EventPace

    pace = EventPace(interval=1.0, burst=3)
    said = [pace.offer("watchdog", "neutral" if i % 2 else "resume", 0.001 * i) for i in range(1000)]
    assert said[:3] == [("watchdog", "resume", 1), ("watchdog", "neutral", 1), ("watchdog", "resume", 1)], "usual events pass in order"
    assert said[3:] == [None] * 997
    assert pace.deadline() == 1.0
    assert pace.due(0.999) == []
    assert pace.due(1.0) == [("watchdog", "neutral", 997)], "the newest state, and how many it stands for"
    assert pace.deadline() == math.inf and pace.due(5.0) == []
    assert pace.offer("watchdog", "resume", 2.5) == ("watchdog", "resume", 1), "after a quiet interval: said at once again"


def test_an_event_after_the_interval_is_said_at_once_with_those_held_before_it():
    from teleop.common.throttle import EventPace

    pace = EventPace(interval=1.0, burst=1)
    assert pace.offer("note", "a", 0.0) == ("note", "a", 1)
    assert pace.offer("note", "b", 0.5) is None
    assert pace.offer("note", "c", 1.2) == ("note", "c", 2), "no timer needed: the next one says both"
    assert pace.deadline() == math.inf


def test_each_event_name_has_its_own_pace_and_invented_names_share_one():
    from teleop.common.throttle import EventPace

    pace = EventPace(interval=1.0, burst=1, max_names=2)
    assert pace.offer("stop", "neutral", 0.0) == ("stop", "neutral", 1)
    assert pace.offer("note", "hello", 0.0) == ("note", "hello", 1), "another name is not held back by the first"
    assert pace.offer("x1", "a", 0.0) == ("x1", "a", 1)
    assert [pace.offer(f"x{n}", "a", 0.1) for n in range(2, 50)] == [None] * 48
    assert pace.due(1.0) == [("x49", "a", 48)]
