"""The Plot tab: which readings the plot shows."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from teleop.desktop.models.appsettings import AppSettings


class PlotPage(QWidget):
    """Edits :attr:`AppSettings.plot` from the readings seen so far and those already picked."""

    def __init__(self, settings: AppSettings, reading_names: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Readings to plot:"))
        self.plot_list = QListWidget()
        for name in sorted(set(reading_names) | set(settings.plot)):
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in settings.plot else Qt.CheckState.Unchecked)
            self.plot_list.addItem(item)
        layout.addWidget(self.plot_list)

    def collect(self, settings: AppSettings) -> None:
        settings.plot = [
            self.plot_list.item(i).text()
            for i in range(self.plot_list.count())
            if self.plot_list.item(i).checkState() == Qt.CheckState.Checked
        ]
