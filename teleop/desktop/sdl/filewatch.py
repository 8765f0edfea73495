"""The GUI's own event loop sleeps on the pads' files and reads the pads the moment one has news: no thread.

On Linux SDL reads every pad from a device file it keeps open (an evdev node, or a
hidraw node for the pads its HIDAPI drivers know; :mod:`teleop.desktop.sdl.padfiles`).
The kernel makes that file readable when the pad reports. The loop that runs the
GUI waits on those files beside its sockets (``add_reader``) and, when one is
readable, calls ``read``: the GUI's read of the pads, whose SDL pump reads the
file. A stick change costs one wakeup of one thread. A thread of its own that
slept on the files and then woke the GUI cost a second wakeup per change, about a
point of a core while driving (``bench/gui_bench.py --pad-file``).

The loop waits on duplicates of SDL's descriptors, made at each listing and closed
at the next: SDL closes its own when a pad goes, and the number may be reused by
anything (a socket the loop also watches) before the watch hears of it. A
duplicate stays ours, on the same open file, until we close it.

Every :data:`HOTPLUG_TICK_S` the pads are read once more, to see a pad plugged in.
The open files are listed again after a read that found a pad come or go (the
reader says so by starting the watch again), when SDL's pad count changed, and
otherwise every :data:`FILES_RECHECK_S`: listing them is most of a tick's cost. A
file still readable after a read that found nothing (another library's descriptor
on a pad's node, a pad unplugged that SDL has not noticed yet) is not waited on
after :data:`STUCK_AFTER` such reads, only looked at every :data:`STUCK_RECHECK_S`:
the loop never spins on it.

With a pace (:attr:`PadFileWatch.pace_s`: the stick view's frame rate, while not
driving) the files rest after a read that found news or was made for a readable
file, unwatched, until the pace has passed; what came meanwhile is still readable
then, and is read as the rest ends.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import ClassVar, TypeVar

from teleop.desktop.sdl.padsource import PadSource, readable, sdl_source

log = logging.getLogger("teleop.desktop.sdl.filewatch")

T = TypeVar("T")

#: how often the pads are read with no file readable, to see a pad plugged in (s)
HOTPLUG_TICK_S = 0.25
#: how often the open files are listed again with no sign of a change (s): listing them is most of a tick's cost
FILES_RECHECK_S = 2.0
#: a file still readable after this many reads in a row that found nothing is not waited on...
STUCK_AFTER = 3
#: ...but looked at this often instead (s), until it is drained or closed
STUCK_RECHECK_S = 0.02


def _current_loop() -> asyncio.AbstractEventLoop | None:
    """The loop running now, or the one set for this thread; None rather than a new loop nobody runs.

    Call on the GUI thread only: it changes the warnings filters for a moment."""
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
    """Calls ``read`` on the event loop's thread whenever a pad's file is readable, and at the hotplug tick."""

    #: watches started and not stopped, in this process (the tests check that none outlives its window)
    running_count = 0
    #: every watch's duplicates, left out of every listing: two watches in one process never copy each other's
    _all_copies: ClassVar[set[int]] = set()

    def __init__(
        self,
        read: Callable[[], bool],
        source: PadSource | None = None,
        tick_s: float = HOTPLUG_TICK_S,
        failed: Callable[[], None] = lambda: None,
    ) -> None:
        """``read``: read the pads (SDL reads their files); True when that found news (an event, a pad that came or
        went). ``source``: whose files are watched (SDL's pads by default; tests and benches pass their own).
        ``failed``: told, on the loop's thread, when the watch ended because a step of its own failed."""
        self._read = read
        self._source = source if source is not None else sdl_source()
        self._failed = failed
        #: how often the pads are read with no file readable (s); from the next tick on
        self.tick_s = tick_s
        self._loop: asyncio.AbstractEventLoop | None = None
        #: SDL's descriptor -> ours (a duplicate), for every pad file listed
        self._copies: dict[int, int] = {}
        self._waiting = _FileWait()
        #: our descriptors with a reader on the loop now
        self._watched: set[int] = set()
        self._tick: asyncio.TimerHandle | None = None
        self._recheck: asyncio.TimerHandle | None = None
        #: set while the files rest after a read (the pace)
        self._rest: asyncio.TimerHandle | None = None
        self._pace_s = 0.0
        self._last_read = -math.inf
        self._devices = -1
        self._next_listing = 0.0
        #: SDL's descriptors open on the pads' files, with their paths, as last listed
        self.files: Mapping[int, str] = {}
        #: times ``read`` was called (the tests and benches read it)
        self.reads = 0

    @property
    def running(self) -> bool:
        return self._loop is not None

    @property
    def pace_s(self) -> float:
        """The shortest time between two reads (0: none)."""
        return self._pace_s

    @pace_s.setter
    def pace_s(self, seconds: float) -> None:
        self._pace_s = seconds
        if self._rest is not None and self._loop is not None:  # the rest ends at the new pace (at once for none)
            self._rest.cancel()
            self._rest = self._loop.call_later(max(0.0, self._last_read + seconds - time.monotonic()), self._rested)

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> bool:
        """Watch the pads' files on ``loop`` (the current one by default), listing them now; called again while
        watching, it lists them again (a pad came or went). False, and nothing watched, without SDL or a loop."""
        if self._source is None:
            return False
        if self._loop is None:
            chosen = loop or _current_loop()
            if chosen is None:
                return False
            self._tick = chosen.call_later(self.tick_s, self._on_tick)
            self._loop = chosen
            PadFileWatch.running_count += 1
        self._guarded(self._list)
        return self._loop is not None

    def stop(self) -> None:
        """Stop watching: no reader, no timer and no descriptor of ours is left."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        PadFileWatch.running_count -= 1
        self._forget_files(loop)
        for handle in (self._tick, self._recheck, self._rest):
            if handle is not None:
                handle.cancel()
        self._tick = self._recheck = self._rest = None
        self._waiting = _FileWait()

    # -- on the loop ------------------------------------------------------------------------------

    def _guarded(self, step: Callable[[], T]) -> T | None:
        """Run one step of the watch's own and return what it returns; a broken one says so, ends the watch and
        tells its owner, who reads the pads some other way, instead of failing again on every readable file."""
        try:
            return step()
        except Exception:
            log.exception("watching the gamepads' files failed")
            self.stop()
            self._failed()
            return None

    def _on_readable(self, fd: int) -> None:
        self._read_pads({fd})

    def _on_tick(self) -> None:
        if self._loop is None:
            return
        self._tick = self._loop.call_later(self.tick_s, self._on_tick)
        self._guarded(self._list_if_due)
        if self._loop is not None and self._rest is None:  # resting: the rest's end comes sooner than a tick
            self._read_pads(set())

    def _list_if_due(self) -> None:
        assert self._source is not None
        if time.monotonic() >= self._next_listing or self._source.devices() != self._devices:
            self._list()

    def _on_recheck(self) -> None:
        self._recheck = None
        self._read_pads(set())

    def _list(self) -> None:
        """List the pads' files again and wait on new duplicates of them."""
        assert self._source is not None and self._loop is not None
        files = {fd: path for fd, path in self._source.files().items() if fd not in PadFileWatch._all_copies}
        self._devices = self._source.devices()
        self._next_listing = time.monotonic() + FILES_RECHECK_S
        if files != self.files:
            log.debug("pad wait: the GUI's loop on %s", ", ".join(sorted(files.values())) or "no pad file")
        self._forget_files(self._loop)
        self.files = files
        for fd in files:
            try:
                self._copies[fd] = copy = os.dup(fd)
            except OSError as error:
                if error.errno != errno.EBADF:
                    raise  # out of descriptors, say: the owner must read the pads some other way
                continue  # closed since it was listed: its pad is going, and SDL will say so
            PadFileWatch._all_copies.add(copy)
        self._waiting.follow(self._copies.values())
        self._watch(self._wanted())

    def _forget_files(self, loop: asyncio.AbstractEventLoop) -> None:
        for fd in list(self._watched):
            loop.remove_reader(fd)
            self._watched.discard(fd)
        for copy in self._copies.values():
            PadFileWatch._all_copies.discard(copy)
            os.close(copy)
        self._copies = {}

    def _wanted(self) -> set[int]:
        return set() if self._rest is not None else set(self._waiting.watched())

    def _watch(self, wanted: set[int]) -> None:
        """Readers on ``wanted`` and on nothing else; the stuck files' recheck timer set to match."""
        loop = self._loop
        assert loop is not None
        for fd in self._watched - wanted:
            loop.remove_reader(fd)
            self._watched.discard(fd)
        for fd in wanted - self._watched:
            loop.add_reader(fd, self._on_readable, fd)
            self._watched.add(fd)  # one at a time: a failure part way leaves no reader unaccounted for
        if self._recheck is not None:
            self._recheck.cancel()
            self._recheck = None
        if math.isfinite(self._waiting.recheck_at) and self._rest is None:
            self._recheck = loop.call_later(max(0.0, self._waiting.recheck_at - time.monotonic()), self._on_recheck)

    def _read_pads(self, ready: set[int]) -> None:
        """Read the pads (``ready``: our files found readable); then count a file the read left readable, and rest.
        The read may stop, restart or re-pace this watch (the app switches its wait, or lists a new pad's file)."""
        self.reads += 1
        self._last_read = time.monotonic()
        try:
            found = self._read()
        except Exception:  # a broken read must not end the watch; a file it left readable counts as stuck
            log.exception("reading the gamepads failed")
            found = False
        if self._loop is None:
            return
        self._guarded(lambda: self._after_read(ready, found))

    def _after_read(self, ready: set[int], found: bool) -> None:
        if self._waiting.after_read(ready, found, time.monotonic()):
            self._watch(self._wanted())  # a file leaves the wait or comes back, or is still stuck: recheck it
        if (found or ready) and self._pace_s > 0 and self._rest is None and self._loop is not None:
            # rest after news or a readable file (a pad streaming reports); a tick that found nothing changes nothing
            self._rest = self._loop.call_later(self._pace_s, self._rested)
            self._watch(set())

    def _rested(self) -> None:
        """The rest is over: a file readable now is read at once (and the files rest again while there is a
        pace); otherwise the files not stuck are waited on again.

        Most pads that SDL reads through HIDAPI report 250 times a second whether or not anything changed, and
        a stick at rest flickers on most others: their file is readable at the end of nearly every rest. Waited
        on first, each read took a reader added and removed and a second turn of the loop, more than the read."""
        self._rest = None
        if self._loop is None:
            return
        ready = self._guarded(self._readable_now)
        if ready:
            self._read_pads(ready)  # guarded on its own: it is not a step of this one
        if self._loop is not None and self._rest is None:
            self._guarded(lambda: self._watch(self._wanted()))

    def _readable_now(self) -> set[int]:
        wanted = self._wanted()
        return readable(sorted(wanted), 0) if wanted else set()


class _FileWait:
    """The pads' files waited on, less those a read leaves readable (rechecked slowly instead)."""

    def __init__(self) -> None:
        self.files: list[int] = []
        #: readable file -> reads in a row that found nothing and left it readable
        self.fruitless: dict[int, int] = {}
        self.recheck_at = math.inf

    def follow(self, files: Iterable[int]) -> None:
        self.files = list(files)
        self.fruitless = {}
        self.recheck_at = math.inf

    def stuck(self) -> list[int]:
        return [fd for fd, times in self.fruitless.items() if times >= STUCK_AFTER]

    def watched(self) -> list[int]:
        stuck = self.stuck()
        return [fd for fd in self.files if fd not in stuck]

    def after_read(self, ready: set[int], found: bool, now: float) -> bool:
        """Count the files a read that found nothing left readable; a stuck one is looked at again later.

        True when a file is stuck, or was before this read: the files to wait on and the recheck need setting."""
        if not self.fruitless and (found or not ready):
            return False  # the usual read: news, nothing suspect
        before = self.stuck()
        suspects = ready | set(self.fruitless)
        still = readable(sorted(suspects), 0)
        for fd in suspects:
            if fd not in still:
                self.fruitless.pop(fd, None)  # drained: it was the pad's
            elif not found:
                self.fruitless[fd] = self.fruitless.get(fd, 0) + 1
            # still readable after a read that found news (another pad's, or this one's next report): as it was
        stuck = self.stuck()
        self.recheck_at = now + STUCK_RECHECK_S if stuck else math.inf
        return bool(stuck or before)
