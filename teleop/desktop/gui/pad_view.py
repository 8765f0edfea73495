"""The on-screen picture of a standard-layout gamepad: two sticks, two triggers, a/b/x/y, shoulders, d-pad, back/guide/start.

Drawn from control *names* (SDL's GameController names: ``leftx``, ``lefttrigger``,
``a``, ``dpup``, ...), never from axis or button numbers, so an Xbox pad, a
PlayStation pad and a Switch pad look the same here, as they drive the same.
The raw reading is drawn in blue (a ring on each stick, the trigger's fill, a lit
button); the value actually sent after shaping is a green dot or tick, shown
only while driving.

The pad at rest (body, outlines, every label, the sticks' wells) is drawn once
into a pixmap for the widget's size; each paint copies it and draws over it the
sticks' rings and whatever else is not at rest. Text is most of the picture's
cost, and a moving stick needs none. A new reading repaints only the parts
whose controls changed (:func:`part_of`): a moving stick is two small squares,
not the whole pad.
"""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QTransform
from PySide6.QtWidgets import QSizePolicy, QWidget

from teleop.desktop.gui.resting import RestingPicture
from teleop.desktop.gui.style import ACCENT, BODY, MUTED, SENT

_OUTLINE_PEN = QPen(MUTED, 1)
_CLICKED_PEN = QPen(ACCENT, 3)
_HAIR_PEN = QPen(MUTED, 0.5)
_RING_PEN = QPen(ACCENT, 2)

#: the picture is drawn in these units and scaled to the widget, keeping its shape
DESIGN = QSize(400, 236)

STICKS = {"left": QPointF(100, 112), "right": QPointF(250, 176)}
STICK_RADIUS = 32.0
FACE_CENTRE = QPointF(300, 112)
FACE = {"y": (0, -1), "a": (0, 1), "x": (-1, 0), "b": (1, 0)}
FACE_COLOURS = {"a": QColor("#27ae60"), "b": QColor("#c0392b"), "x": QColor("#2f80ed"), "y": QColor("#d4ac0d")}
DPAD_CENTRE = QPointF(150, 176)
DPAD = {"dpup": (0, -1), "dpdown": (0, 1), "dpleft": (-1, 0), "dpright": (1, 0)}
MIDDLE = {"back": QPointF(170, 100), "guide": QPointF(200, 100), "start": QPointF(230, 100)}
SHOULDERS = {"leftshoulder": QRectF(44, 30, 96, 16), "rightshoulder": QRectF(260, 30, 96, 16)}
TRIGGERS = {"lefttrigger": QRectF(44, 6, 96, 16), "righttrigger": QRectF(260, 6, 96, 16)}


def _around(centre: QPointF, radius: float) -> QRectF:
    return QRectF(centre.x() - radius, centre.y() - radius, 2 * radius, 2 * radius)


#: each part of the picture that changes, in design units, with room for its pens and the green tick
PARTS: dict[str, QRectF] = {
    **{side: _around(centre, STICK_RADIUS + 10) for side, centre in STICKS.items()},
    **{name: rect.adjusted(-3, -4, 3, 4) for name, rect in {**TRIGGERS, **SHOULDERS}.items()},
    "dpad": _around(DPAD_CENTRE, 22),
    "face": _around(FACE_CENTRE, 36),
    **{name: _around(centre, 12) for name, centre in MIDDLE.items()},
}


def part_of(name: str) -> str | None:
    """The part of the picture that shows control ``name`` (None: a control this picture does not draw)."""
    for side in STICKS:
        if name in (f"{side}x", f"{side}y", f"{side}stick"):
            return side
    if name in DPAD:
        return "dpad"
    if name in FACE:
        return "face"
    return name if name in PARTS else None


class StandardPadView(QWidget):
    """Shows one standard-layout pad; feed it with :meth:`set_values` (name -> value)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.raw: dict[str, float] = {}
        self.sent: dict[str, float] | None = None
        self._rects: dict[str, QRect] = {}
        self._rects_size = QSize()
        self.setMinimumSize(260, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        # the pad at rest over what lies behind it: a repaint is one opaque copy and the marks that moved
        self._rest = RestingPicture(self, self._draw_at_rest)
        self.setToolTip("Blue: the pad as read. Green: the value sent to the robot after shaping (while driving).")

    def sizeHint(self) -> QSize:
        return DESIGN

    def set_values(self, raw: Mapping[str, float], sent: Mapping[str, float] | None) -> None:
        raw = dict(raw)
        sent = dict(sent) if sent is not None else None
        if (raw, sent) == (self.raw, self.sent):
            return
        changed = {name for name in raw.keys() | self.raw.keys() if raw.get(name) != self.raw.get(name)}
        if (sent is None) != (self.sent is None):
            changed |= set(PARTS)  # driving started or stopped: every green mark comes or goes
        elif sent is not None and self.sent is not None:
            changed |= {name for name in sent.keys() | self.sent.keys() if sent.get(name) != self.sent.get(name)}
        self.raw, self.sent = raw, sent
        rects = self._part_rects()
        for part in {part_of(name) for name in changed} - {None}:
            self.update(rects[part])

    def pressed(self, name: str) -> bool:
        return self.raw.get(name, 0.0) >= 0.5

    # -- painting ------------------------------------------------------------------------------

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        area: QRect = event.rect()
        self._rest.paint(painter, area)
        shown = {part for part, rect in self._part_rects().items() if area.intersects(rect)}
        self._place(painter)
        raw, sent = self.raw, self.sent
        for name, rect in TRIGGERS.items():
            if name not in shown:
                continue
            if raw.get(name, 0.0) > 0:
                self._trigger(painter, name, rect)
            elif sent is not None and name in sent:
                self._sent_mark(painter, name, rect)  # no need to write the label again for the green tick
        for name, rect in SHOULDERS.items():
            if name in shown and self.pressed(name):
                self._bumper(painter, name, rect)
        for side, centre in STICKS.items():
            if side in shown:
                if self.pressed(f"{side}stick"):
                    self._stick_base(painter, side, centre)
                self._stick_marks(painter, side, centre)
        if "dpad" in shown and any(self.pressed(name) for name in DPAD):
            self._dpad(painter)
        if "face" in shown:
            for name in FACE:
                if self.pressed(name):
                    self._face_button(painter, name)
        for name, centre in MIDDLE.items():
            if name in shown and self.pressed(name):
                self._small(painter, name, centre, label=False)

    def _transform(self) -> QTransform:
        """Design units to pixels: the picture scaled to fit, centred, its shape kept."""
        scale = min(self.width() / DESIGN.width(), self.height() / DESIGN.height())
        transform = QTransform()
        transform.translate((self.width() - DESIGN.width() * scale) / 2, (self.height() - DESIGN.height() * scale) / 2)
        transform.scale(scale, scale)
        return transform

    def _part_rects(self) -> dict[str, QRect]:
        """Each part's rectangle in the widget's pixels, worked out again only when the size changes."""
        if self._rects_size != self.size():
            transform = self._transform()
            self._rects = {part: transform.mapRect(rect).toAlignedRect() for part, rect in PARTS.items()}
            self._rects_size = self.size()
        return self._rects

    def _place(self, painter: QPainter) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setTransform(self._transform())

    def _draw_at_rest(self, painter: QPainter) -> None:
        """The pad with nothing pressed or moved: its picture at rest, drawn again only when it would look different."""
        self._place(painter)
        raw, sent, self.raw, self.sent = self.raw, self.sent, {}, None
        try:
            self._body(painter)
            for name, rect in TRIGGERS.items():
                self._trigger(painter, name, rect)
            for name, rect in SHOULDERS.items():
                self._bumper(painter, name, rect)
            for side, centre in STICKS.items():
                self._stick_base(painter, side, centre)  # its marks move: every paint draws them over this
            self._dpad(painter)
            for name in FACE:
                self._face_button(painter, name)
            for name, centre in MIDDLE.items():
                self._small(painter, name, centre)
        finally:
            self.raw, self.sent = raw, sent

    def _text_pen(self) -> QColor:
        return self.palette().text().color()

    def _body(self, painter: QPainter) -> None:
        path = QPainterPath()
        path.addRoundedRect(QRectF(24, 52, 352, 178), 60, 60)
        painter.setPen(QPen(MUTED, 1.5))
        painter.setBrush(BODY)
        painter.drawPath(path)

    def _trigger(self, painter: QPainter, name: str, rect: QRectF) -> None:
        value = max(0.0, min(1.0, self.raw.get(name, 0.0)))
        painter.setPen(QPen(MUTED, 1))
        painter.setBrush(self.palette().base())
        painter.drawRoundedRect(rect, 4, 4)
        if value > 0:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(ACCENT)
            painter.drawRoundedRect(QRectF(rect.left(), rect.top(), rect.width() * value, rect.height()), 4, 4)
        self._sent_mark(painter, name, rect)
        painter.setPen(self._text_pen())
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "LT" if name == "lefttrigger" else "RT")

    def _sent_mark(self, painter: QPainter, name: str, rect: QRectF) -> None:
        if self.sent is not None and name in self.sent:
            x = rect.left() + rect.width() * max(0.0, min(1.0, self.sent[name]))
            painter.setPen(QPen(SENT, 3))
            painter.drawLine(QPointF(x, rect.top() - 2), QPointF(x, rect.bottom() + 2))

    def _bumper(self, painter: QPainter, name: str, rect: QRectF) -> None:
        lit = self.pressed(name)
        painter.setPen(QPen(MUTED, 1))
        painter.setBrush(ACCENT if lit else self.palette().base())
        painter.drawRoundedRect(rect, 7, 7)
        painter.setPen(QColor("white") if lit else self._text_pen())
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "LB" if name == "leftshoulder" else "RB")

    def _stick_base(self, painter: QPainter, side: str, centre: QPointF) -> None:
        """The stick's well and cross hairs, which move only when it is clicked (:meth:`_stick_marks` is drawn over)."""
        clicked = self.pressed(f"{side}stick")
        painter.setPen(_CLICKED_PEN if clicked else _OUTLINE_PEN)
        painter.setBrush(self.palette().base())
        painter.drawEllipse(centre, STICK_RADIUS, STICK_RADIUS)
        painter.setPen(_HAIR_PEN)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.drawLine(QPointF(centre.x() - STICK_RADIUS, centre.y()), QPointF(centre.x() + STICK_RADIUS, centre.y()))
        painter.drawLine(QPointF(centre.x(), centre.y() - STICK_RADIUS), QPointF(centre.x(), centre.y() + STICK_RADIUS))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)

    def _stick_marks(self, painter: QPainter, side: str, centre: QPointF) -> None:
        """Where the stick is (the blue ring) and, while driving, what was sent for it (the green dot)."""

        def point(values: Mapping[str, float]) -> QPointF:
            x = max(-1.0, min(1.0, values.get(f"{side}x", 0.0)))
            y = max(-1.0, min(1.0, values.get(f"{side}y", 0.0)))
            return QPointF(centre.x() + x * STICK_RADIUS, centre.y() + y * STICK_RADIUS)

        painter.setPen(_RING_PEN)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(point(self.raw), 8, 8)
        if self.sent is not None and (f"{side}x" in self.sent or f"{side}y" in self.sent):
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(SENT)
            painter.drawEllipse(point(self.sent), 4.5, 4.5)

    def _dpad(self, painter: QPainter) -> None:
        arm = 13.0
        for name, (dx, dy) in DPAD.items():
            rect = QRectF(DPAD_CENTRE.x() + dx * arm - arm / 2, DPAD_CENTRE.y() + dy * arm - arm / 2, arm, arm)
            painter.setPen(QPen(MUTED, 1))
            painter.setBrush(ACCENT if self.pressed(name) else self.palette().base())
            painter.drawRect(rect)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.palette().base())
        painter.drawRect(QRectF(DPAD_CENTRE.x() - arm / 2 + 0.5, DPAD_CENTRE.y() - arm / 2 + 0.5, arm - 1, arm - 1))

    def _face_button(self, painter: QPainter, name: str) -> None:
        spacing, radius = 22.0, 10.5
        dx, dy = FACE[name]
        centre = QPointF(FACE_CENTRE.x() + dx * spacing, FACE_CENTRE.y() + dy * spacing)
        lit = self.pressed(name)
        colour = FACE_COLOURS[name]
        painter.setPen(QPen(colour, 2))
        painter.setBrush(colour if lit else self.palette().base())
        painter.drawEllipse(centre, radius, radius)
        painter.setPen(QColor("white") if lit else colour)
        painter.drawText(
            QRectF(centre.x() - radius, centre.y() - radius, 2 * radius, 2 * radius), Qt.AlignmentFlag.AlignCenter, name.upper()
        )

    def _small(self, painter: QPainter, name: str, centre: QPointF, label: bool = True) -> None:
        """A small middle button; its label under it never changes (``label=False``: the button alone)."""
        lit = self.pressed(name)
        painter.setPen(QPen(MUTED, 1))
        painter.setBrush(ACCENT if lit else self.palette().base())
        if name == "guide":
            painter.drawEllipse(centre, 9, 9)
        else:
            painter.drawRoundedRect(QRectF(centre.x() - 9, centre.y() - 5, 18, 10), 5, 5)
        if not label:
            return
        painter.setPen(self._text_pen())
        font = painter.font()
        font.setPointSizeF(max(5.0, font.pointSizeF() * 0.7))
        painter.save()
        painter.setFont(font)
        painter.drawText(QRectF(centre.x() - 20, centre.y() + 9, 40, 12), Qt.AlignmentFlag.AlignCenter, name)
        painter.restore()
