"""The Qt side of the models: owns the timers and the gamepad poll, and nothing else.

The rules live in :mod:`teleop.desktop.models.session`; this adapter only gives them time.
While driving, the GUI thread is woken by SDL itself (:class:`teleop.desktop.sdl.wakeup.SdlWakeup`:
a thread that waits inside SDL and signals the moment a pad event is queued), so a stick change
reaches the socket about a millisecond after SDL sees it; the periodic re-send and a change the
rate cap held back go out from one single-shot timer set to the drive model's next deadline.
Nothing runs a thousand times a second on the GUI thread. While not driving, the same thread wakes
the GUI when every pad is read from a device file it can wait on (no pad at all counts), at most
every 40 ms (the stick view's frame rate), and a 5 s timer re-reads the batteries; with a pad it
cannot wait on (a virtual one), the pads are read every 40 ms and the SDL thread is stopped.
"""

from __future__ import annotations

import logging
import math
import time

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from teleop.desktop.models.driving import DriveModel
from teleop.desktop.net.client import run_in_background
from teleop.desktop.sdl.gamepad import BATTERY_EVERY_S, GamepadManager
from teleop.desktop.sdl.wakeup import PadSource, SdlWakeup, WaitMode
from teleop.desktop.session.teleop_model import TeleopModel

log = logging.getLogger("teleop.desktop.gui")

#: where SDL cannot be waited on (its library not found): the old way, a poll every millisecond while driving
DRIVING_POLL_MS = 1
IDLE_POLL_MS = 40  # the stick view's frame rate: nothing needs the pad sooner while not driving
#: not driving, with the pads' files waited on: a pad still is never read, but its battery must be now and then
IDLE_BATTERY_POLL_MS = round(BATTERY_EVERY_S * 1000)


class QtAdapter(QObject):
    #: emitted by the SDL thread; queued, so :meth:`poll` runs on the GUI thread
    _sdl_event = Signal()

    def __init__(
        self, model: TeleopModel, parent: QObject | None = None, gamepads: GamepadManager | None = None, pads: PadSource | None = None
    ) -> None:
        """``gamepads``: a manager made with other mapping files (tests); by default the app's own.
        ``pads``: what the SDL thread watches (SDL's pads and their files by default; benches pass a stand-in)."""
        super().__init__(parent)
        self.model = model
        self.gamepads = gamepads or GamepadManager()
        self.gamepads.attach(model)  # pads feed the drive model; its rumble requests reach the pads
        self.wakeup = SdlWakeup(self._sdl_event.emit, source=pads)
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
        self._driving = False
        #: the deadline the timer was last set for (inf: stopped)
        self._deadline_at = math.inf
        model.drive.changed.connect(self._drive_changed)
        #: inside :meth:`poll`, which sets the deadline once at its end, however many pad events it read
        self._polling = False
        model.drive.input_changed.connect(self._input_moved)
        self._choose_reader()
        self.poll()

    @property
    def poll_interval_ms(self) -> int:
        """How often the GUI thread reads the pads on a timer (0: it does not; SDL wakes it)."""
        return self._timer.interval() if self._timer.isActive() else 0

    def _drive_changed(self, drive: DriveModel) -> None:
        if self._shut:
            return  # shutting down stops driving: no timer or thread starts again for it
        if drive.enabled != self._driving:
            self._driving = drive.enabled
            self._choose_reader()
            if drive.enabled:
                self.poll()  # an input that moved while idle goes out with the enable, not 40 ms later
        self._schedule(drive)

    def _choose_reader(self) -> None:
        """Who makes the GUI read the pads: the SDL thread while driving, and while not driving too when it can
        wait on every pad's file (paced to the stick view's rate); otherwise the timer."""
        driving = self._driving
        if driving or self.wakeup.choose_mode() is WaitMode.FILES:
            self.wakeup.pace_s = 0.0 if driving else IDLE_POLL_MS / 1000
            if self.wakeup.start():
                if driving:
                    self._timer.stop()
                else:
                    self._timer.start(IDLE_BATTERY_POLL_MS)
                return
        self.wakeup.stop()
        self._timer.start(DRIVING_POLL_MS if driving else IDLE_POLL_MS)

    def _schedule(self, drive: DriveModel) -> None:
        """The deadline timer at the drive model's next deadline (none while not driving)."""
        deadline = drive.deadline() if drive.enabled and not self._shut else math.inf
        if deadline == self._deadline_at and (math.isinf(deadline) or self._deadline.isActive()):
            return  # asked again in the same turn (a stick movement, then the poll that read it)
        self._deadline_at = deadline
        if math.isinf(deadline):
            self._deadline.stop()
            return
        self._deadline.start(max(0, math.ceil((deadline - time.monotonic()) * 1000)))

    def _input_moved(self, drive: DriveModel) -> None:
        if not self._polling:  # the keys and on-screen sticks move without SDL
            self._schedule(drive)

    def poll(self) -> None:
        """Read SDL's events into the drive model and send what its timing says is due."""
        polling, self._polling = self._polling, True  # a pad button that enables driving polls again, inside
        try:
            result = self.gamepads.pump()
        finally:
            self._polling = polling
            self.wakeup.rearm()
            self._schedule(self.model.drive)  # even if the read failed part way: what it did read goes out
        if (result.added or result.removed) and not self._driving and not self._shut:
            self._choose_reader()  # a pad without a file needs the 40 ms timer; once it is gone, the wait will do

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
