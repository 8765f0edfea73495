"""Classifying what the device prints, so a report can never be taken for a reply."""

from hypothesis import given
from hypothesis import strategies as st

from teleop_server.rules.serial_protocol import Comment, DeviceEvent, Err, LineSplitter, Ok, Ready, Report, Unrecognised, parse_device_line


def test_device_lines_are_classified():
    assert parse_device_line("READY teleop-uno 0.1.0") == Ready("teleop-uno", "0.1.0")
    assert parse_device_line("OK") == Ok({})
    assert parse_device_line("OK name=x version=1") == Ok({"name": "x", "version": "1"})
    assert parse_device_line("ERR 3 out of range") == Err(3, "out of range")
    assert parse_device_line("A0:512 A1:300 D2:1") == Report({"A0": 512, "A1": 300, "D2": 1})
    assert parse_device_line("temp:21.5") == Report({"temp": 21.5})
    assert parse_device_line("EVT watchdog neutral") == DeviceEvent("watchdog", "neutral")
    assert parse_device_line("# booting") == Comment("booting")


def test_seed_style_bare_number_is_unrecognised_not_a_reply():
    assert isinstance(parse_device_line("512"), Unrecognised)
    assert isinstance(parse_device_line("OKAY"), Unrecognised)
    assert isinstance(parse_device_line("A0:nan"), Unrecognised)


def test_splitter_joins_partial_lines_and_strips_cr():
    splitter = LineSplitter()
    assert splitter.feed(b"A0:1 ") == []
    assert splitter.feed(b"A1:2\r\nOK\n") == [b"A0:1 A1:2", b"OK"]


def test_splitter_drops_an_overlong_line_whole_and_recovers():
    splitter = LineSplitter(max_line=10)
    assert splitter.feed(b"x" * 8) == []
    assert splitter.feed(b"y" * 8) == []
    assert splitter.feed(b"zzz\nOK\n") == [None, b"OK"]


@given(st.binary(max_size=500))
def test_parsing_arbitrary_bytes_never_raises(data):
    for line in LineSplitter(max_line=64).feed(data):
        if line is not None:
            parse_device_line(line)
