"""Every pad plugged in, with its name and layout; the pilot clicks the one that drives.

The list only shows :class:`~teleop.desktop.models.driving.DriveModel`'s pads and writes the
pilot's pick back through :meth:`DriveModel.select`. It never picks by itself:
when the driving pad is unplugged the model stops driving and selects nothing,
and the list says so in words until the pilot picks again (or plugs the same
pad back in, which the model takes back).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from teleop.desktop.gui.binding import bind
from teleop.desktop.models.driving import DriveModel
from teleop.desktop.models.pads import GamepadInfo
from teleop.wire.layout import Layout

ON_SCREEN = "On-screen sticks and keyboard"


def layout_words(layout: Layout) -> str:
    return "standard layout" if layout is Layout.STANDARD else "raw axes and buttons"


class PadList(QWidget):
    """A short list (the on-screen sticks first, then each pad) and a line saying what drives."""

    def __init__(self, drive: DriveModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.drive = drive
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.list = QListWidget()
        self.list.setObjectName("padList")
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # arrow keys stay with the stick area (keyboard driving)
        self.list.setToolTip("Click the pad that drives the robot. Unplugging it stops driving; no other pad takes over by itself.")
        self.list.itemClicked.connect(self._clicked)
        layout.addWidget(self.list)
        self.state = QLabel()
        self.state.setObjectName("padState")
        self.state.setWordWrap(True)
        layout.addWidget(self.state)
        #: the pad that drove last, by instance id and name, to say which one went away
        self._driving: tuple[int, str] | None = None
        self._unplugged = ""
        bind(drive.pads_changed, self, self.refresh)
        self.refresh()

    def _clicked(self, item: QListWidgetItem) -> None:
        instance_id = item.data(Qt.ItemDataRole.UserRole)
        if instance_id is None:
            self._unplugged = ""  # the pilot chose the on-screen sticks: the unplugged pad is no longer news
        self.drive.select(instance_id)
        self.refresh()  # a refused pick (the pad went away meanwhile) shows the real state again

    def _label(self, info: GamepadInfo) -> str:
        return f"{info.name}  —  {layout_words(self.drive.layout_of(info.instance_id))}  (#{info.instance_id})"

    def refresh(self, _drive: DriveModel | None = None) -> None:
        drive = self.drive
        selected = drive.selected
        if self._driving is not None and selected is None and self._driving[0] not in drive.pads:
            self._unplugged = self._driving[1]
        if selected is not None:
            self._unplugged = ""
        self._driving = (selected, drive.pads[selected].name) if selected is not None and selected in drive.pads else None
        self.list.blockSignals(True)
        self.list.clear()
        entries: list[tuple[str, int | None]] = [(ON_SCREEN, None)]
        entries += [(self._label(info), info.instance_id) for info in drive.pads.values()]
        for text, instance_id in entries:
            driving = instance_id == selected and not (instance_id is None and self._unplugged)
            item = QListWidgetItem(("▶ " if driving else "    ") + text)
            item.setData(Qt.ItemDataRole.UserRole, instance_id)
            if driving:
                font = QFont(item.font())
                font.setBold(True)
                item.setFont(font)
            self.list.addItem(item)
            if driving:
                self.list.setCurrentItem(item)
        if self._unplugged:
            self.list.setCurrentItem(None)
        self.list.blockSignals(False)
        rows = self.list.count()
        self.list.setFixedHeight(self.list.sizeHintForRow(0) * min(rows, 4) + 2 * self.list.frameWidth() + 2)
        self.state.setText(self.state_text())

    def state_text(self) -> str:
        drive = self.drive
        if self._unplugged:
            return (
                f"The driving pad ({self._unplugged}) was unplugged: driving is off. "
                "Plug it back in, or click another pad and enable driving again."
            )
        if drive.selected is None:
            return "Driving with the on-screen sticks and keyboard." + ("" if not drive.pads else " Click a pad to drive with it.")
        info = drive.pads[drive.selected]
        held = drive.deadman_held
        hold = ""
        if held is not None:
            profile = drive.profile
            button = profile.deadman if profile is not None else ""
            hold = f" Hold {button} to drive: {'held' if held else 'not held, sending neutral'}."
        return f"Driving pad: {info.name} ({layout_words(drive.layout)}).{hold}"
