"""The Qt side of the models: owns the timers and the gamepad poll, and nothing else.

The rules live in :mod:`teleop.desktop.models.session`; this adapter only gives them time.
Gamepads are polled every millisecond while driving (an SDL change reaches the
socket within about a millisecond) and every 40 ms otherwise: a 1 ms Python
timer costs several per cent of a core, which an idle window should not spend.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Qt, QTimer

from teleop.desktop.models.driving import DriveModel
from teleop.desktop.net.client import run_in_background
from teleop.desktop.sdl.gamepad import GamepadManager
from teleop.desktop.session.teleop_model import TeleopModel

log = logging.getLogger("teleop.desktop.gui")

DRIVING_POLL_MS = 1
IDLE_POLL_MS = 40  # the stick view's frame rate: nothing needs the pad sooner while not driving


class QtAdapter(QObject):
    def __init__(self, model: TeleopModel, parent: QObject | None = None, gamepads: GamepadManager | None = None) -> None:
        """``gamepads``: a manager made with other mapping files (tests); by default the app's own."""
        super().__init__(parent)
        self.model = model
        self.gamepads = gamepads or GamepadManager()
        self.gamepads.attach(model)  # pads feed the drive model; its rumble requests reach the pads
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(IDLE_POLL_MS)
        self._timer.timeout.connect(self.poll)
        model.drive.changed.connect(self._drive_changed)
        self._timer.start()
        self.poll()

    @property
    def poll_interval_ms(self) -> int:
        return self._timer.interval()

    def _drive_changed(self, drive: DriveModel) -> None:
        wanted = DRIVING_POLL_MS if drive.enabled else IDLE_POLL_MS
        if self._timer.interval() != wanted:
            self._timer.setInterval(wanted)
            if drive.enabled:
                self.poll()  # an input that moved while idle goes out with the enable, not 40 ms later

    def poll(self) -> None:
        """Read SDL's events into the drive model and send what its timing says is due."""
        self.gamepads.pump()

    # -- actions widgets ask for ---------------------------------------------------------------

    def connect_to(self, url: str | None = None) -> None:
        run_in_background(self.model.connect(url))

    def disconnect(self) -> None:
        run_in_background(self.model.disconnect())

    async def shutdown(self) -> None:
        self._timer.stop()
        await self.model.shutdown()
        self.gamepads.close()
