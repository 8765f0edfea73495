"""The gamepad panel's small views: an axis bar's number is readable, and ends on the axis's last value."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from guitools import paint_now, run, wait_until
from test_pad_view import on_screen

from teleop.desktop.gui.widgets import FLICKER_MS, AxisBar, GamepadPanel, Marks
from teleop.desktop.models.drive import DriveSettings
from teleop.desktop.models.driving import DriveModel
from teleop.desktop.models.pads import GamepadInfo, GamepadState
from teleop.desktop.models.profiles import PadProfile
from teleop.wire.layout import Layout


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


def marks(axes=(0.0, 0.0), sent=None, buttons=(0, 0), hats=((0, 0),), pad=1, held=None) -> Marks:
    return Marks(pad, Layout.RAW, buttons, hats, axes, sent, held)


def test_a_pad_flickering_at_rest_is_told_from_one_that_moves_or_presses():
    shown = marks(axes=(0.0, 0.5))
    assert marks(axes=(0.0078, 0.49)).flickers_from(shown)
    assert not marks(axes=(0.0, 0.52)).flickers_from(shown), "a move of a hundredth of the travel is shown at once"
    assert not marks(axes=(0.0, 0.5), buttons=(1, 0)).flickers_from(shown)
    assert not marks(axes=(0.0, 0.5), hats=((0, 1),)).flickers_from(shown)
    assert not marks(axes=(0.0, 0.5, 0.0)).flickers_from(shown)
    assert not marks(axes=(0.0, 0.5), pad=3).flickers_from(shown)
    assert not marks(axes=(0.0, 0.5), held=False).flickers_from(marks(axes=(0.0, 0.5), held=True)), "a trigger held to drive let go"
    assert not marks().flickers_from(None), "the first marks are shown at once"


def test_the_sent_values_count_as_marks_while_driving():
    shown = marks(axes=(0.3, 0.0), sent=(0.2, 0.0))
    assert marks(axes=(0.3, 0.0), sent=(0.21, 0.0)).flickers_from(shown)
    assert not marks(axes=(0.3, 0.0), sent=(0.25, 0.0)).flickers_from(shown), "a change of speed moves the sent marks"
    assert not marks(axes=(0.3, 0.0)).flickers_from(shown), "driving stopped: the sent marks go"
    assert not shown.flickers_from(marks(axes=(0.3, 0.0))), "driving started: the sent marks come"
    pedal = marks(axes=(0.3,))  # a pad of one axis
    assert not marks(axes=(0.3,), sent=(0.3,)).flickers_from(pedal), "driving started with a one-axis pad"


class Pad:
    """A pad plugged into a drive model, moved by hand as the gamepad layer moves it."""

    ID = 1

    def __init__(self, drive: DriveModel) -> None:
        self.drive = drive
        self.state = GamepadState(axes=[0.0, 0.0], buttons=[0, 0, 0, 0], hats=[(0, 0)])
        drive.pad_added(GamepadInfo(self.ID, "pad", "guid", 2, 4, 1), self.state)

    def axis(self, value: float) -> None:
        self.state.axes[0] = value
        self.drive.pad_moved(self.ID)


def test_the_marks_follow_the_hold_to_drive_control():
    drive = DriveModel(DriveSettings(), lambda control: None)
    pad = Pad(drive)
    drive.set_profile(replace(PadProfile.from_shapes("guid", "pad", Layout.RAW, {}), deadman="button0"))
    let_go = Marks.of(drive)
    pad.state.buttons[0] = 1
    drive.pad_moved(Pad.ID)
    assert (let_go.held, Marks.of(drive).held) == (False, True)


def panel_refreshes(loop, qtbot, moves: list[float], every: float, pad: bool = True) -> tuple[GamepadPanel, list[float], float]:
    """The panel over a drive model whose pad's axis 0 (or the on-screen stick's) takes ``moves`` one after another;
    when it refreshed, and how long the moves took."""
    drive = DriveModel(DriveSettings(), lambda control: None)
    stick = Pad(drive).axis if pad else lambda value: drive.set_virtual_axis(0, value)
    panel = GamepadPanel(drive)
    qtbot.addWidget(panel)
    refreshed: list[float] = []
    refresh = panel.refresh_values

    def counted() -> None:
        refreshed.append(time.monotonic())
        refresh()

    panel._frames._refresh = counted

    async def move() -> float:
        start = time.monotonic()
        for value in moves:
            stick(value)
            await asyncio.sleep(every)
        return time.monotonic() - start

    took = run(loop, move(), timeout=len(moves) * every + 5)
    wait_until(loop, lambda: not panel._frames.pending, what="the last input shown")
    return panel, refreshed, took


FLICKERING = [0.5 + (i % 2) * 0.008 for i in range(60)]  # a stick at rest off centre, 0.6 s of 250 reports a second


def test_the_gamepad_panel_shows_a_pads_flicker_at_a_glances_pace_and_a_move_at_once(qtbot, loop):
    panel, refreshed, took = panel_refreshes(loop, qtbot, [0.5, *FLICKERING], every=0.01)
    assert len(refreshed) <= 2 + took / (FLICKER_MS / 1000), f"{len(refreshed)} refreshes for {took:.2f} s of flicker"
    assert panel.bars[0].raw == FLICKERING[-1], "the flicker's last value was not shown"
    moving = [0.5 - i * 0.012 for i in range(40)]  # a stick pushed slowly over 0.4 s: two steps make a move
    panel, refreshed, took = panel_refreshes(loop, qtbot, moving, every=0.01)
    assert len(refreshed) >= took / 0.08, f"a moving stick was shown {len(refreshed)} times in {took:.2f} s"
    assert panel.bars[0].raw == moving[-1]


def test_the_gamepad_panel_follows_every_small_move_of_the_on_screen_stick(qtbot, loop):
    _, refreshed, took = panel_refreshes(loop, qtbot, [0.5, *FLICKERING], every=0.01, pad=False)
    assert len(refreshed) >= took / 0.08, f"the on-screen stick was shown {len(refreshed)} times in {took:.2f} s"


def test_the_gamepad_panel_shows_a_button_pressed_at_once_while_a_stick_flickers(qtbot, loop):
    panel, refreshed, _ = panel_refreshes(loop, qtbot, FLICKERING[:20], every=0.01)
    drive = panel.drive
    pressed_at = time.monotonic()
    drive.pad_states[Pad.ID].buttons[0] = 1
    drive.pad_moved(Pad.ID)
    wait_until(loop, lambda: len(refreshed) and refreshed[-1] > pressed_at and not panel._frames.pending, what="the press shown")
    assert refreshed[-1] - pressed_at < 0.15, "a button press waited as long as a flicker"
