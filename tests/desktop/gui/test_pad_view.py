"""The drawn pad and the stick views repaint only the parts that changed, and what is on screen stays right."""

from __future__ import annotations

from guitools import paint_now, wait_until
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QVBoxLayout, QWidget

from teleop.desktop.gui.pad_view import DPAD, FACE, MIDDLE, PARTS, SHOULDERS, STICKS, TRIGGERS, StandardPadView, part_of
from teleop.desktop.gui.widgets import StickView
from teleop.wire.layout import STANDARD_AXES, STANDARD_BUTTONS

REST = {name: 0.0 for name in STANDARD_AXES + STANDARD_BUTTONS}


def on_screen(view: QWidget) -> QImage:
    """What the X server shows for the view: the paints that really reached the screen, not a fresh render."""
    top = view.window()
    corner = view.mapTo(top, view.rect().topLeft())
    shot = top.screen().grabWindow(top.winId(), corner.x(), corner.y(), view.width(), view.height())
    return shot.toImage().convertToFormat(QImage.Format.Format_RGB32)


def test_every_control_the_pad_picture_draws_has_a_part_to_repaint():
    drawn = {f"{side}{end}" for side in STICKS for end in ("x", "y", "stick")}
    drawn |= {*TRIGGERS, *SHOULDERS, *DPAD, *FACE, *MIDDLE}
    assert drawn <= set(STANDARD_AXES + STANDARD_BUTTONS)
    assert all(part_of(name) in PARTS for name in drawn)
    assert all(part_of(name) is None for name in set(STANDARD_AXES + STANDARD_BUTTONS) - drawn)  # paddles: not drawn


def test_after_many_partial_repaints_the_screen_shows_what_a_whole_repaint_draws(qtbot, loop, display):
    holder = QWidget()
    QVBoxLayout(holder).addWidget(view := StandardPadView())
    holder.resize(520, 340)
    qtbot.addWidget(holder)
    holder.show()
    wait_until(loop, lambda: view.isVisible() and view.width() > 300, what="the pad shown")
    moves = [
        ({"leftx": 0.8, "lefty": -0.5}, None),
        ({"leftx": -0.3, "righty": 0.9, "lefttrigger": 0.7}, {"leftx": -0.2, "righty": 0.7}),
        ({"a": 1.0, "dpup": 1.0, "rightshoulder": 1.0, "start": 1.0}, {"righty": 0.4, "righttrigger": 0.5}),
        ({"leftx": 0.5, "a": 0.0, "lefttrigger": 0.0}, None),  # driving stopped: every green mark goes
        ({"rightx": -1.0, "b": 1.0, "leftstick": 1.0}, {"rightx": -0.8}),  # a stick clicked: its well drawn again
        ({"rightx": -0.6, "leftstick": 0.0, "rightstick": 1.0}, {"rightx": -0.5}),  # and let go
        ({"leftx": 0.3, "lefty": 0.2, "leftstick": 1.0}, {"rightx": -0.5, "leftx": 0.2}),  # moved while clicked
    ]
    for raw, sent in moves:
        view.set_values({**REST, **raw}, sent)
        paint_now()
    paint_now()
    shown = on_screen(view)

    whole = view.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)  # a full paint of the same values
    assert shown.size() == whole.size()
    assert shown == whole, "a partial repaint left something stale on screen"


def test_a_stick_view_moved_many_times_shows_what_a_whole_repaint_draws(qtbot, loop, display):
    holder = QWidget()
    QVBoxLayout(holder).addWidget(view := StickView("Left stick (axes 0, 1)"))
    holder.resize(260, 260)
    qtbot.addWidget(holder)
    holder.show()
    wait_until(loop, lambda: view.isVisible() and view.width() > 150, what="the stick shown")
    moves = [((0.9, -0.2), None), ((-0.5, 0.5), (-0.4, 0.4)), ((1.0, 1.0), (0.8, 0.8)), ((0.0, -1.0), None), ((0.3, 0.1), (0.2, 0.1))]
    for raw, sent in moves:
        view.set_values(raw, sent)
        paint_now()
    paint_now()
    shown = on_screen(view)
    whole = view.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    assert shown == whole, "a moved ring or dot left a trace, or was not drawn where it went"


def test_a_stick_pushed_all_the_way_is_drawn_whole_inside_its_box(qtbot, loop, display):
    """The raw ring at full deflection sat half outside the view, cut off by its edge."""
    view = StickView("Left stick (axes 0, 1)")
    view.resize(160, 178)  # as wide as tall: the box touches the view's sides
    qtbot.addWidget(view)
    view.show()
    wait_until(loop, view.isVisible, what="the stick shown")
    for raw in ((1.0, 0.0), (-1.0, 0.0), (0.0, 1.0)):
        view.set_values(raw, None)
        paint_now()
        image = view.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
        ring = [
            (x, y)
            for x in range(image.width())
            for y in range(image.height())
            if image.pixelColor(x, y).blue() > 200 > image.pixelColor(x, y).red() + 100
        ]
        assert ring, "the ring is drawn"
        xs, ys = [x for x, _ in ring], [y for _, y in ring]
        assert min(xs) >= 2 and max(xs) <= image.width() - 3 and max(ys) <= image.height() - 3, (raw, min(xs), max(xs), max(ys))
