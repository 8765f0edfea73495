"""Listening to a model's events from a widget, for exactly as long as the widget lives."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QWidget

from teleop.common.events import Event


def bind(event: Event[Any], widget: QWidget, slot: Callable[[Any], Any]) -> None:
    """``event.connect(slot)``, undone when ``widget`` is destroyed (a model outlives its windows)."""
    event.connect(slot)
    widget.destroyed.connect(lambda *_: event.disconnect(slot))
