"""The readings panel: a table of the latest values and a live scrolling plot."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QGroupBox, QHeaderView, QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from teleop.desktop.gui.binding import bind
from teleop.desktop.gui.pacing import Paced
from teleop.desktop.gui.plot import LivePlot
from teleop.desktop.gui.style import MUTED
from teleop.desktop.models.appsettings import AppSettings
from teleop.desktop.models.readings import ReadingsModel

#: the plot's frame rate at most; below it, a frame only once its lines have moved 2 px (:attr:`LivePlot.step_seconds`):
#: ~7 frames a second at the default width (a 30 s window in ~500 px), 12 when the window is wide
PLOT_FPS = 12
PLOT_SECONDS = 30
#: the table's numbers change at most this often: faster than a person reads them is only repainting
TABLE_HZ = 5


class ReadingsPanel(QGroupBox):
    """Tick a reading's box to plot it. The plot refreshes at :data:`PLOT_FPS` and the table's numbers at
    :data:`TABLE_HZ`, only when readings came, and the last values always show.

    When the link drops the values are greyed and the title says they are stale;
    the plot breaks its lines across the gap. Another server's readings start afresh.
    """

    def __init__(self, readings: ReadingsModel, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__("Readings", parent)
        self.readings = readings
        self.settings = settings
        self.rows: dict[str, int] = {}
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
        self.plot = LivePlot(PLOT_SECONDS)
        splitter.addWidget(self.plot)
        splitter.setSizes([220, 300])
        layout.addWidget(splitter)
        bind(readings.names_added, self, self._new_names)
        bind(readings.stale_changed, self, self._stale_changed)
        bind(readings.cleared, self, self._cleared)
        # frames ride on the arrivals, at most PLOT_FPS a second; with none coming (disconnected, a paused
        # device) nothing runs at all
        self._frames = Paced(1000 // PLOT_FPS, self.refresh, self)
        self._table = Paced(1000 // TABLE_HZ, self._fill_table, self)
        bind(readings.arrived, self, self._arrived)
        self._seen_count = -1

    def _new_names(self, names: list[str]) -> None:
        if not names:
            return
        self.table.blockSignals(True)
        for name in self.readings.store.names():
            if name in self.rows:
                continue
            row = self.table.rowCount()
            self.table.insertRow(row)
            item = QTableWidgetItem(name)
            item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            item.setCheckState(Qt.CheckState.Checked if name in self.settings.plot else Qt.CheckState.Unchecked)
            item.setToolTip("Tick to plot")
            self.table.setItem(row, 0, item)
            self.table.setItem(row, 1, QTableWidgetItem(""))
            self.table.setItem(row, 2, QTableWidgetItem(self.readings.units.get(name, "")))
            self.rows[name] = row
        self.table.blockSignals(False)
        self.sync_curves()

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() != 0:
            return
        name = item.text()
        plot = [p for p in self.settings.plot if p != name]
        if item.checkState() == Qt.CheckState.Checked:
            plot.append(name)
        self.settings.plot = plot
        self.sync_curves()

    def sync_curves(self) -> None:
        """Match the plotted lines to the settings' plot list (also after the settings dialog)."""
        wanted = [n for n in self.settings.plot if n in self.rows]
        self.plot.set_series(wanted)
        self._seen_count = -1
        self.refresh()  # redraw now, even if no reading arrives (a paused device)
        self.table.blockSignals(True)
        for name, row in self.rows.items():
            state = Qt.CheckState.Checked if name in wanted else Qt.CheckState.Unchecked
            self.table.item(row, 0).setCheckState(state)
        self.table.blockSignals(False)

    def _arrived(self, readings: ReadingsModel) -> None:
        self._frames.interval = max(1 / PLOT_FPS, self.plot.step_seconds)
        self._frames.request()
        self._table.request()

    def _stale_changed(self, stale: bool) -> None:
        self.setTitle("Readings  —  STALE: the connection dropped; these are the last values seen" if stale else "Readings")
        colour = MUTED if stale else self.palette().text().color()
        for row in self.rows.values():
            self.table.item(row, 1).setForeground(colour)

    def _cleared(self, readings: ReadingsModel) -> None:
        self.table.setRowCount(0)
        self.rows.clear()
        self.plot.clear()
        self._seen_count = -1

    def refresh(self) -> None:
        store = self.readings.store
        if store.count == self._seen_count:
            return
        self._seen_count = store.count
        self.plot.refresh(store.since, time.time())

    def _fill_table(self) -> None:
        latest = self.readings.store.latest
        for name, row in self.rows.items():
            value = latest.get(name)
            text = "" if value is None else (f"{value:.3f}" if isinstance(value, float) and not value.is_integer() else f"{value:g}")
            item = self.table.item(row, 1)
            if item.text() != text:
                item.setText(text)
