"""The device's readings on the server: a bounded snapshot, and what is new since clients last heard.

A device decides what it reports, so it decides how much memory and
bandwidth this costs unless something bounds it. Only the first
``max_keys`` distinct keys are kept (a sketch printing a counter as a key name
would otherwise grow the welcome message without end); reports arriving
faster than clients are sent to are merged, newest value per key, so a board
printing ten thousand lines a second costs clients no more than one that
prints fifty. Sans-I/O: the bridge decides when to :meth:`take`.
"""

from __future__ import annotations

DEFAULT_MAX_KEYS = 64


class ReadingsBook:
    def __init__(self, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        self.max_keys = max_keys
        #: the newest value of every kept key: what a new client gets in its welcome
        self.latest: dict[str, int | float] = {}
        #: keys refused because the book was full (counted, never kept)
        self.refused_keys = 0
        self._fresh: dict[str, int | float] = {}

    def update(self, values: dict[str, int | float]) -> list[str]:
        """Take a report; return the keys refused because the book is full."""
        refused = []
        for key, value in values.items():
            if key in self.latest or len(self.latest) < self.max_keys:
                self.latest[key] = value
                self._fresh[key] = value
            else:
                refused.append(key)
        self.refused_keys += len(refused)
        return refused

    @property
    def fresh(self) -> bool:
        return bool(self._fresh)

    def take(self) -> dict[str, int | float]:
        """Everything that changed since the last take, newest value per key."""
        fresh, self._fresh = self._fresh, {}
        return fresh

    def clear(self) -> None:
        self.latest.clear()
        self._fresh.clear()


class Pace:
    """At most ``rate`` sends a second on average, with up to ``burst`` back to back.

    A fixed minimum gap would cost latency for nothing: a board whose reports
    arrive with a little jitter (USB frames, a busy ``loop()``) sends two 3 ms
    apart now and then, and with a 10 ms gap the second one waited 7 ms. A
    small burst lets those through at once, while a flooding board is still
    held to ``rate`` (the classic token bucket, kept as one "theoretical arrival
    time" as GCRA does).
    """

    def __init__(self, rate: float = 100.0, burst: int = 3) -> None:
        self.interval = 1.0 / rate
        self.burst = burst
        self._tat = float("-inf")

    def delay(self, now: float) -> float:
        """Seconds to wait before the next send is allowed; 0 when it may go now."""
        return max(0.0, self._tat - (self.burst - 1) * self.interval - now)

    def sent(self, now: float) -> None:
        self._tat = max(self._tat, now) + self.interval
