"""One table for the serial protocol: the firmware, the simulator, the config and the clients all follow it.

``server/serial_protocol.py`` holds the table; ``firmware/protocol.h`` is
generated from it. These tests fail when any of them drifts: a hand-edited
header, a C rule and its Python mirror answering differently, a report key
without its unit, a config that names a channel the firmware does not have.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import WsClient
from guitools import ServerProcess
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect

from teleop.wire import protocol
from teleop.wire.errors import ConfigError
from teleop_server.config import parse_config
from teleop_server.device.simulated import SimulatedDevice
from teleop_server.rules import serial_protocol
from teleop_server.rules.serial_protocol import CHANNELS, DEFAULT_REPORT_MS, FIRMWARE_NAME, FIRMWARE_VERSION, REPORT_UNITS, STOP_BYTE

ROOT = Path(__file__).resolve().parents[3]
FIRMWARE = ROOT / "firmware"


def test_committed_firmware_header_is_the_one_generated_from_the_table():
    generated = subprocess.run(
        [sys.executable, "-m", "teleop_server.rules.serial_protocol", "--c-header"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    committed = (FIRMWARE / "protocol.h").read_text()
    assert committed == generated, (
        "firmware/protocol.h was edited by hand: python -m teleop_server.rules.serial_protocol --c-header > firmware/protocol.h"
    )
    assert "do not edit" in committed
    for code in serial_protocol.DeviceError:
        assert f'X(ERR_{code.name}, "{serial_protocol.ERROR_TEXT[code]}")' in committed


@pytest.fixture(scope="module")
def firmware_rules(tmp_path_factory) -> Path:
    """The firmware's input rules (commands.c) built for this machine, as a bytes-in, text-out filter."""
    if not shutil.which("cc"):
        pytest.skip("no host C compiler (apt install gcc)")
    binary = tmp_path_factory.mktemp("replay") / "replay_commands"
    subprocess.run(
        ["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", str(binary), "test/replay_commands.c", "commands.c"],
        cwd=FIRMWARE,
        check=True,
    )
    return binary


def firmware_prints(binary: Path, data: bytes) -> str:
    return subprocess.run([str(binary)], input=data, capture_output=True, check=True).stdout.decode("ascii")


def simulator_prints(data: bytes) -> str:
    """The simulator made to look like the real firmware, fed the same bytes at one instant, then one report."""
    device = SimulatedDevice(name=FIRMWARE_NAME, version=FIRMWARE_VERSION, report_ms=DEFAULT_REPORT_MS)
    device.boot(0.0)
    printed = device.receive(data, 0.5).decode("ascii")
    for pin in range(serial_protocol.ANALOG_INPUTS):
        device.set_analog(pin, 0)
    device.set_digital(2, 0)
    return printed + device.report(0.5) + "\n"


STOP = bytes([STOP_BYTE])
EVERY_RULE = b"".join(
    [
        b"B12\nB-9999\nB10000\nB\nB12x\nB+7\nB1234567\n",
        b"A0\nA255\nA256\nA-1\n",
        b"O0 1000\nO0 2000\nO0 999\nO1 1500\nO2 255\nO3 0\nO3 256\nO4 0\nO-1 5\nO 5\nO0\nO0 \nO00000000 1\n",
        b"H\nHx\nI\nIx\nR0\nR9\nR10\nR10000\nR10001\nI\nR50\n",
        b"Z\n\n\r\nB5\r\n" + b"B" + b"1" * 100 + b"\nA1\n",
        b"O0 1800\nO2 " + STOP + b"9\n",  # a stop inside a line: dropped, the rest is a new line
        b"I\n" + STOP + STOP + b"A3\n",
        b"B" + b"9" * 80 + STOP + b"B4\n",  # a stop inside an overlong line ends it
        b"B1\x002\nH\x00\n\xff\n",
        b"O1 1200\nB77\nA9\nO2 9\nO3 200",  # ends mid-line: never executed
    ]
)


def test_firmware_rules_and_simulator_print_the_same_for_the_same_bytes(firmware_rules):
    firmware = firmware_prints(firmware_rules, EVERY_RULE)
    assert firmware == simulator_prints(EVERY_RULE)
    assert firmware.count("EVT stop neutral") == 4
    assert "ERR 4 line too long" in firmware and "ERR 5 bad channel" in firmware
    assert firmware.splitlines()[-1].endswith("disp:77 led:9 O0:1500 O1:1200 O2:9 O3:0 wd:0")


_PROTOCOL_BYTES = st.sampled_from([*b"BAOHIRZ0123456789 -+\n\r", STOP_BYTE, 0, 0x7F, 0xFF])


@settings(max_examples=150, deadline=None)
@given(st.lists(_PROTOCOL_BYTES, max_size=120).map(bytes) | st.binary(max_size=80))
def test_firmware_rules_and_simulator_agree_on_any_bytes(firmware_rules, data):
    assert firmware_prints(firmware_rules, data) == simulator_prints(data)


def test_reports_carry_the_tables_keys_and_every_key_has_a_unit(firmware_rules):
    report = firmware_prints(firmware_rules, b"").strip()
    keys = [token.split(":")[0] for token in report.split()]
    assert keys == list(REPORT_UNITS) == serial_protocol.report_keys()
    assert all(REPORT_UNITS.values())
    assert len(report) <= serial_protocol.max_report_length()
    assert keys == [token.split(":")[0] for token in SimulatedDevice().report(0.0).split()]


def test_info_reply_announces_protocol_2_the_channels_and_the_stop_byte(firmware_rules):
    reply = firmware_prints(firmware_rules, b"R10000\nI\n").splitlines()[1]
    parsed = serial_protocol.parse_device_line(reply)
    assert isinstance(parsed, serial_protocol.Ok)
    assert parsed.fields["protocol"] == "2" and serial_protocol.supports_stop(parsed.fields)
    assert serial_protocol.parse_outputs(parsed.fields["outputs"]) == CHANNELS
    assert len(reply) == serial_protocol.max_reply_length()  # the longest case: its buffer is exactly big enough
    assert not serial_protocol.supports_stop({"name": "teleop-uno", "version": "0.1.0", "protocol": "1"})


def _output(**entry) -> dict:
    return {"output": [{"source": "axis0", **entry}]}


def test_config_accepts_exactly_the_firmwares_channels():
    last = len(CHANNELS) - 1
    config = parse_config(_output(command="O", channel=last))
    (servo,) = config.outputs
    spec = CHANNELS[last]
    assert (servo.low, servo.high, servo.neutral) == (spec.low, spec.high, spec.neutral)  # unset: the device's own
    with pytest.raises(ConfigError, match=f"channel from 0 to {last}"):
        parse_config(_output(command="O", channel=last + 1))


def test_config_refuses_limits_the_device_would_reject():
    with pytest.raises(ConfigError, match=r"within 1000\.\.2000"):
        parse_config(_output(command="O", channel=0, min=900, max=2000, neutral=1500))
    with pytest.raises(ConfigError, match=r"within 0\.\.255"):
        parse_config(_output(command="A", max=300))
    (leds,) = parse_config(_output(command="A")).outputs
    assert (leds.low, leds.high, leds.neutral) == (0, 255, 0)


async def test_welcome_tells_clients_the_unit_of_every_reading():
    server = ServerProcess("sim").start()
    try:
        client = WsClient(await connect(server.url))
        await client.send({"type": "hello", "role": "observer", "client": "units-test"})
        welcome = await client.expect("welcome")
        assert welcome["units"] == REPORT_UNITS
        parsed = protocol.parse_server_message(client.raw[0])
        assert isinstance(parsed, protocol.Welcome) and parsed.units["O0"] == "servo µs"
        await client.close()
    finally:
        server.stop()


def test_a_welcome_without_units_or_with_bad_ones_still_parses():
    old = protocol.parse_server_message('{"type":"welcome","protocol":1,"role":"pilot"}')
    assert isinstance(old, protocol.Welcome) and old.units == {}
    odd = protocol.parse_server_message('{"type":"welcome","protocol":1,"units":{"A0":"V","A1":5}}')
    assert isinstance(odd, protocol.Welcome) and odd.units == {"A0": "V"}
    junk = protocol.parse_server_message('{"type":"welcome","protocol":1,"units":[1,2]}')
    assert isinstance(junk, protocol.Welcome) and junk.units == {}
