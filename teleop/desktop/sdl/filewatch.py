"""The GUI's own event loop sleeps on the pads' files and reads the pads the moment one has news: no thread.

On Linux SDL reads every pad from a device file it keeps open (an evdev node, or a
hidraw node for the pads its HIDAPI drivers know; :mod:`teleop.desktop.sdl.padfiles`).
The kernel makes that file readable when the pad reports. The loop that runs the
GUI waits on those very descriptors beside its sockets (``add_reader``); when one is
readable it lets SDL read it (``SDL_PumpEvents``, in C) and calls ``wake`` only if
that queued an event, so a pad that streams reports with nothing changed (hidraw)
costs a look, not a read of the pads. A stick change costs one wakeup of one
thread: a thread of its own that slept on the files and then woke the GUI cost a
second wakeup per change, about a point of a core while driving
(``bench/gui_bench.py --pad-file``).

Every :data:`HOTPLUG_TICK_S` SDL is pumped once more, to see a pad plugged in. The
open files are listed again when that shows a change (SDL's pad count, a hotplug
event) and otherwise only every :data:`FILES_RECHECK_S`: listing them is most of a
tick's cost. A file SDL's pump leaves readable with nothing queued (another
library's descriptor on a pad's node, say) is not waited on after
:data:`STUCK_AFTER` such looks, only looked at every :data:`STUCK_RECHECK_S`: the
loop never spins on it.

``wake`` runs on the loop's thread and reads SDL's queue before it returns. With a
pace (:attr:`PadFileWatch.pace_s`: the stick view's frame rate, while not driving)
the files rest after a wake, unwatched, until the pace has passed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import warnings
from collections.abc import Callable, Mapping

from teleop.desktop.sdl.padsource import News, PadSource, readable, sdl_source

log = logging.getLogger("teleop.desktop.sdl.filewatch")

#: how often SDL is pumped with no file readable, to see a pad plugged in (s)
HOTPLUG_TICK_S = 0.25
#: how often the open files are listed again with no sign of a change (a pad that came or went, SDL's pad
#: count) (s): listing them is most of a tick's cost
FILES_RECHECK_S = 2.0
#: a readable file that SDL's pump leaves readable this many times in a row, queuing nothing, is not waited on...
STUCK_AFTER = 3
#: ...but looked at this often instead (s), until it is drained or closed
STUCK_RECHECK_S = 0.02


def _current_loop() -> asyncio.AbstractEventLoop | None:
    """The loop running now, or the one set for this thread; None rather than a new loop nobody runs."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)  # the warning comes before a new loop is made
            return asyncio.get_event_loop()
    except (RuntimeError, DeprecationWarning):
        return None


class PadFileWatch:
    """Calls ``wake`` on the event loop's thread whenever SDL has read news from a pad's file."""

    def __init__(self, wake: Callable[[], None], source: PadSource | None = None, tick_s: float = HOTPLUG_TICK_S) -> None:
        """``source``: what is watched (SDL's pads by default; tests and benches pass descriptors of their own)."""
        self._wake = wake
        self._source = source if source is not None else sdl_source()
        #: how often SDL is pumped with no file readable, to see a pad plugged in (s); from the next tick on
        self.tick_s = tick_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting = _FileWait()
        #: descriptors with a reader on the loop now
        self._watched: set[int] = set()
        self._tick: asyncio.TimerHandle | None = None
        self._recheck: asyncio.TimerHandle | None = None
        #: set while the files rest after a wake (the pace)
        self._rest: asyncio.TimerHandle | None = None
        #: news came while the files rested: wake when the rest ends
        self._owed = False
        self._pace_s = 0.0
        self._devices = -1
        self._next_listing = 0.0
        self._last_wake = -math.inf
        #: the descriptors open on the pads' files, with their paths, as last listed
        self.files: Mapping[int, str] = {}
        #: times ``wake`` was called, and times SDL was let read the pads (the tests and benches read them)
        self.wakes = 0
        self.looks = 0

    @property
    def available(self) -> bool:
        """False when SDL's library could not be loaded."""
        return self._source is not None

    @property
    def running(self) -> bool:
        return self._loop is not None

    @property
    def pace_s(self) -> float:
        """The shortest time between two wakes (0: none)."""
        return self._pace_s

    @pace_s.setter
    def pace_s(self, seconds: float) -> None:
        self._pace_s = seconds
        if self._rest is not None and self._loop is not None:  # the rest ends at the new pace (at once for none)
            self._rest.cancel()
            remaining = self._last_wake + seconds - time.monotonic()
            self._rest = self._loop.call_later(max(0.0, remaining), self._rested)

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> bool:
        """Watch the pads' files on ``loop`` (the current one by default), listing them now: called again while
        watching, it lists them again (a pad came or went). False, and nothing watched, without SDL or a loop."""
        if self._source is None:
            return False
        if self._loop is None:
            self._loop = loop or _current_loop()
            if self._loop is None:
                return False
            self._tick = self._loop.call_later(self.tick_s, self._on_tick)
        self._guarded(self._list, fresh=True)
        return self._loop is not None

    def stop(self) -> None:
        """Stop watching: no reader, no timer is left on the loop."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        for fd in self._watched:
            loop.remove_reader(fd)
        self._watched = set()
        for handle in (self._tick, self._recheck, self._rest):
            if handle is not None:
                handle.cancel()
        self._tick = self._recheck = self._rest = None
        self._owed = False

    # -- on the loop ------------------------------------------------------------------------------

    def _guarded(self, step: Callable[..., None], *args, **kwargs) -> None:
        """Run one step; a broken one says so and ends the watch (the GUI then reads the pads on its own timers)
        instead of failing again on every readable file."""
        try:
            step(*args, **kwargs)
        except Exception:
            log.exception("watching the gamepads' files failed")
            self.stop()

    def _on_readable(self, fd: int) -> None:
        self._guarded(self._look, {fd})

    def _on_tick(self) -> None:
        assert self._loop is not None
        self._tick = self._loop.call_later(self.tick_s, self._on_tick)
        self._guarded(self._ticked)

    def _ticked(self) -> None:
        assert self._source is not None
        if time.monotonic() >= self._next_listing or self._source.devices() != self._devices:
            self._list(fresh=False)
        self._look(set())

    def _on_recheck(self) -> None:
        self._recheck = None
        self._guarded(self._look, set())

    def _list(self, fresh: bool) -> None:
        """List the pads' files again and wait on them. ``fresh``: new readers for every file (a descriptor's number
        may have been closed and opened again for another pad; its old reader may have been dropped by the loop)."""
        assert self._source is not None
        files = self._source.files()
        self._devices = self._source.devices()
        self._next_listing = time.monotonic() + FILES_RECHECK_S
        if files != self.files:
            log.debug("pad wait: the GUI's loop on %s", ", ".join(sorted(files.values())) or "no pad file")
        elif not fresh:
            return
        self.files = files
        self._waiting.follow(files)
        self._watch(set())
        self._watch(self._wanted())

    def _wanted(self) -> set[int]:
        return set() if self._rest is not None else set(self._waiting.watched())

    def _watch(self, wanted: set[int]) -> None:
        """Readers on ``wanted`` and on nothing else; the stuck files' recheck timer set to match."""
        loop = self._loop
        assert loop is not None
        for fd in self._watched - wanted:
            loop.remove_reader(fd)
        for fd in wanted - self._watched:
            loop.add_reader(fd, self._on_readable, fd)
        self._watched = wanted
        if self._recheck is not None:
            self._recheck.cancel()
            self._recheck = None
        if math.isfinite(self._waiting.recheck_at) and self._rest is None:
            self._recheck = loop.call_later(max(0.0, self._waiting.recheck_at - time.monotonic()), self._on_recheck)

    def _look(self, ready: set[int]) -> None:
        """Let SDL read the pads (``ready``: the files found readable) and wake the reader if that queued news.
        The wake comes last: it may stop, restart or re-pace this watch."""
        assert self._source is not None
        self.looks += 1
        news = self._source.news()
        now = time.monotonic()
        stuck = self._waiting.after_look(ready, news, now)
        if news is News.HOTPLUG:
            self._list(fresh=True)
        elif stuck:  # a file leaves the wait or comes back, or is still stuck: its recheck is due again
            self._watch(self._wanted())
        if news is not News.NONE:
            self._fire(now)

    def _fire(self, now: float) -> None:
        if self._rest is not None:
            self._owed = True
            return
        self._last_wake = now
        self.wakes += 1
        if self._pace_s > 0 and self._loop is not None:
            self._rest = self._loop.call_later(self._pace_s, self._rested)
            self._watch(set())
        try:
            self._wake()
        except Exception:  # a broken reader must not end the watch; what it left queued is seen at the next tick
            log.exception("waking the GUI for a gamepad event failed")

    def _rested(self) -> None:
        self._rest = None
        if self._loop is None:
            return
        self._guarded(self._watch, self._wanted())
        if self._owed and self._loop is not None:
            self._owed = False
            self._fire(time.monotonic())


class _FileWait:
    """The pads' files waited on, less those SDL's pump leaves readable (rechecked slowly instead)."""

    def __init__(self) -> None:
        self.files: Mapping[int, str] = {}
        #: readable file -> looks in a row that left it readable and queued nothing
        self.fruitless: dict[int, int] = {}
        self.recheck_at = math.inf

    def follow(self, files: Mapping[int, str]) -> None:
        self.files = files
        self.fruitless = {fd: times for fd, times in self.fruitless.items() if fd in files}
        if not self.stuck():
            self.recheck_at = math.inf

    def stuck(self) -> list[int]:
        return [fd for fd, times in self.fruitless.items() if times >= STUCK_AFTER]

    def watched(self) -> list[int]:
        stuck = self.stuck()
        return [fd for fd in self.files if fd not in stuck]

    def after_look(self, ready: set[int], news: News, now: float) -> bool:
        """Count the files SDL's look left readable with nothing queued; a stuck one is looked at again later.

        True when a file is stuck, or was before this look: the files to wait on and the recheck need setting."""
        before = self.stuck()
        suspects = ready | set(before)
        if news is not News.NONE:
            for fd in suspects:
                self.fruitless.pop(fd, None)
        elif suspects:
            still, _ = readable(sorted(suspects), 0)
            for fd in suspects:
                if fd in still:
                    self.fruitless[fd] = self.fruitless.get(fd, 0) + 1
                else:
                    self.fruitless.pop(fd, None)
        stuck = self.stuck()
        self.recheck_at = now + STUCK_RECHECK_S if stuck else math.inf
        return bool(stuck or before)
