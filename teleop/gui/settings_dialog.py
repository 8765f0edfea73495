"""Settings: server, token, send rate, gamepad, per-axis shaping and calibration, plotted readings.

Every field is checked as the user types; OK stays disabled while anything is
wrong, and the reason is shown next to the field, so nothing bad is saved.
"""

from __future__ import annotations

import copy
import os

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from teleop.appsettings import AppSettings, ServerAddress, check_host, check_port, parse_address
from teleop.drive import MAX_RATE_HZ
from teleop.models import DriveModel
from teleop.shaping import AxisCalibration, AxisShape, CalibrationCapture

from .robot_list import RobotsOnNetwork

AXIS_ROWS = 8


class CalibrationDialog(QDialog):
    """Two steps, as in QGroundControl: sticks centred, then every stick to its limits."""

    def __init__(self, drive: DriveModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Calibrate gamepad")
        self.drive = drive
        axes = list(drive.current_input().axes)
        self.captures = [CalibrationCapture() for _ in axes]
        self.result: dict[int, AxisCalibration] = {}
        layout = QVBoxLayout(self)
        self.instructions = QLabel("Leave every stick centred and untouched, then press Next.")
        self.instructions.setWordWrap(True)
        layout.addWidget(self.instructions)
        self.progress = QLabel("")
        layout.addWidget(self.progress)
        buttons = QHBoxLayout()
        self.next_button = QPushButton("Next")
        self.next_button.clicked.connect(self._next)
        cancel = QPushButton("Cancel")
        cancel.clicked.connect(self.reject)
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        buttons.addWidget(self.next_button)
        layout.addLayout(buttons)
        self.step = 0
        self._timer = QTimer(self)
        self._timer.setInterval(10)
        self._timer.timeout.connect(self._sample)
        if drive.selected is None or not axes:
            self.instructions.setText("No gamepad to calibrate: plug in a gamepad and pick it first.")
            self.next_button.setEnabled(False)

    def _sample(self) -> None:
        for capture, value in zip(self.captures, self.drive.current_input().axes, strict=False):
            capture.sample(value)
        done = sum(1 for c in self.captures if c.result() is not None)
        self.progress.setText(f"{done} of {len(self.captures)} axes have moved through their full travel")

    def _next(self) -> None:
        axes = self.drive.current_input().axes
        if self.step == 0:
            for capture, value in zip(self.captures, axes, strict=False):
                capture.center(value)
            self.step = 1
            self.instructions.setText("Now move every stick to all of its limits, several times. Press Done when finished.")
            self.next_button.setText("Done")
            self._timer.start()
            return
        self._timer.stop()
        self.result = {i: c for i, c in ((i, c.result()) for i, c in enumerate(self.captures)) if c is not None}
        self.accept()


class SettingsDialog(QDialog):
    """Not modal: the main window's emergency stop stays in reach (and Space stops from here too)."""

    def __init__(self, settings: AppSettings, drive: DriveModel, reading_names: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("teleop settings")
        self.setMinimumSize(600, 440)  # room for eight axis rows without scrolling
        self.drive = drive
        self.reading_names = reading_names
        self.settings = copy.deepcopy(settings)
        layout = QVBoxLayout(self)
        tabs = QTabWidget()
        layout.addWidget(tabs)
        tabs.addTab(self._connection_tab(), "Connection")
        tabs.addTab(self._driving_tab(), "Driving")
        tabs.addTab(self._axes_tab(), "Axes")
        tabs.addTab(self._plot_tab(), "Plot")
        self.problem = QLabel("")
        self.problem.setObjectName("problem")
        self.problem.setWordWrap(True)
        layout.addWidget(self.problem)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        from .main_window import apply_style

        apply_style(self.problem, self.host_problem)
        self.validate()

    # -- tabs ------------------------------------------------------------------------

    def _connection_tab(self) -> QWidget:
        tab = QWidget()
        form = QFormLayout(tab)
        self.host = QComboBox()
        self.host.setEditable(True)
        self.host.addItem(self.settings.host)
        for entry in self.settings.recent:
            host = entry.rpartition(":")[0]
            if self.host.findText(host) < 0:
                self.host.addItem(host)
        self.host.setCurrentText(self.settings.host)
        self.host.currentTextChanged.connect(self._host_edited)
        self.host.lineEdit().editingFinished.connect(self._split_host_port)
        self.host.setToolTip(
            "The robot's IP address or host name, e.g. 192.168.1.9 or raspberrypi.local.\n"
            "Pasting the address teleop-server printed (ws://...#token=...) fills in port, TLS and token too."
        )
        form.addRow("Server address:", self.host)
        self.host_problem = QLabel("")
        self.host_problem.setObjectName("problem")
        form.addRow("", self.host_problem)
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(self.settings.port)
        self.port.valueChanged.connect(self.validate)
        form.addRow("Port:", self.port)
        self.tls = QCheckBox("Use TLS (wss://)")
        self.tls.setChecked(self.settings.tls)
        form.addRow("", self.tls)
        self.token = QLineEdit(self.settings.token)
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("printed by teleop-server when it first started")
        self.token.setToolTip("Needed to drive; kept with this server's entry. Watching works without it unless the server says otherwise.")
        form.addRow("Pilot token:", self.token)
        cafile_row = QHBoxLayout()
        self.cafile = QLineEdit(self.settings.cafile)
        self.cafile.setPlaceholderText("only for a robot with its own (self-signed) certificate")
        self.cafile.textChanged.connect(self.validate)
        cafile_row.addWidget(self.cafile, 1)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_cafile)
        cafile_row.addWidget(browse)
        form.addRow("Trust certificate:", cafile_row)
        robots = RobotsOnNetwork()
        robots.chosen.connect(self.host.setCurrentText)  # a ws[s]://host:port fills host, port and TLS
        form.addRow(robots)
        recent = QLabel("Recent: " + (", ".join(self.settings.recent) or "none yet"))
        recent.setWordWrap(True)
        form.addRow("", recent)
        return tab

    def _driving_tab(self) -> QWidget:
        tab = QWidget()
        form = QFormLayout(tab)
        self.rate = QSpinBox()
        self.rate.setRange(1, int(MAX_RATE_HZ))
        self.rate.setSuffix(" Hz")
        self.rate.setValue(int(self.settings.rate_hz))
        self.rate.setToolTip("How often the stick state is re-sent while still; movements are sent at once")
        form.addRow("Send rate:", self.rate)
        self.gamepad = QComboBox()
        self.gamepad.addItem("First gamepad found", "")
        for info in self.drive.pads.values():
            self.gamepad.addItem(info.label, info.guid)
        index = self.gamepad.findData(self.settings.gamepad)
        self.gamepad.setCurrentIndex(max(0, index))
        form.addRow("Gamepad:", self.gamepad)
        self.keyboard = QCheckBox("Drive with the keyboard when no gamepad is in use (arrows, W A S D)")
        self.keyboard.setChecked(self.settings.keyboard_driving)
        form.addRow("", self.keyboard)
        form.addRow(
            "",
            QLabel(
                "Emergency stop: Space or Esc (even while this window is open), or the red button.\nIt sends neutral at once and disables driving."
            ),
        )
        return tab

    def _axes_tab(self) -> QWidget:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        self.axes_table = QTableWidget(AXIS_ROWS, 4)
        self.axes_table.setHorizontalHeaderLabels(["Deadzone", "Expo", "Invert", "Calibration"])
        self.axes_table.setVerticalHeaderLabels([f"axis {i}" for i in range(AXIS_ROWS)])
        self.axes_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.axis_widgets: list[tuple[QDoubleSpinBox, QDoubleSpinBox, QCheckBox, QLabel]] = []
        for i in range(AXIS_ROWS):
            axis = self.settings.axis(i)
            deadzone = QDoubleSpinBox()
            deadzone.setRange(0.0, AxisShape.DEADZONE_MAX)
            deadzone.setSingleStep(0.01)
            deadzone.setValue(axis.deadzone)
            expo = QDoubleSpinBox()
            expo.setRange(0.0, AxisShape.EXPO_MAX)
            expo.setSingleStep(0.05)
            expo.setValue(axis.expo)
            invert = QCheckBox()
            invert.setChecked(axis.invert)
            calibration = QLabel(self._calibration_text(axis.calibration))
            for column, widget in enumerate((deadzone, expo, invert, calibration)):
                self.axes_table.setCellWidget(i, column, widget)
            self.axis_widgets.append((deadzone, expo, invert, calibration))
        self.calibrations = {i: self.settings.axis(i).calibration for i in range(AXIS_ROWS)}
        layout.addWidget(self.axes_table)
        row = QHBoxLayout()
        calibrate = QPushButton("Calibrate…")
        calibrate.clicked.connect(self._calibrate)
        has_pad = self.drive.selected is not None
        calibrate.setEnabled(has_pad)
        calibrate.setToolTip(
            "Capture each stick's centre and travel from the gamepad in use"
            if has_pad
            else "Plug in a gamepad first: there is nothing to calibrate"
        )
        self.calibrate_button = calibrate
        clear = QPushButton("Clear calibration")
        clear.clicked.connect(self._clear_calibration)
        row.addWidget(calibrate)
        row.addWidget(clear)
        row.addStretch(1)
        layout.addLayout(row)
        return tab

    def _plot_tab(self) -> QWidget:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addWidget(QLabel("Readings to plot:"))
        self.plot_list = QListWidget()
        names = sorted(set(self.reading_names) | set(self.settings.plot))
        for name in names:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in self.settings.plot else Qt.CheckState.Unchecked)
            self.plot_list.addItem(item)
        layout.addWidget(self.plot_list)
        return tab

    # -- behaviour ---------------------------------------------------------------------

    @staticmethod
    def _calibration_text(calibration: AxisCalibration) -> str:
        if calibration == AxisCalibration():
            return "not calibrated"
        return f"{calibration.low:+.2f} / {calibration.center:+.2f} / {calibration.high:+.2f}"

    def _calibrate(self) -> None:
        dialog = CalibrationDialog(self.drive, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            for index, calibration in dialog.result.items():
                if index < AXIS_ROWS:
                    self.calibrations[index] = calibration
                    self.axis_widgets[index][3].setText(self._calibration_text(calibration))

    def _clear_calibration(self) -> None:
        for index in range(AXIS_ROWS):
            self.calibrations[index] = AxisCalibration()
            self.axis_widgets[index][3].setText(self._calibration_text(AxisCalibration()))

    def _host_edited(self, text: str) -> None:
        """A pasted ``ws://host:port/#token=...`` is split into the fields at once; a recent server brings back its token.

        A ``host:port`` typed key by key is left as typed (splitting at the colon would
        eat it and glue the port's digits to the host) and split when the field is left.
        """
        if "://" in text:
            self._split(text)
        stored = self.settings.tokens.get(f"{self.host.currentText().strip()}:{self.port.value()}")
        if stored and not ("://" in text and "token=" in text):
            self.token.setText(stored)
        self.validate()

    def _split_host_port(self) -> None:
        text = self.host.currentText()
        if "://" in text or text.count(":") == 1:
            self._split(text)
            self.validate()

    def _split(self, text: str) -> None:
        address = parse_address(text, self.port.value())
        if isinstance(address, ServerAddress):
            self.host.blockSignals(True)
            self.host.setCurrentText(address.host)
            self.host.blockSignals(False)
            self.port.setValue(address.port)
            if address.tls is not None:
                self.tls.setChecked(address.tls)
            if address.token:
                self.token.setText(address.token)

    def _browse_cafile(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Certificate to trust", self.cafile.text(), "Certificates (*.pem *.crt *.cer);;All files (*)"
        )
        if path:
            self.cafile.setText(path)

    def _host_problem(self) -> str | None:
        text = self.host.currentText().strip()
        if text.count(":") == 1 and "://" not in text:  # host:port being typed
            address = parse_address(text, self.port.value())
            return address if isinstance(address, str) else None
        return check_host(text)

    def validate(self) -> bool:
        host_problem = self._host_problem()
        cafile = self.cafile.text().strip()
        cafile_problem = f"certificate file {cafile} does not exist" if cafile and not os.path.isfile(cafile) else None
        problems = [p for p in (host_problem, check_port(self.port.value()), cafile_problem) if p]
        self.host_problem.setText(host_problem or "")
        self.problem.setText("; ".join(p for p in problems if p != host_problem))  # the host's is shown beside it
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problems) if hasattr(self, "buttons") else None
        return not problems

    def collect(self) -> AppSettings:
        self._split_host_port()
        settings = self.settings
        settings.host = self.host.currentText().strip()
        settings.port = self.port.value()
        settings.tls = self.tls.isChecked()
        settings.token = self.token.text().strip()
        settings.cafile = self.cafile.text().strip()
        settings.rate_hz = float(self.rate.value())
        settings.gamepad = self.gamepad.currentData() or ""
        settings.keyboard_driving = self.keyboard.isChecked()
        axes = {}
        for i, (deadzone, expo, invert, _) in enumerate(self.axis_widgets):
            calibration = self.calibrations.get(i) or AxisCalibration()
            axis = AxisShape(round(deadzone.value(), 3), round(expo.value(), 3), invert.isChecked(), calibration).bounded()
            if axis != AxisShape():
                axes[i] = axis
        settings.axes = axes
        settings.plot = [
            self.plot_list.item(i).text()
            for i in range(self.plot_list.count())
            if self.plot_list.item(i).checkState() == Qt.CheckState.Checked
        ]
        settings.remember_server()
        return settings

    def accept(self) -> None:
        if self.validate():
            super().accept()
