"""When the client sends control messages: enable, rate, cap, neutral on disable."""

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
    assert drive.set_input([0.2], [], [], 0.011) is None
    assert drive.set_input([0.3], [], [], 0.012) is None
    assert drive.deadline() == 0.014
    sent = drive.poll(0.014)
    assert sent.axes == (0.3,)


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
    moved = drive.set_input([0.5], [], [], 0.021)  # 1 ms later: not held back 3 ms by the cap
    assert moved is not None and moved.axes == (0.5,)
    assert drive.set_input([0.6], [], [], 0.022) is None  # but movements are still capped
    assert drive.deadline() == 0.025
