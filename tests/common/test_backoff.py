"""The one backoff rule (teleop.common.backoff): its delays, every user's numbers, and the dashboard's copy of them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from teleop.common.backoff import (
    CAMERA_DELAYS,
    DASHBOARD_RECONNECT_DELAYS,
    DASHBOARD_VIDEO_DELAYS,
    DEFAULT_DELAYS,
    RECONNECT_DELAYS,
    Backoff,
)
from teleop.desktop.net.client import ClientSession
from teleop.desktop.net.video import VideoStream
from teleop_server.camera.capture import Camera
from teleop_server.device.link import DeviceLink
from teleop_server.rules.camerasource import CameraSettings

DASHBOARD = Path(__file__).resolve().parents[2] / "server" / "dashboard"


def test_retries_start_quick_and_settle_on_the_last_delay():
    backoff = Backoff((0.1, 0.25, 2.0))
    assert [backoff.failed() for _ in range(6)] == [0.1, 0.25, 2.0, 2.0, 2.0, 2.0]
    assert backoff.failures == 6 and backoff.settled == 2.0


def test_a_success_starts_the_quick_retries_over():
    backoff = Backoff(RECONNECT_DELAYS)
    for _ in range(10):
        backoff.failed()
    backoff.succeeded()
    assert backoff.failures == 0 and backoff.failed() == 0.1


def test_a_backoff_needs_at_least_one_delay_and_no_negative_one():
    with pytest.raises(ValueError):
        Backoff(())
    with pytest.raises(ValueError):
        Backoff((0.1, -1.0))


def test_each_retry_loop_keeps_its_own_delays():
    """The numbers users have lived with: the app capped at 2 s, the serial port at 1 s, the camera at 2 s."""
    assert RECONNECT_DELAYS == (0.1, 0.25, 0.5, 1.0, 2.0)
    assert ClientSession("ws://127.0.0.1:1/").backoff == RECONNECT_DELAYS
    assert VideoStream("http://127.0.0.1:1/video.mjpg").backoff == RECONNECT_DELAYS
    assert DEFAULT_DELAYS == (0.1, 0.2, 0.5, 1.0)
    assert DeviceLink("/dev/null").reopen_backoff == DEFAULT_DELAYS
    assert CAMERA_DELAYS == (0.2, 0.5, 1.0, 2.0)
    camera = Camera(CameraSettings("sim"), lambda jpeg, t: None, lambda state, detail: None)
    assert camera.backoff.delays == CAMERA_DELAYS


def js_delays(file: str, name: str) -> tuple[float, ...]:
    text = (DASHBOARD / file).read_text()
    match = re.search(rf"const {name} = \[([0-9, ]+)\];", text)
    assert match, f"{file} has no {name} table"
    return tuple(int(ms) / 1000 for ms in match.group(1).split(","))


def test_the_dashboard_retries_with_the_same_numbers_as_the_python_rule():
    assert js_delays("app.js", "RECONNECT_DELAYS_MS") == DASHBOARD_RECONNECT_DELAYS
    assert js_delays("pilot.js", "RECONNECT_DELAYS_MS") == DASHBOARD_RECONNECT_DELAYS
    assert js_delays("video.js", "VIDEO_RETRY_DELAYS_MS") == DASHBOARD_VIDEO_DELAYS


def test_the_dashboard_uses_its_delays_as_the_python_rule_does_the_last_one_repeating():
    """The page picks delay ``min(failures, last)`` from its table, as Backoff.failed does."""
    for file, name in (("app.js", "RECONNECT_DELAYS_MS"), ("pilot.js", "RECONNECT_DELAYS_MS"), ("video.js", "VIDEO_RETRY_DELAYS_MS")):
        text = (DASHBOARD / file).read_text()
        lookups = re.findall(rf"{name}\[Math\.min\(\w+\.retry\+\+, {name}\.length - 1\)\]", text)
        assert len(lookups) == 1, f"{file} picks its retry delay some other way"
        assert "2 **" not in text, f"{file} computes a delay of its own"
