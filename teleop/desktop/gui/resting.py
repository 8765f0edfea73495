"""A view's picture at rest: what lies behind it and its still parts, drawn once, copied on every repaint.

A view that moves a mark 25 times a second repaints a few small rectangles. If
the view is transparent, Qt paints every widget behind it under each of them
first (the group box with its style's shading, the window), and that costs more
than the view's own drawing. :class:`RestingPicture` makes the view opaque: its
picture carries the backgrounds of the widgets behind it, so a repaint is one
copy of the exposed part and the moving marks drawn over it.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPoint, QRect, QRectF, Qt
from PySide6.QtGui import QPainter, QPalette, QPixmap, QRegion
from PySide6.QtWidgets import QWidget


class RestingPicture:
    """``view``'s still parts (drawn by ``draw`` on a painter in the view's pixels) over what lies behind it.

    Drawn again when the view's place in its window or its size, the screen's
    pixel ratio, the view's palette or colour group (disabled, inactive window)
    or its font change. An ancestor whose painting changes with none of these
    (a style's hover tint, say) is not seen: no ancestor of a view that uses
    this does that.
    """

    def __init__(self, view: QWidget, draw: Callable[[QPainter], None]) -> None:
        self.view = view
        self._draw = draw
        self._pixmap: QPixmap | None = None
        self._key: tuple | None = None
        # every pixel of a repaint comes from the picture: Qt paints no parent under the view
        view.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def paint(self, painter: QPainter, area: QRect) -> None:
        """Copy the picture's ``area`` (in the view's pixels) to ``painter``."""
        picture = self.picture()
        ratio = picture.devicePixelRatio()  # the view's, as the picture was drawn at: asked of Qt once per repaint
        source = QRectF(area.x() * ratio, area.y() * ratio, area.width() * ratio, area.height() * ratio)
        painter.drawPixmap(QRectF(area), picture, source)

    def picture(self) -> QPixmap:
        """The picture at rest as the view looks now, in the screen's pixels."""
        view = self.view
        ratio = view.devicePixelRatioF()
        key = (
            view.mapTo(view.window(), QPoint(0, 0)).toTuple(),
            view.size().toTuple(),
            ratio,
            view.palette().cacheKey(),
            view.isEnabled(),  # with the next, which of the palette's colour groups the view is drawn in
            view.isActiveWindow(),
            view.font(),
        )
        if self._pixmap is None or key != self._key:
            pixmap = QPixmap(max(1, round(view.width() * ratio)), max(1, round(view.height() * ratio)))
            pixmap.setDevicePixelRatio(ratio)
            behind(view, pixmap)
            painter = QPainter(pixmap)
            painter.setFont(view.font())  # as a painter on the view itself starts
            try:
                self._draw(painter)
            finally:
                painter.end()
            self._pixmap, self._key = pixmap, key
        return self._pixmap


def behind(view: QWidget, pixmap: QPixmap) -> None:
    """Paint into ``pixmap`` what the widgets behind ``view`` show where it is: each ancestor's own
    painting (a group box's frame and shading, a filled background), the window's first, as Qt
    composes them on screen, but none of their other children."""
    # what shows where nothing paints: only a view with no ancestor, or ancestors that all paint nothing
    pixmap.fill(view.palette().color(QPalette.ColorRole.Window))
    ancestors = []
    widget = view.parentWidget()
    while widget is not None:
        ancestors.append(widget)
        if widget.isWindow():
            break
        widget = widget.parentWidget()
    for ancestor in reversed(ancestors):
        here = QRect(view.mapTo(ancestor, QPoint(0, 0)), view.size())
        flags = QWidget.RenderFlag.DrawWindowBackground if ancestor.isWindow() else QWidget.RenderFlag(0)
        ancestor.render(pixmap, QPoint(0, 0), QRegion(here), flags)
