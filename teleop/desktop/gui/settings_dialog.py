"""Settings: server, token, send rate, gamepad, per-axis shaping and calibration, plotted readings.

Every field is checked as the user types; OK stays disabled while anything is
wrong, and the reason is shown next to the field, so nothing bad is saved.
"""

from __future__ import annotations

import copy
import os
from dataclasses import replace

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

from teleop.desktop.gui.robot_list import RobotsOnNetwork
from teleop.desktop.gui.style import apply_style
from teleop.desktop.models.appsettings import AppSettings, ServerAddress, check_host, check_port, config_dir, parse_address
from teleop.desktop.models.drive import MAX_RATE_HZ
from teleop.desktop.models.driving import DriveModel
from teleop.desktop.models.pads import GamepadInfo
from teleop.desktop.models.profiles import MAX_AXES, LayoutChoice, PadProfile, ProfileError, adopt, export_profile, import_profile
from teleop.desktop.models.shaping import AxisCalibration, AxisShape, CalibrationCapture
from teleop.wire.layout import RAW_BUTTONS, STANDARD_AXES, STANDARD_BUTTONS, Layout, axis_index, axis_name, button_name, is_button
from teleop.wire.protocol import MAX_BUTTONS

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
        #: the pad in use when the dialog opened: the Axes and Gamepad tabs edit its profile
        self.pad: GamepadInfo | None = drive.pads.get(drive.selected) if drive.selected is not None else None
        self.known = self.pad is not None and drive.pad_states[self.pad.instance_id].standard is not None
        self.profile: PadProfile = (drive.profile_of(self.pad.instance_id) if self.pad else None) or PadProfile("none")
        #: the shaping as edited, by axis name: the pad's profile's, or the global axes' ("axis0", ...)
        self.shapes: dict[str, AxisShape] = (
            dict(self.profile.shapes) if self.pad else {axis_name(Layout.RAW, i): s for i, s in self.settings.axes.items()}
        )
        layout = QVBoxLayout(self)
        tabs = QTabWidget()
        self.tabs = tabs
        layout.addWidget(tabs)
        tabs.addTab(self._connection_tab(), "Connection")
        tabs.addTab(self._driving_tab(), "Driving")
        tabs.addTab(self._gamepad_tab(), "Gamepad")
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
        self.gamepad.setToolTip("The pad that drives when the app starts; while it runs, click a pad in the main window's list")
        form.addRow("Pad at start:", self.gamepad)
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
        """One row per axis of the pad in use, by its name in the pad's layout (``leftx``, ``axis3``)."""
        tab = QWidget()
        layout = QVBoxLayout(tab)
        self.axes_title = QLabel()
        self.axes_title.setWordWrap(True)
        layout.addWidget(self.axes_title)
        self.axes_table = QTableWidget(0, 4)
        self.axes_table.setHorizontalHeaderLabels(["Deadzone", "Expo", "Invert", "Calibration"])
        self.axes_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.axis_names: list[str] = []
        self.axis_widgets: list[tuple[QDoubleSpinBox, QDoubleSpinBox, QCheckBox, QLabel]] = []
        self.calibrations: dict[str, AxisCalibration] = {}
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
        self._fill_axes()
        return tab

    def _row_names(self) -> list[str]:
        """The axis names the rows show: the pad's, in the layout chosen in this dialog; axis0..7 with no pad."""
        if self.pad is None:
            return [f"axis{i}" for i in range(AXIS_ROWS)]
        if self._chosen_layout() is Layout.STANDARD:
            return list(STANDARD_AXES)
        return [axis_name(Layout.RAW, i) for i in range(max(1, min(self.pad.axes, MAX_AXES)))]

    def _chosen_layout(self) -> Layout:
        choice = LayoutChoice(self.layout_choice.currentData()) if hasattr(self, "layout_choice") else self.profile.layout
        return replace(self.profile, layout=choice).effective_layout(self.known) if self.pad is not None else Layout.RAW

    def _fill_axes(self) -> None:
        """(Re)build the rows for the layout chosen now; edits to rows that go away are kept for when they come back."""
        self._keep_rows()
        names = self._row_names()
        if self.pad is not None:
            self.axes_title.setText(
                f"Stick shaping for {self.pad.name}, kept with this pad: it comes back when the pad is plugged in again."
            )
        else:
            self.axes_title.setText("Stick shaping for the on-screen sticks, and for pads that have no settings of their own yet.")
        self.axes_table.setRowCount(len(names))
        self.axes_table.setVerticalHeaderLabels(names)
        self.axis_names = names
        self.axis_widgets = []
        for i, name in enumerate(names):
            axis = self.shapes.get(name, AxisShape())
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
            self.calibrations.setdefault(name, axis.calibration)
            calibration = QLabel(self._calibration_text(self.calibrations[name]))
            for column, widget in enumerate((deadzone, expo, invert, calibration)):
                self.axes_table.setCellWidget(i, column, widget)
            self.axis_widgets.append((deadzone, expo, invert, calibration))

    def _keep_rows(self) -> None:
        """The rows as edited, into :attr:`shapes` (by axis name)."""
        for name, (deadzone, expo, invert, _) in zip(self.axis_names, self.axis_widgets, strict=False):
            calibration = self.calibrations.get(name) or AxisCalibration()
            self.shapes[name] = AxisShape(round(deadzone.value(), 3), round(expo.value(), 3), invert.isChecked(), calibration).bounded()

    def _gamepad_tab(self) -> QWidget:
        """The pad in use: its layout, hold-to-drive, rumble, and its profile as a file."""
        tab = QWidget()
        form = QFormLayout(tab)
        pad = self.pad
        if pad is None:
            about = "No gamepad in use. Plug one in and click it in the main window's pad list: these settings are kept per pad."
        else:
            known = (
                "SDL knows this pad: its controls have standard names."
                if self.known
                else (
                    f"SDL does not know this pad: it sends raw axis and button numbers. A mapping line for it in "
                    f"{config_dir() / 'gamecontrollerdb.txt'} gives it the standard layout."
                )
            )
            about = f"{pad.name} (#{pad.instance_id}). {known}"
        self.pad_about = QLabel(about)
        self.pad_about.setWordWrap(True)
        self.pad_about.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("Pad:", self.pad_about)
        self.layout_choice = QComboBox()
        self.layout_choice.addItem("Standard layout where SDL knows the pad (recommended)", LayoutChoice.AUTO.value)
        self.layout_choice.addItem("Raw axis and button numbers (flight sticks, wheels, RC transmitters)", LayoutChoice.RAW.value)
        self.layout_choice.setCurrentIndex(max(0, self.layout_choice.findData(self.profile.layout.value)))
        self.layout_choice.setEnabled(pad is not None)
        self.layout_choice.currentIndexChanged.connect(self._layout_chosen)
        form.addRow("Layout:", self.layout_choice)

        self.hold = QCheckBox("Hold a button to drive")
        self.hold.setChecked(bool(self.profile.deadman))
        self.hold.setEnabled(pad is not None)
        self.hold_button = QComboBox()
        self.hold_button.setEnabled(pad is not None and self.hold.isChecked())
        self.hold.toggled.connect(self.hold_button.setEnabled)
        hold_row = QHBoxLayout()
        hold_row.addWidget(self.hold)
        hold_row.addWidget(self.hold_button, 1)
        form.addRow("Hold to drive:", hold_row)
        why = QLabel(
            "Why: a Bluetooth pad whose battery dies or that goes out of range can keep reporting its last input for "
            "many seconds, and the robot would keep doing what it last did. With hold to drive, the robot moves only "
            "while you hold this button; let go and it stops at once."
        )
        why.setWordWrap(True)
        why.setObjectName("hint")
        form.addRow("", why)
        self._fill_hold_buttons()

        self.rumble = QCheckBox("Rumble the pad when failsafe or the emergency stop trips or the connection drops")
        self.rumble.setChecked(self.settings.rumble)
        form.addRow("Feedback:", self.rumble)

        files = QHBoxLayout()
        self.export_button = QPushButton("Export profile…")
        self.export_button.setEnabled(pad is not None)
        self.export_button.setToolTip("Save this pad's shaping, layout and hold-to-drive button to a file")
        self.export_button.clicked.connect(lambda: self.export_profile())
        self.import_button = QPushButton("Import profile…")
        self.import_button.setToolTip("Load a pad profile file; a bad file changes nothing")
        self.import_button.clicked.connect(lambda: self.import_profile())
        files.addWidget(self.export_button)
        files.addWidget(self.import_button)
        files.addStretch(1)
        form.addRow("Profile:", files)
        self.profile_message = QLabel("")
        self.profile_message.setWordWrap(True)
        self.profile_message.setObjectName("profileMessage")
        form.addRow("", self.profile_message)
        return tab

    def _hold_names(self) -> list[str]:
        if self.pad is None:
            return []
        if self._chosen_layout() is Layout.STANDARD:
            names = list(STANDARD_BUTTONS[:15])  # a b x y back guide start, stick clicks, shoulders, d-pad
        else:  # only buttons a control message carries: one past them could never be seen held
            names = [button_name(Layout.RAW, i) for i in range(min(self.pad.buttons, MAX_BUTTONS))]
        kept = self.profile.deadman
        if kept and kept not in names and is_button(kept):
            names.append(kept)  # a paddle, or a number from an imported profile: kept, never swapped behind the pilot's back
        return names

    def _fill_hold_buttons(self) -> None:
        wanted = self.hold_button.currentText() or self.profile.deadman
        names = self._hold_names()
        if wanted not in names:
            wanted = "rightshoulder" if "rightshoulder" in names else f"button{RAW_BUTTONS['rightshoulder']}"
        self.hold_button.clear()
        self.hold_button.addItems(names)
        self.hold_button.setCurrentIndex(max(0, self.hold_button.findText(wanted)))
        # Ticked with nothing to pick, it would be saved as off while the box said on.
        self.hold.setEnabled(bool(names))
        if self.pad is not None and not names:
            self.hold.setToolTip("This pad has no buttons to hold.")

    def _layout_chosen(self, _index: int) -> None:
        self._fill_axes()
        self._fill_hold_buttons()

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
                name = axis_name(self.drive.layout, index)  # captured from the input in use, in its layout
                self.calibrations[name] = calibration
                if name in self.axis_names:
                    self.axis_widgets[self.axis_names.index(name)][3].setText(self._calibration_text(calibration))

    def _clear_calibration(self) -> None:
        for index, name in enumerate(self.axis_names):
            self.calibrations[name] = AxisCalibration()
            self.axis_widgets[index][3].setText(self._calibration_text(AxisCalibration()))

    # -- the pad's profile -----------------------------------------------------------------

    def collect_profile(self) -> PadProfile:
        """The pad's profile as this dialog shows it now."""
        self._keep_rows()
        names = set(STANDARD_AXES) | {axis_name(Layout.RAW, i) for i in range(MAX_AXES)}
        shapes = {n: s for n, s in self.shapes.items() if n in names and s != AxisShape()}
        deadman = self.hold_button.currentText() if self.hold.isChecked() else ""
        pad = self.pad
        return PadProfile(
            pad.guid if pad else self.profile.guid,
            pad.name if pad else self.profile.name,
            LayoutChoice(self.layout_choice.currentData()),
            shapes,
            deadman,
        )

    def _say(self, text: str, problem: bool = False) -> None:
        self.profile_message.setText(text)
        self.profile_message.setStyleSheet("color: #c0392b;" if problem else "color: #1e8449;")

    def export_profile(self, path: str | None = None) -> bool:
        """Save the pad's profile, as shown, to a file (asked for with a file dialog unless given)."""
        if self.pad is None:
            return False
        if not path:
            safe = "".join(c if c.isalnum() else "-" for c in self.pad.name).strip("-").lower() or "pad"
            path, _ = QFileDialog.getSaveFileName(
                self, "Export pad profile", f"{safe}.teleop-pad.json", "Pad profiles (*.json);;All files (*)"
            )
        if not path:
            return False
        try:
            export_profile(self.collect_profile(), path)
        except OSError as exc:
            self._say(f"Could not write {path}: {exc.strerror or exc}", problem=True)
            return False
        self._say(f"Saved this pad's profile to {path}")
        return True

    def import_profile(self, path: str | None = None) -> bool:
        """Load a profile file into the dialog (kept on OK); a bad file is explained and changes nothing."""
        if not path:
            path, _ = QFileDialog.getOpenFileName(self, "Import pad profile", "", "Pad profiles (*.json);;All files (*)")
        if not path:
            return False
        try:
            profile = import_profile(path)
        except ProfileError as exc:
            self._say(f"Nothing imported: {exc}", problem=True)
            return False
        if self.pad is None:
            self.settings.set_profile(profile)  # kept for when that pad is plugged in
            self._say(f"Imported the profile of {profile.name or profile.guid}: it is used when that pad is plugged in (after OK).")
            return True
        if profile.guid != self.pad.guid:
            origin = profile.name or "another pad"
            profile = adopt(profile, self.pad.guid, self.pad.name)
            note = f"Imported the profile of {origin} for this pad; press OK to keep it."
        else:
            note = "Imported this pad's profile; press OK to keep it."
        self.profile = profile
        self.shapes = dict(profile.shapes)
        self.calibrations = {}
        self.axis_names, self.axis_widgets = [], []  # the rows on screen are replaced, not kept
        self.layout_choice.blockSignals(True)
        self.layout_choice.setCurrentIndex(max(0, self.layout_choice.findData(profile.layout.value)))
        self.layout_choice.blockSignals(False)
        self.hold.setChecked(bool(profile.deadman))
        self.hold_button.clear()
        self._fill_axes()
        self._fill_hold_buttons()
        self._say(note)
        return True

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
        self._keep_rows()
        settings.rumble = self.rumble.isChecked()
        if self.pad is not None:
            settings.set_profile(self.collect_profile())
        else:
            settings.axes = {
                i: shape
                for i, shape in ((axis_index(Layout.RAW, n), self.shapes.get(n)) for n in self._row_names())
                if shape and shape != AxisShape()
            }
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
