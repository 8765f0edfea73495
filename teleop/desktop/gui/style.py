"""teleop's look: the one style sheet (resources/style.qss) every window and dialog applies, and the colours
the widgets that paint themselves use (the same as the sheet's)."""

from __future__ import annotations

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWidget

from teleop.common.resources import resource_path

#: the pad as read, the pilot's role, what can be clicked
ACCENT = QColor("#2f80ed")
#: what was sent (after deadzone, expo and calibration), driving enabled
SENT = QColor("#27ae60")
#: outlines, axes, a stale value
MUTED = QColor("#9aa5b1")
#: the drawn pad's body
BODY = QColor("#eef1f4")


def apply_style(*widgets: QWidget) -> None:
    """Give these widgets teleop's style sheet."""
    sheet = resource_path("style.qss").read_text(encoding="utf-8")
    for widget in widgets:
        widget.setStyleSheet(sheet)
