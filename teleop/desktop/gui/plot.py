"""A scrolling line plot for live readings, drawn with QPainter.

Why not pyqtgraph: it (with numpy and QtOpenGL, which it imports) was 50 MB of
the 189 MB desktop bundle, against a 150 MB limit, and its axis re-rendering
was the largest share of the GUI's CPU while driving. What the readings panel
needs is small: a few lines over the last 30 s, a y-axis that rescales without
jitter, ticks and a legend.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPen, QPixmap, QPolygonF, QTransform
from PySide6.QtWidgets import QSizePolicy, QWidget

from teleop.desktop.gui.style import MUTED

COLORS = ["#2f80ed", "#eb5757", "#27ae60", "#f2994a", "#9b51e0", "#56ccf2", "#219653", "#bb6bd9"]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten) covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return []
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


def ticks_that_fit(low: float, high: float, length_px: float, label_px: float, most: int) -> list[float]:
    """:func:`nice_ticks` for an axis ``length_px`` long, as many as fit (up to about ``most``) with no two
    labels of ``label_px`` overlapping: a narrow window shows fewer ticks, never a smear of labels."""
    if high <= low:
        return nice_ticks(low, high, most)
    for count in range(most, 1, -1):
        ticks = nice_ticks(low, high, count)
        if len(ticks) < 2 or (ticks[1] - ticks[0]) / (high - low) * length_px >= label_px:
            return ticks
    ticks = nice_ticks(low, high, 1)
    return ticks if len(ticks) < 2 or (ticks[1] - ticks[0]) / (high - low) * length_px >= label_px else ticks[-1:]


#: the lines move at least this many pixels between two frames: a smaller step is a repaint the eye does not see
STEP_PX = 2.0
#: ...but a frame at least this often (s), however narrow the plot
MAX_STEP_S = 0.5

#: points older than the window by this much are trimmed from a line (in batches, not every frame)
TRIM_SLACK = 5.0

Since = Callable[[str, float], list[tuple[float, float]]]


class LivePlot(QWidget):
    """Call :meth:`set_series` with the names to draw, then :meth:`refresh` when readings arrived.

    Each line is kept as polygons in (time, value) coordinates and only new
    points are appended; painting maps them to pixels with one transform. Building
    every point of every line again each frame cost most of the GUI's CPU and
    held up the gamepad poll for milliseconds. A NaN value (the link dropped) or
    a silence of more than :data:`MAX_GAP` seconds starts a new polygon: no line
    is drawn across a gap.
    """

    MAX_GAP = 2.0

    def __init__(self, seconds: float = 30.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.seconds = seconds
        self.names: list[str] = []
        self.runs: dict[str, list[QPolygonF]] = {}
        self._last_t: dict[str, float] = {}
        self._epoch: float | None = None  # times are kept relative to this, for float precision
        self.now = 0.0
        self.y_range: tuple[float, float] | None = None
        self._y_checked = 0.0
        #: the frame without its lines (grid, tick labels, legend), drawn again only when they change
        self._frame: QPixmap | None = None
        self._frame_key: tuple | None = None
        #: how long the lines take to move :data:`STEP_PX` pixels at this width: the shortest useful frame interval
        self.step_seconds = 0.0
        self.setMinimumHeight(160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def clear(self) -> None:
        self.runs = {n: [] for n in self.names}
        self._last_t.clear()
        self._epoch = None
        self.y_range = None
        self.update()

    def set_series(self, names: list[str]) -> None:
        self.names = list(names)
        self.runs = {n: self.runs.get(n, []) for n in self.names}
        self._last_t = {n: t for n, t in self._last_t.items() if n in self.names}
        self.update()

    def point_count(self, name: str) -> int:
        return sum(run.size() for run in self.runs.get(name, []))

    def gaps(self, name: str) -> int:
        """How many breaks the line for ``name`` has (for tests and the curious)."""
        return max(0, len(self.runs.get(name, [])) - 1)

    def values(self, name: str) -> list[float]:
        return [run.at(i).y() for run in self.runs.get(name, []) for i in range(run.size())]

    def refresh(self, since: Since, now: float) -> None:
        """Append what arrived since the last call (``since(name, t)`` gives the points after t) and repaint."""
        self.now = now
        start = now - self.seconds
        for name in self.names:
            last = self._last_t.get(name, start - TRIM_SLACK)
            points = since(name, last)
            if points and self._epoch is None:
                self._epoch = points[0][0]
            runs = self.runs.setdefault(name, [])
            for t, value in points:
                gap = t - last > self.MAX_GAP
                last = t
                if math.isnan(value):
                    if runs and runs[-1].size():
                        runs.append(QPolygonF())
                    continue
                if not runs or (gap and runs[-1].size()):
                    runs.append(QPolygonF())
                runs[-1].append(QPointF(t - self._epoch, value))
            self._last_t[name] = last
            self._trim(runs, start)
        self._fit_y(now)
        self.update()

    def _trim(self, runs: list[QPolygonF], start: float) -> None:
        if self._epoch is None:
            return
        oldest = start - self._epoch
        while runs and ((runs[0].size() == 0 and len(runs) > 1) or (runs[0].size() and runs[0].last().x() < oldest)):
            runs.pop(0)
        if runs and runs[0].size() and runs[0].at(0).x() < oldest - TRIM_SLACK:
            run = runs[0]
            keep = next((i for i in range(run.size()) if run.at(i).x() >= oldest), run.size())
            run.remove(0, keep)

    def _fit_y(self, now: float) -> None:
        # grow at once when data leaves the range; shrink at most every 2 s, so the axis does not jitter
        boxes = [run.boundingRect() for runs in self.runs.values() for run in runs if run.size()]
        if not boxes:
            return
        low, high = min(b.top() for b in boxes), max(b.bottom() for b in boxes)
        pad = max(1.0, (high - low) * 0.08)
        current = self.y_range
        outside = current is None or low < current[0] or high > current[1]
        loose = current is not None and now - self._y_checked > 2.0 and (current[1] - current[0]) > 1.5 * (high - low + 2 * pad)
        if outside or loose:
            self.y_range = (low - pad, high + pad)
            self._y_checked = now

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        width = self._area(QFontMetrics(self.font())).width()
        self.step_seconds = min(MAX_STEP_S, self.seconds * STEP_PX / width) if width > 0 else MAX_STEP_S

    def _area(self, metrics: QFontMetrics) -> QRectF:
        """Where the lines go: left of it the value ticks, above it the legend, under it the time ticks."""
        left = metrics.horizontalAdvance("-00000") + 10
        top = 8 + metrics.height() + 6  # the legend has its own strip above the lines, never over them
        return QRectF(left, top, self.width() - left - 10, self.height() - top - metrics.height() - 12)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        area = self._area(QFontMetrics(self.font()))
        painter.drawPixmap(0, 0, self._framed())
        if area.width() < 20 or area.height() < 20 or self._epoch is None:
            return
        low, high = self.y_range or (0.0, 1.0)
        # no antialiasing: in Qt's software rasteriser it costs more than the rest of the frame
        painter.setClipRect(area)
        # (time since epoch, value) -> pixels, in one transform for every point
        left_t = self.now - self.seconds - self._epoch
        sx = area.width() / self.seconds
        sy = area.height() / (high - low)
        painter.setTransform(QTransform(sx, 0, 0, -sy, area.left() - left_t * sx, area.bottom() + low * sy))
        for i, name in enumerate(self.names):
            pen = QPen(QColor(COLORS[i % len(COLORS)]), 1)
            pen.setCosmetic(True)  # 1 px whatever the scale: the raster engine draws these 4x faster than 2 px lines
            painter.setPen(pen)
            for run in self.runs.get(name, []):
                if run.size() >= 2:
                    painter.drawPolyline(run)

    def _framed(self) -> QPixmap:
        """The plot without its lines; text is most of a frame's cost, and it changes only with the scale."""
        ratio = self.devicePixelRatioF()
        key = (self.width(), self.height(), ratio, self.y_range, tuple(self.names), self.seconds, self.font().key())
        if self._frame is None or key != self._frame_key:
            pixmap = QPixmap(max(1, round(self.width() * ratio)), max(1, round(self.height() * ratio)))
            pixmap.setDevicePixelRatio(ratio)
            pixmap.fill(QColor("white"))
            painter = QPainter(pixmap)
            painter.setFont(self.font())
            self._draw_frame(painter)
            painter.end()
            self._frame, self._frame_key = pixmap, key
        return self._frame

    def _draw_frame(self, painter: QPainter) -> None:
        metrics = QFontMetrics(self.font())
        area = self._area(metrics)
        if area.width() < 20 or area.height() < 20:
            return
        left = area.left()
        text = QColor("#333333")
        grid = QColor("#e6e9ed")
        low, high = self.y_range or (0.0, 1.0)

        def x_of(seconds_before: float) -> float:
            return area.left() + (seconds_before + self.seconds) / self.seconds * area.width()

        def y_of(value: float) -> float:
            return area.bottom() - (value - low) / (high - low) * area.height()

        painter.setPen(QPen(grid, 1))
        for tick in ticks_that_fit(low, high, area.height(), metrics.height() + 6, 5):
            y = y_of(tick)
            painter.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
            painter.setPen(text)
            painter.drawText(QRectF(0, y - 8, left - 6, 16), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{tick:g}")
            painter.setPen(QPen(grid, 1))
        for tick in ticks_that_fit(-self.seconds, 0, area.width(), metrics.horizontalAdvance(f"-{self.seconds:g} s") + 12, 6):
            x = x_of(tick)
            painter.drawLine(QPointF(x, area.top()), QPointF(x, area.bottom()))
            painter.setPen(text)
            painter.drawText(QRectF(x - 30, area.bottom() + 4, 60, metrics.height()), Qt.AlignmentFlag.AlignHCenter, f"{tick:g} s")
            painter.setPen(QPen(grid, 1))
        painter.setPen(QPen(MUTED, 1))
        painter.drawRect(area)

        # legend: one row in its strip above the plot
        x, y = area.left(), 8
        for i, name in enumerate(self.names):
            painter.setPen(QPen(QColor(COLORS[i % len(COLORS)]), 3))
            painter.drawLine(QPointF(x, y + metrics.height() / 2), QPointF(x + 18, y + metrics.height() / 2))
            painter.setPen(text)
            painter.drawText(QPointF(x + 24, y + metrics.ascent()), name)
            x += 24 + metrics.horizontalAdvance(name) + 16
