"""The readings the GUI shows: latest values, a bounded history per name for plotting, CSV export.

A NaN value in a series is a gap (the link dropped): the plot breaks its line there.
Qt-free; the plot reads :meth:`ReadingsStore.series` at its own frame rate, so
a burst of readings never costs more than one redraw.
"""

from __future__ import annotations

import csv
import math
from array import array
from collections import deque
from pathlib import Path

from teleop.common.events import Event


class _Rows:
    """The CSV buffer: one row per reading message, kept by column in arrays of doubles.

    A dict per row costs about 1.5 KB for a dozen values; a double costs 8
    bytes, so 100 000 rows of a dozen values fit in 10 MB instead of 150 MB.
    An absent value is NaN. A column that has only ever held integers is
    written back as integers.
    """

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self.times = array("d")
        self.columns: dict[str, array] = {}
        self.fractional: set[str] = set()

    def __len__(self) -> int:
        return len(self.times)

    def append(self, t: float, values: dict[str, float | int]) -> None:
        for name in values.keys() - self.columns.keys():
            self.columns[name] = array("d", [math.nan]) * len(self.times)
        self.times.append(t)
        for name, column in self.columns.items():
            value = values.get(name)
            if value is None:
                column.append(math.nan)
            else:
                column.append(value)
                if name not in self.fractional and not isinstance(value, int):
                    self.fractional.add(name)
        if len(self.times) > self.max_rows + self.max_rows // 8:  # trim in chunks: amortised O(1)
            extra = len(self.times) - self.max_rows
            del self.times[:extra]
            for column in self.columns.values():
                del column[:extra]

    def rows(self, names: list[str]):
        columns = [(self.columns.get(n), n not in self.fractional) for n in names]
        for i, t in enumerate(self.times):
            cells = []
            for column, integral in columns:
                value = math.nan if column is None else column[i]
                cells.append("" if math.isnan(value) else int(value) if integral else value)
            yield t, cells


class ReadingsStore:
    def __init__(self, history_seconds: float = 60.0, max_points: int = 20_000, max_rows: int = 100_000) -> None:
        self.history_seconds = history_seconds
        self.latest: dict[str, float | int] = {}
        self.updated: dict[str, float] = {}
        self._series: dict[str, deque[tuple[float, float]]] = {}
        self._rows = _Rows(max_rows)
        self._max_points = max_points
        self.count = 0

    def add(self, t: float, values: dict[str, float | int]) -> list[str]:
        """Record one reading message; returns names seen for the first time."""
        new = [name for name in values if name not in self.latest]
        self.latest.update(values)
        self._rows.append(t, values)
        self.count += 1
        oldest = t - self.history_seconds
        for name, value in values.items():
            self.updated[name] = t
            series = self._series.get(name)
            if series is None:
                series = self._series[name] = deque(maxlen=self._max_points)
            series.append((t, float(value)))
            while series[0][0] < oldest:  # only the plotted window is kept
                series.popleft()
        return new

    def snapshot(self, t: float, values: dict[str, float | int]) -> list[str]:
        """The welcome's snapshot: shown at once, not a new sample."""
        new = [name for name in values if name not in self.latest]
        self.latest.update(values)
        for name in values:
            self.updated.setdefault(name, t)
        return new

    def break_lines(self) -> None:
        """Mark a gap (the link dropped): the plot ends every line here instead of joining across it.

        The marker sits just after each line's last point, in the robot's clock like the points.
        """
        for series in self._series.values():
            if series and not math.isnan(series[-1][1]):
                series.append((series[-1][0] + 1e-6, math.nan))

    def clear(self) -> None:
        """Forget everything: another server's readings must not mix with this one's."""
        self.latest.clear()
        self.updated.clear()
        self._series.clear()
        self._rows = _Rows(self._rows.max_rows)
        self.count = 0

    def since(self, name: str, t: float) -> list[tuple[float, float]]:
        """The (time, value) points of ``name`` newer than ``t``, oldest first (NaN marks a gap)."""
        points = self._series.get(name, ())
        newer: list[tuple[float, float]] = []
        for point in reversed(points):
            if point[0] <= t:
                break
            newer.append(point)
        newer.reverse()
        return newer

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
            for t, cells in self._rows.rows(names):
                writer.writerow([f"{t:.6f}", *cells])
        return len(self._rows)


class ReadingsModel:
    """The readings store, plus whether they are current and whose server they came from."""

    def __init__(self, store: ReadingsStore | None = None) -> None:
        self.store = store or ReadingsStore()
        self.server = ""
        #: what each reading key means ("ADC 0-1023"), as the server's welcome says
        self.units: dict[str, str] = {}
        #: the link dropped: values shown are the last ones seen, not the robot's state now
        self.stale = False
        self.names_added: Event[list[str]] = Event()
        self.stale_changed: Event[bool] = Event()
        self.cleared: Event[ReadingsModel] = Event()
        #: a reading arrived (every one: the view paces its frames on them, so a frame rides on a reading's wakeup)
        self.arrived: Event[ReadingsModel] = Event()

    def from_server(self, server: str) -> None:
        """Readings are about to come from ``server``: another server's history is dropped."""
        if server != self.server:
            self.server = server
            if self.store.count or self.store.latest:
                self.store.clear()
                self.cleared.emit(self)

    def add(self, t: float, values: dict[str, float | int]) -> None:
        self._fresh()
        new = self.store.add(t, values)
        if new:
            self.names_added.emit(new)
        self.arrived.emit(self)

    def snapshot(self, t: float, values: dict[str, float | int]) -> None:
        new = self.store.snapshot(t, values)
        if new:
            self.names_added.emit(new)

    def link_lost(self) -> None:
        if not self.stale:
            self.stale = True
            self.store.break_lines()
            self.stale_changed.emit(True)

    def _fresh(self) -> None:
        if self.stale:
            self.stale = False
            self.stale_changed.emit(False)
