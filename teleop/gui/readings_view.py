"""The readings panel: a table of the latest values and a live scrolling plot (pyqtgraph)."""

from __future__ import annotations

import time

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QAbstractItemView, QGroupBox, QHeaderView, QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from teleop.readings import unit_for

from .controller import TeleopController

PLOT_COLORS = ["#2f80ed", "#eb5757", "#27ae60", "#f2994a", "#9b51e0", "#56ccf2", "#219653", "#bb6bd9"]
PLOT_FPS = 30
PLOT_SECONDS = 30


class ReadingsPanel(QGroupBox):
    """Tick a reading's box to plot it. Table and plot refresh at 30 Hz, however fast readings come."""

    def __init__(self, controller: TeleopController, parent: QWidget | None = None) -> None:
        super().__init__("Readings", parent)
        self.controller = controller
        self.rows: dict[str, int] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        layout = QVBoxLayout(self)
        splitter = QSplitter(Qt.Orientation.Vertical)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Reading", "Value", "Unit"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemChanged.connect(self._item_changed)
        splitter.addWidget(self.table)
        pg.setConfigOptions(antialias=False, background="w", foreground="#333")
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "seconds")
        # no grid: pyqtgraph redraws grid lines through its axes on every auto-range step (a third of the GUI's CPU)
        self.plot.addLegend(offset=(8, 8))
        self.plot.setXRange(-PLOT_SECONDS, 0, padding=0)
        self.plot.setClipToView(True)
        self.plot.setDownsampling(auto=True, mode="peak")
        self.plot.setMouseEnabled(x=False, y=False)
        # A y-range that moves every frame makes pyqtgraph re-render its axis each time;
        # ours grows at once when data leaves it and shrinks at most every 2 s.
        self.plot.enableAutoRange(axis="y", enable=False)
        self._y_range: tuple[float, float] | None = None
        self._y_checked = 0.0
        splitter.addWidget(self.plot)
        splitter.setSizes([220, 300])
        layout.addWidget(splitter)
        controller.readingsChanged.connect(self._new_names)
        self._timer = QTimer(self)
        self._timer.setInterval(1000 // PLOT_FPS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        self._seen_count = -1

    def _new_names(self, names: list[str]) -> None:
        if not names:
            return
        self.table.blockSignals(True)
        for name in self.controller.readings.names():
            if name in self.rows:
                continue
            row = self.table.rowCount()
            self.table.insertRow(row)
            item = QTableWidgetItem(name)
            item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            item.setCheckState(Qt.CheckState.Checked if name in self.controller.settings.plot else Qt.CheckState.Unchecked)
            item.setToolTip("Tick to plot")
            self.table.setItem(row, 0, item)
            self.table.setItem(row, 1, QTableWidgetItem(""))
            self.table.setItem(row, 2, QTableWidgetItem(unit_for(name)))
            self.rows[name] = row
        self.table.blockSignals(False)
        self.sync_curves()

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() != 0:
            return
        name = item.text()
        plot = [p for p in self.controller.settings.plot if p != name]
        if item.checkState() == Qt.CheckState.Checked:
            plot.append(name)
        self.controller.settings.plot = plot
        self.sync_curves()

    def sync_curves(self) -> None:
        """Match the plotted curves to the settings' plot list (also after the settings dialog)."""
        wanted = [n for n in self.controller.settings.plot if n in self.rows]
        for name in list(self.curves):
            if name not in wanted:
                self.plot.removeItem(self.curves.pop(name))
        for name in wanted:
            if name not in self.curves:
                color = PLOT_COLORS[len(self.curves) % len(PLOT_COLORS)]
                self.curves[name] = self.plot.plot([], [], pen=pg.mkPen(color, width=2), name=name)
        self._seen_count = -1  # redraw now, even if no reading arrives (a paused device)
        self.table.blockSignals(True)
        for name, row in self.rows.items():
            state = Qt.CheckState.Checked if name in wanted else Qt.CheckState.Unchecked
            self.table.item(row, 0).setCheckState(state)
        self.table.blockSignals(False)

    def refresh(self) -> None:
        store = self.controller.readings
        if store.count == self._seen_count:
            return
        self._seen_count = store.count
        now = time.time()
        for name, row in self.rows.items():
            value = store.latest.get(name)
            text = "" if value is None else (f"{value:.3f}" if isinstance(value, float) and not value.is_integer() else f"{value:g}")
            item = self.table.item(row, 1)
            if item.text() != text:
                item.setText(text)
        low, high = float("inf"), float("-inf")
        for name, curve in self.curves.items():
            xs, ys = store.series(name, now, PLOT_SECONDS)
            curve.setData(xs, ys)
            if ys:
                low, high = min(low, min(ys)), max(high, max(ys))
        if low <= high:
            self._fit_y(low, high, now)

    def _fit_y(self, low: float, high: float, now: float) -> None:
        pad = max(1.0, (high - low) * 0.08)
        current = self._y_range
        outside = current is None or low < current[0] or high > current[1]
        too_loose = current is not None and now - self._y_checked > 2.0 and (current[1] - current[0]) > 1.5 * (high - low + 2 * pad)
        if outside or too_loose:
            self._y_range = (low - pad, high + pad)
            self._y_checked = now
            self.plot.setYRange(*self._y_range, padding=0)
