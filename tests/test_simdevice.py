"""The simulated device follows the firmware's rules: one reply per line, codes, watchdog."""

from server.serial_protocol import MAX_LINE, DeviceError
from server.simdevice import SimulatedDevice


def booted(**kwargs):
    device = SimulatedDevice(**kwargs)
    assert device.boot(0.0).startswith(b"READY teleop-sim ")
    return device


def test_every_command_line_gets_exactly_one_reply():
    device = booted()
    replies = device.receive(b"B12\nA5\nO0 1600\nH\nI\nR100\n", 0.1).decode().splitlines()
    replies = [r for r in replies if not r.startswith("EVT")]
    assert len(replies) == 6
    assert replies[:4] == ["OK"] * 4 and replies[5] == "OK"
    assert replies[4].startswith("OK name=teleop-sim")
    assert (device.display, device.leds, device.outputs[0], device.report_ms) == (12, 5, 1600, 100)


def test_errors_carry_the_shared_codes():
    device = booted()
    cases = {
        b"Z1\n": DeviceError.UNKNOWN_COMMAND,
        b"Bxy\n": DeviceError.BAD_NUMBER,
        b"A300\n": DeviceError.OUT_OF_RANGE,
        b"O9 1500\n": DeviceError.BAD_CHANNEL,
        b"O0 900\n": DeviceError.OUT_OF_RANGE,
        b"B" + b"1" * (MAX_LINE + 5) + b"\n": DeviceError.LINE_TOO_LONG,
    }
    for line, code in cases.items():
        assert device.receive(line, 0.1).decode().startswith(f"ERR {int(code)} "), line


def test_watchdog_puts_outputs_to_neutral_after_500ms_without_a_control_line():
    device = booted()
    device.receive(b"O0 1800\nB50\n", 1.0)
    assert device.outputs[0] == 1800
    assert b"EVT watchdog" not in device.poll(1.49)
    device.receive(b"I\n", 1.3)  # a query does not feed the watchdog
    out = device.poll(1.5)
    assert b"EVT watchdog neutral" in out
    assert device.outputs[0] == 1500 and device.display == 0
    assert device.receive(b"H\n", 1.6).startswith(b"EVT watchdog resume")


def test_reports_arrive_at_the_configured_rate_and_reflect_outputs():
    device = booted(report_ms=50)
    device.receive(b"O2 200\n", 0.0)
    device.set_analog(0, 777)
    reports = [device.poll(t / 1000) for t in range(0, 1001, 5)]
    lines = [r for r in reports if r.startswith(b"A0:") or b"\nA0:" in r]
    assert 19 <= len(lines) <= 21
    assert b"A0:777" in lines[-1] and b"O2:200" in lines[0]
