"""The readings plot's axes (the painting itself is seen in the GUI tests' screenshots)."""

import itertools

import pytest

from teleop.desktop.gui.plot import ticks_that_fit


@pytest.mark.parametrize("width", [40, 90, 120, 180, 260, 400, 800])
def test_time_labels_never_overlap_however_narrow_the_plot(width):
    label = 44  # "-30 s" and some air, in pixels
    ticks = ticks_that_fit(-30, 0, width, label, 6)
    assert ticks, "at least one label"
    gaps = [(b - a) / 30 * width for a, b in itertools.pairwise(ticks)]
    assert all(gap >= label for gap in gaps), (ticks, gaps)


def test_a_wide_plot_keeps_its_usual_ticks():
    assert ticks_that_fit(-30, 0, 800, 44, 6) == [-30, -25, -20, -15, -10, -5, 0]
    assert ticks_that_fit(0, 1000, 400, 22, 5) == [0, 200, 400, 600, 800, 1000]
