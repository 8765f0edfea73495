"""Home Assistant's MQTT discovery schema, as its documentation gives it: what the fleet's discovery messages are checked against."""

from __future__ import annotations

import json

from teleop_server.rules.fleet import Message

COMMON = {"name", "unique_id", "device", "availability_topic", "payload_available", "payload_not_available", "icon", "qos"}
SCHEMA = {
    "binary_sensor": {
        "required": {"state_topic"},
        "optional": COMMON | {"payload_on", "payload_off", "device_class", "value_template"},
        "device_classes": {"connectivity", "safety", "problem", "running"},
    },
    "sensor": {
        "required": {"state_topic"},
        "optional": COMMON | {"value_template", "unit_of_measurement", "state_class", "device_class"},
        "state_classes": {"measurement", "total", "total_increasing"},
    },
    "button": {"required": {"command_topic"}, "optional": COMMON | {"payload_press", "retain", "device_class", "command_template"}},
}


def check_discovery(message: Message) -> tuple[str, dict]:
    prefix, component, node, object_id, last = message.topic.split("/")
    assert (prefix, last) == ("homeassistant", "config") and node.startswith("teleop_")
    assert all(c.isalnum() or c in "_-" for c in node + object_id)
    assert message.retain and message.qos == 1
    body = json.loads(message.payload)
    schema = SCHEMA[component]
    assert schema["required"] <= set(body), (message.topic, body)
    assert set(body) <= schema["required"] | schema["optional"], set(body) - schema["required"] - schema["optional"]
    assert body["device"]["identifiers"] and body["device"]["name"]
    if "device_class" in body and "device_classes" in schema:
        assert body["device_class"] in schema["device_classes"]
    if "state_class" in body:
        assert body["state_class"] in schema["state_classes"]
    return component, body
