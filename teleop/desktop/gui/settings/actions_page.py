"""The Buttons tab: what the driving pad's buttons do (the action map, bound by pressing them) and its speeds.

A thin view over :class:`~teleop.desktop.models.settings_draft.PadDraft` (the map and speeds as
edited) and :class:`~teleop.desktop.models.settings_draft.ButtonCapture` (which button or chord
was pressed). Only the pad that drives is listened to, and while the page waits for a press
the drive model fires no action (:meth:`DriveModel.set_capturing`): binding the e-stop button
to something else must not stop the robot on the way.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from teleop.desktop.gui.binding import bind
from teleop.desktop.models.actions import ACTION_LABELS, Action
from teleop.desktop.models.driving import DriveModel
from teleop.desktop.models.settings_draft import ButtonCapture, PadDraft
from teleop.desktop.models.speed import Hold, SpeedSettings
from teleop.wire.layout import Layout, pressed

PRESS = "Press…"
WAITING = "Press the button(s) now…"


def percent_box(value: float, low: int, tip: str) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, 100)
    box.setSuffix(" %")
    box.setValue(round(value * 100))
    box.setToolTip(tip)
    return box


class ActionsPage(QWidget):
    """One row per action: its button (or chord), a Press… button that captures it, and Clear."""

    def __init__(self, draft: PadDraft, drive: DriveModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.draft = draft
        self.drive = drive
        self.capture: ButtonCapture | None = None
        self.capturing: Action | None = None
        page = QVBoxLayout(self)
        usable = draft.pad is not None
        intro = QLabel(
            "Click Press… beside an action, then press the pad's button. For a chord, hold the first button, "
            "press the others, and let go. Actions fire only from the pad that drives, never while you type in a field."
            if usable
            else "No gamepad in use: plug one in and click it in the main window's pad list; its buttons are set here."
        )
        intro.setWordWrap(True)
        intro.setObjectName("hint")
        page.addWidget(intro)
        grid_box = QWidget()
        grid = QGridLayout(grid_box)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setVerticalSpacing(2)
        self.binding_labels: dict[Action, QLabel] = {}
        self.press_buttons: dict[Action, QPushButton] = {}
        self.clear_buttons: dict[Action, QPushButton] = {}
        for row, action in enumerate(Action):
            grid.addWidget(QLabel(ACTION_LABELS[action]), row, 0)
            shown = QLabel()
            shown.setObjectName(f"binding_{action.value}")
            shown.setMinimumWidth(140)
            grid.addWidget(shown, row, 1)
            press = QPushButton(PRESS)
            press.setEnabled(usable)
            press.clicked.connect(lambda _checked=False, a=action: self.toggle_capture(a))
            grid.addWidget(press, row, 2)
            clear = QPushButton("Clear")
            clear.setEnabled(usable)
            clear.clicked.connect(lambda _checked=False, a=action: self.clear(a))
            grid.addWidget(clear, row, 3)
            self.binding_labels[action], self.press_buttons[action], self.clear_buttons[action] = shown, press, clear
        grid.setColumnStretch(1, 1)
        page.addWidget(grid_box)
        self.message = QLabel("")
        self.message.setObjectName("actionsMessage")
        self.message.setWordWrap(True)
        page.addWidget(self.message)
        page.addWidget(self._speed_box(draft.speed, usable))
        page.addStretch(1)
        self.refresh()
        bind(drive.input_changed, self, self._input)
        bind(drive.pads_changed, self, self._pads_changed)

    def _speed_box(self, speed: SpeedSettings, usable: bool) -> QGroupBox:
        box = QGroupBox("Speed (a share of each output's travel; the robot may cap it lower)")
        form = QFormLayout(box)
        self.scale = percent_box(speed.scale, 5, "Full stick sends this much: the stick keeps its whole resolution")
        self.slow = percent_box(speed.slow, 5, "While the Slow button is on")
        self.turbo = percent_box(speed.turbo, 5, "While the Turbo button is on")
        self.step = percent_box(speed.step, 1, "What Speed up / Speed down change the scale by")
        self.hold = QComboBox()
        self.hold.addItem("while held", Hold.HELD.value)
        self.hold.addItem("pressed on, pressed off", Hold.TOGGLE.value)
        self.hold.setCurrentIndex(max(0, self.hold.findData(speed.hold.value)))
        row = QHBoxLayout()
        row.addWidget(self.slow)
        row.addWidget(QLabel("Turbo:"))
        row.addWidget(self.turbo)
        row.addWidget(QLabel("Step:"))
        row.addWidget(self.step)
        form.addRow("Scale:", self.scale)
        form.addRow("Slow:", row)
        form.addRow("Slow and turbo work:", self.hold)
        box.setEnabled(usable)
        return box

    # -- capture ----------------------------------------------------------------------------------

    def _driving_pad_held(self) -> set[str] | None:
        """The driving pad's held buttons in the layout chosen here; None if the dialog's pad no longer drives."""
        pad = self.draft.pad
        drive = self.drive
        if pad is None or drive.selected != pad.instance_id or pad.instance_id not in drive.pad_states:
            return None
        state = drive.pad_states[pad.instance_id]
        layout = self.draft.effective_layout
        if layout is Layout.STANDARD and state.standard is not None:
            state = state.standard
        return {n for n in self.draft.button_names() if pressed(n, layout, state.axes, state.buttons, state.hats)}

    def toggle_capture(self, action: Action) -> None:
        """Start waiting for ``action``'s button; clicked again (or another row's), stop waiting."""
        was = self.capturing
        self.stop_capture()
        if was is action:
            self.say("Nothing changed.")
            return
        held = self._driving_pad_held()
        if held is None:
            self.say("Only the pad that drives can be read here: click it in the main window's pad list.", problem=True)
            return
        self.capturing = action
        self.capture = ButtonCapture(held)
        self.press_buttons[action].setText(WAITING)
        self.drive.set_capturing(True)
        self.say(f"Waiting for {ACTION_LABELS[action]}'s button on {self.draft.pad.name if self.draft.pad else 'the pad'}…")

    def stop_capture(self) -> None:
        if self.capturing is not None:
            self.press_buttons[self.capturing].setText(PRESS)
        self.capturing = None
        self.capture = None
        if self.drive.capturing:
            self.drive.set_capturing(False)

    def _input(self, _drive: DriveModel) -> None:
        if self.capture is None or self.capturing is None:
            return
        held = self._driving_pad_held()
        if held is None:
            self._pads_changed(self.drive)
            return
        binding = self.capture.feed(held)
        if binding is None:
            if self.capture.held:
                self.press_buttons[self.capturing].setText("+".join(sorted(self.capture.held)) + " …")
            return
        action, problem = self.capturing, self.capture.problem
        self.stop_capture()
        if problem:
            self.say(f"Not bound: {problem}.", problem=True)
            return
        self.say(self.draft.bind(action, binding) + ". Press OK to keep it.")
        self.refresh()

    def _pads_changed(self, _drive: DriveModel) -> None:
        if self.capturing is not None and self._driving_pad_held() is None:
            self.stop_capture()
            self.say("The pad this page edits no longer drives: nothing was bound.", problem=True)

    def hideEvent(self, event) -> None:
        self.stop_capture()  # another tab, or the dialog closed: actions fire again
        super().hideEvent(event)

    # -- the rest ---------------------------------------------------------------------------------

    def clear(self, action: Action) -> None:
        self.stop_capture()
        self.draft.unbind(action)
        self.say(f"{ACTION_LABELS[action]}: no button. Press OK to keep it.")
        self.refresh()

    def reload(self) -> None:
        """A profile file was read over the draft: show its bindings and speeds."""
        speed = self.draft.speed
        for box, value in ((self.scale, speed.scale), (self.slow, speed.slow), (self.turbo, speed.turbo), (self.step, speed.step)):
            box.setValue(round(value * 100))
        self.hold.setCurrentIndex(max(0, self.hold.findData(speed.hold.value)))
        self.refresh()

    def refresh(self) -> None:
        for action, label in self.binding_labels.items():
            label.setText(", ".join(self.draft.bindings_of(action)) or "—")

    def binding_of(self, action: Action) -> str:
        return self.binding_labels[action].text()

    def say(self, text: str, problem: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #c0392b;" if problem else "color: #1e8449;")

    def keep(self) -> None:
        """The speed fields into the draft (the bindings are kept as they are captured)."""
        self.draft.speed = SpeedSettings(
            self.scale.value() / 100,
            self.slow.value() / 100,
            self.turbo.value() / 100,
            self.step.value() / 100,
            Hold(self.hold.currentData()),
        )
