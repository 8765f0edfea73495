"""The throttle family: anything a peer or a device can make happen many times a second is said, or served, at a rate.

A log flood hides the one line that matters, a message flood costs every
client, and a flooding client must not starve the rest. Each rule here is
sans-I/O (pass the time in) and costs a compare and an increment per event:

* :class:`Notice`: say a repeated thing once per interval, with how often it
  happened meanwhile (:func:`times` words the count);
* :class:`LogBudget`: a few lines of each kind per window, then one summary
  with the count and how many peers caused them;
* :func:`first_and_every`: say the first of a run of failures, then every n-th;
* :class:`EventPace`: a burst of one name at once, then merged, the newest
  said once per interval with the count;
* :class:`RateCap`: serve at most so many a window, refuse the rest;
* :class:`RateWatch`: a :class:`RateCap` that warns a client once, then closes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

# -- say it once per interval ------------------------------------------------------------------


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


def first_and_every(count: int, every: int) -> bool:
    """Whether the ``count``-th of a run of failures is worth a line: the first, then every ``every``-th.

    For a retry loop that already waits between attempts (a device that is
    gone, a camera that will not start): one line says it, and the log keeps
    showing that it is still so without a line per attempt.
    """
    return count == 1 or count % every == 0


# -- a burst of one name at once, then merged: the newest said with the count ---------------------


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


# -- a few of each kind per window, then a summary -----------------------------------------------


@dataclass
class _Budget:
    window_start: float
    count: int = 0
    suppressed: int = 0
    peers: set[str] = field(default_factory=set)


class LogBudget:
    """At most ``per_window`` lines of one kind per ``window`` seconds; the rest become a count.

    ``take(kind, now)`` says whether to log this one; ``due(now)`` hands back,
    once per window, each kind that had lines held back and how many, so the
    caller logs one summary ("refused 2,431 wrong tokens in the last minute
    from 3 addresses") instead of thousands of lines.
    """

    def __init__(self, per_window: int = 5, window: float = 60.0) -> None:
        self.per_window = per_window
        self.window = window
        self._kinds: dict[str, _Budget] = {}
        self._ready: list[tuple[str, int, int]] = []

    def take(self, kind: str, now: float, peer: str = "") -> bool:
        budget = self._kinds.get(kind)
        if budget is None or now - budget.window_start >= self.window:
            if budget is not None and budget.suppressed:
                self._ready.append((kind, budget.suppressed, len(budget.peers)))
            budget = self._kinds[kind] = _Budget(now)
        if budget.count < self.per_window:
            budget.count += 1
            return True
        budget.suppressed += 1
        if len(budget.peers) < 1000:
            budget.peers.add(peer)
        return False

    def due(self, now: float) -> list[tuple[str, int, int]]:
        """``(kind, lines held back, distinct peers)`` for each kind whose window has ended with lines held back."""
        out, self._ready = self._ready, []
        for kind, budget in list(self._kinds.items()):
            if now - budget.window_start >= self.window:
                if budget.suppressed:
                    out.append((kind, budget.suppressed, len(budget.peers)))
                del self._kinds[kind]
        return out


# -- a rate per client -------------------------------------------------------------------------


class RateCap:
    """Allow ``limit`` events per ``window`` seconds and refuse the rest, for as long as it goes on.

    The window is fixed and starts at the first event after the last one
    ended, so the cost per event is a compare and an increment.
    """

    def __init__(self, limit: int, *, window: float = 1.0) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window = window
        #: events in the current window, allowed or not
        self.count = 0
        #: events refused, in all
        self.dropped = 0
        self._window_end = -math.inf

    @property
    def window_end(self) -> float:
        """When the current window ends (the time the events are counted on)."""
        return self._window_end

    def allow(self, now: float) -> bool:
        if now >= self._window_end:
            self._new_window(now)
        self.count += 1
        if self.count <= self.limit:
            return True
        self.dropped += 1
        return False

    def _new_window(self, now: float) -> None:
        self._window_end = now + self.window
        self.count = 0


class Verdict(Enum):
    OK = "ok"
    #: over the limit: drop this frame; the first one in a burst is answered with an error
    DROP_AND_WARN = "drop_and_warn"
    DROP = "drop"
    #: still over the limit after the warning: close the connection
    CLOSE = "close"


class RateWatch(RateCap):
    """Allow ``limit`` frames per ``window`` seconds; after ``strikes`` windows over it, close.

    A window in which the client stays within the limit clears its strikes:
    a brief burst (a gamepad reconnecting, a stalled Wi-Fi link delivering a
    backlog at once) costs a warning, not the connection. For a cap that never
    closes, use :class:`RateCap`.
    """

    def __init__(self, limit: int, *, window: float = 1.0, strikes: int = 2) -> None:
        super().__init__(limit, window=window)
        if strikes < 1:
            raise ValueError("strikes must be at least 1")
        self.strikes_allowed = strikes
        self.strikes = 0

    def _new_window(self, now: float) -> None:
        if self.count <= self.limit or now >= self._window_end + self.window:
            self.strikes = 0  # the last window was within the limit, or a quiet one followed it
        super()._new_window(now)

    def frame(self, now: float) -> Verdict:
        if self.allow(now):
            return Verdict.OK
        if self.count == self.limit + 1:
            self.strikes += 1
            return Verdict.CLOSE if self.strikes >= self.strikes_allowed else Verdict.DROP_AND_WARN
        return Verdict.DROP
