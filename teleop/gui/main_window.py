"""The main window: connection bar, gamepad panel, readings, log, Enable and emergency stop."""

from __future__ import annotations

import platform
import sys
import time

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QEvent, QObject, QSettings, Qt, qVersion
from PySide6.QtGui import QAction, QCloseEvent, QFontDatabase, QIcon, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from teleop import __version__
from teleop.appsettings import AppSettings

from .controller import TeleopController
from .readings_view import ReadingsPanel
from .settings_dialog import SettingsDialog
from .widgets import ConnectionBar, GamepadPanel

SETTINGS_KEY = "settings/json"
# keyboard driving: key -> (virtual axis, direction)
DRIVE_KEYS = {
    Qt.Key.Key_Left: (0, -1.0),
    Qt.Key.Key_Right: (0, 1.0),
    Qt.Key.Key_Up: (1, -1.0),
    Qt.Key.Key_Down: (1, 1.0),
    Qt.Key.Key_A: (2, -1.0),
    Qt.Key.Key_D: (2, 1.0),
    Qt.Key.Key_W: (3, -1.0),
    Qt.Key.Key_S: (3, 1.0),
}


def resource_path(name: str) -> str:
    from importlib import resources

    return str(resources.files("teleop.resources").joinpath(name))


def apply_style(*widgets: QWidget) -> None:
    """Give these widgets teleop's style sheet (resources/style.qss)."""
    with open(resource_path("style.qss"), encoding="utf-8") as handle:
        sheet = handle.read()
    for widget in widgets:
        widget.setStyleSheet(sheet)


def load_settings(store: QSettings) -> AppSettings:
    return AppSettings.from_json(store.value(SETTINGS_KEY, "", type=str))


def save_settings(store: QSettings, settings: AppSettings) -> None:
    store.setValue(SETTINGS_KEY, settings.to_json())
    store.sync()


class MainWindow(QMainWindow):
    def __init__(self, controller: TeleopController, store: QSettings) -> None:
        super().__init__()
        self.controller = controller
        self.store = store
        self.setWindowTitle(f"teleop {__version__}")
        self.setWindowIcon(QIcon(resource_path("teleop.svg")))

        self.resize(1180, 760)
        self._pressed: set[int] = set()

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(8, 8, 8, 8)
        self.connection_bar = ConnectionBar(controller)
        layout.addWidget(self.connection_bar)

        drive_row = QHBoxLayout()
        self.enable = QPushButton("Enable driving")
        self.enable.setObjectName("enableButton")
        self.enable.setCheckable(True)
        self.enable.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.enable.setToolTip("Nothing is sent to the robot until driving is enabled")
        self.enable.toggled.connect(self._enable_toggled)
        self.estop = QPushButton("EMERGENCY STOP  (Space)")
        self.estop.setObjectName("estopButton")
        self.estop.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.estop.clicked.connect(controller.emergency_stop)
        self.drive_state = QLabel("Driving disabled")
        self.link_state = QLabel("")
        self.link_state.setObjectName("linkState")
        drive_row.addWidget(self.enable)
        drive_row.addWidget(self.estop)
        drive_row.addWidget(self.drive_state, 1)
        drive_row.addWidget(self.link_state)
        layout.addLayout(drive_row)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.gamepad_panel = GamepadPanel(controller)
        self.readings_panel = ReadingsPanel(controller)
        splitter.addWidget(self.gamepad_panel)
        splitter.addWidget(self.readings_panel)
        splitter.setSizes([460, 700])
        vertical = QSplitter(Qt.Orientation.Vertical)
        vertical.addWidget(splitter)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.log.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.log.setPlaceholderText("Server messages, errors and failsafe events appear here")
        vertical.addWidget(self.log)
        vertical.setSizes([600, 140])
        layout.addWidget(vertical, 1)
        self.setCentralWidget(central)
        self._build_menus()
        # The style sheet goes on the few widgets it styles, not the window: on the window it
        # cascades to every child and switches them all to the slower style-sheet painter.
        apply_style(self.enable, self.estop, self.connection_bar.state, self.connection_bar.role, self.link_state, self.gamepad_panel.hint)
        self.log.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))

        QShortcut(QKeySequence(Qt.Key.Key_Space), self, controller.emergency_stop, context=Qt.ShortcutContext.ApplicationShortcut)
        QApplication.instance().installEventFilter(self)

        controller.drivingChanged.connect(self._driving_changed)
        controller.eventLogged.connect(self.append_log)
        controller.statusChanged.connect(self._status_changed)
        controller.legacyText.connect(self._legacy_text)
        controller.connectionChanged.connect(self._connection_changed)
        self.statusBar().showMessage("Open Settings (Ctrl+,) to pick the robot's address, then Connect")

    # -- menus -----------------------------------------------------------------------

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        export = QAction("&Export readings to CSV…", self)
        export.setShortcut(QKeySequence("Ctrl+E"))
        export.triggered.connect(self.export_csv)
        file_menu.addAction(export)
        settings = QAction("&Settings…", self)
        settings.setShortcut(QKeySequence("Ctrl+,"))
        settings.triggered.connect(self.open_settings)
        file_menu.addAction(settings)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About teleop", self)
        about.triggered.connect(self.show_about)
        help_menu.addAction(about)

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.controller, self)
        dialog.accepted.connect(lambda: self._settings_accepted(dialog))
        dialog.open()
        return dialog

    def _settings_accepted(self, dialog: SettingsDialog) -> None:
        settings = dialog.collect()
        self.controller.apply_settings(settings)
        save_settings(self.store, settings)
        self.connection_bar.refresh_recent()
        self.readings_panel.sync_curves()
        self.append_log("info", f"settings saved; server {settings.host}:{settings.port}, {settings.rate_hz:.0f} Hz")

    def export_csv(self, path: str | None = None) -> None:
        if not path:
            path, _ = QFileDialog.getSaveFileName(
                self, "Export readings", f"teleop-readings-{time.strftime('%Y%m%d-%H%M%S')}.csv", "CSV (*.csv)"
            )
        if not path:
            return
        try:
            rows = self.controller.readings.export_csv(path)
        except OSError as exc:
            QMessageBox.warning(self, "Export failed", f"Could not write {path}:\n{exc.strerror or exc}")
            return
        self.append_log("info", f"exported {rows} readings to {path}")

    def about_text(self) -> str:
        import pygame
        import websockets

        return (
            f"<h3>teleop {__version__}</h3>"
            "<p>Drive a robot from a gamepad and watch its sensors live.</p>"
            f"<p>Python {platform.python_version()}<br>Qt {qVersion()} / PySide6 {pyside_version}<br>"
            f"pygame {pygame.version.ver} / SDL {'.'.join(map(str, pygame.get_sdl_version()))}<br>"
            f"websockets {websockets.__version__}<br>{platform.system()} {platform.machine()}</p>"
        )

    def show_about(self) -> None:
        QMessageBox.about(self, "About teleop", self.about_text())

    # -- state -------------------------------------------------------------------------

    def append_log(self, level: str, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.log.appendPlainText(f"{stamp}  {level.upper():8} {text}")

    # Slots are bound methods, never lambdas: Qt disconnects them when the window is destroyed.
    def _legacy_text(self, text: str) -> None:
        self.append_log("legacy", text.strip())

    def _connection_changed(self, state: str, detail: str) -> None:
        self.append_log("link", f"{state}: {detail}")

    def _enable_toggled(self, checked: bool) -> None:
        if checked != self.controller.drive.enabled:
            self.controller.set_driving(checked, "by user")

    def _driving_changed(self, enabled: bool, reason: str) -> None:
        self.enable.blockSignals(True)
        self.enable.setChecked(enabled)
        self.enable.blockSignals(False)
        self.enable.setText("Driving ENABLED" if enabled else "Enable driving")
        self.drive_state.setText("Driving enabled: the robot follows your stick" if enabled else f"Driving disabled ({reason})")

    def _status_changed(self, status: dict) -> None:
        serial = status.get("serial", {})
        pilot = status.get("pilot") or {}
        parts = [f"device: {serial.get('state', '?')}"]
        if status.get("failsafe"):
            parts.append("FAILSAFE")
        if status.get("estop"):
            parts.append("E-STOP")
        parts.append(f"pilot: {pilot.get('name', 'none')}")
        parts.append(f"{status.get('clients', 0)} clients")
        self.link_state.setText("  ·  ".join(parts))

    # -- keyboard driving and lifecycle -----------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and not event.isAutoRepeat():
            key = event.key()
            typing = isinstance(QApplication.focusWidget(), QLineEdit) or QApplication.activeModalWidget() is not None
            if key in DRIVE_KEYS and self.controller.settings.keyboard_driving and self.controller.selected is None and not typing:
                if kind == QEvent.Type.KeyPress:
                    self._pressed.add(key)
                else:
                    self._pressed.discard(key)
                self._apply_keys()
                return True
        return super().eventFilter(watched, event)

    def _apply_keys(self) -> None:
        values = [0.0] * 4
        for key in self._pressed:
            axis, direction = DRIVE_KEYS[key]
            values[axis] += direction
        for axis, value in enumerate(values):
            self.controller.set_virtual_axis(axis, value)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.controller.set_driving(False, "window closed")
        save_settings(self.store, self.controller.settings)
        QApplication.instance().removeEventFilter(self)
        super().closeEvent(event)


def excepthook_to_log(window: MainWindow) -> None:
    """An unexpected error in a Qt slot is logged in the window instead of killing the app mid-drive."""
    previous = sys.excepthook

    def hook(kind, value, tb) -> None:
        try:
            window.append_log("error", f"internal error: {kind.__name__}: {value}")
        finally:
            previous(kind, value, tb)

    sys.excepthook = hook
