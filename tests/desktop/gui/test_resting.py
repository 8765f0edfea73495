"""A view painted over its picture at rest shows on screen what lies behind it, as a transparent view would."""

from __future__ import annotations

from guitools import paint_now, wait_until
from PySide6.QtGui import QColor, QImage, QPainter, QPalette
from PySide6.QtWidgets import QFrame, QGroupBox, QVBoxLayout, QWidget
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
    """Paints its whole area in its palette's highlight colour: a colour only this ancestor's own painting puts there."""

    def paintEvent(self, event) -> None:
        QPainter(self).fillRect(event.rect(), self.palette().color(QPalette.ColorRole.Highlight))


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
    assert transparent.pixelColor(transparent.width() // 2, transparent.height() // 2) == BEHIND  # the test sees the frame's colour
    assert opaque == transparent, "the picture at rest is not what lies behind the view"


def test_the_resting_picture_follows_a_change_of_colours_behind_it(qtbot, loop, display):
    view = OverResting()
    window, frame = shown(qtbot, loop, view)
    shade(frame, QColor(30, 90, 200))  # as a change of theme does
    view.update()
    paint_now()
    image = on_screen(view)
    assert image.pixelColor(image.width() // 2, image.height() // 2) == QColor(30, 90, 200)
    window.close()


def test_an_axis_bar_moved_many_times_shows_what_a_whole_repaint_draws(qtbot, loop, display):
    bar = AxisBar("axis 0")
    window, _ = shown(qtbot, loop, bar)
    for raw, sent in ((0.9, None), (-0.5, -0.4), (1.0, 0.8), (0.0, None), (0.3, 0.2)):
        bar.set_values(raw, sent)
        paint_now()
    paint_now()
    whole = bar.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    assert on_screen(bar) == whole, "a moved bar or tick left a trace, or the number was not drawn again"
    window.close()
