"""The Qt side of the models: owns the timers and the gamepad poll, and nothing else.

The rules live in :mod:`teleop.desktop.models.session`; this adapter only gives them time.
While driving, the GUI thread is woken by SDL itself (:class:`teleop.desktop.sdl.wakeup.SdlWakeup`:
a thread that waits inside SDL and signals the moment a pad event is queued), so a stick change
reaches the socket about a millisecond after SDL sees it; the periodic re-send and a change the
rate cap held back go out from one single-shot timer set to the drive model's next deadline.
Nothing runs a thousand times a second on the GUI thread. While not driving, pads are read every
40 ms (the stick view's frame rate) and the SDL thread sleeps.
"""

from __future__ import annotations

import logging
import math
import time

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from teleop.desktop.models.driving import DriveModel
from teleop.desktop.net.client import run_in_background
from teleop.desktop.sdl.gamepad import GamepadManager
from teleop.desktop.sdl.wakeup import SdlWakeup
from teleop.desktop.session.teleop_model import TeleopModel

log = logging.getLogger("teleop.desktop.gui")

#: where SDL cannot be waited on (its library not found): the old way, a poll every millisecond while driving
DRIVING_POLL_MS = 1
IDLE_POLL_MS = 40  # the stick view's frame rate: nothing needs the pad sooner while not driving


class QtAdapter(QObject):
    #: emitted by the SDL thread; queued, so :meth:`poll` runs on the GUI thread
    _sdl_event = Signal()

    def __init__(self, model: TeleopModel, parent: QObject | None = None, gamepads: GamepadManager | None = None) -> None:
        """``gamepads``: a manager made with other mapping files (tests); by default the app's own."""
        super().__init__(parent)
        self.model = model
        self.gamepads = gamepads or GamepadManager()
        self.gamepads.attach(model)  # pads feed the drive model; its rumble requests reach the pads
        self.wakeup = SdlWakeup(self._sdl_event.emit)
        self._sdl_event.connect(self.poll, Qt.ConnectionType.QueuedConnection)
        self._timer = QTimer(self)  # the idle poll (or, without SDL's wait, the fast one)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(IDLE_POLL_MS)
        self._timer.timeout.connect(self.poll)
        self._deadline = QTimer(self)  # the drive model's next re-send, while driving
        self._deadline.setTimerType(Qt.TimerType.PreciseTimer)
        self._deadline.setSingleShot(True)
        self._deadline.timeout.connect(self.poll)
        self._shut = False
        model.drive.changed.connect(self._drive_changed)
        model.drive.input_changed.connect(self._schedule)  # the keys and on-screen sticks move without SDL
        self._timer.start()
        self.poll()

    @property
    def poll_interval_ms(self) -> int:
        """How often the GUI thread reads the pads on a timer (0: it does not; SDL wakes it)."""
        return self._timer.interval() if self._timer.isActive() else 0

    def _drive_changed(self, drive: DriveModel) -> None:
        if self._shut:
            return  # shutting down stops driving: no timer or thread starts again for it
        if drive.enabled and self._timer.interval() == IDLE_POLL_MS:
            if self.wakeup.start():
                self._timer.stop()
            else:
                self._timer.setInterval(DRIVING_POLL_MS)
            self.poll()  # an input that moved while idle goes out with the enable, not 40 ms later
        elif not drive.enabled and (self.wakeup.running or self._timer.interval() != IDLE_POLL_MS):
            self.wakeup.stop()
            self._deadline.stop()
            self._timer.setInterval(IDLE_POLL_MS)
            self._timer.start()
        self._schedule(drive)

    def _schedule(self, drive: DriveModel) -> None:
        """The deadline timer at the drive model's next deadline (none while not driving)."""
        deadline = drive.deadline() if drive.enabled and not self._shut else math.inf
        if math.isinf(deadline):
            self._deadline.stop()
            return
        self._deadline.start(max(0, math.ceil((deadline - time.monotonic()) * 1000)))

    def poll(self) -> None:
        """Read SDL's events into the drive model and send what its timing says is due."""
        self.gamepads.pump()
        self.wakeup.rearm()
        self._schedule(self.model.drive)

    # -- actions widgets ask for ---------------------------------------------------------------

    def connect_to(self, url: str | None = None) -> None:
        run_in_background(self.model.connect(url))

    def disconnect(self) -> None:
        run_in_background(self.model.disconnect())

    async def shutdown(self) -> None:
        self._shut = True
        self._timer.stop()
        self._deadline.stop()
        self.wakeup.stop(wait=True)  # before SDL's pads are closed: the thread is inside SDL
        await self.model.shutdown()
        self.gamepads.close()
