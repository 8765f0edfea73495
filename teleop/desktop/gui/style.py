"""teleop's look: the one style sheet (resources/style.qss) every window and dialog applies."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from teleop.common.resources import resource_path


def apply_style(*widgets: QWidget) -> None:
    """Give these widgets teleop's style sheet."""
    sheet = resource_path("style.qss").read_text(encoding="utf-8")
    for widget in widgets:
        widget.setStyleSheet(sheet)
