"""The typed wire protocol: status records, event levels and kinds, close codes and message types.

The records must read exactly what servers send (and what older ones sent),
give defaults for odd fields without ever raising, and encode to the same JSON
as before. The app must decide how loud an event is from its level and kind,
never from its wording: a reworded server message must not change the app.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from teleop.desktop.models.appsettings import AppSettings
from teleop.desktop.models.connection import LogLevel, ServerStatus, event_log_level
from teleop.desktop.session.teleop_model import TeleopModel
from teleop.wire import jsnames, protocol
from teleop.wire.protocol import CloseCode, Event, EventKind, EventLevel, MessageType, Status, Welcome
from teleop.wire.records import CameraStatus, PilotStatus, SerialStatus
from teleop_server.net.static import ASSETS
from teleop_server.rules.auth import Access
from teleop_server.rules.control import Broadcast, Close, ControlRules
from teleop_server.rules.mapping import CommandMapper

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "server" / "dashboard"

#: A status as the server sends it, written out by hand: the JSON on the wire must not change.
SERVER_STATUS = {
    "type": "status",
    "serial": {
        "state": "ready",
        "port": "/dev/ttyACM0",
        "detail": "teleop-uno 1.2",
        "device": {"name": "teleop-uno", "version": "1.2", "stop": "24"},
        "profile": "teleop",
    },
    "pilot": {"id": 3, "name": "teleop-gui", "legacy": False},
    "failsafe": False,
    "estop": False,
    "clients": 2,
    "speed_cap": 0.5,
    "camera": {"state": "live", "path": "/video.mjpg", "detail": "sim camera", "source": "sim", "width": 640, "height": 480, "fps": 30.0},
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def test_a_status_reads_as_typed_records_and_encodes_to_the_same_json():
    status = protocol.parse_server_message(json.dumps(SERVER_STATUS))
    assert isinstance(status, Status)
    assert status.serial == SerialStatus(
        "ready", "/dev/ttyACM0", "teleop-uno 1.2", {"name": "teleop-uno", "version": "1.2", "stop": "24"}, "teleop"
    )
    assert status.pilot == PilotStatus(3, "teleop-gui", False)
    assert status.camera == CameraStatus("live", "/video.mjpg", "sim camera", "sim", 640, 480, 30.0)
    assert protocol.to_dict(status) == SERVER_STATUS
    assert protocol.parse_server_message(protocol.encode(status)) == status


def test_a_welcome_carries_the_whole_status_message_as_before():
    status = Status.from_json(SERVER_STATUS)
    welcome = Welcome(1, "teleop-server 1", "s", protocol.Role.PILOT, status, {"A0": 5}, client_id=3)
    sent = protocol.to_dict(welcome)
    assert sent["status"] == SERVER_STATUS, "older clients read welcome.status as a status message"
    assert protocol.parse_server_message(protocol.encode(welcome)) == welcome
    by_hand = Welcome(1, "x", "s", protocol.Role.OBSERVER, {"serial": {"state": "ready"}, "pilot": None}, {})
    assert by_hand.status.serial.state == "ready" and by_hand.status.pilot is None, "the JSON form is read into records"


def test_nobody_driving_and_no_camera_are_none_and_stay_off_the_wire_as_before():
    status = protocol.parse_server_message('{"type":"status","serial":{"state":"lost"},"pilot":null,"failsafe":true}')
    assert isinstance(status, Status) and status.pilot is None and status.camera is None and status.failsafe
    sent = protocol.to_dict(status)
    assert sent["pilot"] is None and "camera" not in sent


def test_odd_fields_get_their_defaults_and_the_rest_of_the_status_is_kept():
    odd = {
        "type": "status",
        "serial": {"state": 5, "port": None, "device": {"name": "uno", "pins": 14, "n" * 3: ["x"]}, "profile": 7},
        "pilot": {"id": "3", "name": ["me"], "legacy": "yes"},
        "camera": {"state": "live", "path": "http://elsewhere/x.mjpg", "width": "640", "fps": 1e999},
        "failsafe": True,
        "clients": True,
    }
    status = protocol.parse_server_message(json.dumps(odd).replace('"fps": Infinity', '"fps": 1e999'))
    assert isinstance(status, Status)
    assert status.serial == SerialStatus(device={"name": "uno"})
    assert status.pilot == PilotStatus(0, "", False)
    assert status.camera == CameraStatus("live", "/video.mjpg", "", "", None, None, None), "a stream only from the robot itself"
    assert status.failsafe and status.clients == 0


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_records_read_any_json_without_raising(value):
    for record in (SerialStatus, PilotStatus, CameraStatus, Status):
        record.from_json(value)
        record.from_json({"serial": value, "pilot": value, "camera": value, "state": value, "device": value, "path": value, "id": value})


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["status", "welcome", "event"]),
    st.dictionaries(st.sampled_from(["serial", "pilot", "camera", "status", "level", "kind", "text", "t", "protocol"]), json_values),
)
def test_server_messages_with_any_fields_parse_or_are_invalid_never_raise(kind, fields):
    result = protocol.parse_server_message(json.dumps({**fields, "type": kind}))
    assert isinstance(result, (Status, Welcome, Event, protocol.Invalid))


def test_an_event_carries_its_level_and_kind_on_the_wire():
    event = Event(EventLevel.WARNING, "emergency stop by pad", 5.0, EventKind.ESTOP)
    sent = protocol.to_dict(event)
    assert (sent["level"], sent["kind"], sent["text"]) == ("warning", "estop", "emergency stop by pad")
    assert protocol.parse_server_message(protocol.encode(event)) == event


def test_an_event_with_a_kind_is_never_read_by_its_words():
    said = protocol.parse_server_message('{"type":"event","level":"warning","kind":"device","text":"failsafe: the board says so"}')
    assert isinstance(said, Event) and said.kind is EventKind.DEVICE
    newer = protocol.parse_server_message('{"type":"event","level":"critical","kind":"teleport","text":"failsafe: beamed"}')
    assert isinstance(newer, Event) and (newer.level, newer.kind) == (EventLevel.INFO, EventKind.OTHER), "unknown names from a newer server"
    odd = protocol.parse_server_message('{"type":"event","level":["warning"],"kind":{"a":1},"text":"x"}')
    assert isinstance(odd, Event) and (odd.level, odd.kind) == (EventLevel.INFO, EventKind.OTHER), "odd names are read, not refused"


def test_an_older_servers_events_get_their_kind_from_the_wording_it_always_used():
    def kind_of(text: str) -> EventKind:
        event = protocol.parse_server_message(json.dumps({"type": "event", "level": "warning", "text": text}))
        assert isinstance(event, Event)
        return event.kind

    assert kind_of("failsafe: no control from the pilot for 250 ms") is EventKind.FAILSAFE
    assert kind_of("emergency stop by gui") is EventKind.ESTOP
    assert kind_of("serial link lost: unplugged") is EventKind.DEVICE
    assert kind_of("camera lost: /dev/video0 was unplugged") is EventKind.CAMERA
    assert kind_of("gui took over from pad") is EventKind.OTHER


def connected_model() -> tuple[TeleopModel, list]:
    model = TeleopModel(AppSettings())
    log: list = []
    model.log.connect(log.append)
    return model, log


def test_the_app_hears_an_idle_failsafe_as_news_however_the_server_words_it():
    model, log = connected_model()
    model._on_message(Event(EventLevel.WARNING, "outputs held at neutral: nobody is sending", 0.0, EventKind.FAILSAFE))
    assert log[-1].level is LogLevel.INFO, "a reworded failsafe is still the idle failsafe"
    model._on_message(Event(EventLevel.WARNING, "failsafe-shaped words about the board", 0.0, EventKind.DEVICE))
    assert log[-1].level is LogLevel.WARNING, "words that start like a failsafe do not make a device warning quiet"


def test_how_loud_an_event_is_follows_its_level_and_kind():
    failsafe = Event(EventLevel.WARNING, "anything", 0.0, EventKind.FAILSAFE)
    assert event_log_level(failsafe, driving=False) is LogLevel.INFO
    assert event_log_level(failsafe, driving=True) is LogLevel.WARNING, "while we drive it is a warning"
    for level in EventLevel:
        for kind in set(EventKind) - {EventKind.FAILSAFE}:
            assert event_log_level(Event(level, "failsafe", 0.0, kind), driving=False) is LogLevel(level.value)


def test_the_app_reads_the_typed_status():
    status = Status.from_json(SERVER_STATUS)
    assert ServerStatus.from_message(status) == ServerStatus("ready", False, False, "teleop-gui", 2, 0.5, has_pilot=True)
    model, _ = connected_model()
    model._on_message(status)
    assert model.connection.status.device == "ready" and model.video.camera == status.camera


def test_every_event_the_rules_make_says_its_level_and_kind():
    rules = ControlRules(Access(None), CommandMapper(), failsafe_timeout=0.25, wall_clock=lambda: 1000.0)
    hello = json.dumps({"type": "hello", "role": "pilot", "client": "gui"})
    effects = rules.join(1, "h", hello, 0.0)
    effects += rules.frame(1, json.dumps({"type": "control", "axes": [0.5]}), 0.01)
    effects += rules.tick(1.0)
    effects += rules.frame(1, json.dumps({"type": "estop"}), 1.1)
    said = [(e.message.level, e.message.kind) for e in effects if isinstance(e, Broadcast) and isinstance(e.message, Event)]
    assert said == [
        (EventLevel.INFO, EventKind.PILOT),
        (EventLevel.INFO, EventKind.FAILSAFE),
        (EventLevel.WARNING, EventKind.FAILSAFE),
        (EventLevel.WARNING, EventKind.ESTOP),
    ]


def test_the_rules_close_with_named_codes():
    rules = ControlRules(Access("token-0123456789"), CommandMapper(), wall_clock=lambda: 1000.0)
    rules.join(1, "h", json.dumps({"type": "hello", "role": "pilot", "token": "wrong"}), 0.0)
    effects = []
    for i in range(10):
        effects += rules.frame(1, json.dumps({"type": "request_control", "token": f"wrong{i}"}), 0.1 * i)
    closes = [e for e in effects if isinstance(e, Close)]
    assert closes and all(type(c.code) is CloseCode and c.code is CloseCode.POLICY_VIOLATION for c in closes)
    assert CloseCode.POLICY_VIOLATION == 1008 and CloseCode.TRY_AGAIN_LATER == 1013, "the numbers on the wire"


def test_every_message_type_has_its_parser_and_every_message_its_type():
    assert set(MessageType) == set(protocol._CLIENT_PARSERS) | set(protocol._SERVER_PARSERS)
    assert set(MessageType) == set(protocol._TYPE_NAMES.values())


def test_committed_dashboard_names_are_the_ones_generated_from_the_protocol():
    generated = subprocess.run([sys.executable, "-m", "teleop.wire.jsnames"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert (DASHBOARD / "wire.js").read_text() == generated, (
        "server/dashboard/wire.js was edited by hand: python -m teleop.wire.jsnames > server/dashboard/wire.js"
    )
    assert "do not edit" in generated


@pytest.mark.skipif(not shutil.which("node"), reason="needs node (apt install nodejs) to run the dashboard's wire.js")
def test_the_dashboards_names_read_in_javascript_as_in_python():
    script = (DASHBOARD / "wire.js").read_text() + "\nprocess.stdout.write(JSON.stringify(wire));"
    seen = json.loads(subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True, timeout=30).stdout)
    for enum in jsnames.TABLES:
        assert seen[enum.__name__] == {member.name: member.value for member in enum}
    assert seen["PROTOCOL_VERSION"] == protocol.PROTOCOL_VERSION


def test_the_dashboard_is_served_its_names_and_uses_them_instead_of_bare_values():
    assert ASSETS["/wire.js"][0] == "wire.js"
    page = (DASHBOARD / "index.html").read_text()
    assert page.index('src="wire.js"') < page.index('src="video.js"') < page.index('src="app.js"'), "wire.js loads first"
    for script in sorted(set(DASHBOARD.glob("*.js")) - {DASHBOARD / "wire.js"}):
        js = script.read_text()
        assert not re.findall(r"code\s*[!=]==?\s*\d", js), f"{script.name}: close codes by name, wire.CloseCode"
        for name in MessageType:
            assert not re.findall(rf"(?:type:|case)\s*[\"'`]{name.value}[\"'`]", js), f"{script.name}: wire.MessageType.{name.name}"
    app = (DASHBOARD / "app.js").read_text()
    assert not re.findall(r"logEvent\(\s*[\"'`]", app), "event levels by name: wire.EventLevel"
    assert "wire.CloseCode.POLICY_VIOLATION" in app and "wire.EventKind" in app
