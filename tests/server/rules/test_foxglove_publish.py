"""What a Foxglove client may publish (teleop_server.rules.foxglove): an e-stop, never a drive command."""

from __future__ import annotations

import json

from teleop_server.rules.foxglove import PublishRules

DRIVE = json.dumps({"type": "control", "axes": [0.9]})


def test_only_the_estop_topic_stops_and_each_refusal_is_logged_once():
    rules = PublishRules()
    assert rules.judge(1, "/estop", b'{"engaged": true}').estop
    assert rules.judge(1, "/estop", b"not json").estop  # a stop that cannot be read still stops
    first = rules.judge(1, "/pilot/control", DRIVE.encode())
    assert not first.estop and "refused" in first.refusal
    again = rules.judge(1, "/pilot/control", DRIVE.encode())
    assert not again.estop and again.refusal is None
    assert rules.judge(2, "/pilot/control", DRIVE.encode()).refusal is not None  # another client is told
    released = rules.judge(1, "/estop", b'{"engaged": false}')
    assert not released.estop and "only the pilot" in released.refusal
    rules.forget(1)
    assert rules.judge(1, "/pilot/control", DRIVE.encode()).refusal is not None


def test_the_foxglove_endpoint_is_off_unless_asked_and_on_loopback_unless_told():
    from teleop_server.cli import build_parser, config_from_args

    assert config_from_args(build_parser().parse_args([])).foxglove_port is None
    config = config_from_args(build_parser().parse_args(["--foxglove", "8766"]))
    assert (config.foxglove_port, config.foxglove_host) == (8766, "127.0.0.1")
    config = config_from_args(build_parser().parse_args(["--foxglove", "8766", "--foxglove-host", "0.0.0.0"]))
    assert config.foxglove_host == "0.0.0.0"
