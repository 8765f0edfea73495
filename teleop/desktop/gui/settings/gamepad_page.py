"""The Gamepad tab: the pad in use, its layout, hold-to-drive, rumble, and its profile as a file."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QPushButton, QWidget

from teleop.desktop.models.appsettings import AppSettings, config_dir
from teleop.desktop.models.profiles import LayoutChoice, PadProfile, ProfileError
from teleop.desktop.models.settings_draft import PadDraft, profile_file_name


class GamepadPage(QWidget):
    """Edits the pad's layout and hold-to-drive button in ``draft``, and :attr:`AppSettings.rumble`."""

    #: the layout choice changed (the axis rows follow it)
    layout_changed = Signal()
    #: a profile file was read over the draft: the rows on screen are replaced, not kept
    imported = Signal()

    def __init__(
        self, draft: PadDraft, settings: AppSettings, profile_source: Callable[[], PadProfile], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.draft = draft
        #: the pad's whole profile as the dialog shows it now (other pages edit parts of it)
        self.profile_source = profile_source
        self.settings = settings
        form = QFormLayout(self)
        pad = draft.pad
        if pad is None:
            about = "No gamepad in use. Plug one in and click it in the main window's pad list: these settings are kept per pad."
        else:
            known = (
                "SDL knows this pad: its controls have standard names."
                if draft.known
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
        self.layout_choice.setCurrentIndex(max(0, self.layout_choice.findData(draft.layout.value)))
        self.layout_choice.setEnabled(pad is not None)
        self.layout_choice.currentIndexChanged.connect(self._layout_chosen)
        form.addRow("Layout:", self.layout_choice)

        self.hold = QCheckBox("Hold a button to drive")
        self.hold.setChecked(bool(draft.profile.deadman))
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
        self.fill_hold_buttons()

        self.rumble = QCheckBox("Rumble the pad when failsafe or the emergency stop trips or the connection drops")
        self.rumble.setChecked(settings.rumble)
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
        self.form = form

    @property
    def deadman(self) -> str:
        return self.hold_button.currentText() if self.hold.isChecked() else ""

    def fill_hold_buttons(self) -> None:
        wanted = self.hold_button.currentText() or self.draft.profile.deadman
        names = self.draft.button_names()
        if wanted not in names:
            wanted = self.draft.default_hold_button(names)
        self.hold_button.clear()
        self.hold_button.addItems(names)
        self.hold_button.setCurrentIndex(max(0, self.hold_button.findText(wanted)))
        # Ticked with nothing to pick, it would be saved as off while the box said on.
        self.hold.setEnabled(bool(names))
        if self.draft.pad is not None and not names:
            self.hold.setToolTip("This pad has no buttons to hold.")

    def _layout_chosen(self, _index: int) -> None:
        self.draft.layout = LayoutChoice(self.layout_choice.currentData())
        self.layout_changed.emit()
        self.fill_hold_buttons()

    def _say(self, text: str, problem: bool = False) -> None:
        self.profile_message.setText(text)
        self.profile_message.setStyleSheet("color: #c0392b;" if problem else "color: #1e8449;")

    def export_profile(self, path: str | None = None) -> bool:
        """Save the pad's profile, as shown, to a file (asked for with a file dialog unless given)."""
        if self.draft.pad is None:
            return False
        if not path:
            path, _ = QFileDialog.getSaveFileName(
                self, "Export pad profile", profile_file_name(self.draft.pad.name), "Pad profiles (*.json);;All files (*)"
            )
        if not path:
            return False
        try:
            self._say(self.draft.export(self.profile_source(), path))
        except OSError as exc:
            self._say(f"Could not write {path}: {exc.strerror or exc}", problem=True)
            return False
        return True

    def import_profile(self, path: str | None = None) -> bool:
        """Load a profile file into the dialog (kept on OK); a bad file is explained and changes nothing."""
        if not path:
            path, _ = QFileDialog.getOpenFileName(self, "Import pad profile", "", "Pad profiles (*.json);;All files (*)")
        if not path:
            return False
        try:
            profile, note = self.draft.load(path)
        except ProfileError as exc:
            self._say(f"Nothing imported: {exc}", problem=True)
            return False
        if self.draft.pad is None:
            self.settings.set_profile(profile)  # kept for when that pad is plugged in
            self._say(note)
            return True
        self.layout_choice.blockSignals(True)
        self.layout_choice.setCurrentIndex(max(0, self.layout_choice.findData(profile.layout.value)))
        self.layout_choice.blockSignals(False)
        self.hold.setChecked(bool(profile.deadman))
        self.hold_button.clear()
        self.imported.emit()
        self.fill_hold_buttons()
        self._say(note)
        return True

    def collect(self, settings: AppSettings) -> None:
        settings.rumble = self.rumble.isChecked()
