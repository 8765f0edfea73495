"""Refresh a view at most so often, riding on the wakeups that bring its news.

A view fed by a stream (a stick moving 50 times a second, readings 20 times a
second) is redrawn no faster than its frame rate. A timer per frame would be a
wakeup of its own every frame, and on a laptop each wakeup costs more than the
redraw's Python. :class:`Paced` runs the refresh in the same turn as the news
when a frame is due, and keeps a timer only as the fallback that shows the last
news once the stream stops.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer


class Paced(QObject):
    """Calls ``refresh`` at most once per ``interval_ms`` for any number of :meth:`request` calls.

    A request when the last refresh is at least the interval ago refreshes at once;
    one sooner waits for the next request after the interval, or for a fallback
    timer at the interval and a half, whichever comes first, so news is never left
    unshown and a steady stream needs no timer at all. News that can wait (a
    request with ``slow``) does the same at ``slow_ms``; news that cannot, coming
    meanwhile, is shown at the interval as ever.
    """

    def __init__(self, interval_ms: int, refresh: Callable[[], None], parent: QObject | None = None, slow_ms: int | None = None) -> None:
        super().__init__(parent)
        self.interval = interval_ms / 1000
        self.slow_interval = (slow_ms if slow_ms is not None else interval_ms) / 1000
        self._refresh = refresh
        self._last = -math.inf
        self._fallback = QTimer(self)
        self._fallback.setSingleShot(True)
        self._fallback.timeout.connect(self.refresh_now)
        # whether the fallback runs, and when it fires, kept here: asking the timer is a call into Qt on every request
        self._pending = False
        self._due = math.inf

    @property
    def pending(self) -> bool:
        """News came that is not shown yet."""
        return self._pending

    def request(self, slow: bool = False) -> None:
        """Something to show changed; ``slow``: a change that can wait for the slow interval."""
        interval = self.slow_interval if slow else self.interval
        now = time.monotonic()
        if now - self._last >= interval:
            self.refresh_now()
            return
        due = self._last + interval * 1.5
        if not self._pending or due < self._due:
            self._pending, self._due = True, due
            self._fallback.start(math.ceil((due - now) * 1000))

    def refresh_now(self) -> None:
        if self._pending:
            self._pending, self._due = False, math.inf
            self._fallback.stop()
        self._last = time.monotonic()
        self._refresh()
