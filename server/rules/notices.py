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


class EventPace:
    """A device's events toward the log and clients: ``burst`` of one name at once, then at most one per ``interval``.

    A sketch's usual events (a watchdog tripping and resuming, a note now
    and then) pass as they come, in order. Past ``burst`` in one interval,
    events of that name are merged, the newest text wins (like readings), and
    said when the interval is over with how many there were: a watchdog
    flapping a thousand times a second becomes "watchdog resume (997 times in
    the last 1 s)" once a second, and its last state is never lost. Names
    beyond the first ``max_names`` share one slot, so a sketch inventing names
    cannot grow this either.

    Sans-I/O: :meth:`offer` each event with the time; call :meth:`due` at
    :meth:`deadline` for the merged ones.
    """

    #: the slot shared by names beyond ``max_names``
    OTHERS = "*"

    def __init__(self, interval: float = 1.0, burst: int = 3, max_names: int = 16) -> None:
        self.interval = interval
        self.burst = burst
        self.max_names = max_names
        #: per name: [when its interval started, events said in it]
        self._windows: dict[str, list[float]] = {}
        #: per name: (newest name, newest text, how many were held back)
        self._held: dict[str, tuple[str, str, int]] = {}

    def offer(self, name: str, text: str, now: float) -> tuple[str, str, int] | None:
        """An event came: ``(name, text, count)`` to say now, or None if it is held back (merged, newest wins)."""
        slot = name if name in self._windows or len(self._windows) < self.max_names else self.OTHERS
        window = self._windows.setdefault(slot, [now, 0])
        if now - window[0] >= self.interval:  # a new interval: this one is said, with any held back before it
            count = self._held.pop(slot, ("", "", 0))[2] + 1
            window[:] = [now, 1]
            return name, text, count
        if window[1] < self.burst and slot not in self._held:
            window[1] += 1
            return name, text, 1
        held = self._held.get(slot)
        self._held[slot] = (name, text, (held[2] if held else 0) + 1)
        return None

    def deadline(self) -> float:
        """When :meth:`due` next has something to say (inf: nothing held)."""
        return min((self._windows[slot][0] + self.interval for slot in self._held), default=math.inf)

    def due(self, now: float) -> list[tuple[str, str, int]]:
        """The merged events whose interval is over: ``(newest name, newest text, how many it stands for)``."""
        out = []
        for slot in [slot for slot in self._held if now - self._windows[slot][0] >= self.interval]:
            out.append(self._held.pop(slot))
            self._windows[slot][:] = [now, 1]
        return out
