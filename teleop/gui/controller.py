"""The GUI's model: wires gamepads, stick shaping, the drive timing and the connection together.

Widgets receive this object in their constructor, listen to its signals and act
through its methods; none of them touches pygame or the socket directly.
Gamepads are polled from a 1 ms precise timer: an empty SDL poll costs about a
microsecond, and input events arrive at up to 1 kHz, so this adds no latency.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from teleop import protocol
from teleop.appsettings import AppSettings, parse_address, server_url
from teleop.client import ClientSession, ConnectionState, SessionEvents, run_in_background, trust_context
from teleop.drive import DriveController, DriveSettings
from teleop.gamepad import GamepadInfo, GamepadManager
from teleop.protocol import Control, Role
from teleop.readings import ReadingsStore
from teleop.shaping import AxisShape

log = logging.getLogger("teleop.gui")

VIRTUAL_AXES = 4
POLL_INTERVAL_MS = 1


class TeleopController(QObject):
    connectionChanged = Signal(str, str)  # state, detail
    rttChanged = Signal(float)
    roleChanged = Signal(str)
    statusChanged = Signal(dict)
    readingsChanged = Signal(list)  # names seen for the first time
    eventLogged = Signal(str, str)  # level, text
    gamepadsChanged = Signal()
    inputChanged = Signal()
    drivingChanged = Signal(bool, str)  # enabled, reason
    legacyText = Signal(str)
    outputsChanged = Signal(dict)
    #: why the server refused this client (a missing or wrong token); "" once it is pilot
    accessRefused = Signal(str)

    def __init__(self, settings: AppSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.readings = ReadingsStore()
        self.drive = DriveController(self._drive_settings())
        self.gamepads = GamepadManager()
        self.selected: int | None = None  # instance id of the gamepad in use; None = virtual stick/keyboard
        self.virtual_axes = [0.0] * VIRTUAL_AXES
        self.virtual_buttons = [0] * 8
        self.session: ClientSession | None = None
        self.status: dict[str, Any] = {}
        self.role = Role.OBSERVER
        self.estop_engaged = False
        self.sent_count = 0
        self._last_state = ""
        self._poll_timer = QTimer(self)
        self._poll_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._poll_timer.setInterval(POLL_INTERVAL_MS)
        self._poll_timer.timeout.connect(self.poll)
        self._poll_timer.start()

    # -- settings ----------------------------------------------------------------------

    def _drive_settings(self) -> DriveSettings:
        return DriveSettings(rate_hz=self.settings.rate_hz, default_shape=AxisShape(), shapes=self.settings.shapes())

    def apply_settings(self, settings: AppSettings) -> None:
        """New settings from the dialog; reconnects only if the address or token changed."""
        reconnect = (settings.host, settings.port, settings.tls, settings.token, settings.cafile) != (
            self.settings.host,
            self.settings.port,
            self.settings.tls,
            self.settings.token,
            self.settings.cafile,
        )
        self.settings = settings
        self.drive.settings = self._drive_settings()
        self._choose_gamepad()
        if reconnect and self.session is not None:
            run_in_background(self.connect_to_server())

    # -- connection ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return server_url(self.settings.host, self.settings.port, self.settings.tls)

    async def connect_to_server(self, url: str | None = None) -> None:
        await self.disconnect_from_server()
        events = SessionEvents(
            state=self._on_state,
            message=self._on_message,
            legacy_text=self.legacyText.emit,
            rtt=self.rttChanged.emit,
        )
        url = url or self.url
        address = parse_address(url)
        token = (address.token if not isinstance(address, str) else "") or self.settings.token
        try:
            context = trust_context(self.settings.cafile) if url.startswith("wss:") and self.settings.cafile else None
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            self.connectionChanged.emit(
                "failed", f"cannot use the certificate file {self.settings.cafile}: {getattr(exc, 'strerror', None) or exc}"
            )
            return
        self.accessRefused.emit("")
        self.session = ClientSession(url, events, name="teleop-gui", role=Role.PILOT, token=token or None, ssl_context=context)
        self.session.start()

    async def disconnect_from_server(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            self.set_driving(False, "disconnected")
            await session.stop()

    def request_control(self, takeover: bool = False) -> None:
        if self.session:
            self.session.request_control(takeover)

    def _on_state(self, state: ConnectionState, detail: str) -> None:
        if state is not ConnectionState.CONNECTED and self.drive.enabled:
            self.set_driving(False, "link lost")
        self.connectionChanged.emit(state.value, detail)
        self._update_role()

    def _update_role(self) -> None:
        role = self.session.role if self.session else Role.OBSERVER
        if self.session and self.session.legacy and self.session.connected:
            role = Role.PILOT
        if role is not self.role:
            self.role = role
            if role is Role.PILOT:
                self.accessRefused.emit("")
            if role is not Role.PILOT and self.drive.enabled:
                self.set_driving(False, "another client took control")
            self.roleChanged.emit(role.value)

    def _on_message(self, message: protocol.ServerMessage) -> None:
        if isinstance(message, protocol.Reading):
            new = self.readings.add(message.t, message.values)
            self.readingsChanged.emit(new)
        elif isinstance(message, protocol.Welcome):
            new = self.readings.snapshot(time.time(), message.readings)
            self._apply_status(message.status)
            self.readingsChanged.emit(new)
            self.eventLogged.emit("info", f"connected to {message.server} as {message.role.value}")
        elif isinstance(message, protocol.Status):
            self._apply_status(protocol.to_dict(message))
        elif isinstance(message, protocol.Event):
            self.eventLogged.emit(message.level, message.text)
        elif isinstance(message, protocol.Error):
            self.eventLogged.emit("error", f"server: {message.message}")
            if message.code == protocol.ErrorCode.UNAUTHORIZED:
                self.accessRefused.emit(message.message)
        elif isinstance(message, protocol.Outputs):
            self.outputsChanged.emit(message.lines)
        self._update_role()

    def _apply_status(self, status: dict[str, Any]) -> None:
        self.status = status
        estop = bool(status.get("estop"))
        if estop and not self.estop_engaged and self.drive.enabled:
            self.set_driving(False, "emergency stop engaged")
        self.estop_engaged = estop
        self.statusChanged.emit(status)

    # -- driving -------------------------------------------------------------------------

    def set_driving(self, enabled: bool, reason: str = "") -> None:
        now = time.monotonic()
        if enabled:
            if self.session is None or not self.session.connected:
                self.drivingChanged.emit(False, "not connected")
                return
            if self.role is not Role.PILOT:
                self.request_control(takeover=False)
            if self.estop_engaged:
                self.session.emergency_stop(False)
            self._send(self.drive.enable(now))
            self.drivingChanged.emit(True, reason or "enabled")
            self.eventLogged.emit("info", "driving enabled")
        else:
            neutral = self.drive.disable(now)
            if neutral is not None:
                self._send(neutral)
                self.drivingChanged.emit(False, reason or "disabled")
                self.eventLogged.emit("warning" if reason not in ("", "disabled") else "info", f"driving disabled: {reason or 'by user'}")

    def emergency_stop(self) -> None:
        """Neutral at once, driving off, and the server holds every client off until re-enabled."""
        self.set_driving(False, "emergency stop")
        if self.session is not None and self.session.connected:
            self.session.emergency_stop(True)
        self.eventLogged.emit("warning", "EMERGENCY STOP")

    def _send(self, control: Control) -> None:
        if self.session is not None and self.session.connected:
            self.session.send_control(control)
            self.sent_count += 1

    # -- input ---------------------------------------------------------------------------

    def set_virtual_axis(self, index: int, value: float) -> None:
        if 0 <= index < VIRTUAL_AXES:
            self.virtual_axes[index] = max(-1.0, min(1.0, value))
            if self.selected is None:
                self._input_changed(time.monotonic())

    def set_virtual_button(self, index: int, pressed: bool) -> None:
        if 0 <= index < len(self.virtual_buttons):
            self.virtual_buttons[index] = int(pressed)
            if self.selected is None:
                self._input_changed(time.monotonic())

    def select_gamepad(self, instance_id: int | None) -> None:
        if instance_id == self.selected:
            return
        self.selected = instance_id
        if instance_id is not None:
            self.settings.gamepad = self.gamepads.infos[instance_id].guid
        self.gamepadsChanged.emit()
        self._input_changed(time.monotonic())

    def current_input(self) -> tuple[list[float], list[int], list[tuple[int, int]]]:
        if self.selected is not None and self.selected in self.gamepads.states:
            state = self.gamepads.states[self.selected]
            return state.axes, state.buttons, state.hats
        return self.virtual_axes, self.virtual_buttons, []

    def gamepad_infos(self) -> list[GamepadInfo]:
        return list(self.gamepads.infos.values())

    def _choose_gamepad(self) -> None:
        if self.selected in self.gamepads.infos:
            return
        preferred = [i for i in self.gamepads.infos.values() if i.guid == self.settings.gamepad]
        candidates = preferred or list(self.gamepads.infos.values())
        self.select_gamepad(candidates[0].instance_id if candidates else None)

    def poll(self) -> None:
        """Called every millisecond: read SDL events, send what the drive timing says."""
        now = time.monotonic()
        result = self.gamepads.poll()
        if result.removed:
            if self.selected in result.removed:
                self.selected = None
                if self.drive.enabled:
                    self.set_driving(False, "gamepad unplugged")
                self._input_changed(now)
            for instance_id in result.removed:
                self.eventLogged.emit("warning", f"gamepad #{instance_id} unplugged")
            self.gamepadsChanged.emit()
        if result.added:
            for info in result.added:
                self.eventLogged.emit(
                    "info", f"gamepad connected: {info.name} ({info.axes} axes, {info.buttons} buttons, {info.hats} hats)"
                )
            self.gamepadsChanged.emit()
            self._choose_gamepad()
        if self.selected is not None and self.selected in result.changed:
            self._input_changed(now)
        elif now >= self.drive.deadline():
            control = self.drive.poll(now)
            if control is not None:
                self._send(control)

    def _input_changed(self, now: float) -> None:
        axes, buttons, hats = self.current_input()
        control = self.drive.set_input(axes, buttons, hats, now)
        if control is not None:
            self._send(control)
        self.inputChanged.emit()

    async def shutdown(self) -> None:
        self._poll_timer.stop()
        await self.disconnect_from_server()
        self.gamepads.close()
