"""The one event primitive: a typed event that models emit and views listen to.

``connect(callback)`` and ``emit(value)``; callbacks run in connection order.
A listener that raises is logged and the others still run: a bug in a view must
never stop the model (the connection task that emits would die with it, and the
robot would stop hearing from us).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Event(Generic[T]):
    """A typed event: ``connect(callback)``, ``emit(value)``; callbacks run in connection order."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[T], Any]] = []

    def connect(self, callback: Callable[[T], Any]) -> Callable[[T], Any]:
        self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable[[T], Any]) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, value: T) -> None:
        """Call every listener; one that raises is logged and the others still run.

        A bug in a view must never stop the model (the connection task that emits
        these would die with it, and the robot would stop hearing from us).
        """
        for callback in list(self._callbacks):
            try:
                callback(value)
            except Exception:
                log.exception("a listener of %r failed", callback)
