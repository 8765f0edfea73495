"""The readings the GUI shows: latest values, a bounded history per name for plotting, CSV export.

Qt-free; the plot reads :meth:`ReadingsStore.series` at its own frame rate, so
a burst of readings never costs more than one redraw.
"""

from __future__ import annotations

import csv
from collections import deque
from pathlib import Path

#: What the firmware's report keys mean, for the table's unit column.
UNITS = {
    "A0": "ADC 0-1023",
    "A1": "ADC 0-1023",
    "A2": "ADC 0-1023",
    "A3": "ADC 0-1023",
    "D2": "button",
    "disp": "display",
    "led": "LED mask",
    "O0": "servo µs",
    "O1": "servo µs",
    "O2": "PWM 0-255",
    "O3": "PWM 0-255",
    "wd": "watchdog",
}


def unit_for(name: str) -> str:
    return UNITS.get(name, "")


class ReadingsStore:
    def __init__(self, history_seconds: float = 60.0, max_points: int = 20_000, max_rows: int = 100_000) -> None:
        self.history_seconds = history_seconds
        self.latest: dict[str, float | int] = {}
        self.updated: dict[str, float] = {}
        self._series: dict[str, deque[tuple[float, float]]] = {}
        self._rows: deque[tuple[float, dict[str, float | int]]] = deque(maxlen=max_rows)
        self._max_points = max_points
        self.count = 0

    def add(self, t: float, values: dict[str, float | int]) -> list[str]:
        """Record one reading message; returns names seen for the first time."""
        new = [name for name in values if name not in self.latest]
        self.latest.update(values)
        self._rows.append((t, dict(values)))
        self.count += 1
        for name, value in values.items():
            self.updated[name] = t
            series = self._series.get(name)
            if series is None:
                series = self._series[name] = deque(maxlen=self._max_points)
            series.append((t, float(value)))
        return new

    def snapshot(self, t: float, values: dict[str, float | int]) -> list[str]:
        """The welcome's snapshot: shown at once, not a new sample."""
        new = [name for name in values if name not in self.latest]
        self.latest.update(values)
        for name in values:
            self.updated.setdefault(name, t)
        return new

    def series(self, name: str, now: float, seconds: float | None = None) -> tuple[list[float], list[float]]:
        """(seconds before now, values) for the last ``seconds`` (default: all the history kept)."""
        points = self._series.get(name, ())
        start = now - (self.history_seconds if seconds is None else seconds)
        xs: list[float] = []
        ys: list[float] = []
        for t, v in reversed(points):  # newest first: stop at the window's start
            if t < start:
                break
            xs.append(t - now)
            ys.append(v)
        xs.reverse()
        ys.reverse()
        return xs, ys

    def names(self) -> list[str]:
        return sorted(self.latest, key=lambda n: (n[0].isdigit(), n.lower()))

    def export_csv(self, path: str | Path) -> int:
        """Write every kept reading as one row per message, a column per name; returns rows written."""
        names = self.names()
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["time", *names])
            for t, values in self._rows:
                writer.writerow([f"{t:.6f}", *("" if values.get(n) is None else values[n] for n in names)])
        return len(self._rows)
