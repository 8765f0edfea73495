"""The pilot's aids on the main window: the speed in use, large, and what is wrong with the driving pad.

Both are labels that follow :attr:`DriveModel.aids_changed`; the words come from the
models (:meth:`SpeedScale.describe`, :func:`health_warning`), so they are tested without a window.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from teleop.desktop.gui.binding import bind
from teleop.desktop.gui.widgets import restyle
from teleop.desktop.models.driving import DriveModel
from teleop.desktop.models.padhealth import Staleness, health_warning


class SpeedBadge(QWidget):
    """The speed the sticks are scaled to now, large (a fixed width: nothing beside it moves when it changes)."""

    def __init__(self, drive: DriveModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.drive = drive
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.setSpacing(0)
        self.figure = QLabel()
        self.figure.setObjectName("speedFigure")
        self.figure.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.mode = QLabel()
        self.mode.setObjectName("speedMode")
        self.mode.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.figure)
        layout.addWidget(self.mode)
        self.setFixedWidth(self.figure.fontMetrics().horizontalAdvance("100 %") * 2 + 24)
        bind(drive.aids_changed, self, self.refresh)
        self.refresh(drive)

    def refresh(self, drive: DriveModel | None = None) -> None:
        speed = self.drive.speed
        self.figure.setText(f"{speed.fraction:.0%}")
        described = speed.describe()
        self.mode.setText("capped" if speed.capped else described.split(" (")[0])
        self.setToolTip(f"Sticks scaled to {speed.fraction:.0%} of each output's travel: {described}")
        restyle(self.figure, "capped", "yes" if speed.capped or speed.cap < 1.0 else "no")

    def text(self) -> str:
        """What the badge says, for tests and screen readers."""
        return f"{self.figure.text()} {self.mode.text()}"


class PadWarning(QLabel):
    """The driving pad's trouble in words (low battery, a pad that stopped reporting); hidden when there is none."""

    def __init__(self, drive: DriveModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.drive = drive
        self.setObjectName("padWarning")
        self.setWordWrap(True)
        bind(drive.aids_changed, self, self.refresh)
        bind(drive.pads_changed, self, self.refresh)
        self.refresh(drive)

    def refresh(self, drive: DriveModel | None = None) -> None:
        d = self.drive
        text = health_warning(d.battery, d.staleness, d.stale.settings.stale_after)
        self.setText(text)
        restyle(self, "level", "stale" if d.staleness is Staleness.STALE else "warning")
        self.setVisible(bool(text))
