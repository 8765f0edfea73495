"""What a hobby sketch prints becomes readings, the way its author would name them."""

import pytest

from teleop_server.rules.plainlines import parse_plain_line


@pytest.mark.parametrize(
    ("line", "values"),
    [
        ("512", {"value": 512}),
        ("  -3.25 ", {"value": -3.25}),
        ("512,300,1", {"v0": 512, "v1": 300, "v2": 1}),
        ("512 300\t1", {"v0": 512, "v1": 300, "v2": 1}),
        ("temp:21.5 hum:40", {"temp": 21.5, "hum": 40}),
        ("temp=21.5, hum=40", {"temp": 21.5, "hum": 40}),
        ("temp: 21.5; hum = 40", {"temp": 21.5, "hum": 40}),
        ("A0:512 A1:300 D2:1", {"A0": 512, "A1": 300, "D2": 1}),
    ],
)
def test_sketch_output_becomes_readings(line, values):
    assert parse_plain_line(line) == values


def test_columns_name_the_numbers():
    assert parse_plain_line("512,300", ("left", "right")) == {"left": 512, "right": 300}
    assert parse_plain_line("7", ("distance_cm",)) == {"distance_cm": 7}
    assert parse_plain_line("1,2,3", ("a",)) == {"a": 1, "v1": 2, "v2": 3}


@pytest.mark.parametrize(
    "line", ["", "hello robot", "Setup done!", "temp:hot", "x=1 and more", "nan", "inf", "1e999", ",".join(["1"] * 40)]
)
def test_anything_else_is_not_a_reading(line):
    assert parse_plain_line(line) is None
