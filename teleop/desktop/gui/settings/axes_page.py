"""The Axes tab: deadzone, expo, invert and calibration per axis of the pad in use, and the calibration dialog."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from teleop.desktop.models.driving import DriveModel
from teleop.desktop.models.settings_draft import PadDraft, calibration_text
from teleop.desktop.models.shaping import AxisCalibration, AxisShape, CalibrationCapture
from teleop.wire.layout import axis_name


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


class AxesPage(QWidget):
    """One row per axis of the pad in use, by its name in the pad's layout (``leftx``, ``axis3``), edited into ``draft``."""

    def __init__(self, draft: PadDraft, drive: DriveModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.draft = draft
        self.drive = drive
        layout = QVBoxLayout(self)
        self.axes_title = QLabel()
        self.axes_title.setWordWrap(True)
        layout.addWidget(self.axes_title)
        self.axes_table = QTableWidget(0, 4)
        self.axes_table.setHorizontalHeaderLabels(["Deadzone", "Expo", "Invert", "Calibration"])
        self.axes_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.axis_names: list[str] = []
        self.axis_widgets: list[tuple[QDoubleSpinBox, QDoubleSpinBox, QCheckBox, QLabel]] = []
        layout.addWidget(self.axes_table)
        row = QHBoxLayout()
        calibrate = QPushButton("Calibrate…")
        calibrate.clicked.connect(self._calibrate)
        has_pad = drive.selected is not None
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
        self.fill()

    def fill(self, keep: bool = True) -> None:
        """(Re)build the rows for the layout chosen now; edits to rows that go away are kept for when they come back.

        ``keep=False`` drops what the rows on screen say (a profile was just imported over them).
        """
        if keep:
            self.keep_rows()
        draft = self.draft
        names = draft.axis_names()
        if draft.pad is not None:
            self.axes_title.setText(
                f"Stick shaping for {draft.pad.name}, kept with this pad: it comes back when the pad is plugged in again."
            )
        else:
            self.axes_title.setText("Stick shaping for the on-screen sticks, and for pads that have no settings of their own yet.")
        self.axes_table.setRowCount(len(names))
        self.axes_table.setVerticalHeaderLabels(names)
        self.axis_names = names
        self.axis_widgets = []
        for i, name in enumerate(names):
            axis = draft.shapes.get(name, AxisShape())
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
            calibration = QLabel(calibration_text(draft.calibration(name)))
            for column, widget in enumerate((deadzone, expo, invert, calibration)):
                self.axes_table.setCellWidget(i, column, widget)
            self.axis_widgets.append((deadzone, expo, invert, calibration))

    def keep_rows(self) -> None:
        """The rows as edited, into the draft's shapes (by axis name)."""
        for name, (deadzone, expo, invert, _) in zip(self.axis_names, self.axis_widgets, strict=False):
            self.draft.keep_row(name, deadzone.value(), expo.value(), invert.isChecked())

    def _calibrate(self) -> None:
        dialog = CalibrationDialog(self.drive, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            for index, calibration in dialog.result.items():
                name = axis_name(self.drive.layout, index)  # captured from the input in use, in its layout
                self.draft.calibrations[name] = calibration
                if name in self.axis_names:
                    self.axis_widgets[self.axis_names.index(name)][3].setText(calibration_text(calibration))

    def _clear_calibration(self) -> None:
        for index, name in enumerate(self.axis_names):
            self.draft.calibrations[name] = AxisCalibration()
            self.axis_widgets[index][3].setText(calibration_text(AxisCalibration()))
