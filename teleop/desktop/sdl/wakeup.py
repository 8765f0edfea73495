"""Wake the GUI when a gamepad has something to say, and otherwise let it (and this thread) sleep.

A thread watches the pads and, the moment SDL has an event queued, calls ``wake``
once. The events stay in SDL's queue: the GUI thread reads them with
:meth:`GamepadManager.pump <teleop.desktop.sdl.gamepad.GamepadManager.pump>` as
before, so every pad's state, rumble and hotplug stay on one thread, and then
calls :meth:`SdlWakeup.rearm`. Until then the thread waits: a busy GUI costs it
nothing and it never wakes the GUI twice for the same events.

How it watches (:class:`WaitMode`, in :attr:`SdlWakeup.mode`):

- ``FILES`` (Linux, every pad read from a device file): the thread sleeps in
  ``poll`` on the very descriptors SDL reads the pads from
  (:mod:`teleop.desktop.sdl.padfiles`). When one is readable it lets SDL read it
  (``SDL_PumpEvents``, in C) and wakes the GUI only if that queued an event: a
  pad that streams reports with nothing changed (hidraw) costs the GUI nothing.
  Every :data:`HOTPLUG_TICK_S` it pumps SDL once more, for a pad plugged in; it
  lists the open descriptors again when that shows a change (or a file closed),
  and otherwise only every :data:`FILES_RECHECK_S`. With no pad at all, that tick
  is all there is. An unplugged pad's file reports a hang-up at once.
- ``SDL_LOOP`` (a pad with no file: SDL's virtual joysticks, other systems):
  SDL's own ``SDL_WaitEventTimeout``, which pumps every millisecond; the only
  way to hear such a pad.

``wake`` runs on this thread: it must only hand the news over (a queued Qt signal,
``loop.call_soon_threadsafe``), never touch the models.
"""

from __future__ import annotations

import ctypes
import enum
import logging
import math
import select
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from teleop.desktop.sdl.gamepad import sdl_library
from teleop.desktop.sdl.padfiles import DELETED, open_pad_files, pad_file_kind

log = logging.getLogger("teleop.desktop.sdl.wakeup")

#: SDL_LOOP: how long one wait inside SDL lasts before the thread looks at its flags (ms)
WAIT_SLICE_MS = 50
#: FILES: how often SDL is pumped with no file readable, to see a pad plugged in (s)
HOTPLUG_TICK_S = 0.25
#: FILES: how often the open files are listed again with no sign of a change (a pad that came or went, a file
#: closed, SDL's pad count) (s): listing them is most of a tick's cost
FILES_RECHECK_S = 2.0
#: a readable file that SDL's pump leaves readable this many times in a row, queuing nothing, is not waited on...
STUCK_AFTER = 3
#: ...but looked at this often instead (s), until it is drained or closed: never a busy loop on it
STUCK_RECHECK_S = 0.02

_JOYDEVICEADDED, _JOYDEVICEREMOVED = 0x605, 0x606  # SDL_EventType
_FIRSTEVENT, _LASTEVENT = 0, 0xFFFF


class WaitMode(enum.Enum):
    FILES = "the pads' files"
    SDL_LOOP = "SDL's 1 ms loop"


class News(enum.Enum):
    """What is in SDL's queue after a look."""

    NONE = 0
    INPUT = 1
    #: a pad came or went: the files to wait on change
    HOTPLUG = 2


@dataclass(frozen=True)
class PadSource:
    """What the watching thread asks about the pads: SDL's answers (:func:`sdl_source`), or stand-ins in tests."""

    #: every descriptor open on a pad's file, with its path
    files: Callable[[], Mapping[int, str]]
    #: the wait that suits the pads there are, given those files
    mode: Callable[[Mapping[int, str]], WaitMode]
    #: let SDL read what the pads sent, and say what that queued
    news: Callable[[], News]
    #: SDL_LOOP: SDL's own wait, up to this many ms
    sdl_wait: Callable[[int], News]
    #: how many pads SDL knows now (cheap, unlike :attr:`files`: a change means the files are worth a look)
    devices: Callable[[], int] = lambda: 0


def sdl_source() -> PadSource | None:
    """The pads as SDL (pygame's library) has them; None where that library cannot be loaded."""
    sdl = sdl_library()
    if sdl is None:
        return None
    wait = sdl.SDL_WaitEventTimeout
    wait.argtypes, wait.restype = [ctypes.c_void_p, ctypes.c_int], ctypes.c_int
    has = sdl.SDL_HasEvents
    has.argtypes, has.restype = [ctypes.c_uint32, ctypes.c_uint32], ctypes.c_int
    count = sdl.SDL_NumJoysticks
    count.argtypes, count.restype = [], ctypes.c_int
    pump = sdl.SDL_PumpEvents
    pump.argtypes, pump.restype = [], None
    path_of = getattr(sdl, "SDL_JoystickPathForIndex", None)  # SDL >= 2.24
    linux = sys.platform.startswith("linux")
    if path_of is not None:
        path_of.argtypes, path_of.restype = [ctypes.c_int], ctypes.c_char_p

    def queued() -> News:
        if has(_JOYDEVICEADDED, _JOYDEVICEREMOVED):
            return News.HOTPLUG
        return News.INPUT if has(_FIRSTEVENT, _LASTEVENT) else News.NONE

    def mode(files: Mapping[int, str]) -> WaitMode:
        """FILES only if every device SDL has is read from a pad file this process has open."""
        open_paths = {path.removesuffix(DELETED) for path in files.values()}
        for index in range(count()):
            raw = path_of(index) if path_of is not None and linux else None
            path = raw.decode(errors="replace") if raw else ""
            if pad_file_kind(path) is None or path not in open_paths:
                return WaitMode.SDL_LOOP
        return WaitMode.FILES

    def news() -> News:
        pump()
        return queued()

    def sdl_wait(ms: int) -> News:
        return queued() if wait(None, ms) > 0 else News.NONE  # NULL event: a peek, the event stays queued

    return PadSource(files=open_pad_files if linux else dict, mode=mode, news=news, sdl_wait=sdl_wait, devices=count)


def _readable(fds: list[int], timeout: float) -> tuple[set[int], bool]:
    """The descriptors of ``fds`` ready to read (or hung up) within ``timeout`` seconds, and whether one was closed."""
    if not hasattr(select, "poll"):  # Windows: no pad files, only the control socket
        ready, _, _ = select.select(fds, [], [], None if math.isinf(timeout) else timeout)
        return set(ready), False
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN | select.POLLPRI)
    events = poller.poll(None if math.isinf(timeout) else max(0, math.ceil(timeout * 1000)))
    closed = any(flags & select.POLLNVAL for _, flags in events)
    return {fd for fd, flags in events if not flags & select.POLLNVAL}, closed


class _Run:
    """One watching thread's flags and the socket pair that wakes it to look at them."""

    def __init__(self) -> None:
        self.stopping = False
        #: the GUI has read the queue since the last wake (or none was made yet)
        self.armed = True
        #: the thread sleeps until a rearm (news came before the GUI had read the last): rearm must wake it.
        #: Otherwise a rearm only sets :attr:`armed`: the thread sleeps on the pads' files and sees it when one
        #: has news, so a steady stream of events costs one wakeup of this thread each, not two.
        self.needs_poke = False
        #: threads waiting for this one to look at its files as they are now (:meth:`SdlWakeup.settle`)
        self.barriers: list[threading.Event] = []
        self.control, self._poker = socket.socketpair()
        self.control.setblocking(False)
        self._poker.setblocking(False)

    def poke(self) -> None:
        try:
            self._poker.send(b"\0")
        except OSError:  # full (already poked) or closed (already ended): nothing to add
            pass

    def drain(self) -> None:
        try:
            while self.control.recv(4096):
                pass
        except OSError:
            pass

    def release(self, barriers: list[threading.Event]) -> None:
        for barrier in barriers:
            barrier.set()
            self.barriers.remove(barrier)

    def close(self) -> None:
        self.release(list(self.barriers))
        self.control.close()
        self._poker.close()


class SdlWakeup:
    """Calls ``wake`` (on its own thread) whenever SDL's event queue has a pad's news, once per :meth:`rearm`."""

    def __init__(self, wake: Callable[[], None], source: PadSource | None = None, tick_s: float = HOTPLUG_TICK_S) -> None:
        """``source``: what is watched (SDL's pads by default; tests pass descriptors of their own)."""
        self._wake = wake
        self._source = source if source is not None else sdl_source()
        self._tick_s = tick_s
        self._run: _Run | None = None
        self._thread: threading.Thread | None = None
        #: stopped threads that may still be inside their last wait
        self._ending: list[threading.Thread] = []
        self._pace_s = 0.0
        #: how the running thread watches (None before its first look)
        self.mode: WaitMode | None = None
        #: the descriptors it waits on in FILES mode, with their paths
        self.files: Mapping[int, str] = {}
        #: times ``wake`` was called, and times the thread let SDL read the pads (the tests and benches read them)
        self.wakes = 0
        self.looks = 0

    @property
    def available(self) -> bool:
        """False when SDL's library could not be loaded: the caller must poll instead."""
        return self._source is not None

    @property
    def running(self) -> bool:
        """Started and not stopped (a stopped thread may still be finishing its last wait slice)."""
        return self._thread is not None

    @property
    def native_id(self) -> int | None:
        """The running thread's id in the system (``/proc/self/task/<id>``), for the benches."""
        return self._thread.native_id if self._thread is not None else None

    def choose_mode(self) -> WaitMode | None:
        """How the pads open now would be watched (None without SDL): asked on the caller's thread."""
        if self._source is None:
            return None
        return self._source.mode(self._source.files())

    @property
    def pace_s(self) -> float:
        """The shortest time between two wakes (0: none): the GUI's frame rate for the pads while not driving."""
        return self._pace_s

    @pace_s.setter
    def pace_s(self, seconds: float) -> None:
        self._pace_s = seconds
        if self._run is not None:
            self._run.poke()

    def start(self) -> bool:
        """Start watching; False (and nothing started) if SDL cannot be waited on here."""
        if self._source is None:
            return False
        if self._thread is None:
            self._run = _Run()  # each thread its own flags: a stopped one finishing must not stop the next
            self.mode, self.files = None, {}
            self._thread = threading.Thread(target=self._main, args=(self._run,), name="sdl-wakeup", daemon=True)
            self._thread.start()
        return True

    def rearm(self) -> None:
        """The GUI has read SDL's queue: the next event may wake it again."""
        run = self._run
        if run is not None and not run.armed:
            run.armed = True
            if run.needs_poke:  # read after armed is set: the thread sets it before it looks at armed
                run.poke()

    def settle(self, timeout: float = 5.0) -> bool:
        """Return once the thread has looked at the pads as they are now: it has listed their files again and
        chosen its wait (:attr:`mode`, :attr:`files`), and a wake due by then has been made. While the reader
        has not rearmed since the last wake, it returns at once (nothing can be woken for until it reads).

        An ordering barrier for tests: what was not woken for by then was not seen as news.
        False if the thread did not get there within ``timeout``."""
        run = self._run
        if run is None:
            return True
        barrier = threading.Event()
        run.barriers.append(barrier)
        run.poke()
        return barrier.wait(timeout)

    def stop(self, wait: bool = False) -> None:
        """Stop watching. Without ``wait`` this returns at once (driving stops on the GUI thread: it must not
        wait for SDL); the thread ends at once in FILES mode, within one wait slice in SDL_LOOP. With ``wait``,
        every thread started is gone on return, so SDL can be shut down after."""
        thread, self._thread = self._thread, None
        run, self._run = self._run, None
        if run is not None:
            run.stopping = True
            run.poke()
        if thread is not None:
            self._ending = [t for t in self._ending if t.is_alive()] + [thread]
        if wait:
            for ending in self._ending:
                if ending is not threading.current_thread():
                    ending.join()
            self._ending = []

    # -- the thread -------------------------------------------------------------------------------

    def _main(self, run: _Run) -> None:
        try:
            self._watch(run)
        except Exception:  # a broken watch must say so; the GUI then hears the pads only on its own polls
            log.exception("watching the gamepads failed")
        finally:
            run.close()

    def _look(self, run: _Run) -> tuple[WaitMode, Mapping[int, str]]:
        """Which files are open and how to watch them (the files to wait on: none in SDL_LOOP); logged when it changes."""
        assert self._source is not None
        files = self._source.files()
        mode = self._source.mode(files)
        files = files if mode is WaitMode.FILES else {}
        if self._run is run:  # a stopped thread finishing its last round says nothing
            if mode is not self.mode or files.keys() != self.files.keys():
                log.debug("pad wait: %s%s", mode.value, f" ({', '.join(sorted(files.values()))})" if files else "")
            self.mode, self.files = mode, files
        return mode, files

    def _fire(self, run: _Run) -> None:
        run.needs_poke = False  # this thread is awake: it sees the rearm when it next looks at ``armed``
        run.armed = False
        self.wakes += 1
        try:
            self._wake()
        except Exception:  # a broken waker must not end the watch silently
            log.exception("waking the GUI for a gamepad event failed")
            _readable([run.control.fileno()], WAIT_SLICE_MS / 1000)  # not a busy loop on the same queued event
            run.armed = True

    def _watch(self, run: _Run) -> None:
        source = self._source
        assert source is not None
        control = run.control.fileno()
        waiting = _FileWait()
        next_look = 0.0  # the next hotplug tick (at once: the first look)
        next_listing = 0.0  # when the open files are listed again even with no sign of a change
        devices = -1
        last_wake = -math.inf
        mode = WaitMode.FILES
        while not run.stopping:
            barriers = list(run.barriers)
            now = time.monotonic()
            paced = last_wake + self._pace_s - now
            if not run.armed and paced <= 0 and mode is WaitMode.FILES and self._disarmed_wait(run, waiting, next_look):
                continue
            if not run.armed or paced > 0:  # only the control socket: a rearm, a pace change, a stop, a barrier
                run.needs_poke = True
                if run.armed and paced <= 0:  # rearmed as we got here: it may not have poked
                    continue
                _readable([control], paced if run.armed else math.inf)
                run.drain()
                self._release_while_disarmed(run)
                continue
            if now >= next_look or barriers:
                if barriers or mode is WaitMode.SDL_LOOP or now >= next_listing or source.devices() != devices:
                    devices = source.devices()
                    mode, files = self._look(run)
                    waiting.follow(files)
                    next_listing = now + FILES_RECHECK_S
                if now >= next_look:
                    next_look = now + self._tick_s
            if mode is WaitMode.SDL_LOOP:
                news = source.sdl_wait(WAIT_SLICE_MS)
                run.drain()
            else:
                news, hung = self._wait_files(run, waiting, next_look, settle=bool(barriers))
                if hung:
                    next_look = next_listing = 0.0
            if news is News.HOTPLUG:
                next_look = next_listing = 0.0
            if news is not News.NONE and not run.stopping:
                last_wake = time.monotonic()
                self._fire(run)
            run.release(barriers)
            if run.barriers:  # came during this round, their poke maybe read by it: the next round must see them
                run.poke()

    def _disarmed_wait(self, run: _Run, waiting: _FileWait, tick: float) -> bool:
        """Not armed: sleep on the pads' files until ``tick`` (a hotplug look), so a rearm needs no poke.

        True when the loop should go round (a poke came, or a file has news or the tick came and the GUI
        has rearmed meanwhile); False when that happened before the GUI rearmed: then only a rearm can
        help, and it must be told to poke (the caller's control-socket wait)."""
        run.needs_poke = False
        if run.armed:  # rearmed before it could see needs_poke cleared: nothing to wait for
            return True
        control = run.control.fileno()
        ready, _ = _readable([*waiting.watched(), control], waiting.timeout(tick))
        if control in ready:
            run.drain()
            self._release_while_disarmed(run)
            return True
        return run.armed

    @staticmethod
    def _release_while_disarmed(run: _Run) -> None:
        """After a poke: release the barriers now only if the GUI has still not read the queue (the wake it
        was due has been made, and nothing can be woken for until it reads). Once it has rearmed, they wait for
        the next round, which looks at the pads as they are now: a rearm and a barrier that came together must
        not release the barrier on a look from before the GUI read."""
        if not run.armed:
            run.release(list(run.barriers))  # drained first: a barrier whose poke was read is in the list

    def _wait_files(self, run: _Run, waiting: _FileWait, tick: float, settle: bool) -> tuple[News, bool]:
        """One wait on the pads' files and the control socket, until ``tick`` (monotonic; no wait at all to
        ``settle`` a barrier); SDL reads the pads if a file is readable, a stuck one is due, or the tick came.

        Returns what SDL queued and whether a file was found closed (look again)."""
        assert self._source is not None
        control = run.control.fileno()
        ready, closed = _readable([*waiting.watched(), control], 0.0 if settle else waiting.timeout(tick))
        if control in ready:
            run.drain()
            ready.discard(control)
        now = time.monotonic()
        if run.stopping or not (ready or waiting.recheck_due(now) or now >= tick):
            return News.NONE, closed
        self.looks += 1
        news = self._source.news()
        waiting.after_look(ready, news, now)
        return news, closed


class _FileWait:
    """The pads' files one thread waits on, less those SDL's pump leaves readable (rechecked slowly instead)."""

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

    def timeout(self, tick: float) -> float:
        return max(0.0, min(tick, self.recheck_at) - time.monotonic())

    def recheck_due(self, now: float) -> bool:
        return now >= self.recheck_at

    def after_look(self, ready: set[int], news: News, now: float) -> None:
        """Count the files SDL's look left readable with nothing queued; a stuck one is looked at again later."""
        suspects = ready | set(self.stuck())
        if news is not News.NONE:
            for fd in suspects:
                self.fruitless.pop(fd, None)
        elif suspects:
            still, _ = _readable(sorted(suspects), 0)
            for fd in suspects:
                if fd in still:
                    self.fruitless[fd] = self.fruitless.get(fd, 0) + 1
                else:
                    self.fruitless.pop(fd, None)
        self.recheck_at = now + STUCK_RECHECK_S if self.stuck() else math.inf
