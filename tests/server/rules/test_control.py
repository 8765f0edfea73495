"""The bridge's safety rules, driven directly: events in with a fake clock, effects out (no sockets)."""

import json

from teleop.wire.protocol import ErrorCode, Event, Pong, Role
from teleop_server.rules.auth import Access
from teleop_server.rules.control import (
    MAX_TOKEN_FAILURES,
    Broadcast,
    Close,
    ControlRules,
    Drive,
    Keepalive,
    Neutral,
    Send,
    SendWelcome,
)
from teleop_server.rules.mapping import CommandMapper, OutputMap

TOKEN = "pilot-token-0123456789"


def rules(token: str | None = TOKEN, **options) -> ControlRules:
    return ControlRules(Access(token), CommandMapper(), wall_clock=lambda: 1000.0, **options)


def hello(role: str = "pilot", token: str | None = TOKEN, **fields) -> str:
    return json.dumps({"type": "hello", "role": role, "client": fields.pop("client", role), "token": token, **fields})


def control(*axes: float) -> str:
    return json.dumps({"type": "control", "axes": list(axes)})


def errors(effects, client: int) -> list[str]:
    return [e.message.code for e in effects if isinstance(e, Send) and e.client == client and hasattr(e.message, "code")]


def events(effects) -> list[str]:
    return [e.message.text for e in effects if isinstance(e, Broadcast) and isinstance(e.message, Event)]


def drives(effects) -> list[dict[str, str]]:
    return [e.lines for e in effects if isinstance(e, Drive)]


def test_pilot_with_the_token_drives():
    r = rules()
    joined = r.join(1, "h", hello(), 0.0)
    assert SendWelcome(1) in joined and r.pilot is r.members[1]
    assert drives(r.frame(1, control(0.5), 0.01)) == [{"B": "B500", "A": "A0"}]


def test_observer_can_press_the_emergency_stop_but_not_release_it():
    r = rules()
    r.join(1, "h", hello(), 0.0)
    r.join(2, "h", hello("observer", None), 0.0)
    r.frame(1, control(0.9), 0.01)
    stop = r.frame(2, json.dumps({"type": "estop", "engaged": True}), 0.02)
    assert Neutral() in stop and r.estop
    assert errors(r.frame(2, json.dumps({"type": "estop", "engaged": False}), 0.03), 2) == [ErrorCode.NOT_PILOT]
    assert r.estop
    refused = r.frame(1, control(0.9), 0.04)
    assert drives(refused) == [] and errors(refused, 1) == [ErrorCode.ESTOP_ACTIVE]
    r.frame(1, json.dumps({"type": "estop", "engaged": False}), 0.05)
    assert not r.estop and drives(r.frame(1, control(0.3), 0.06)) == [{"B": "B300", "A": "A0"}]


def test_neutral_comes_first_in_an_emergency_stop():
    r = rules()
    r.join(1, "h", hello(), 0.0)
    r.frame(1, control(0.9), 0.01)
    assert isinstance(r.frame(1, json.dumps({"type": "estop", "engaged": True}), 0.02)[0], Neutral)


def test_release_hands_control_back_and_puts_outputs_to_neutral():
    r = rules()
    r.join(1, "h", hello(), 0.0)
    r.frame(1, control(0.9), 0.01)
    released = r.frame(1, json.dumps({"type": "release_control"}), 0.02)
    assert r.pilot is None and Neutral() in released
    assert errors(r.frame(1, control(0.9), 0.03), 1) == [ErrorCode.NOT_PILOT]


def test_takeover_must_be_explicit_and_neutralises_the_old_pilots_command():
    r = rules()
    r.join(1, "h", hello(client="first"), 0.0)
    r.frame(1, control(0.9), 0.01)
    second = r.join(2, "h", hello(client="second"), 0.02)
    assert errors(second, 2) == [ErrorCode.PILOT_BUSY] and r.pilot.id == 1
    took = r.frame(2, json.dumps({"type": "request_control", "takeover": True, "token": TOKEN}), 0.03)
    assert r.pilot.id == 2 and Neutral() in took
    assert "second took over from first" in events(took)
    assert drives(r.frame(1, control(0.9), 0.04)) == []


def test_hello_twice_is_an_error_and_changes_nothing():
    r = rules()
    r.join(1, "h", hello("observer", None), 0.0)
    again = r.frame(1, hello(), 0.01)
    assert errors(again, 1) == [ErrorCode.INVALID_MESSAGE] and r.pilot is None


def test_unsupported_protocol_version_is_said_but_the_client_may_stay():
    r = rules()
    joined = r.join(1, "h", hello(protocol=99), 0.0)
    assert errors(joined, 1) == [ErrorCode.UNSUPPORTED_VERSION]
    assert SendWelcome(1) in joined and r.pilot is r.members[1]


def test_wrong_tokens_cost_the_connection_after_a_few_tries():
    r = rules()
    r.join(1, "h", hello("observer", None), 0.0)
    for attempt in range(MAX_TOKEN_FAILURES - 1):
        out = r.frame(1, json.dumps({"type": "request_control", "token": f"guess-{attempt}-xxxxxxxxxx"}), 0.1 * attempt)
        assert errors(out, 1) == [ErrorCode.UNAUTHORIZED] and not any(isinstance(e, Close) for e in out)
    last = r.frame(1, json.dumps({"type": "request_control", "token": "guess-last-xxxxxxxxxx"}), 1.0)
    assert Close(1, 1008, "too many wrong pilot tokens; reconnect to try again") in last
    assert 1 not in r.members


def test_observers_need_the_token_to_watch_when_configured():
    from teleop_server.rules.auth import ObserverAccess

    r = ControlRules(Access(TOKEN, ObserverAccess.TOKEN), CommandMapper())
    refused = r.join(1, "h", None, 0.0)
    assert any(isinstance(e, Close) and e.code == 1008 for e in refused) and not r.members
    assert SendWelcome(2) in r.join(2, "h", hello("observer", TOKEN), 0.0)


def test_seed_client_drives_only_without_auth_and_only_when_nobody_else_does():
    open_rules = rules(token=None)
    open_rules.join(1, "h", None, 0.0)
    assert drives(open_rules.frame(1, json.dumps({"Axes": [0.5, 0, 0, 0]}), 0.01)) == [{"B": "B500", "A": "A0"}]
    guarded = rules()
    guarded.join(1, "h", None, 0.0)
    out = guarded.frame(1, json.dumps({"Axes": [0.5]}), 0.01)
    assert drives(out) == [] and errors(out, 1) == [ErrorCode.UNAUTHORIZED]
    busy = rules(token=None)
    busy.join(1, "h", hello(token=None), 0.0)
    busy.join(2, "h", None, 0.0)
    assert drives(busy.frame(2, json.dumps({"Axes": [0.5]}), 0.01)) == []


def test_failsafe_after_the_timeout_and_keepalive_meanwhile():
    r = rules(failsafe_timeout=0.25, keepalive=0.1)
    r.join(1, "h", hello(), 0.0)
    r.frame(1, control(0.5), 0.0)
    r.written(0.0)
    assert r.deadline() == 0.1
    assert r.tick(0.1) == [Keepalive()]
    r.written(0.1)
    assert r.tick(0.2) == [Keepalive()]
    r.written(0.2)
    out = r.tick(0.25)
    assert out[0] == Neutral() and "failsafe: no control from the pilot for 250 ms" in events(out)
    assert r.tick(1.0) == []  # once, not again


def test_pilot_leaving_puts_outputs_to_neutral():
    r = rules()
    r.join(1, "h", hello(), 0.0)
    r.frame(1, control(0.5), 0.0)
    out = r.leave(1, 0.05)
    assert Neutral() in out and r.pilot is None and r.watch.failsafe


def test_a_refusal_is_repeated_at_most_once_a_second():
    r = rules()
    r.join(1, "h", hello(), 0.0)
    r.join(2, "h", hello("observer", None), 0.0)
    sent = [errors(r.frame(2, control(0.1), 0.01 * i), 2) for i in range(50)]
    assert sum(len(s) for s in sent) == 1


def test_a_flooding_client_is_warned_then_closed():
    r = rules(control_hz=10)  # limit 40 frames a second
    r.join(1, "h", hello(), 0.0)
    out = [r.frame(1, control(0.1), 0.001 * i) for i in range(60)]
    assert errors(out[40], 1) == [ErrorCode.RATE_LIMITED] and all(o == [] for o in out[41:])
    burst = [r.frame(1, control(0.1), 1.0 + 0.001 * i) for i in range(41)]
    assert any(isinstance(e, Close) and e.code == 1008 for e in burst[-1])


def test_ping_flood_is_not_answered_beyond_the_limit():
    r = rules()
    r.join(1, "h", hello(), 0.0)
    pongs = [e for i in range(100) for e in r.frame(1, json.dumps({"type": "ping", "id": i, "t": 0}), 0.001 * i)]
    assert sum(isinstance(e, Send) and isinstance(e.message, Pong) for e in pongs) == 20


def test_device_restart_while_stopped_gets_neutral_again():
    r = rules()
    assert r.device_ready() == [Neutral()]  # nobody drives: failsafe
    r.join(1, "h", hello(), 0.0)
    r.frame(1, control(0.5), 0.0)
    assert r.device_ready() == []


def test_bad_input_is_answered_never_raised():
    r = rules()
    r.join(1, "h", hello(), 0.0)
    for bad in ["{", "[]", '{"type":"control","axes":[1e999]}', b"\xff\xfe", '{"type":"estop","engaged":"yes"}', "9" * 4000]:
        assert errors(r.frame(1, bad, 0.5), 1), bad
    assert r.pilot is r.members[1] and r.members[1].role is Role.PILOT


def test_signal_stop_writes_neutral_first():
    r = rules()
    r.join(1, "h", hello(), 0.0)
    r.frame(1, control(0.5), 0.0)
    assert r.stop_all("SIGTERM")[0] == Neutral() and r.watch.failsafe


def test_no_control_drives_once_the_server_is_stopping():
    r = rules()
    r.join(1, "h", hello(), 0.0)
    r.frame(1, control(0.5), 0.0)
    assert r.stop_all("SIGTERM received; the server is stopping", for_good=True)[0] == Neutral()
    late = r.frame(1, control(0.7), 0.1)
    assert drives(late) == [] and errors(late, 1) == [ErrorCode.SERVER_STOPPING]
    assert r.watch.failsafe and not any(isinstance(e, Keepalive) for e in r.tick(5.0))
    assert drives(r.frame(1, control(0.7), 5.0)) == []


def test_a_hangup_puts_outputs_to_neutral_and_the_pilot_drives_on():
    r = rules()
    r.join(1, "h", hello(), 0.0)
    r.frame(1, control(0.5), 0.0)
    assert r.stop_all("SIGHUP received (reopening the record file)")[0] == Neutral()
    assert drives(r.frame(1, control(0.7), 0.1)) == [{"B": "B700", "A": "A0"}]


def numbered_warnings(effects) -> list[str]:
    return [text for text in events(effects) if "by number" in text]


def test_a_mapping_written_with_numbers_is_called_out_once_when_a_standard_layout_pad_drives():
    numbered = CommandMapper((OutputMap("B", "axis2", scale=1000), OutputMap("A", "buttons")))
    r = ControlRules(Access(TOKEN), numbered, wall_clock=lambda: 1000.0)
    r.join(1, "h", hello(client="teleop-gui"), 0.0)
    standard = json.dumps({"type": "control", "axes": [0, 0, 0.5], "layout": "standard"})
    first = r.frame(1, standard, 0.01)
    assert drives(first) and any("axis2" in text and "standard layout" in text for text in numbered_warnings(first))
    assert "buttons" not in numbered_warnings(first)[0].split("reads")[1].split(" by number")[0], (
        "the bitmask means the same in every layout"
    )
    later = r.frame(1, standard, 0.05) + r.frame(1, standard, 0.09)
    assert drives(later) and numbered_warnings(later) == [], "said once, not per message"


def test_a_raw_pad_or_a_named_mapping_gets_no_layout_warning():
    raw_only = rules()
    raw_only.join(1, "h", hello(), 0.0)
    standard = json.dumps({"type": "control", "axes": [0.5], "layout": "standard"})
    assert numbered_warnings(raw_only.frame(1, standard, 0.01)) == [], "the default mapping is written with names"
    numbered = ControlRules(Access(TOKEN), CommandMapper((OutputMap("B", "axis0", scale=1000),)), wall_clock=lambda: 1000.0)
    numbered.join(1, "h", hello(), 0.0)
    assert numbered_warnings(numbered.frame(1, control(0.5), 0.01)) == []


# -- a first frame is read once: hello, token judgement and seat trust ---------------------------


def test_the_token_holder_is_trusted_with_the_pilots_seats_and_a_wrong_guess_is_not():
    server = rules()
    assert server.arrive(1, "10.0.0.2", hello(), 0.0).trusted
    wrong = server.arrive(2, "10.0.0.3", hello(token="not-the-token-0123"), 0.0)
    assert not wrong.trusted and wrong.welcome, "a wrong guess may still watch; it only gets no reserved seat"
    assert not server.arrive(3, "10.0.0.4", hello(role="observer", token=None), 0.0).trusted


def test_without_a_token_whoever_asks_to_drive_is_trusted_and_watchers_are_not():
    open_rules = rules(token=None)
    assert open_rules.arrive(1, "h", hello(token=None), 0.0).trusted
    assert not open_rules.arrive(2, "h", hello(role="observer", token=None), 0.0).trusted
    assert not open_rules.arrive(3, "h", None, 0.0).trusted, "a client that said nothing asked for nothing"


def test_joining_with_the_arrival_judges_the_guess_once():
    server = rules()
    allowed = server.guard.allowed
    for i in range(allowed):
        first = hello(token=f"wrong-guess-{i:04d}-xx")
        server.join(i, "10.0.0.9", first, 0.0, server.arrive(i, "10.0.0.9", first, 0.0))
    assert server.guard.locked("10.0.0.9", 0.0) == 0, "each frame is one guess: judged twice, these would already lock"
    server.arrive(99, "10.0.0.9", hello(token="one-more-wrong-guess"), 0.0)
    assert server.guard.locked("10.0.0.9", 0.0) > 0


def test_a_locked_out_address_is_not_welcome_whatever_it_sends():
    server = rules()
    for i in range(40):
        server.arrive(i, "10.0.0.7", hello(token=f"wrong-guess-{i:04d}-xx"), 0.0)
    arrival = server.arrive(99, "10.0.0.7", hello(), 0.1)
    assert not arrival.welcome and not arrival.trusted, "even the right token waits out the lock-out"


def test_every_client_sees_what_kind_of_input_drives_and_when_it_changes():
    from teleop_server.rules.control import StatusChanged

    r = rules()
    r.join(1, "h", hello(client="phone", input="touch"), 0.0)
    assert r.pilot.describe().input == "touch"
    r.frame(1, control(0.0), 0.005)  # the first control clears the failsafe (a status of its own)
    same = r.frame(1, json.dumps({"type": "control", "axes": [0.1], "input": "touch"}), 0.01)
    assert StatusChanged() not in same, "an unchanged input kind must not cost a status to every client at the send rate"
    switched = r.frame(1, json.dumps({"type": "control", "axes": [0.1], "input": "gamepad"}), 0.02)
    assert StatusChanged() in switched and r.pilot.describe().input == "gamepad"
    assert drives(switched) == [{"B": "B100", "A": "A0"}]


def test_a_browser_pilot_obeys_the_same_token_takeover_and_estop_rules():
    r = rules()
    r.join(1, "h", hello(client="desktop", input="gamepad"), 0.0)
    r.join(2, "p", hello("observer", None, client="pilot page", input="touch"), 0.0)
    refused = r.frame(2, json.dumps({"type": "request_control", "takeover": True, "token": "wrong-token-0123456"}), 0.1)
    assert errors(refused, 2) == [ErrorCode.UNAUTHORIZED] and r.pilot is r.members[1]
    taken = r.frame(2, json.dumps({"type": "request_control", "takeover": True, "token": TOKEN}), 0.2)
    assert Neutral() in taken and r.pilot is r.members[2] and r.pilot.describe().input == "touch"
    r.frame(1, json.dumps({"type": "estop", "engaged": True}), 0.3)
    assert drives(r.frame(2, json.dumps({"type": "control", "axes": [0.5], "input": "touch"}), 0.4)) == []


def test_a_pilot_token_pasted_into_a_clients_name_is_never_shown_to_anyone():
    r = rules()
    joined = r.join(1, "h", hello(client=f"phone {TOKEN}"), 0.0)
    assert r.members[1].name == "phone (removed)"
    assert not [text for text in events(joined) if TOKEN in text]
