"""A view painted over its picture at rest shows on screen what lies behind it, as a transparent view would."""

from __future__ import annotations

from guitools import paint_now, wait_until
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPalette
from PySide6.QtWidgets import QFrame, QGroupBox, QScrollArea, QVBoxLayout, QWidget
from test_pad_view import on_screen

from teleop.desktop.gui.resting import RestingPicture
from teleop.desktop.gui.widgets import AxisBar

BEHIND = QColor(200, 60, 40)


class Transparent(QWidget):
    """Paints nothing: Qt shows what lies behind it."""


class OverResting(QWidget):
    """Paints only its picture at rest, which has no still parts of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.rest = RestingPicture(self, lambda painter: None)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        self.rest.paint(painter, event.rect())


class Shaded(QFrame):
    """Paints stripes in its palette's highlight colour, their green by height: colours only this ancestor's own
    painting puts there, each in its place."""

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        highlight = self.palette().color(QPalette.ColorRole.Highlight)
        for y in range(0, self.height(), 3):
            painter.fillRect(0, y, self.width(), 3, QColor(highlight.red(), (y * 5) % 256, highlight.blue()))


def shade(widget: QWidget, colour: QColor) -> None:
    palette = widget.palette()
    palette.setColor(QPalette.ColorRole.Highlight, colour)
    widget.setPalette(palette)


def nested(view: QWidget) -> tuple[QWidget, QFrame]:
    """The view two levels inside a shaded frame, in a group box (its style's frame and title), in a window."""
    window = QWidget()
    box = QGroupBox("Gamepad")
    QVBoxLayout(window).addWidget(box)
    frame = Shaded()
    shade(frame, BEHIND)
    QVBoxLayout(box).addWidget(frame)
    inner = QWidget()  # paints nothing itself: what lies behind the view is the frame's painting, two levels up
    QVBoxLayout(frame).addWidget(inner)
    QVBoxLayout(inner).addWidget(view)
    window.resize(300, 260)
    return window, frame


def shown(qtbot, loop, view: QWidget) -> tuple[QWidget, QFrame]:
    window, frame = nested(view)
    qtbot.addWidget(window)
    window.show()
    wait_until(loop, lambda: view.isVisible() and view.width() > 100, what="the view shown")
    paint_now()
    return window, frame


def test_a_view_over_its_resting_picture_shows_what_lies_behind_it_as_a_transparent_one_does(qtbot, loop, display):
    shots = []
    for view in (Transparent(), OverResting()):
        window, _ = shown(qtbot, loop, view)
        shots.append(on_screen(view))
        window.close()
    transparent, opaque = shots
    middle = transparent.pixelColor(transparent.width() // 2, transparent.height() // 2)
    assert (middle.red(), middle.blue()) == (BEHIND.red(), BEHIND.blue())  # the test sees the frame's stripes
    assert len({transparent.pixel(0, y) for y in range(transparent.height())}) > 10
    assert opaque == transparent, "the picture at rest is not what lies behind the view, where it lies"


def test_the_resting_picture_follows_a_change_of_colours_behind_it(qtbot, loop, display):
    view = OverResting()
    window, frame = shown(qtbot, loop, view)
    shade(frame, QColor(30, 90, 200))  # as a change of theme does
    view.update()
    paint_now()
    image = on_screen(view)
    middle = image.pixelColor(image.width() // 2, image.height() // 2)
    assert (middle.red(), middle.blue()) == (30, 200)
    window.close()


def test_an_axis_bar_moved_many_times_shows_what_a_new_one_draws(qtbot, loop, display):
    bar = AxisBar("axis 0")
    window, _ = shown(qtbot, loop, bar)
    for raw, sent in ((0.9, None), (-0.5, -0.4), (1.0, 0.8), (0.0, None), (0.3, 0.2)):
        bar.set_values(raw, sent)
        paint_now()
    wait_until(loop, lambda: bar.number == "+0.200", what="the number on the last value")
    paint_now()
    new = AxisBar("axis 0")
    new.set_values(0.3, 0.2)
    other, _ = shown(qtbot, loop, new)
    assert new.number == "+0.200"
    assert on_screen(bar) == on_screen(new), "a moved bar or tick left a trace, or the number was not drawn again"
    window.close()
    other.close()


def test_the_picture_at_rest_is_drawn_again_when_the_view_would_look_different_and_only_then(qtbot, loop, display):
    view = OverResting()
    window, frame = shown(qtbot, loop, view)
    view.setFixedSize(150, 100)
    view.parentWidget().layout().setAlignment(view, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)  # a resize keeps its place
    wait_until(loop, view.isActiveWindow, what="the window active")
    paint_now()
    drawn = view.rest.picture().cacheKey()
    assert view.rest.picture().cacheKey() == drawn, "drawn again with nothing changed"
    other = QWidget()  # a window to make the view's inactive
    qtbot.addWidget(other)

    def deactivate() -> None:
        other.show()
        other.activateWindow()
        wait_until(loop, lambda: not view.isActiveWindow(), what="the view's window inactive")

    changes = {  # each but the resize leaves the view's size as it was: only the picture's own checks see them
        "disabled": lambda: view.setEnabled(False),  # the disabled colours
        "a new font": lambda: view.setFont(QFont("DejaVu Sans", 15)),
        "resized in its place": lambda: view.setFixedHeight(90),
        "the frame behind it recoloured": lambda: shade(frame, QColor(30, 90, 200)),  # colours the view inherits
        "an ancestor moved in the window": lambda: window.layout().insertSpacing(0, 15),
        "its window inactive": deactivate,  # the inactive colour group
    }
    for what, change in changes.items():
        size = view.size()
        change()
        paint_now()
        assert view.rest.picture().cacheKey() != drawn, f"not drawn again: {what}"
        assert (view.size() != size) == (what == "resized in its place"), what
        drawn = view.rest.picture().cacheKey()
        assert view.rest.picture().cacheKey() == drawn, f"drawn again with nothing changed since: {what}"
    window.close()


def scrolled_bars(qtbot, loop, width: int) -> tuple[QWidget, QScrollArea, list[AxisBar]]:
    """Six axis bars in a scroll area that shows about two, scrolled so that bars are cut off at both edges, as
    the panel shows a pad with many axes."""
    window = QWidget()
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFixedHeight(50)
    inner = QWidget()
    column = QVBoxLayout(inner)
    column.setSpacing(4)
    bars = [AxisBar(f"axis {i}") for i in range(6)]
    for bar in bars:
        column.addWidget(bar)
    area.setWidget(inner)
    QVBoxLayout(window).addWidget(area)
    window.resize(width, 120)
    qtbot.addWidget(window)
    window.show()
    wait_until(loop, lambda: area.isVisible() and area.verticalScrollBar().maximum() > 40, what="the bars shown")
    area.verticalScrollBar().setValue(30)
    paint_now()
    return window, area, bars


def test_a_bar_cut_off_by_its_scroll_area_is_drawn_at_its_new_size_after_a_resize(qtbot, loop, display):
    """Qt repaints only the visible part of a view its scroll area cuts off: the picture at rest must be checked
    on such a repaint too, or the bar goes on copying a picture of its old width."""
    window, area, bars = scrolled_bars(qtbot, loop, 300)
    window.resize(420, 120)
    wait_until(loop, lambda: bars[1].width() > 300, what="the bars widened")
    paint_now()
    for bar in bars:
        bar.set_values(0.5, None)  # a part of each bar repainted: the bar, then the number
    wait_until(loop, lambda: all(bar.number == "+0.500" for bar in bars), what="the numbers")
    paint_now()
    fresh, fresh_area, fresh_bars = scrolled_bars(qtbot, loop, 420)
    for bar in fresh_bars:
        bar.set_values(0.5, None)
    wait_until(loop, lambda: all(bar.number == "+0.500" for bar in fresh_bars), what="the fresh numbers")
    paint_now()
    assert on_screen(area.viewport()) == on_screen(fresh_area.viewport()), "a cut-off bar kept its old picture"
    window.close()
    fresh.close()
