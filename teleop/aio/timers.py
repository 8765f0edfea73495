"""One loop timer for a sans-I/O core's deadline, re-armed lazily.

The cores (the failsafe watch, the serial command queue, a stream's stall
check) say when they next need a look as a time on their own clock; the shell
arms one timer for it. Many events a second move the deadline (a pilot at
500 Hz, a reply per command), so the timer is moved only when the new deadline
is *earlier*: a later one is left to the timer already armed, whose callback
asks the core again and re-arms. No churn, never late.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable


class DeadlineTimer:
    """Calls ``callback`` once at the earliest deadline :meth:`arm` was given since it last fired.

    ``clock`` is the clock the deadlines are on (``time.monotonic`` for the
    cores, or a loop's own ``time``); ``loop`` is the loop to run on (the
    running one when None). ``slack`` lets a timer that fires at most that much
    later than asked stay armed rather than be moved.
    """

    def __init__(
        self,
        callback: Callable[[], object],
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        clock: Callable[[], float] = time.monotonic,
        slack: float = 0.0,
    ) -> None:
        self._callback = callback
        self._loop = loop
        self._clock = clock
        self.slack = slack
        self._handle: asyncio.TimerHandle | None = None
        self._due = math.inf

    @property
    def armed(self) -> bool:
        return self._handle is not None

    @property
    def due(self) -> float:
        """When the armed timer fires, on ``clock`` (infinite when not armed)."""
        return self._due

    def arm(self, deadline: float) -> None:
        """Fire at ``deadline`` (on ``clock``) unless an armed timer fires by then anyway; infinite: no need."""
        if math.isinf(deadline):
            return
        if self._handle is not None:
            if self._due <= deadline + self.slack:
                return  # it fires first; the callback re-arms for the rest
            self._handle.cancel()
        loop = self._loop or asyncio.get_running_loop()
        now = self._clock()
        self._due = max(deadline, now)
        self._handle = loop.call_at(loop.time() + (self._due - now), self._fire)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self._due = math.inf

    def _fire(self) -> None:
        self._handle = None
        self._due = math.inf
        self._callback()
