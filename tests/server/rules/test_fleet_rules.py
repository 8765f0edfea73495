"""The fleet broker's rules, directly, with a fake clock: topics, payloads, pacing, the stop command, reconnecting, discovery."""

from __future__ import annotations

import json

import pytest
from hakit import check_discovery

from teleop.common.backoff import Backoff
from teleop.wire import fleet
from teleop.wire.errors import ConfigError
from teleop.wire.fleet import parse_broker_url
from teleop_server.rules import control
from teleop_server.rules.auth import Access, ObserverAccess
from teleop_server.rules.control import ControlRules
from teleop_server.rules.fleet import (
    BROKER_DELAYS,
    MAX_TWINS_TOLD,
    BrokerLink,
    Discovery,
    EstopInbox,
    Message,
    Outbox,
    ReadingsPace,
    TwinWatch,
    discovery_messages,
    robot_state,
)
from teleop_server.rules.mapping import CommandMapper

# --------------------------------------------------------------------------- names and topics


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Rover 1", "rover-1"),
        ("lab/robot#2+", "lab-robot-2"),
        ("  ", "robot"),
        ("Émile's bot", "mile-s-bot"),
        ("a" * 100, "a" * fleet.MAX_ID),
        ("--x--", "x"),
    ],
)
def test_a_robot_name_becomes_a_topic_safe_id(name, expected):
    assert fleet.robot_id(name) == expected
    assert not set(fleet.robot_id(name)) & set("+#/ ")


def test_topics_are_named_under_teleop_and_parsed_back():
    assert fleet.topic("rover-1", fleet.ESTOP) == "teleop/rover-1/cmd/estop"
    assert fleet.parse_topic("teleop/rover-1/cmd/estop/ack") == ("rover-1", fleet.ESTOP_ACK)
    assert fleet.parse_topic("teleop/rover-1/state") == ("rover-1", fleet.STATE)
    for stranger in ("teleop/Rover/state", "teleop/rover/other", "other/rover/state", "teleop/state", ""):
        assert fleet.parse_topic(stranger) is None


def test_state_round_trips_and_never_holds_a_token():
    state = fleet.RobotState("Rover", address="ws://10.0.0.5:8765", pilot="ann", input="app", failsafe=False, estop=True)
    assert fleet.parse_state(state.to_json()) == state
    assert "secret" not in state.to_json()
    assert "token" in json.loads(state.to_json()) and json.loads(state.to_json())["token"] is True


@pytest.mark.parametrize("payload", [None, b"", b"\xff", "[]", "{}", '{"name": 3}', "1e999999", '{"name": "x", "address": 5}'])
def test_a_strangers_state_never_raises(payload):
    state = fleet.parse_state(payload)
    assert state is None or isinstance(state, fleet.RobotState)


def test_another_robot_under_this_robots_name_is_said_once_and_its_own_messages_never():
    twins = TwinWatch("aaaa1111", "raspberrypi")
    mine = fleet.RobotState("raspberrypi", address="ws://10.0.0.5:8765", instance="aaaa1111")
    other = fleet.RobotState("raspberrypi", address="ws://10.0.0.6:8765", instance="bbbb2222")
    last_run = fleet.RobotState("raspberrypi", address="ws://10.0.0.5:8765", instance="cccc3333")
    assert twins.heard(mine, retained=False) is None
    assert twins.heard(last_run, retained=True) is None, "a retained state may be this robot's own from its last run"
    assert twins.heard(None, retained=False) is None and twins.heard(fleet.RobotState("raspberrypi"), retained=False) is None
    warning = twins.heard(other, retained=False)
    assert warning is not None and "'raspberrypi'" in warning and "ws://10.0.0.6:8765" in warning and "--name" in warning
    assert twins.heard(other, retained=False) is None, "said once"
    strangers = [twins.heard(fleet.RobotState("raspberrypi", instance=f"x{i}"), retained=False) for i in range(100)]
    assert len([w for w in strangers if w]) == MAX_TWINS_TOLD - 1, "a flood of made-up runs is not said a hundred times"
    assert fleet.parse_state(other.to_json()) == other


def test_a_published_address_that_is_not_a_websocket_url_is_ignored():
    state = fleet.parse_state('{"name": "x", "address": "file:///etc/passwd"}')
    assert state is not None and state.address == ""


def test_readings_payload_drops_what_json_cannot_say():
    data = json.loads(fleet.readings_payload(1.5, {"a": 1, "b": float("nan"), "c": float("inf"), "d": 2.5}))
    assert data == {"t": 1.5, "values": {"a": 1, "d": 2.5}}


# --------------------------------------------------------------------------- broker URL


def test_broker_urls_name_host_port_and_tls():
    assert str(parse_broker_url("mqtt://broker.lan")) == "mqtt://broker.lan:1883"
    assert parse_broker_url("mqtts://broker.lan").port == 8883
    url = parse_broker_url("mqtts://10.0.0.2:9000")
    assert (url.host, url.port, url.tls) == ("10.0.0.2", 9000, True)


@pytest.mark.parametrize("text", ["http://x", "broker:1883", "mqtt://", "mqtt://x:99999", "mqtt://x/path", "mqtt://u:p@x"])
def test_a_bad_broker_url_is_a_clear_config_error(text):
    with pytest.raises(ConfigError, match="mqtt"):
        parse_broker_url(text)


def test_credentials_in_the_url_are_refused_with_where_they_go():
    with pytest.raises(ConfigError, match="config file"):
        parse_broker_url("mqtt://robot:hunter2@broker")


# --------------------------------------------------------------------------- outbox


def test_outbox_keeps_the_newest_state_and_readings_and_sends_acks_first():
    box = Outbox(max_events=2)
    box.latest(Message("teleop/r/state", "old", 1, True))
    box.readings(Message("teleop/r/readings", "r1"))
    box.latest(Message("teleop/r/state", "new", 1, True))
    box.readings(Message("teleop/r/readings", "r2"))
    for i in range(5):
        box.event(Message("teleop/r/events", f"e{i}"))
    box.ack(Message("teleop/r/cmd/estop/ack", "ack", 1))
    order = [m.payload for m in iter(box.take, None)]
    assert order == ["ack", "new", "r2", "e3", "e4"]
    assert box.dropped == 1 + 1 + 3


def test_outbox_stays_bounded_however_long_the_broker_is_gone():
    box = Outbox()
    for i in range(100_000):
        box.readings(Message("r", str(i)))
        box.event(Message("e", str(i)))
        box.latest(Message("s", str(i)))
        box.ack(Message("a", str(i)))
    assert len(box) <= 1 + 1 + 32 + 64


def test_a_lost_link_drops_stale_readings_and_events_but_keeps_the_state():
    box = Outbox()
    box.latest(Message("s", "state"))
    box.readings(Message("r", "x"))
    box.event(Message("e", "x"))
    box.drop_transient()
    assert [m.payload for m in iter(box.take, None)] == ["state"]


def test_a_closed_outbox_sends_nothing_after_the_robots_own_offline():
    """The link came up and queued `online`; the robot stops before the sender took it. The stop says `offline`
    itself: the queued `online` must never follow it, or the broker keeps a robot that exited as online."""
    box = Outbox()
    box.latest(Message("teleop/r/connection", "online", 1, True))
    box.ack(Message("teleop/r/cmd/estop/ack", "ack", 1))
    box.close()
    assert box.take() is None
    box.latest(Message("teleop/r/state", "stopping", 1, True))  # the stop's own state change comes after
    assert box.take() is None


# --------------------------------------------------------------------------- readings pace


def test_readings_go_at_most_at_the_rate_with_the_newest_values():
    pace = ReadingsPace(rate=4.0)
    assert pace.delay(0.0) is None  # nothing yet
    pace.update({"a": 1})
    assert pace.delay(0.0) == 0
    assert pace.take(0.0) == {"a": 1}
    assert pace.delay(0.01) is None
    for i in range(100):  # a chatty device between two publishes
        pace.update({"a": i, "b": -i})
    assert pace.delay(0.01) == pytest.approx(0.24)
    assert pace.take(0.25) == {"a": 99, "b": -99}
    pace.update({"b": 7, "c": float("nan")})
    assert pace.take(0.5) == {"a": 99, "b": 7}  # the whole snapshot; NaN is never published


# --------------------------------------------------------------------------- the fleet e-stop


def test_every_stop_message_stops_and_is_acknowledged_with_its_nonce():
    inbox = EstopInbox("rover")
    decision = inbox.receive(fleet.EstopCommand("ann", "n1").to_json(), now=1.0, wall=1000.0)
    assert decision.stop and decision.who == "ann"
    assert decision.ack == fleet.EstopAck("rover", "ann", "n1", 1000.0, engaged=True, duplicate=False)
    assert fleet.parse_ack(decision.ack.to_json()) == decision.ack


def test_a_redelivered_stop_is_acknowledged_again_but_not_announced_twice():
    inbox = EstopInbox("rover")
    inbox.receive('{"who": "ann", "nonce": "n1"}', now=1.0, wall=0)
    again = inbox.receive('{"who": "ann", "nonce": "n1"}', now=2.0, wall=0)
    assert not again.stop and again.ack.duplicate
    assert inbox.receive('{"who": "ann", "nonce": "n2"}', now=3.0, wall=0).stop


def test_nonces_are_forgotten_after_a_while_and_memory_is_bounded():
    inbox = EstopInbox("rover", memory=10, window=60.0)
    inbox.receive('{"nonce": "old"}', now=0.0, wall=0)
    assert inbox.receive('{"nonce": "old"}', now=61.0, wall=0).stop  # remembered no longer than the window
    for i in range(1000):
        inbox.receive(json.dumps({"nonce": str(i)}), now=100.0, wall=0)
    assert len(inbox._seen) <= 11


@pytest.mark.parametrize("payload", [None, b"", b"PRESS", b"\xff\xfe", "[1]", '{"who": 5, "nonce": true}', '{"engaged": false}'])
def test_any_payload_on_the_stop_topic_stops_the_robot(payload):
    """Stopping is always safe: a bare payload (a dashboard button) or garbage is a stop from "unknown sender"."""
    decision = EstopInbox("rover").receive(payload, now=0.0, wall=0.0)
    assert decision.stop and decision.ack.engaged


def _rules() -> ControlRules:
    return ControlRules(Access(None, ObserverAccess("open")), CommandMapper(), wall_clock=lambda: 0.0)


def test_a_fleet_stop_goes_through_the_same_rule_as_every_stop_and_only_the_pilot_releases_it():
    rules = _rules()
    rules.join(1, "10.0.0.9", '{"type":"hello","role":"pilot","client":"ann"}', 0.0)
    effects = rules.remote_estop("dashboard (fleet broker)")
    assert isinstance(effects[0], control.Neutral)
    assert rules.estop and any(isinstance(e, control.Broadcast) and "dashboard" in e.message.text for e in effects)
    refused = rules.frame(1, '{"type":"control","axes":[0.5],"buttons":[]}', 0.1)
    assert not any(isinstance(e, control.Drive) for e in refused)
    assert rules.remote_estop("again")[0] == control.Neutral()  # a second stop is neutral again, not announced twice
    rules.frame(1, '{"type":"estop","engaged":false}', 0.2)
    assert not rules.estop


# --------------------------------------------------------------------------- link decisions


def test_a_down_broker_is_reported_once_and_retried_with_the_backoff_rule():
    link = BrokerLink(parse_broker_url("mqtt://b:1883"), Backoff(BROKER_DELAYS))
    first = link.failed("connection refused")
    assert first.report and "cannot reach" in first.report and first.delay == BROKER_DELAYS[0]
    delays = [first.delay]
    for _ in range(10):
        retry = link.failed("connection refused")
        assert retry.report is None
        delays.append(retry.delay)
    assert delays[: len(BROKER_DELAYS)] == list(BROKER_DELAYS) and set(delays[len(BROKER_DELAYS) :]) == {BROKER_DELAYS[-1]}
    assert link.failed("not authorised").report  # a different trouble is worth a line
    assert "back" in link.succeeded()


def test_a_link_that_breaks_after_working_is_reported_and_starts_quick_again():
    link = BrokerLink(parse_broker_url("mqtt://b:1883"))
    assert "connected" in link.succeeded()
    retry = link.failed("keepalive timeout")
    assert retry.report and "lost" in retry.report and retry.delay == BROKER_DELAYS[0]


@pytest.mark.parametrize("reason", ["Operation timed out", "[Errno 104] Connection reset by peer"])
def test_a_plain_connection_cut_or_unanswered_suggests_mqtts_on_the_same_port(reason):
    """What a TLS-only broker does to plain MQTT (Debian's mosquitto with a certfile times it out)."""
    report = BrokerLink(parse_broker_url("mqtt://broker.lan:8883")).failed(reason).report
    assert report and reason in report and "try mqtts://broker.lan:8883" in report


def test_no_tls_hint_where_tls_is_already_used_or_the_broker_said_why():
    assert "mqtts" not in str(BrokerLink(parse_broker_url("mqtt://b")).failed("[Errno 111] Connection refused").report)
    assert "mqtts" not in str(BrokerLink(parse_broker_url("mqtt://b")).failed("timed out").report), "TCP's own: no answer at all"
    worked = BrokerLink(parse_broker_url("mqtt://b"))
    worked.succeeded()
    worked.failed("keepalive timeout")
    assert "mqtts" not in str(worked.failed("Operation timed out").report), "it answered plain MQTT before"
    assert "try mqtts" not in str(BrokerLink(parse_broker_url("mqtts://b")).failed("Operation timed out").report)


# --------------------------------------------------------------------------- state


def test_robot_state_says_who_drives_and_never_the_token():
    status = {
        "serial": {"state": "ready", "device": {"name": "teleop-uno", "version": "3"}},
        "pilot": {"id": 1, "name": "ann", "legacy": False},
        "failsafe": False,
        "estop": False,
        "camera": {"state": "live"},
    }
    state = robot_state(name="Rover", address="ws://10.0.0.5:8765", token=True, server="teleop-server 1", status=status, recording=True)
    assert (state.pilot, state.input, state.device, state.firmware, state.camera) == ("ann", "app", "ready", "teleop-uno 3", "live")
    status["pilot"] = {"id": 1, "name": "ann", "legacy": False, "input": "touch"}
    touch = robot_state(name="Rover", address="", token=True, server="", status=status, recording=False)
    assert touch.input == "touch", "what the pilot drives with, as every client sees it"
    nobody = robot_state(name="R", address="", token=False, server="", status={"serial": {}, "pilot": None}, recording=False)
    assert nobody.pilot is None and nobody.camera is None and nobody.failsafe


# --------------------------------------------------------------------------- Home Assistant discovery


#: Home Assistant's MQTT discovery, as documented for each platform: what must be there, what may be.
def test_home_assistant_discovery_matches_its_documented_schema():
    messages = discovery_messages("rover", "Rover", "teleop-server 1", ["battery_v", "odd key"], {"battery_v": "V"})
    found = {}
    for message in messages:
        component, body = check_discovery(message)
        found[body["unique_id"]] = (component, body)
    assert len(found) == len(messages)  # unique ids are unique
    connection = found["teleop_rover_connection"][1]
    assert connection["device_class"] == "connectivity" and connection["state_topic"] == "teleop/rover/connection"
    assert "availability_topic" not in connection  # connectivity shows offline, not "unavailable"
    button = found["teleop_rover_estop"][1]
    assert button["command_topic"] == "teleop/rover/cmd/estop" and button["retain"] is False
    assert fleet.parse_estop(button["payload_press"]).who == "Home Assistant"
    battery = found["teleop_rover_reading_battery_v"][1]
    assert battery["unit_of_measurement"] == "V" and battery["value_template"] == "{{ value_json['values'][\"battery_v\"] }}"
    assert all(b["availability_topic"] == "teleop/rover/connection" for c, b in found.values() if b is not connection)


def test_a_new_reading_key_gets_its_sensor_once():
    discovery = Discovery("rover", "Rover", "s", {})
    assert len(discovery.new_keys({"a": 1, "b": 2})) == 2
    assert discovery.new_keys({"a": 3}) == []
    assert len(discovery.all()) == 4 + 2


# --------------------------------------------------------------------------- settings


def test_fleet_settings_come_from_the_command_line_and_the_config_file():
    from teleop_server.cli import build_parser, config_from_args
    from teleop_server.config import parse_config

    config = config_from_args(build_parser().parse_args(["--mqtt", "mqtts://broker.lan", "--name", "Rover 1"]))
    assert (config.mqtt, config.announce_name, config.mqtt_readings_rate, config.mqtt_discovery) == (
        "mqtts://broker.lan",
        "Rover 1",
        4.0,
        False,
    )
    config = parse_config(
        {"mqtt": {"url": "mqtt://b:1884", "username": "rover-1", "password_file": "/p", "readings_hz": 10, "discovery": True}}
    )
    assert (config.mqtt, config.mqtt_username, config.mqtt_password_file, config.mqtt_readings_rate, config.mqtt_discovery) == (
        "mqtt://b:1884",
        "rover-1",
        "/p",
        10,
        True,
    )


@pytest.mark.parametrize(
    ("mqtt", "message"),
    [
        ({"url": "http://b"}, "mqtt://HOST:PORT"),
        ({"readings_hz": 0}, "readings_hz"),
        ({"keepalive_s": 600}, "keepalive_s"),
        ({"address": "10.0.0.5:8765"}, "ws://"),
        ({"discovery_prefix": "home/#"}, "discovery_prefix"),
        ({"password": "hunter2"}, "unknown key mqtt.password"),
    ],
)
def test_a_bad_fleet_setting_is_a_clear_error_naming_the_key(mqtt, message):
    from teleop_server.config import parse_config

    with pytest.raises(ConfigError, match=message.replace("+", r"\+").replace(".", r"\.")):
        parse_config({"mqtt": mqtt})
