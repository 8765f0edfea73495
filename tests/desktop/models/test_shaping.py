"""Stick shaping: the values a pilot feels, tested without Qt or a gamepad."""

import math

from hypothesis import given
from hypothesis import strategies as st

from teleop.desktop.models.shaping import AxisCalibration, AxisShape, CalibrationCapture, shape_axes


def test_inside_the_deadzone_is_exactly_zero():
    shape = AxisShape(deadzone=0.1)
    assert shape.apply(0.09) == 0.0 and shape.apply(-0.1) == 0.0


def test_deadzone_rescales_so_full_deflection_still_reaches_one_without_a_jump():
    shape = AxisShape(deadzone=0.2)
    assert shape.apply(1.0) == 1.0 and shape.apply(-1.0) == -1.0
    assert math.isclose(shape.apply(0.2001), 0.000125, abs_tol=1e-4)
    assert math.isclose(shape.apply(0.6), 0.5)


def test_expo_softens_the_centre_but_keeps_the_ends():
    shape = AxisShape(deadzone=0.0, expo=0.5)
    assert shape.apply(0.5) < 0.5
    assert shape.apply(1.0) == 1.0


def test_inversion_flips_the_sign():
    assert AxisShape(deadzone=0, invert=True).apply(0.3) == -0.3


def test_calibration_maps_an_off_centre_stick_to_zero_and_full_travel_to_one():
    shape = AxisShape(deadzone=0.0, calibration=AxisCalibration(low=-0.8, center=0.1, high=0.9))
    assert shape.apply(0.1) == 0.0
    assert shape.apply(0.9) == 1.0 and shape.apply(-0.8) == -1.0
    assert math.isclose(shape.apply(0.5), 0.5)


def test_capture_builds_a_calibration_from_a_sweep():
    capture = CalibrationCapture()
    capture.center(0.05)
    for raw in (0.0, 0.5, 0.95, -0.3, -0.9, 0.2):
        capture.sample(raw)
    assert capture.result() == AxisCalibration(-0.9, 0.05, 0.95)


def test_capture_without_a_full_sweep_gives_nothing():
    capture = CalibrationCapture()
    capture.center(0.0)
    capture.sample(0.5)
    assert capture.result() is None


def test_axes_without_their_own_settings_use_the_default():
    assert shape_axes([0.02, 0.5], {1: AxisShape(deadzone=0.0, invert=True)}) == (0.0, -0.5)


@given(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(0, 1),
    st.floats(0, 1),
    st.booleans(),
)
def test_shaped_output_is_always_finite_and_in_range(raw, deadzone, expo, invert):
    value = AxisShape(deadzone=deadzone, expo=expo, invert=invert).apply(raw)
    assert math.isfinite(value) and -1.0 <= value <= 1.0


@given(st.floats(-1, 1), st.floats(-1, 1), st.floats(0, 0.5), st.floats(0, 1))
def test_shaping_is_monotonic(a, b, deadzone, expo):
    shape = AxisShape(deadzone=deadzone, expo=expo)
    low, high = sorted((a, b))
    assert shape.apply(low) <= shape.apply(high)
