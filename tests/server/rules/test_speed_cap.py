"""The server's speed cap, driven directly: no client can drive an output past it, and an operator lowers it live."""

import json

import pytest

from teleop.wire import protocol
from teleop.wire.errors import ConfigError
from teleop.wire.protocol import Control, ErrorCode, RecordCommand
from teleop_server.config import ServerConfig, parse_config
from teleop_server.rules.auth import Access
from teleop_server.rules.control import Broadcast, ControlRules, Drive, Send, StatusChanged
from teleop_server.rules.mapping import CommandMapper, OutputMap

TOKEN = "pilot-token-0123456789"
MOTOR = OutputMap(command="O", source="leftx", scale=1000, low=-1000, high=1000, neutral=0, channel=0)
SERVO = OutputMap(command="O", source="righty", scale=500, offset=1500, low=1000, high=2000, neutral=1500, channel=1)
LIGHTS = OutputMap(command="A", source="buttons", scale=1, low=0, high=255, neutral=0)


def rules(max_speed: float = 0.5) -> ControlRules:
    return ControlRules(Access(TOKEN), CommandMapper((MOTOR, SERVO, LIGHTS)), max_speed=max_speed, wall_clock=lambda: 1000.0)


def hello(role: str = "pilot", token: str | None = TOKEN, client: str = "pilot") -> str:
    return json.dumps({"type": "hello", "role": role, "client": client, "token": token})


def control(x: float, y: float = 0.0, buttons: int = 0) -> str:
    return json.dumps({"type": "control", "axes": [x, 0.0, 0.0, y], "buttons": [1] * buttons})


def cap(value: float, token: str | None = None) -> str:
    return json.dumps({"type": "speed_cap", "max_speed": value, **({"token": token} if token else {})})


def drives(effects) -> list[dict[str, str]]:
    return [e.lines for e in effects if isinstance(e, Drive)]


def errors(effects, client: int) -> list[str]:
    return [e.message.code for e in effects if isinstance(e, Send) and e.client == client and hasattr(e.message, "code")]


def test_the_cap_holds_each_output_within_its_fraction_of_travel_from_neutral():
    r = rules(0.5)
    r.join(1, "h", hello(), 0.0)
    assert drives(r.frame(1, control(1.0, -1.0), 0.01)) == [{"O0": "O0 500", "O1": "O1 1250", "A": "A0"}]
    assert drives(r.frame(1, control(-0.3, 0.2), 0.02)) == [{"O0": "O0 -300", "O1": "O1 1600", "A": "A0"}]


def test_buttons_are_switches_not_speeds_and_the_cap_leaves_them_alone():
    r = rules(0.25)
    r.join(1, "h", hello(), 0.0)
    assert drives(r.frame(1, control(0.0, 0.0, buttons=8), 0.01))[0]["A"] == "A255"


def test_no_cap_configured_changes_nothing():
    mapper = CommandMapper((MOTOR,))
    full = Control(axes=(1.0,))
    assert mapper.commands(full) == mapper.commands(full, 1.0) == {"O0": "O0 1000"}


def test_an_operator_with_the_token_lowers_the_cap_live_and_everyone_is_told():
    r = rules(0.5)
    r.join(1, "h", hello(), 0.0)
    r.join(2, "h", hello("observer", TOKEN, "dashboard"), 0.0)  # the dashboard, opened with the token
    r.frame(1, control(1.0), 0.01)
    lowered = r.frame(2, cap(0.2), 0.02)
    assert r.speed_cap == 0.2 and StatusChanged() in lowered
    assert any(isinstance(e, Broadcast) and "speed cap 20%" in e.message.text for e in lowered)
    assert drives(lowered) == [{"O0": "O0 200", "O1": "O1 1500", "A": "A0"}]  # the pilot's input re-applied at once
    assert drives(r.frame(1, control(1.0), 0.03))[0]["O0"] == "O0 200"


def test_nobody_raises_the_cap_past_the_configured_maximum():
    r = rules(0.5)
    r.join(2, "h", hello("observer", TOKEN, "dashboard"), 0.0)
    r.frame(2, cap(0.2), 0.01)
    r.frame(2, cap(1.0), 0.02)
    assert r.speed_cap == 0.5


def test_the_cap_cannot_be_set_without_the_token():
    r = rules(0.5)
    r.join(3, "h", hello("observer", None, "stranger"), 0.0)
    refused = r.frame(3, cap(0.1), 0.01)
    assert r.speed_cap == 0.5 and errors(refused, 3) == [ErrorCode.UNAUTHORIZED]
    r.frame(3, cap(0.1, TOKEN), 0.02)  # the token given with the request is enough
    assert r.speed_cap == 0.1


def test_a_record_button_asks_the_bridge_and_driving_goes_on():
    from teleop_server.rules.control import RecordRequest

    r = rules()
    r.join(1, "h", hello(), 0.0)
    answer = r.frame(1, json.dumps({"type": "record", "command": "start"}), 0.01)
    assert answer == [RecordRequest(1, "pilot", RecordCommand.START)]
    assert drives(r.frame(1, control(0.1), 0.02))


def test_recording_needs_the_token_like_a_snapshot():
    r = rules()
    r.join(2, "h", hello("observer", None, client="visitor"), 0.0)
    answer = r.frame(2, json.dumps({"type": "record", "command": "start"}), 0.01)
    assert errors(answer, 2) == [ErrorCode.UNAUTHORIZED]


def test_record_and_speed_cap_messages_are_typed_and_checked():
    assert protocol.parse_client_message('{"type":"record","command":"mark"}') == protocol.Record(RecordCommand.MARK)
    assert protocol.parse_client_message('{"type":"save_snapshot","seconds":30}') == protocol.SaveSnapshot(30.0)
    assert isinstance(protocol.parse_client_message('{"type":"record","command":"explode"}'), protocol.Invalid)
    assert isinstance(protocol.parse_client_message('{"type":"speed_cap","max_speed":1.5}'), protocol.Invalid)
    status = protocol.parse_server_message(protocol.encode(protocol.Status({}, None, False, False, 1, speed_cap=0.3)))
    assert status.speed_cap == 0.3
    assert protocol.parse_server_message('{"type":"status","speed_cap":"fast"}').speed_cap == 1.0


def test_max_speed_comes_from_the_limits_section_and_bad_values_are_refused():
    assert parse_config({"limits": {"max_speed": 0.5}}).max_speed == 0.5
    assert ServerConfig().max_speed == 1.0
    for bad in (0, 1.5, -0.1):
        with pytest.raises(ConfigError, match="max_speed"):
            parse_config({"limits": {"max_speed": bad}}).validate()
