"""The gamepad panel's small views: an axis bar's number is readable, and ends on the axis's last value."""

from __future__ import annotations

import asyncio
import time

from guitools import paint_now, run, wait_until
from test_pad_view import on_screen

from teleop.desktop.gui.widgets import AxisBar


def shown_bar(qtbot, loop, width: int = 300) -> AxisBar:
    bar = AxisBar("axis 0")
    qtbot.addWidget(bar)
    bar.resize(width, AxisBar.HEIGHT)
    bar.show()
    wait_until(loop, lambda: bar.isVisible() and bar.width() == width, what="the bar shown")
    paint_now()
    return bar


def numbers_while_moving(loop, bar: AxisBar, seconds: float) -> list[str]:
    """Move the bar's axis 50 times a second, as a stick read by the panel; the numbers it showed, in order."""

    async def move() -> list[str]:
        shown = [bar.number]
        end = time.monotonic() + seconds
        step = 0
        while time.monotonic() < end:
            step += 1
            bar.set_values((step % 90) / 100, None)
            await asyncio.sleep(0.02)
            if bar.number != shown[-1]:
                shown.append(bar.number)
        return shown

    return run(loop, move(), timeout=seconds + 5)


def test_an_axis_bars_number_changes_slowly_enough_to_read_while_the_axis_moves(qtbot, loop, display):
    bar = shown_bar(qtbot, loop)
    shown = numbers_while_moving(loop, bar, 1.0)
    # 50 values a second arrive; the number follows them, about 1000 / NUMBER_MS times a second
    assert 3 <= len(shown) - 1 <= 1000 // AxisBar.NUMBER_MS + 1, shown


def test_an_axis_bars_number_ends_on_the_axis_last_value_when_it_stops(qtbot, loop, display):
    bar = shown_bar(qtbot, loop)
    numbers_while_moving(loop, bar, 0.5)
    bar.set_values(0.11, None)
    bar.set_values(-0.25, -0.2)  # the last change, right after the one before: its number is not due yet
    assert bar.number != "-0.200"
    wait_until(loop, lambda: bar.number == "-0.200", timeout=2, what="the number on the last value")
    paint_now()
    fresh = shown_bar(qtbot, loop)
    fresh.set_values(-0.25, -0.2)
    wait_until(loop, lambda: fresh.number == "-0.200", what="the fresh bar's number")
    paint_now()
    assert on_screen(bar) == on_screen(fresh), "the number on screen is not the last value's"


def test_a_narrow_axis_bar_gives_its_last_value_in_the_tooltip_and_a_wide_one_none(qtbot, loop, display):
    bar = shown_bar(qtbot, loop, width=AxisBar.MIN_WIDTH + 10)
    numbers_while_moving(loop, bar, 0.3)
    bar.set_values(0.11, None)
    bar.set_values(0.5, 0.25)  # right after the one before: not due yet
    wait_until(loop, lambda: bar.toolTip() == "axis 0: +0.500, sent +0.250", timeout=2, what="the tooltip")
    bar.resize(300, AxisBar.HEIGHT)  # the number shows: no tooltip with an old value beside it
    wait_until(loop, lambda: bar.width() == 300, what="the bar widened")
    assert bar.toolTip() == ""
    bar.resize(AxisBar.MIN_WIDTH + 10, AxisBar.HEIGHT)  # the number goes: the tooltip has it at once
    wait_until(loop, lambda: bar.width() < AxisBar.NUMBER_FROM, what="the bar narrowed")
    assert bar.toolTip() == "axis 0: +0.500, sent +0.250"
