"""Per-client message rate limit: warn once, then close, so one flooding client cannot starve the rest.

Sans-I/O: call :meth:`RateWatch.frame` with a monotonic time for every frame
the client sends and act on the verdict. The window is fixed (one second) so
the cost per frame is a compare and an increment.
"""

from __future__ import annotations

from enum import Enum


class Verdict(Enum):
    OK = "ok"
    #: over the limit: drop this frame; the first one in a burst is answered with an error
    DROP_AND_WARN = "drop_and_warn"
    DROP = "drop"
    #: still over the limit after the warning: close the connection
    CLOSE = "close"


class RateWatch:
    """Allow ``limit`` frames per ``window`` seconds; after ``strikes`` windows over it, close.

    A window in which the client stays within the limit clears its strikes:
    a brief burst (a gamepad reconnecting, a stalled Wi-Fi link delivering a
    backlog at once) costs a warning, not the connection.
    """

    def __init__(self, limit: int, *, window: float = 1.0, strikes: int = 2) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window = window
        self.strikes_allowed = strikes
        self.strikes = 0
        self.count = 0
        self.dropped = 0
        self._window_end = float("-inf")

    @property
    def window_end(self) -> float:
        """When the current window ends: a client over the limit has nothing more read before then."""
        return self._window_end

    def frame(self, now: float) -> Verdict:
        if now >= self._window_end:
            if self.count <= self.limit or now >= self._window_end + self.window:
                self.strikes = 0  # the last window was within the limit, or a quiet one followed it
            self._window_end = now + self.window
            self.count = 0
        self.count += 1
        if self.count <= self.limit:
            return Verdict.OK
        self.dropped += 1
        if self.count == self.limit + 1:
            self.strikes += 1
            return Verdict.CLOSE if self.strikes >= self.strikes_allowed else Verdict.DROP_AND_WARN
        return Verdict.DROP
