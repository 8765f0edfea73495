"""Wake the GUI when SDL has a gamepad event, instead of polling SDL a thousand times a second.

A thread waits inside SDL (``SDL_WaitEventTimeout`` with no event to fill: it
pumps the joysticks and peeks at the queue, in C, with the GIL released) and,
the moment an event is queued, calls ``wake`` once. The events stay in SDL's
queue: the GUI thread reads them with :meth:`GamepadManager.pump
<teleop.desktop.sdl.gamepad.GamepadManager.pump>` as before, so every pad's
state, rumble and hotplug stay on one thread, and then calls :meth:`SdlWakeup.rearm`.
Until then the thread waits on a plain event: a busy GUI costs it nothing and it
never wakes the GUI twice for the same events.

``wake`` runs on this thread: it must only hand the news over (a queued Qt signal,
``loop.call_soon_threadsafe``), never touch the models.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Callable

from teleop.desktop.sdl.gamepad import sdl_library

log = logging.getLogger("teleop.desktop.sdl.wakeup")

#: how long one wait inside SDL lasts before the thread looks at its stop flag (ms)
WAIT_SLICE_MS = 50


class SdlWakeup:
    """Calls ``wake`` (on its own thread) whenever SDL's event queue is not empty, once per :meth:`rearm`."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake
        self._rearmed = threading.Event()
        self._rearmed.set()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        #: stopped threads that may still be inside their last wait
        self._ending: list[threading.Thread] = []
        self._wait: Callable[[object, int], int] | None = None
        sdl = sdl_library()
        if sdl is not None:
            wait = sdl.SDL_WaitEventTimeout
            wait.argtypes = [ctypes.c_void_p, ctypes.c_int]
            wait.restype = ctypes.c_int
            self._wait = wait
        #: times ``wake`` was called (the tests and benches read it)
        self.wakes = 0

    @property
    def available(self) -> bool:
        """False when SDL's library could not be loaded: the caller must poll instead."""
        return self._wait is not None

    @property
    def running(self) -> bool:
        """Started and not stopped (a stopped thread may still be finishing its last wait slice)."""
        return self._thread is not None

    def start(self) -> bool:
        """Start watching; False (and nothing started) if SDL cannot be waited on here."""
        if self._wait is None:
            return False
        if self._thread is None:
            self._stopping = threading.Event()  # each thread its own: a stopped one finishing must not stop the next
            self._rearmed.set()
            self._thread = threading.Thread(target=self._run, args=(self._stopping,), name="sdl-wakeup", daemon=True)
            self._thread.start()
        return True

    def rearm(self) -> None:
        """The GUI has read SDL's queue: the next event may wake it again."""
        if not self._rearmed.is_set():  # set() takes a lock and notifies even when already set
            self._rearmed.set()

    def stop(self, wait: bool = False) -> None:
        """Stop watching. Without ``wait`` this returns at once (driving stops on the GUI thread: it must not
        wait for SDL); the thread ends within one wait slice. With ``wait``, every thread started is gone on
        return, so SDL can be shut down after."""
        thread, self._thread = self._thread, None
        self._stopping.set()
        self._rearmed.set()
        if thread is not None:
            self._ending = [t for t in self._ending if t.is_alive()] + [thread]
        if wait:
            for ending in self._ending:
                if ending is not threading.current_thread():
                    ending.join()
            self._ending = []

    def _run(self, stopping: threading.Event) -> None:
        wait = self._wait
        assert wait is not None
        while not stopping.is_set():
            self._rearmed.wait()
            if stopping.is_set():
                return
            if wait(None, WAIT_SLICE_MS) <= 0 or stopping.is_set():  # NULL event: a peek, the event stays queued
                continue
            self._rearmed.clear()
            self.wakes += 1
            try:
                self._wake()
            except Exception:  # a broken waker must not end the watch silently
                log.exception("waking the GUI for a gamepad event failed")
                stopping.wait(WAIT_SLICE_MS / 1000)  # not a busy loop on the same queued event
                self._rearmed.set()
