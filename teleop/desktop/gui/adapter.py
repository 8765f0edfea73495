"""The Qt side of the models: owns the timers and the gamepad poll, and nothing else.

The rules live in :mod:`teleop.desktop.session` and :mod:`teleop.desktop.models`; this adapter only gives them time.
On Linux, where SDL reads every pad from a device file, the GUI's own event loop sleeps on those
files (:class:`teleop.desktop.sdl.filewatch.PadFileWatch`) and reads the pads the moment one has
news, so a stick change reaches the socket about a millisecond after the pad sent it, for one wakeup
of one thread. A pad with no file (SDL's virtual joysticks, other systems) is heard only by SDL's own
wait: while driving, a thread waits inside SDL and signals the GUI the moment a pad event is queued
(:class:`teleop.desktop.sdl.wakeup.SdlWakeup`). The periodic re-send and a change the rate cap held
back go out from one single-shot timer set to the drive model's next deadline. Nothing runs a
thousand times a second on the GUI thread. While not driving, the pads are read at a pace
(:mod:`teleop.desktop.models.padpace`: every 40 ms while another client is the pilot or the pad is in
someone's hands, every 100 ms otherwise) and a 5 s timer re-reads the batteries; with a pad that has
no file, the pads are read on a timer at that pace and no thread runs.
"""

from __future__ import annotations

import logging
import math
import time

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from teleop.desktop.models.driving import DriveModel
from teleop.desktop.net.client import run_in_background
from teleop.desktop.sdl.filewatch import PadFileWatch
from teleop.desktop.sdl.gamepad import BATTERY_EVERY_S, GamepadManager, PollResult
from teleop.desktop.sdl.padsource import PadSource, WaitMode, choose_wait, sdl_source
from teleop.desktop.sdl.wakeup import SdlWakeup
from teleop.desktop.session.teleop_model import TeleopModel

log = logging.getLogger("teleop.desktop.gui")

#: where SDL cannot be waited on (its library not found): a poll every millisecond while driving
DRIVING_POLL_MS = 1
#: not driving, with the pads' files waited on: a pad still is never read, but its battery must be now and then
IDLE_BATTERY_POLL_MS = round(BATTERY_EVERY_S * 1000)


class QtAdapter(QObject):
    #: emitted by the SDL thread; queued, so :meth:`poll` runs on the GUI thread
    _sdl_event = Signal()

    def __init__(
        self, model: TeleopModel, parent: QObject | None = None, gamepads: GamepadManager | None = None, pads: PadSource | None = None
    ) -> None:
        """``gamepads``: a manager made with other mapping files (tests); by default the app's own.
        ``pads``: what is waited on (SDL's pads and their files by default; benches pass a stand-in)."""
        super().__init__(parent)
        self.model = model
        self.gamepads = gamepads or GamepadManager()
        self.gamepads.attach(model)  # pads feed the drive model; its rumble requests reach the pads
        self._pads = pads if pads is not None else sdl_source()
        #: the pads' files, waited on by this thread's own loop (Linux)
        self.pad_files = PadFileWatch(self._read_for_files, source=self._pads, failed=self._files_failed)
        #: False once the file wait broke: SDL's wait or the timers read the pads from then on
        self._files_usable = True
        #: SDL's own wait on a thread, for a pad with no file while driving
        self.wakeup = SdlWakeup(self._sdl_event.emit, source=self._pads)
        self._sdl_event.connect(self.poll, Qt.ConnectionType.QueuedConnection)
        self._timer = QTimer(self)  # the idle poll (or, without SDL's wait, the fast one)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
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
        model.connection.changed.connect(self._connection_changed)  # another pilot: the pads are read sooner
        self._choose_reader()
        self.poll()

    @property
    def poll_interval_ms(self) -> int:
        """How often the GUI thread reads the pads on a timer (0: it does not; a pad's file or SDL wakes it)."""
        return self._timer.interval() if self._timer.isActive() else 0

    @property
    def pad_wait(self) -> WaitMode | None:
        """How the pads are waited on now (None: only read on the timer)."""
        if self.pad_files.running:
            return WaitMode.FILES
        return WaitMode.SDL_LOOP if self.wakeup.running else None

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
        """Who makes the GUI read the pads: this thread's loop when every pad has a file to wait on (at a pace
        while not driving); otherwise, while driving, SDL's wait on its thread, and while not driving a timer at
        that pace."""
        driving = self._driving
        if self._files_usable and choose_wait(self._pads) is WaitMode.FILES:
            self.wakeup.stop()
            self.pad_files.pace_s = self._rest_s()
            if self.pad_files.start():  # listed again: a pad that came or went
                if driving:
                    self._timer.stop()
                else:
                    self._timer.start(IDLE_BATTERY_POLL_MS)
                return
        self.pad_files.stop()
        if driving and self.wakeup.start():
            self._timer.stop()
            return
        self.wakeup.stop()
        self._timer.start(DRIVING_POLL_MS if driving else self._rest_ms())

    def _rest_s(self) -> float:
        """How long the pads may go unread now (0 while driving)."""
        return self.model.drive.pad_rest_s(another_drives=self.model.connection.another_drives)

    def _rest_ms(self) -> int:
        return round(self._rest_s() * 1000)

    def _follow_pace(self, just_read: bool) -> None:
        """The rest between reads as the pace says now: after a read, or when another client becomes the pilot."""
        if self._driving or self._shut:
            return
        if self.pad_files.running:
            rest = self._rest_s()
            if rest != self.pad_files.pace_s:
                self.pad_files.pace_s = rest  # a rest under way ends at the new pace, from the last read
        elif not self.wakeup.running and self._timer.isActive():
            rest_ms = self._rest_ms()
            if rest_ms != self._timer.interval():
                shorter = rest_ms < self._timer.interval()
                self._timer.start(rest_ms)  # starts counting again: a shorter pace reads now, not a whole rest later
                if shorter and not just_read:
                    self.poll()

    def _connection_changed(self, _connection) -> None:
        self._follow_pace(just_read=False)

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

    def _read_for_files(self) -> bool:
        """The file wait's read: True when it found news."""
        result = self.poll()
        return bool(result.changed or result.added or result.removed)

    def _files_failed(self) -> None:
        log.warning("gamepads are read without waiting on their files from now on")
        self._files_usable = False
        if not self._shut:
            self._choose_reader()

    def poll(self) -> PollResult:
        """Read SDL's events into the drive model and send what its timing says is due."""
        polling, self._polling = self._polling, True  # a pad button that enables driving polls again, inside
        try:
            result = self.gamepads.pump()
        finally:
            self._polling = polling
            self.wakeup.rearm()
            self._schedule(self.model.drive)  # even if the read failed part way: what it did read goes out
        if (result.added or result.removed) and not self._shut:
            self._choose_reader()  # a new pad's file is waited on; a pad without one needs SDL's wait or the timer
        else:
            self._follow_pace(just_read=True)
        return result

    # -- actions widgets ask for ---------------------------------------------------------------

    def connect_to(self, url: str | None = None) -> None:
        run_in_background(self.model.connect(url))

    def disconnect(self) -> None:
        run_in_background(self.model.disconnect())

    async def shutdown(self) -> None:
        self._shut = True
        self._timer.stop()
        self._deadline.stop()
        self.pad_files.stop()
        self.wakeup.stop(wait=True)  # before SDL's pads are closed: the thread is inside SDL
        await self.model.shutdown()
        self.gamepads.close()
