"""The main window: connection bar, gamepad panel, readings, log, Enable and emergency stop."""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QSettings, Qt, qVersion
from PySide6.QtGui import QAction, QCloseEvent, QFont, QFontDatabase, QFontMetrics, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from teleop import __version__
from teleop.common.resources import resource_path
from teleop.desktop.gui.adapter import QtAdapter
from teleop.desktop.gui.aids_view import PadWarning, SpeedBadge
from teleop.desktop.gui.binding import bind
from teleop.desktop.gui.keys import KeyboardSafety, is_text_entry
from teleop.desktop.gui.pilot_qr import show_pilot_qr
from teleop.desktop.gui.readings_view import ReadingsPanel
from teleop.desktop.gui.replay_bar import ReplayBar
from teleop.desktop.gui.robot_list import use_fleet
from teleop.desktop.gui.settings_dialog import SettingsDialog
from teleop.desktop.gui.style import apply_style
from teleop.desktop.gui.video_panel import VideoPanel
from teleop.desktop.gui.widgets import ConnectionBar, ElidedLabel, GamepadPanel
from teleop.desktop.models.appsettings import AppSettings, BrokerSettings, config_dir, unreadable_part
from teleop.desktop.models.connection import ConnectionModel, LogLevel, LogLine
from teleop.desktop.models.driving import DriveModel, DriveOff
from teleop.desktop.net.client import run_in_background
from teleop.desktop.session.teleop_model import TeleopModel

SETTINGS_KEY = "settings/json"
#: whether the video panel is shown (View > Video), kept with the window's other view choices
SHOW_VIDEO_KEY = "view/video"


def load_settings(store: QSettings) -> AppSettings:
    return AppSettings.from_json(store.value(SETTINGS_KEY, "", type=str))


def rescue_unreadable_settings(store: QSettings) -> str | None:
    """If the stored settings cannot be read in full, copy them aside before anything overwrites them.

    Returns what to tell the user (why, and where the copy is), or None when all is well.
    The copy holds pilot tokens, so only its owner may read it.
    """
    text = store.value(SETTINGS_KEY, "", type=str)
    why = unreadable_part(text)
    if why is None:
        return None
    path = store.fileName()
    plain_file = store.format() == QSettings.Format.IniFormat or sys.platform.startswith("linux")
    folder = os.path.dirname(path) if path and plain_file else str(config_dir())
    name = os.path.basename(path) if path and plain_file else "settings"
    copy = os.path.join(folder or ".", f"{name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        os.makedirs(folder or ".", exist_ok=True)
        with os.fdopen(os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        return f"settings could not be read in full: {why}; a copy could not be kept ({exc.strerror or exc})"
    return f"settings could not be read in full: {why}; what was stored is kept in {copy}"


def save_settings(store: QSettings, settings: AppSettings) -> None:
    """Persist the settings; the file holds pilot tokens, so only its owner may read it."""
    store.setValue(SETTINGS_KEY, settings.to_json())
    store.sync()
    protect_settings_file(store)


def protect_settings_file(store: QSettings) -> None:
    """Make the settings file private before anything is written to it.

    Created empty with mode 0600 if it does not exist yet: QSettings replaces the
    file on every write but keeps the permissions of the one it replaces, so the
    tokens are never readable by others, not even for a moment.
    """
    path = store.fileName()
    plain_file = store.format() == QSettings.Format.IniFormat or sys.platform.startswith("linux")  # not the registry or a plist
    if not path or not plain_file:
        return
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    os.chmod(path, 0o600)


class MainWindow(QMainWindow):
    """Widgets get the sub-model they show; the window wires them and the keyboard's safety rules."""

    def __init__(self, adapter: QtAdapter, store: QSettings) -> None:
        super().__init__()
        self.adapter = adapter
        self.model: TeleopModel = adapter.model
        self.store = store
        self.settings_dialog: SettingsDialog | None = None
        self.setWindowTitle(f"teleop {__version__}")
        self.setWindowIcon(QIcon(str(resource_path("teleop.svg"))))
        self.resize(1180, 760)
        model = self.model

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(8, 8, 8, 8)
        self.connection_bar = ConnectionBar(model.connection, model.settings, adapter)
        layout.addWidget(self.connection_bar)
        self.replay_bar = ReplayBar(model.steer_replay)
        layout.addWidget(self.replay_bar)

        drive_row = QHBoxLayout()
        # The red button comes first and nothing left of it changes size: it never moves under the pointer.
        self.estop = QPushButton("EMERGENCY STOP  (Space / Esc)")
        self.estop.setObjectName("estopButton")
        self.estop.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.estop.clicked.connect(model.emergency_stop)
        self.enable = QPushButton("Enable driving")
        self.enable.setObjectName("enableButton")
        self.enable.setCheckable(True)
        self.enable.setToolTip("Nothing is sent to the robot until driving is enabled (Ctrl+D)")
        self.enable.toggled.connect(self._enable_toggled)
        self.take = QPushButton("Take control")
        self.take.setToolTip("Become the pilot, taking over from the current pilot if there is one (announced to everyone)")
        self.take.clicked.connect(self._take_control)
        self.drive_state = ElidedLabel("Driving off: not connected to a robot")
        self.drive_state.setObjectName("driveState")
        self.link_state = ElidedLabel("")
        self.link_state.setObjectName("linkState")
        drive_row.addWidget(self.estop)
        drive_row.addWidget(self.enable)
        drive_row.addWidget(self.take)
        self.speed_badge = SpeedBadge(model.drive)
        drive_row.addWidget(self.speed_badge)
        drive_row.addWidget(self.drive_state)
        drive_row.addStretch(1)
        drive_row.addWidget(self.link_state)
        layout.addLayout(drive_row)
        self.pad_warning = PadWarning(model.drive)
        layout.addWidget(self.pad_warning)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.gamepad_panel = GamepadPanel(model.drive)
        self.readings_panel = ReadingsPanel(model.readings, model.settings)
        self.video_panel = VideoPanel(model.video)
        splitter.addWidget(self.gamepad_panel)
        splitter.addWidget(self.readings_panel)
        splitter.addWidget(self.video_panel)
        splitter.setSizes([380, 400, 400])
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
        shown = self.store.value(SHOW_VIDEO_KEY, True, type=bool)
        self.show_video.setChecked(shown)
        self._show_video(shown)
        # The style sheet goes on the few widgets it styles, not the window: on the window it
        # cascades to every child and switches them all to the slower style-sheet painter.
        apply_style(
            self.enable,
            self.estop,
            self.connection_bar.state,
            self.connection_bar.role,
            self.link_state,
            self.drive_state,
            self.gamepad_panel.hint,
            self.speed_badge.figure,
            self.speed_badge.mode,
            self.pad_warning,
        )
        bold = QFont(self.enable.font())  # the style sheet makes it bold once it is polished, after this
        bold.setBold(True)
        metrics = QFontMetrics(bold)
        self.enable.setMinimumWidth(max(metrics.horizontalAdvance(t) for t in ("Enable driving", "Driving ENABLED")) + 48)
        self.log.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))

        self.keys = KeyboardSafety(model.drive, self, model.emergency_stop, lambda: model.settings.keyboard_driving)
        bind(model.drive.changed, self, self._drive_changed)
        bind(model.connection.changed, self, self._connection_changed)
        bind(model.log, self, self._log_line)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.focusChanged.connect(self._focus_changed)
        bind(model.drive.profile_changed, self, lambda _profile: save_settings(self.store, self.model.settings))  # a pad's profile is kept
        self._drive_changed(model.drive)
        self._connection_changed(model.connection)
        self.gamepad_panel.setFocus(Qt.FocusReason.OtherFocusReason)  # the stick area, not the address field

    # -- menus -----------------------------------------------------------------------

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        export = QAction("&Export readings to CSV…", self)
        export.setShortcut(QKeySequence("Ctrl+E"))
        export.triggered.connect(lambda: self.export_csv())  # not the action's checked flag as the path
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
        view_menu = self.menuBar().addMenu("&View")
        self.show_video = QAction("&Video", self)
        self.show_video.setCheckable(True)
        self.show_video.setShortcut(QKeySequence("Ctrl+Shift+V"))
        self.show_video.setToolTip("Show the robot's camera beside the readings; hidden, no video is downloaded")
        self.show_video.toggled.connect(self._show_video)
        view_menu.addAction(self.show_video)
        drive_menu = self.menuBar().addMenu("&Drive")
        enable = QAction("&Enable driving", self)  # offered whatever the state: refused, it says why in the log
        enable.setShortcut(QKeySequence("Ctrl+D"))
        enable.triggered.connect(self.model.enable_driving)
        drive_menu.addAction(enable)
        self.disable_action = disable = QAction("&Disable driving", self)
        disable.setShortcut(QKeySequence("Ctrl+Shift+D"))
        disable.triggered.connect(lambda: self.model.disable_driving())  # not the action's checked flag as the reason
        drive_menu.addAction(disable)
        stop = QAction("Emergency &stop\tSpace / Esc", self)  # the keys are handled app-wide by KeyboardSafety
        stop.triggered.connect(self.model.emergency_stop)
        drive_menu.addAction(stop)
        self.take_action = take = QAction("&Take control", self)
        take.triggered.connect(self._take_control)
        drive_menu.addAction(take)
        drive_menu.addSeparator()
        self.phone_action = QAction("Drive from a &phone…", self)
        self.phone_action.setToolTip("A QR code of this robot's pilot page, with the pilot token, for a phone to scan")
        self.phone_action.triggered.connect(lambda: show_pilot_qr(self, self.model))
        drive_menu.addAction(self.phone_action)
        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About teleop", self)
        about.triggered.connect(self.show_about)
        help_menu.addAction(about)

    def _show_video(self, shown: bool) -> None:
        self.video_panel.setVisible(shown)
        self.model.video.set_wanted(shown)  # hidden: the stream closes, nothing is downloaded or decoded
        self.store.setValue(SHOW_VIDEO_KEY, shown)

    def open_settings(self) -> SettingsDialog:
        """Non-modal, so the red button stays clickable; opening it again raises the one already open."""
        if self.settings_dialog is not None:
            self.settings_dialog.raise_()
            self.settings_dialog.activateWindow()
            return self.settings_dialog
        connection = self.model.connection
        connected_to = connection.server if connection.connected else ""
        dialog = SettingsDialog(self.model.settings, self.model.drive, self.model.readings.store.names(), self, connected_to)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._settings_accepted(dialog))
        dialog.finished.connect(self._settings_closed)
        self.settings_dialog = dialog
        dialog.show()
        return dialog

    def _settings_closed(self, _result: int) -> None:
        self.settings_dialog = None

    def _settings_accepted(self, dialog: SettingsDialog) -> None:
        broker_before = self.model.settings.fleet
        settings = dialog.collect()
        reconnect = self.model.apply_settings(settings)
        self.connection_bar.settings = settings
        self.readings_panel.settings = settings
        save_settings(self.store, settings)
        self.connection_bar.refresh_recent()
        if not reconnect:
            self.connection_bar.show_connected()
        self.readings_panel.sync_curves()
        self._drive_changed(self.model.drive)  # hold-to-drive may have been switched on or off
        saved = f"{settings.host}:{settings.port}"
        connection = self.model.connection
        elsewhere = (
            f"; connected now to {connection.server}" if connection.connected and connection.server != saved and not reconnect else ""
        )
        self.append_log("info", f"settings saved; robot at start {saved}{elsewhere}, {settings.rate_hz:.0f} Hz")
        if reconnect:
            self.adapter.connect_to()
        if settings.fleet != broker_before:
            run_in_background(self._follow_fleet(settings.fleet))

    async def _follow_fleet(self, broker: BrokerSettings) -> None:
        trouble = await use_fleet(broker)
        if trouble:
            self.model.say(LogLevel.WARNING, trouble)
        elif broker.url:
            self.model.say(LogLevel.INFO, f"fleet list: robots on {broker.url}")
        else:
            self.model.say(LogLevel.INFO, "fleet list: off")

    def export_csv(self, path: str | None = None) -> None:
        if not path:
            path, _ = QFileDialog.getSaveFileName(
                self, "Export readings", f"teleop-readings-{time.strftime('%Y%m%d-%H%M%S')}.csv", "CSV (*.csv)"
            )
        if not path:
            return
        try:
            rows = self.model.readings.store.export_csv(path)
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

    def _log_line(self, line: LogLine) -> None:
        self.append_log(line.level.value, line.text)

    def _focus_changed(self, _old, new) -> None:
        """Pad buttons fire no action while the keyboard is in a field the pilot types in (read-only text does not count)."""
        read_only = getattr(new, "isReadOnly", None)
        self.model.drive.set_text_focus(is_text_entry(new) and not (callable(read_only) and read_only()))

    def _take_control(self) -> None:
        self.model.request_control(takeover=True)

    def _enable_toggled(self, checked: bool) -> None:
        if checked and not self.model.drive.enabled:
            self.model.enable_driving()
        elif not checked and self.model.drive.enabled:
            self.model.disable_driving()
        self._drive_changed(self.model.drive)  # a refused enable unticks the button again

    def _drive_changed(self, drive: DriveModel) -> None:
        self.enable.blockSignals(True)
        self.enable.setChecked(drive.enabled)
        self.enable.blockSignals(False)
        self.enable.setText("Driving ENABLED" if drive.enabled else "Enable driving")
        self.enable.setEnabled(drive.enabled or drive.blocked is None)
        watching = drive.blocked is DriveOff.NOT_PILOT
        self.take.setVisible(watching)
        self.take_action.setEnabled(watching)
        self.disable_action.setEnabled(drive.enabled)
        if drive.enabled:
            hold = drive.profile.deadman if drive.profile is not None and drive.deadman_held is not None else ""
            text = f"Driving: the robot follows your stick while you hold {hold}" if hold else "Driving: the robot follows your stick"
        elif drive.blocked is DriveOff.NOT_PILOT:
            # short: the Take control button is beside it, and the row's right end says the robot's state
            status = self.model.connection.status
            driver = f"{status.pilot} drives" + (f" ({status.pilot_input})" if status.pilot_input else "") if status.pilot else ""
            text = "Watching: " + ("; ".join(filter(None, (driver, self.model.connection.refused))) or "this app is not the pilot")
        elif drive.blocked is not None:
            text = f"Cannot drive: {drive.blocked}"
        else:
            # not connected was why it went off; connected again as pilot, that is no news
            ready = drive.off_reason in (DriveOff.NOT_YET, DriveOff.NOT_CONNECTED)
            text = "Ready: enable driving to send commands" if ready else f"Driving off ({drive.off_reason})"
        self.drive_state.set_full_text(text)
        self.enable.setToolTip(text)

    def _connection_changed(self, connection: ConnectionModel) -> None:
        status = connection.status
        self.replay_bar.show_state(status.replay if connection.connected else None)
        if connection.state.value == "disconnected" or not connection.server:
            self.link_state.set_full_text("")
        else:
            parts = [status.replay.describe()] if status.replay is not None else [f"robot: {status.device or '?'}"]
            if status.estop:
                parts.append("E-STOP")
            elif status.failsafe:
                parts.append("outputs neutral" if not status.pilot or not self.model.drive.enabled else "FAILSAFE")
            if connection.pilot:
                parts.append("pilot: you")  # the role badge says so too; this row has little room
            elif not status.pilot:
                parts.append("pilot: none")
            # another pilot is named, with what they drive with, beside the Take control button
            parts.append(f"{status.clients} connected")
            text = "  ·  ".join(parts)
            self.link_state.set_full_text(f"(stale) {text}" if connection.status_stale else text)
        if self.model.session is None:
            self.statusBar().showMessage("Type the robot's address and press Connect, or open Settings (Ctrl+,)")
        else:
            self.statusBar().clearMessage()
        self._drive_changed(self.model.drive)

    # -- lifecycle ---------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        self.model.disable_driving(DriveOff.CLOSING)
        save_settings(self.store, self.model.settings)
        self.keys.remove()
        app = QApplication.instance()
        if isinstance(app, QApplication):
            with contextlib.suppress(RuntimeError, TypeError):  # closed twice
                app.focusChanged.disconnect(self._focus_changed)
        if self.settings_dialog is not None:
            self.settings_dialog.close()
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
