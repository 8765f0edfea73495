"""Settings: server, token, send rate, gamepad, per-axis shaping and calibration, pad buttons and speeds, plotted readings, fleet broker.

Every field is checked as the user types; OK stays disabled while anything is
wrong, and the reason is shown next to the field, so nothing bad is saved.
The tabs are pages in :mod:`teleop.desktop.gui.settings`, each a view of the part of
the settings it edits; this dialog puts them together and collects them on OK.
"""

from __future__ import annotations

import copy

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTabWidget, QVBoxLayout, QWidget

from teleop.desktop.gui.settings.actions_page import ActionsPage
from teleop.desktop.gui.settings.axes_page import AxesPage, CalibrationDialog
from teleop.desktop.gui.settings.connection_page import ConnectionPage
from teleop.desktop.gui.settings.driving_page import DrivingPage
from teleop.desktop.gui.settings.fleet_page import FleetPage
from teleop.desktop.gui.settings.gamepad_page import GamepadPage
from teleop.desktop.gui.settings.plot_page import PlotPage
from teleop.desktop.gui.style import apply_style
from teleop.desktop.models.appsettings import AppSettings
from teleop.desktop.models.driving import DriveModel
from teleop.desktop.models.profiles import PadProfile
from teleop.desktop.models.settings_draft import PadDraft
from teleop.desktop.models.shaping import AxisShape
from teleop.wire.layout import Layout, axis_index

__all__ = ["CalibrationDialog", "SettingsDialog"]


class SettingsDialog(QDialog):
    """Not modal: the main window's emergency stop stays in reach (and Space stops from here too)."""

    def __init__(
        self, settings: AppSettings, drive: DriveModel, reading_names: list[str], parent: QWidget | None = None, connected_to: str = ""
    ) -> None:
        """``connected_to``: the robot the window is connected to now (host:port), said on the Connection tab."""
        super().__init__(parent)
        self.setWindowTitle("teleop settings")
        self.setMinimumSize(600, 440)  # room for eight axis rows without scrolling
        self.drive = drive
        self.settings = copy.deepcopy(settings)
        #: the pad in use when the dialog opened: the Axes and Gamepad tabs edit its profile
        pad = drive.pads.get(drive.selected) if drive.selected is not None else None
        known = pad is not None and drive.pad_states[pad.instance_id].standard is not None
        self.pad_draft = PadDraft.of(pad, known, drive.profile_of(pad.instance_id) if pad else None, self.settings.axes)
        self.pad = pad
        layout = QVBoxLayout(self)
        self.tabs = QTabWidget()
        layout.addWidget(self.tabs)
        self.connection = ConnectionPage(self.settings, connected_to)
        self.driving = DrivingPage(self.settings, list(drive.pads.values()))
        self.gamepad_page = GamepadPage(self.pad_draft, self.settings, self.collect_profile)
        self.axes_page = AxesPage(self.pad_draft, drive)
        self.actions_page = ActionsPage(self.pad_draft, drive)
        self.plot_page = PlotPage(self.settings, reading_names)
        self.fleet_page = FleetPage(self.settings)
        self.tabs.addTab(self.connection, "Connection")
        self.tabs.addTab(self.driving, "Driving")
        self.tabs.addTab(self.gamepad_page, "Gamepad")
        self.tabs.addTab(self.axes_page, "Axes")
        self.tabs.addTab(self.actions_page, "Buttons")
        self.tabs.addTab(self.plot_page, "Plot")
        self.tabs.addTab(self.fleet_page, "Fleet")
        self.gamepad_page.layout_changed.connect(self.axes_page.fill)
        self.gamepad_page.imported.connect(lambda: self.axes_page.fill(keep=False))
        self.gamepad_page.imported.connect(self.actions_page.reload)
        self.connection.edited.connect(self.validate)
        self.fleet_page.edited.connect(self.validate)
        self.problem = QLabel("")
        self.problem.setObjectName("problem")
        self.problem.setWordWrap(True)
        layout.addWidget(self.problem)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        # The fields the main window and the GUI tests reach by name, whichever page holds them.
        c, d, g, a = self.connection, self.driving, self.gamepad_page, self.axes_page
        self.host, self.port, self.tls, self.token = c.host, c.port, c.tls, c.token
        self.cafile, self.host_problem = c.cafile, c.host_problem
        self.rate, self.gamepad, self.keyboard = d.rate, d.gamepad, d.keyboard
        self.layout_choice, self.hold, self.hold_button, self.rumble = g.layout_choice, g.hold, g.hold_button, g.rumble
        self.pad_about, self.profile_message = g.pad_about, g.profile_message
        self.axes_title, self.calibrate_button = a.axes_title, a.calibrate_button
        apply_style(self.problem, self.host_problem)
        self.validate()

    @property
    def axis_names(self) -> list[str]:
        return self.axes_page.axis_names

    @property
    def axis_widgets(self) -> list:
        return self.axes_page.axis_widgets

    def collect_profile(self) -> PadProfile:
        """The pad's profile as this dialog shows it now."""
        self.axes_page.keep_rows()
        self.actions_page.keep()
        return self.pad_draft.collect(self.gamepad_page.deadman)

    def export_profile(self, path: str | None = None) -> bool:
        return self.gamepad_page.export_profile(path)

    def import_profile(self, path: str | None = None) -> bool:
        return self.gamepad_page.import_profile(path)

    def validate(self) -> bool:
        host_problem, problems = self.connection.problems()
        problems += self.fleet_page.problems()
        self.problem.setText("; ".join(p for p in problems if p != host_problem))  # the host's is shown beside it
        if hasattr(self, "buttons"):
            self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problems)
        return not problems

    def collect(self) -> AppSettings:
        settings = self.settings
        self.connection.collect(settings)
        self.driving.collect(settings)
        self.gamepad_page.collect(settings)
        self.axes_page.keep_rows()
        if self.pad is not None:
            settings.set_profile(self.collect_profile())
        else:
            shapes = self.pad_draft.shapes
            settings.axes = {
                i: shape
                for i, shape in ((axis_index(Layout.RAW, n), shapes.get(n)) for n in self.pad_draft.axis_names())
                if shape and shape != AxisShape()
            }
        self.plot_page.collect(settings)
        self.fleet_page.collect(settings)
        settings.remember_server()
        return settings

    def accept(self) -> None:
        if self.validate():
            super().accept()

    def done(self, result: int) -> None:
        self.actions_page.stop_capture()  # closed while waiting for a button: the pad's actions fire again
        super().done(result)
