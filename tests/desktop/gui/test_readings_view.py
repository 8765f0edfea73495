"""The readings panel draws its plot on the readings' own arrivals, no faster than the lines move."""

from __future__ import annotations

import itertools

import pytest

from teleop.desktop.gui import pacing
from teleop.desktop.gui.plot import MAX_STEP_S, STEP_PX
from teleop.desktop.gui.readings_view import PLOT_FPS, TABLE_HZ, ReadingsPanel
from teleop.desktop.models.appsettings import AppSettings
from teleop.desktop.models.readings import ReadingsModel


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def panel(qapp, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(pacing.time, "monotonic", clock)
    readings = ReadingsModel()
    panel = ReadingsPanel(readings, AppSettings())
    panel.resize(1400, 500)  # wide: the frame rate, not the pixel step, sets the pace
    panel.show()
    frames: list[float] = []
    original = panel.plot.refresh
    panel.plot.refresh = lambda since, now: (frames.append(clock.now), original(since, now))
    yield panel, readings, clock, frames
    panel.close()


def test_a_steady_stream_of_readings_is_drawn_on_its_own_arrivals_never_by_a_timer(panel):
    panel, readings, clock, frames = panel
    interval = max(1 / PLOT_FPS, panel.plot.step_seconds)
    assert interval < 0.1
    for i in range(40):  # 20 readings a second for 2 s
        clock.now = 1000.0 + i * 0.05
        readings.add(clock.now, {"A0": i})
    # every reading at least one interval after the last frame drew one, right as it arrived
    assert len(frames) == 20 and all(b - a == pytest.approx(0.1) for a, b in itertools.pairwise(frames))
    assert panel._frames.pending, "the last reading waits for the next arrival or the fallback"


def test_a_narrow_plot_is_drawn_only_once_its_lines_moved_two_pixels(panel):
    panel, readings, clock, frames = panel
    panel.resize(500, 500)
    step = panel.plot.step_seconds
    assert step > 1 / PLOT_FPS, "the narrow plot's pixel step is slower than the frame rate"
    for i in range(100):
        clock.now = 1000.0 + i * 0.05
        readings.add(clock.now, {"A0": i})
    gaps = [b - a for a, b in itertools.pairwise(frames)]
    assert gaps and min(gaps) >= step - 1e-9, f"frames closer than {STEP_PX} px of movement"
    assert max(gaps) <= step + 0.05 + 1e-9, "a reading that could be drawn waited for another"


def test_the_table_shows_new_values_at_its_own_rate_however_slowly_the_plot_draws(panel):
    panel, readings, clock, _ = panel
    panel.plot.step_seconds = MAX_STEP_S  # as narrow a plot as can be: it draws twice a second
    shown = 0
    for i in range(41):  # 20 readings a second for 2 s
        clock.now = 1000.0 + i * 0.05
        readings.add(clock.now, {"A0": i})
        shown += panel.table.item(panel.rows["A0"], 1).text() == f"{i}"
    assert 2 * TABLE_HZ - 1 <= shown <= 1 + 2 * TABLE_HZ, f"the table showed the newest value {shown} times in 2 s"
