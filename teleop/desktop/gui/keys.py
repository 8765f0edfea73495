"""The keyboard's safety rules, for the whole application (every window and dialog).

* **Space and Esc are the emergency stop** wherever the focus is: in a text
  field, a dialog, a menu. Space is swallowed (nobody types a space into an
  address or a token); Esc stops *and* still does its usual job (closing a
  dialog or a menu).
* **Drive keys** (arrows, W A S D) drive only when no gamepad is in use, the
  main window is active, no modifier is held, and the focus is not in a
  place where one types (a line edit, a spin box, an editable combo box, a
  text view). Anywhere else they are left alone, so typing an address never
  moves the robot.
* **Speed keys** (``+`` and ``-``, the keypad's too) step the speed scale the
  keys drive at, under the same rules as the drive keys: one step per press.
* **Auto-repeat never stops the robot**: X11 sends a held key as a stream of
  release/press pairs; a release takes effect only if no press of the same key
  follows within :data:`RELEASE_SETTLE_MS`.
* Keys held while the focus moves or the window loses focus are released
  (the window would never see their release otherwise).

The rules watch every window of the app (main window, dialogs, menus and
combo-box lists: each is a window with the keyboard focus while open), not the
application object: a filter on the application runs Python for every event of
every object, timers and paints included, hundreds a second while driving, for
the few that are keys. A key is delivered to the window with the focus before
any widget in it sees it, so the window's filter sees it first, as the
application's did.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QKeyEvent, QWindow
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox, QLineEdit, QPlainTextEdit, QTextEdit, QWidget

from teleop.desktop.models.driving import DriveModel

#: key -> (virtual axis, direction)
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
STOP_KEYS = (Qt.Key.Key_Space, Qt.Key.Key_Escape)
#: key -> speed step (= is + without Shift on most layouts)
SPEED_KEYS = {Qt.Key.Key_Plus: 1, Qt.Key.Key_Equal: 1, Qt.Key.Key_Minus: -1}
#: longer than the gap between an auto-repeat's release and press (0 ms on X11), far shorter than a human's
RELEASE_SETTLE_MS = 30


def is_text_entry(widget: QWidget | None) -> bool:
    """A widget where keys type text, so they must never drive."""
    while widget is not None:
        if isinstance(widget, (QLineEdit, QAbstractSpinBox, QTextEdit, QPlainTextEdit)):
            return True
        if isinstance(widget, QComboBox) and widget.isEditable():
            return True
        if widget.isWindow():
            return False
        widget = widget.parentWidget()
    return False


class KeyboardSafety(QObject):
    """Watches the keys of every window of the application; see the module docstring for the rules."""

    def __init__(
        self, drive: DriveModel, main_window: QWidget, emergency_stop: Callable[[], None], keyboard_driving: Callable[[], bool]
    ) -> None:
        super().__init__(main_window)
        self.drive = drive
        self.main_window = main_window
        self.emergency_stop = emergency_stop
        self.keyboard_driving = keyboard_driving
        self.pressed: set[int] = set()
        self._releasing: dict[int, QTimer] = {}
        self._last_stop: tuple[int, int] | None = None
        self._removed = False
        app = QApplication.instance()
        for window in QGuiApplication.topLevelWindows():
            self._watch(window)
        app.focusWindowChanged.connect(self._watch)
        app.focusChanged.connect(self._focus_changed)
        app.applicationStateChanged.connect(self._app_state_changed)

    def _watch(self, window: QWindow | None) -> None:
        """Filter the keys of ``window``: called for every window that gets the keyboard focus.

        Installing the same filter again on a window moves it to the front (Qt keeps one), so
        this needs no bookkeeping; a window that is gone takes its filter with it."""
        if window is not None and not self._removed:
            window.installEventFilter(self)

    def remove(self) -> None:
        if self._removed:
            return
        self._removed = True
        app = QApplication.instance()
        app.focusWindowChanged.disconnect(self._watch)
        for window in QGuiApplication.allWindows():
            window.removeEventFilter(self)
        app.focusChanged.disconnect(self._focus_changed)
        app.applicationStateChanged.disconnect(self._app_state_changed)
        self.release_all()

    def may_drive_from(self, widget: QWidget | None) -> bool:
        if not self.keyboard_driving() or self.drive.selected is not None:
            return False
        if QApplication.activeWindow() is not self.main_window or QApplication.activePopupWidget() is not None:
            return False
        return not is_text_entry(widget)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind not in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease, QEvent.Type.ShortcutOverride):
            return False
        assert isinstance(event, QKeyEvent)
        key = event.key()
        plain = not (event.modifiers() & ~(Qt.KeyboardModifier.KeypadModifier | Qt.KeyboardModifier.ShiftModifier))
        if key in STOP_KEYS and plain:
            if kind is QEvent.Type.ShortcutOverride:
                # claim Space before a line edit does (it would type it); Esc keeps its usual meaning too
                event.accept()
                return key == Qt.Key.Key_Space
            stamp = (id(event), event.timestamp())  # one stop per key press, however many filters it passes
            if kind is QEvent.Type.KeyPress and not event.isAutoRepeat() and stamp != self._last_stop:
                self._last_stop = stamp
                self.emergency_stop()
            return key == Qt.Key.Key_Space
        if key in SPEED_KEYS and kind is not QEvent.Type.ShortcutOverride:
            if not plain or not self.may_drive_from(QApplication.focusWidget()):
                return False
            if kind is QEvent.Type.KeyPress and not event.isAutoRepeat():
                self.drive.step_speed(SPEED_KEYS[key])
            return True
        if key not in DRIVE_KEYS or kind is QEvent.Type.ShortcutOverride:
            return False
        if kind is QEvent.Type.KeyRelease:
            if key not in self.pressed:
                return False
            if not event.isAutoRepeat():
                self._schedule_release(key)
            return True
        # KeyPress
        if key in self.pressed:
            self._cancel_release(key)  # auto-repeat (or a re-press within the settle time): still held
            return True
        if not plain or event.isAutoRepeat() or not self.may_drive_from(QApplication.focusWidget()):
            return False
        self.pressed.add(key)
        self._apply()
        return True

    def _schedule_release(self, key: int) -> None:
        timer = self._releasing.get(key)
        if timer is None:
            timer = self._releasing[key] = QTimer(self)
            timer.setSingleShot(True)
            timer.setInterval(RELEASE_SETTLE_MS)
            timer.timeout.connect(lambda key=key: self._released(key))
        timer.start()

    def _cancel_release(self, key: int) -> None:
        timer = self._releasing.get(key)
        if timer is not None:
            timer.stop()

    def _released(self, key: int) -> None:
        self.pressed.discard(key)
        self._apply()

    def release_all(self) -> None:
        for timer in self._releasing.values():
            timer.stop()
        if self.pressed:
            self.pressed.clear()
            self._apply()

    def _focus_changed(self, old: QWidget | None, new: QWidget | None) -> None:
        if self.pressed and not self.may_drive_from(new):
            self.release_all()

    def _app_state_changed(self, state: Qt.ApplicationState) -> None:
        if state != Qt.ApplicationState.ApplicationActive:
            self.release_all()

    def _apply(self) -> None:
        values = dict.fromkeys(range(4), 0.0)
        for key in self.pressed:
            axis, direction = DRIVE_KEYS[key]
            values[axis] += direction
        self.drive.set_virtual_axes(values)
