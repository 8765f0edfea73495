"""When the client sends control messages: enable, rate, cap, neutral on disable."""

import random

import pytest

from teleop.desktop.models.drive import DriveController, DriveSettings
from teleop.desktop.models.shaping import AxisShape


def controller(**settings):
    return DriveController(DriveSettings(default_shape=AxisShape(deadzone=0.0), **settings))


def test_nothing_is_sent_until_driving_is_enabled():
    drive = controller()
    assert drive.set_input([0.5], [1], [], 0.0) is None
    assert drive.poll(1.0) is None
    sent = drive.enable(1.0)
    assert sent.axes == (0.5,) and sent.buttons == (1,)


def test_a_stick_move_is_sent_at_once():
    drive = controller()
    drive.enable(0.0)
    sent = drive.set_input([0.3], [], [], 0.1)
    assert sent is not None and sent.axes == (0.3,)


def test_moves_faster_than_the_cap_are_coalesced_to_the_newest():
    drive = controller(cap_hz=250)
    drive.enable(0.0)
    assert drive.set_input([0.1], [], [], 0.010) is not None
    assert drive.set_input([0.2], [], [], 0.011) is not None  # two may go back to back
    assert drive.set_input([0.3], [], [], 0.012) is None
    assert drive.set_input([0.4], [], [], 0.013) is None
    assert drive.deadline() == pytest.approx(0.014)
    assert drive.poll(0.0139) is None
    sent = drive.poll(drive.deadline())
    assert sent.axes == (0.4,)


def test_a_pad_reporting_at_the_cap_rate_a_little_early_or_late_is_never_held_back():
    drive = controller(cap_hz=250)
    drive.enable(0.0)
    now, held_back = 0.0, []
    for i in range(500):  # 2 s of reports every 4 ms, each 0.6 ms early or late
        now += 0.0034 if i % 2 else 0.0046
        if drive.set_input([i / 1000], [], [], now) is None:
            held_back.append(i)
    assert held_back == []


def test_movements_never_go_out_faster_than_the_cap_allows():
    drive = controller(rate_hz=50, cap_hz=250)
    drive.enable(0.0)
    sent: list[float] = []
    for ms in range(1, 2001):  # a pad reporting a moving stick every millisecond for 2 s
        now = ms / 1000
        for control in (drive.set_input([ms / 2000], [], [], now), drive.poll(now)):
            if control is not None:
                sent.append(now)
    newest = drive.poll(drive.deadline())  # the stick stopped: its last movement goes out when the cap allows
    assert newest is not None and newest.axes == (1.0,)
    # two may go back to back, never three: any three in a row span one interval at least
    assert all(third - first >= 0.004 - 1e-9 for first, third in zip(sent, sent[2:], strict=False))
    assert len(sent) <= 2 * 250 + 1  # 250 a second, plus one


def test_a_still_stick_is_resent_at_the_configured_rate():
    drive = controller(rate_hz=50)
    drive.set_input([0.4], [], [], 0.0)
    drive.enable(0.0)
    assert drive.poll(0.01) is None
    assert drive.poll(0.02).axes == (0.4,)
    assert drive.deadline() == 0.04


def test_disabling_sends_neutral_once():
    drive = controller()
    drive.set_input([0.9, -0.5], [1, 1], [(1, 0)], 0.0)
    drive.enable(0.0)
    neutral = drive.disable(0.05)
    assert neutral.axes == (0.0, 0.0) and neutral.buttons == (0, 0) and neutral.hats == ((0, 0),)
    assert drive.disable(0.06) is None
    assert drive.poll(1.0) is None


def test_sequence_numbers_increase():
    drive = controller()
    first = drive.enable(0.0)
    second = drive.set_input([0.2], [], [], 0.1)
    assert second.seq > first.seq


def test_a_stick_move_right_after_a_periodic_resend_goes_out_at_once():
    drive = controller(rate_hz=50, cap_hz=250)
    drive.set_input([0.4], [], [], 0.0)
    drive.enable(0.0)
    assert drive.poll(0.020).axes == (0.4,)  # the steady-hand re-send
    # the re-send used none of the cap: the two movements it lets out back to back go 1 and 2 ms later
    moved = drive.set_input([0.5], [], [], 0.021)
    assert moved is not None and moved.axes == (0.5,)
    assert drive.set_input([0.6], [], [], 0.022) is not None
    assert drive.set_input([0.7], [], [], 0.023) is None  # but movements are still capped
    assert drive.deadline() == pytest.approx(0.025)


def test_after_sends_the_cap_never_holds_back_a_movement_waits_one_interval_at_most():
    drive = controller(cap_hz=250)
    drive.set_input([0.8], [], [], 0.0)
    drive.enable(0.0)
    for i, scale in enumerate((0.9, 0.8, 0.7, 0.6, 0.5)):  # slowing down goes out at once, whatever the cap says
        assert drive.set_scale(scale, 0.010 + i / 10000) is not None
    assert drive.set_input([0.85], [], [], 0.0143) is None  # 3.9 ms after the last of them
    moved = drive.set_input([0.9], [], [], 0.0145)  # 4.1 ms after
    assert moved is not None and moved.axes == (0.9 * 0.5,)


def test_a_cap_changed_while_driving_holds_a_movement_back_one_new_interval_at_most():
    drive = controller(rate_hz=50, cap_hz=5)
    drive.enable(0.0)
    assert drive.set_input([0.1], [], [], 1.000) is not None
    assert drive.set_input([0.2], [], [], 1.000) is not None
    drive.settings.cap_hz = 250
    assert drive.set_input([0.3], [], [], 1.001) is None
    assert drive.deadline() == pytest.approx(1.004)
    assert drive.poll(drive.deadline()).axes == (0.3,)


def test_at_its_deadline_a_held_back_change_or_the_resend_always_goes_out():
    """The app's timer fires at :meth:`DriveController.deadline`: a poll then that sent nothing would make it
    fire again at once, for ever if the sums disagreed by a rounding."""
    rng = random.Random(28)
    for rate_hz, cap_hz in ((50, 250), (30, 100), (7, 13)):
        drive = controller(rate_hz=rate_hz, cap_hz=cap_hz)
        now = rng.uniform(0, 1000)
        drive.enable(now)
        for _ in range(3000):
            now += rng.choice((0.0, rng.uniform(0, 0.002), rng.uniform(0, 0.05)))
            drive.set_input([rng.uniform(-1, 1)], [], [], now)
            if rng.random() < 0.5:
                now = max(now, drive.deadline())
                assert drive.poll(now) is not None


def test_a_change_held_back_by_a_slow_cap_never_delays_the_resend():
    drive = controller(rate_hz=50, cap_hz=10)
    drive.enable(0.0)
    assert drive.set_input([0.1], [], [], 0.001) is not None
    assert drive.set_input([0.2], [], [], 0.002) is None  # enable and the first movement used the burst
    assert drive.deadline() == pytest.approx(0.021)  # the re-send, 20 ms after the last message, not 100 ms
    assert drive.poll(drive.deadline()).axes == (0.2,)
