"""The Driving tab: send rate, the pad that drives at start, keyboard driving, the stale-pad guard."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QLabel, QSpinBox, QWidget

from teleop.desktop.models.appsettings import MAX_STALE_PAD_S, AppSettings
from teleop.desktop.models.drive import MAX_RATE_HZ
from teleop.desktop.models.pads import GamepadInfo


class DrivingPage(QWidget):
    """Edits the driving fields of :class:`AppSettings`; ``pads`` are the pads plugged in now, to pick one for start."""

    def __init__(self, settings: AppSettings, pads: list[GamepadInfo], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        self.rate = QSpinBox()
        self.rate.setRange(1, int(MAX_RATE_HZ))
        self.rate.setSuffix(" Hz")
        self.rate.setValue(int(settings.rate_hz))
        self.rate.setToolTip("How often the stick state is re-sent while still; movements are sent at once")
        form.addRow("Send rate:", self.rate)
        self.gamepad = QComboBox()
        self.gamepad.addItem("First gamepad found", "")
        for info in pads:
            self.gamepad.addItem(info.label, info.guid)
        index = self.gamepad.findData(settings.gamepad)
        self.gamepad.setCurrentIndex(max(0, index))
        self.gamepad.setToolTip("The pad that drives when the app starts; while it runs, click a pad in the main window's list")
        form.addRow("Pad at start:", self.gamepad)
        self.keyboard = QCheckBox("Drive with the keyboard when no gamepad is in use (arrows, W A S D)")
        self.keyboard.setChecked(settings.keyboard_driving)
        form.addRow("", self.keyboard)
        self.stale_pad = QDoubleSpinBox()
        self.stale_pad.setRange(0.0, MAX_STALE_PAD_S)
        self.stale_pad.setSingleStep(0.5)
        self.stale_pad.setDecimals(1)
        self.stale_pad.setSuffix(" s")
        self.stale_pad.setSpecialValueText("off")
        self.stale_pad.setValue(settings.stale_pad_s)
        self.stale_pad.setToolTip(
            "A pad whose state has not changed at all for this long while it drives (a Bluetooth link that died "
            "with the stick pushed) is no longer re-sent, so the robot's failsafe stops it; a warning comes first"
        )
        form.addRow("Stale pad after:", self.stale_pad)
        form.addRow(
            "",
            QLabel(
                "Emergency stop: Space or Esc (even while this window is open), or the red button.\nIt sends neutral at once and disables driving."
            ),
        )

    def collect(self, settings: AppSettings) -> None:
        settings.rate_hz = float(self.rate.value())
        settings.gamepad = self.gamepad.currentData() or ""
        settings.keyboard_driving = self.keyboard.isChecked()
        settings.stale_pad_s = round(self.stale_pad.value(), 1)
