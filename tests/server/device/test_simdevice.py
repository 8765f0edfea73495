"""The simulated device follows the firmware's rules: one reply per line, codes, watchdog."""

import os
import tty

from conftest import wait_for

from teleop_server.device.simulated import SimulatedDevice
from teleop_server.rules.serial_protocol import MAX_LINE, PROTOCOL_VERSION, STOP_BYTE, DeviceError


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


STOP = bytes([STOP_BYTE])


def test_stop_byte_puts_every_output_to_neutral_at_once_without_a_reply():
    device = booted()
    device.receive(b"O0 1800\nO2 200\nA5\nB42\n", 1.0)
    assert (device.outputs, device.leds, device.display) == ([1800, 1500, 200, 0], 5, 42)
    assert device.receive(STOP, 1.1) == b"EVT stop neutral\n"  # no OK/ERR: it is not a line
    assert (device.outputs, device.leds, device.display) == ([1500, 1500, 0, 0], 0, 0)
    assert device.watchdog_tripped and b"wd:1" in device.poll(1.2)


def test_stop_byte_discards_the_partial_line_it_interrupts():
    device = booted()
    device.receive(b"H\n", 1.0)
    assert device.receive(b"O1 17" + STOP + b"00\nB5\n", 1.1) == b"EVT stop neutral\nERR 1 unknown command\nEVT watchdog resume\nOK\n"
    assert device.outputs[1] == 1500 and device.display == 5


def test_lines_before_the_stop_are_answered_in_order_and_outputs_stay_neutral_until_a_control_line():
    device = booted()
    device.receive(b"H\n", 1.0)
    assert device.receive(b"O0 1900\n" + STOP + STOP, 1.1) == b"OK\nEVT stop neutral\nEVT stop neutral\n"
    assert device.outputs[0] == 1500
    assert device.receive(b"I\nR100\n", 1.2).count(b"OK") == 2  # queries do not resume
    assert device.watchdog_tripped
    assert b"EVT watchdog" not in device.poll(5.0)  # already neutral: no watchdog event on top
    assert device.receive(b"H\n", 5.1) == b"EVT watchdog resume\nOK\n"
    assert not device.watchdog_tripped and device.outputs[0] == 1500


def test_info_reply_announces_the_stop_byte():
    device = booted()
    fields = dict(token.split("=", 1) for token in device.receive(b"I\n", 0.1).decode().split()[1:])
    assert fields["stop"] == str(STOP_BYTE) and fields["protocol"] == str(PROTOCOL_VERSION)


async def test_device_behind_a_pty_answers_the_stop_byte_and_logs_it_apart_from_lines(pty_device):
    fd = os.open(pty_device.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(fd)
    received = b""

    def replies() -> bytes:
        nonlocal received
        try:
            received += os.read(fd, 4096)
        except BlockingIOError:
            pass
        return b"".join(line + b"\n" for line in received.split(b"\n")[:-1] if not line.startswith(b"A0:"))

    try:
        os.write(fd, b"B1\nO0 15" + STOP + b"B2\n")
        await wait_for(lambda: b"OK\n" + b"EVT stop neutral\nEVT watchdog resume\nOK\n" in replies(), what="replies")
    finally:
        os.close(fd)
    assert [line for _, line in pty_device.received_lines] == ["B1", "B2"]  # the cut "O0 15" is not a line
    assert len(pty_device.received_stops) == 1
    assert pty_device.device.display == 2 and pty_device.device.outputs[0] == 1500
