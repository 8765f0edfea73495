"""Say a repeated thing once per interval, with how often it happened meanwhile.

Anything a device or a peer can make happen many times a second (a chatty
board restarting, unsolicited replies, unknown report keys) must not become a
log line or a client message each time: a log flood hides the one line that
matters and a message flood costs every client. Sans-I/O: pass the time in.
"""

from __future__ import annotations

import math


class Notice:
    """Allow one report per ``interval`` seconds; count the ones held back.

    ``due(now)`` returns None when this occurrence should stay quiet, else the
    number of occurrences since the last report (1 for the first), so the text
    can say "... (37 times in the last 5 s)".
    """

    def __init__(self, interval: float = 5.0) -> None:
        self.interval = interval
        self.total = 0
        self._held = 0
        self._last = -math.inf

    def due(self, now: float) -> int | None:
        self.total += 1
        self._held += 1
        if now - self._last < self.interval:
            return None
        self._last = now
        count, self._held = self._held, 0
        return count


def times(count: int, interval: float) -> str:
    """ " (12 times in the last 5 s)" for a count above one, else nothing."""
    return f" ({count} times in the last {interval:.0f} s)" if count > 1 else ""


def printable(text: str, limit: int = 160) -> str:
    """Device or peer text made safe for a log line or a client: control characters escaped, length capped.

    A sketch printing escape codes or carriage returns must not be able to
    rewrite a terminal or forge log lines.
    """
    out = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text[: limit + 1])
    return out if len(out) <= limit else out[: limit - 1] + "…"
