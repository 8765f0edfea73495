"""When the device must be put to neutral, and when it needs a line to keep its watchdog fed.

Sans-I/O: the caller passes the time in and acts on what :meth:`PilotWatch.poll`
returns. The asyncio layer only arms one timer for :meth:`PilotWatch.deadline`.
"""

from __future__ import annotations

import math
from enum import Enum


class Action(Enum):
    ENTER_FAILSAFE = "enter_failsafe"
    KEEPALIVE = "keepalive"


class PilotWatch:
    """Tracks the pilot's liveness.

    * No control message for ``timeout`` seconds (or the pilot leaving) puts the
      watch in failsafe: the caller writes every output's neutral value.
    * The next control message from a pilot ends failsafe.
    * While driving, if no line went to the device for ``keepalive`` seconds,
      the caller sends a heartbeat so the firmware's watchdog stays fed.
    """

    def __init__(self, timeout: float = 0.25, keepalive: float = 0.1) -> None:
        if timeout <= 0 or keepalive <= 0:
            raise ValueError("timeout and keepalive must be positive")
        self.timeout = timeout
        self.keepalive = keepalive
        self.failsafe = True  # nobody drives until a pilot speaks
        self._last_control = -math.inf
        self._last_write = -math.inf

    def control(self, now: float) -> bool:
        """A control message from the pilot arrived. Returns True when it ends failsafe."""
        self._last_control = now
        if self.failsafe:
            self.failsafe = False
            return True
        return False

    def written(self, now: float) -> None:
        """A line went to the device."""
        self._last_write = now

    def force(self) -> bool:
        """Failsafe now, whatever the timing (e-stop, the pilot left or handed over). True if this starts it."""
        if self.failsafe:
            return False
        self.failsafe = True
        self._last_control = -math.inf
        return True

    def poll(self, now: float) -> list[Action]:
        if self.failsafe:
            return []
        if now - self._last_control >= self.timeout:
            self.failsafe = True
            return [Action.ENTER_FAILSAFE]
        if now - self._last_write >= self.keepalive:
            self._last_write = now
            return [Action.KEEPALIVE]
        return []

    def deadline(self) -> float:
        """The next time :meth:`poll` may have something to say (inf when idle)."""
        if self.failsafe:
            return math.inf
        return min(self._last_control + self.timeout, self._last_write + self.keepalive)
