"""The asyncio loop the desktop app runs in: qasync's, with socket readiness handled in one step.

qasync runs asyncio inside Qt's event loop. When a socket becomes readable it
disables the socket's notifier, schedules the reader with ``call_soon`` (a Qt
timer) and enables the notifier again after the reader ran: three trips through
Qt's loop and two notifier changes (each one wakes Qt's loop again) for every
message from the robot. At 20 readings a second that alone was a steady share
of a core, doing nothing the pilot can see.

:class:`QtEventLoop` runs the reader (or writer) right in the notifier's
activation, as asyncio's own loops run it in the turn that saw the socket ready.
The notifier stays enabled: a socket the callback did not drain (a reader that
took part of a burst) fires again on the next turn, and a removed reader's
callback is marked ended, so it is never called after ``remove_reader``. A
callback's exception goes to the loop's exception handler, as for any handle.

A reader removed and added again on the same descriptor (the pads' files rest
between reads while not driving, a transport pauses its reading) gets its
notifier back, enabled again: making a notifier and connecting its signal cost
about 160 µs of the GUI thread each time, enabling one about a tenth of that.
Disabled, a notifier is not in Qt's wait at all; the spare ones go when the
loop closes.

Qt does not deliver a notifier's activation again while it is delivering it, so
a handler that turns Qt's loop itself (a modal dialog) is never called inside
its own call (tested). When Qt turns while asyncio's loop is not running (qasync
makes one more pass after each ``run_until_complete``; tests run the loop in
pieces), a callback waits for the loop, as qasync would have it.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import Any

import qasync
from PySide6.QtCore import QSocketNotifier

Notifiers = dict[Any, QSocketNotifier]


def _file_number(fd: Any) -> int:
    if isinstance(fd, int):
        return fd
    try:
        return int(fd.fileno())
    except (AttributeError, TypeError, ValueError):
        raise ValueError(f"Invalid file object: {fd!r}") from None


class _Watch:
    """One reader or writer: its callback, run by its notifier until the watch ends."""

    def __init__(self, loop: asyncio.AbstractEventLoop, socket: _Socket, callback: Callable[..., Any], args: tuple) -> None:
        self.loop, self.socket, self.callback, self.args = loop, socket, callback, args
        self.notifier = socket.notifier
        self.context = contextvars.copy_context()  # as asyncio's Handle: the context of the add_reader call
        self.ended = False

    def ready(self) -> None:
        if self.ended:  # removed while Qt was about to deliver its activation
            return
        if self.loop.is_running():
            self._call()
            return
        # Qt turning outside asyncio's run (qasync's last pass after run_until_complete): qasync's way, the
        # callback later, so nothing runs on with no running loop
        self.notifier.setEnabled(False)
        self.loop.call_soon(self._deferred)

    def _deferred(self) -> None:
        if self.ended:
            return
        try:
            self._call()
        finally:
            if not self.ended:  # an ended watch's notifier was disabled when it ended, and may be another's now
                self.notifier.setEnabled(True)

    def _call(self) -> None:
        try:
            self.context.run(self.callback, *self.args)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self.loop.call_exception_handler({"message": f"Exception in callback {self.callback!r}", "exception": exc})


class _Socket:
    """A descriptor's notifier for one kind of readiness, kept across watches, and the watch it runs now."""

    def __init__(self, number: int, qt_kind: QSocketNotifier.Type) -> None:
        self.notifier = QSocketNotifier(number, qt_kind)
        self.watch: _Watch | None = None
        self.notifier.activated.connect(self.ready)  # once: connecting a signal is most of a new notifier's cost

    def ready(self) -> None:
        watch = self.watch
        if watch is not None:
            watch.ready()


class QtEventLoop(qasync.QEventLoop):
    """An asyncio event loop inside Qt's (a ``qasync.QEventLoop``) whose readers and writers run without a hop."""

    def __init__(self, app: Any = None) -> None:
        self._watches: dict[tuple[str, Any], _Watch] = {}  # first: asyncio's own set-up already adds a reader
        #: (kind, descriptor number) -> its notifier, watching or spare
        self._sockets: dict[tuple[str, int], _Socket] = {}
        super().__init__(app)

    def close(self) -> None:
        """End every watch and drop every notifier first: qasync's own close knows only those it made itself."""
        if not self.is_running() and not self.is_closed():
            for kind, fd in list(self._watches):
                self._unwatch(kind, self._read_notifiers if kind == "read" else self._write_notifiers, fd)
            for socket in self._sockets.values():
                socket.notifier.activated.disconnect()
            self._sockets.clear()
        super().close()

    def _add_reader(self, fd: Any, callback: Callable[..., Any], *args: Any) -> None:
        self._watch("read", self._read_notifiers, QSocketNotifier.Type.Read, fd, callback, args)

    def _add_writer(self, fd: Any, callback: Callable[..., Any], *args: Any) -> None:
        self._watch("write", self._write_notifiers, QSocketNotifier.Type.Write, fd, callback, args)

    def _remove_reader(self, fd: Any) -> bool:
        return self._unwatch("read", self._read_notifiers, fd)

    def _remove_writer(self, fd: Any) -> bool:
        return self._unwatch("write", self._write_notifiers, fd)

    def _watch(
        self, kind: str, notifiers: Notifiers, qt_kind: QSocketNotifier.Type, fd: Any, callback: Callable[..., Any], args: tuple
    ) -> None:
        self._check_closed()
        number = _file_number(fd)
        self._unwatch(kind, notifiers, fd)
        socket = self._sockets.get((kind, number))
        if socket is None:
            socket = self._sockets[kind, number] = _Socket(number, qt_kind)
        if socket.watch is not None:  # a watch on this number under another key (a closed file's, never removed)
            socket.watch.ended = True
        watch = _Watch(self, socket, callback, args)
        socket.watch = watch
        socket.notifier.setEnabled(True)
        notifiers[fd] = socket.notifier
        self._watches[kind, fd] = watch

    def _unwatch(self, kind: str, notifiers: Notifiers, fd: Any) -> bool:
        if self.is_closed():
            return False
        watch = self._watches.pop((kind, fd), None)
        notifier = notifiers.pop(fd, None)
        if watch is None:  # never so: a notifier is registered with its watch; out of Qt's wait all the same
            if notifier is not None:
                notifier.setEnabled(False)
            return notifier is not None
        watch.ended = True
        if watch.socket.watch is watch:  # not if a watch on the number's new file took the notifier over
            watch.socket.watch = None
            watch.notifier.setEnabled(False)  # kept for the descriptor's next watch; no longer in Qt's wait
        return True
