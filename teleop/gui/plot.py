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
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

COLORS = ["#2f80ed", "#eb5757", "#27ae60", "#f2994a", "#9b51e0", "#56ccf2", "#219653", "#bb6bd9"]

Series = Callable[[str], tuple[list[float], list[float]]]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten) covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return []
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


def split_at_gaps(xs: list[float], ys: list[float], max_gap: float = 2.0) -> list[list[tuple[float, float]]]:
    """The points as runs to draw: a NaN value, or more than ``max_gap`` seconds without data, ends a run."""
    runs: list[list[tuple[float, float]]] = []
    run: list[tuple[float, float]] = []
    previous = -math.inf
    for x, y in zip(xs, ys, strict=False):
        if math.isnan(y) or x - previous > max_gap:
            if run:
                runs.append(run)
            run = []
        if not math.isnan(y):
            run.append((x, y))
        previous = x
    if run:
        runs.append(run)
    return runs


class LivePlot(QWidget):
    """Call :meth:`set_series` with the names to draw, then :meth:`refresh` at the frame rate."""

    def __init__(self, seconds: float = 30.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.seconds = seconds
        self.names: list[str] = []
        self.data: dict[str, tuple[list[float], list[float]]] = {}
        self.y_range: tuple[float, float] | None = None
        self._y_checked = 0.0
        self._clock = 0.0
        self.setMinimumHeight(160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def clear(self) -> None:
        self.data = {n: ([], []) for n in self.names}
        self.y_range = None
        self.update()

    def set_series(self, names: list[str]) -> None:
        self.names = list(names)
        self.data = {n: self.data.get(n, ([], [])) for n in self.names}
        self.update()

    def refresh(self, series: Series, now: float) -> None:
        """Pull the visible window of every plotted series and repaint."""
        low, high = math.inf, -math.inf
        for name in self.names:
            xs, ys = series(name)
            self.data[name] = (xs, ys)
            finite = [y for y in ys if not math.isnan(y)]
            if finite:
                low, high = min(low, min(finite)), max(high, max(finite))
        if low <= high:
            self._fit_y(low, high, now)
        self.update()

    def _fit_y(self, low: float, high: float, now: float) -> None:
        # grow at once when data leaves the range; shrink at most every 2 s, so the axis does not jitter
        pad = max(1.0, (high - low) * 0.08)
        current = self.y_range
        outside = current is None or low < current[0] or high > current[1]
        loose = current is not None and now - self._y_checked > 2.0 and (current[1] - current[0]) > 1.5 * (high - low + 2 * pad)
        if outside or loose:
            self.y_range = (low - pad, high + pad)
            self._y_checked = now

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("white"))
        metrics = QFontMetrics(self.font())
        left = metrics.horizontalAdvance("-00000") + 10
        legend_height = metrics.height() + 6  # the legend has its own strip above the lines, never over them
        top = 8 + legend_height
        area = QRectF(left, top, self.width() - left - 10, self.height() - top - metrics.height() - 12)
        if area.width() < 20 or area.height() < 20:
            return
        text = QColor("#333333")
        grid = QColor("#e6e9ed")
        low, high = self.y_range or (0.0, 1.0)

        def x_of(seconds_before: float) -> float:
            return area.left() + (seconds_before + self.seconds) / self.seconds * area.width()

        def y_of(value: float) -> float:
            return area.bottom() - (value - low) / (high - low) * area.height()

        painter.setPen(QPen(grid, 1))
        for tick in nice_ticks(low, high):
            y = y_of(tick)
            painter.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
            painter.setPen(text)
            painter.drawText(QRectF(0, y - 8, left - 6, 16), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{tick:g}")
            painter.setPen(QPen(grid, 1))
        for tick in nice_ticks(-self.seconds, 0, 6):
            x = x_of(tick)
            painter.drawLine(QPointF(x, area.top()), QPointF(x, area.bottom()))
            painter.setPen(text)
            painter.drawText(QRectF(x - 30, area.bottom() + 4, 60, metrics.height()), Qt.AlignmentFlag.AlignHCenter, f"{tick:g} s")
            painter.setPen(QPen(grid, 1))
        painter.setPen(QPen(QColor("#9aa5b1"), 1))
        painter.drawRect(area)

        # no antialiasing: in Qt's software rasteriser it costs more than the rest of the frame
        painter.setClipRect(area)
        for i, name in enumerate(self.names):
            xs, ys = self.data.get(name, ([], []))
            painter.setPen(QPen(QColor(COLORS[i % len(COLORS)]), 2))
            for run in split_at_gaps(xs, ys):  # a NaN is a gap (the link dropped): no line across it
                if len(run) >= 2:
                    painter.drawPolyline(QPolygonF([QPointF(x_of(x), y_of(y)) for x, y in run]))
        painter.setClipping(False)

        # legend: one row in its strip above the plot
        x, y = area.left(), 8
        for i, name in enumerate(self.names):
            painter.setPen(QPen(QColor(COLORS[i % len(COLORS)]), 3))
            painter.drawLine(QPointF(x, y + metrics.height() / 2), QPointF(x + 18, y + metrics.height() / 2))
            painter.setPen(text)
            painter.drawText(QPointF(x + 24, y + metrics.ascent()), name)
            x += 24 + metrics.horizontalAdvance(name) + 16
