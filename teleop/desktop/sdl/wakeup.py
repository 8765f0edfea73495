"""Wake the GUI when a pad with no device file has something to say: SDL's own wait, on a thread.

A pad SDL reads from no file this process can wait on (SDL's virtual joysticks;
the pads of systems without such files) is heard only by SDL's
``SDL_WaitEventTimeout``, which pumps every millisecond inside C. That wait runs
on a thread of its own (in slices of :data:`WAIT_SLICE_MS`, to see a stop) and,
the moment SDL has an event queued, calls ``wake`` once. The events stay in SDL's
queue: the GUI thread reads them with
:meth:`GamepadManager.pump <teleop.desktop.sdl.gamepad.GamepadManager.pump>`, so
every pad's state, rumble and hotplug stay on one thread, and then calls
:meth:`SdlWakeup.rearm`. Until then the thread sleeps: it never wakes the GUI twice
for the same events. Pads read from files are waited on by the GUI's own loop,
without a thread (:mod:`teleop.desktop.sdl.filewatch`).

``wake`` runs on this thread: it must only hand the news over (a queued Qt signal,
``loop.call_soon_threadsafe``), never touch the models.
"""

from __future__ import annotations

import logging
import math
import socket
import threading
from collections.abc import Callable

from teleop.desktop.sdl.padsource import PadSource, readable, sdl_source

log = logging.getLogger("teleop.desktop.sdl.wakeup")

#: how long one wait inside SDL lasts before the thread looks at its flags (ms)
WAIT_SLICE_MS = 50


class _Run:
    """One watching thread's flags and the socket pair that wakes it to look at them."""

    def __init__(self) -> None:
        self.stopping = False
        #: the GUI has read the queue since the last wake (or none was made yet)
        self.armed = True
        #: the thread sleeps until a rearm (it woke the GUI, which has not read yet): rearm must wake it.
        #: Inside SDL's wait it sees a rearm by itself at the end of the slice.
        self.needs_poke = False
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

    def close(self) -> None:
        self.control.close()
        self._poker.close()


class SdlWakeup:
    """Calls ``wake`` (on its own thread) whenever SDL's event queue has a pad's news, once per :meth:`rearm`."""

    def __init__(self, wake: Callable[[], None], source: PadSource | None = None) -> None:
        """``source``: what is watched (SDL's pads by default; benches pass a stand-in)."""
        self._wake = wake
        self._source = source if source is not None else sdl_source()
        self._run: _Run | None = None
        self._thread: threading.Thread | None = None
        #: stopped threads that may still be inside their last wait
        self._ending: list[threading.Thread] = []
        #: times ``wake`` was called (the tests and benches read it)
        self.wakes = 0

    @property
    def running(self) -> bool:
        """Started and not stopped (a stopped thread may still be finishing its last wait slice)."""
        return self._thread is not None

    def start(self) -> bool:
        """Start watching; False (and nothing started) if SDL cannot be waited on here."""
        if self._source is None:
            return False
        if self._thread is None:
            self._run = _Run()  # each thread its own flags: a stopped one finishing must not stop the next
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

    def stop(self, wait: bool = False) -> None:
        """Stop watching. Without ``wait`` this returns at once (driving stops on the GUI thread: it must not
        wait for SDL); the thread ends within one wait slice. With ``wait``, every thread started is gone on
        return, so SDL can be shut down after."""
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

    def _fire(self, run: _Run) -> None:
        run.needs_poke = False  # this thread is awake: it sees the rearm when it next looks at ``armed``
        run.armed = False
        self.wakes += 1
        try:
            self._wake()
        except Exception:  # a broken waker must not end the watch silently
            log.exception("waking the GUI for a gamepad event failed")
            readable([run.control.fileno()], WAIT_SLICE_MS / 1000)  # not a busy loop on the same queued event
            run.armed = True

    def _watch(self, run: _Run) -> None:
        source = self._source
        assert source is not None
        control = run.control.fileno()
        while not run.stopping:
            if not run.armed:  # only the control socket: a rearm or a stop
                run.needs_poke = True
                if run.armed:  # rearmed as we got here: it may not have poked
                    continue
                readable([control], math.inf)
                run.drain()
                continue
            queued = source.sdl_wait(WAIT_SLICE_MS)
            run.drain()
            if queued and not run.stopping:
                self._fire(run)
