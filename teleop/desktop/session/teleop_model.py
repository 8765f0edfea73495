"""The model behind the whole window: one live connection, the video stream and the sub-models each widget shows."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from teleop.common.events import Event
from teleop.desktop.models.actions import Action, Fired
from teleop.desktop.models.appsettings import AppSettings, ServerAddress, config_dir, parse_address, server_url
from teleop.desktop.models.connection import (
    ConnectionModel,
    ConnectionState,
    LogLevel,
    LogLine,
    Problem,
    ServerStatus,
    event_log_level,
    plain_message,
)
from teleop.desktop.models.drive import DriveSettings
from teleop.desktop.models.driving import DriveModel, DriveOff
from teleop.desktop.models.padhealth import StaleSettings
from teleop.desktop.models.pads import Buzz
from teleop.desktop.models.readings import ReadingsModel
from teleop.desktop.models.readpace import ReadPace
from teleop.desktop.models.shaping import AxisShape
from teleop.desktop.models.snapshot import save_snapshot
from teleop.desktop.net.client import ClientSession, SessionEvents, trust_context
from teleop.desktop.session.video_model import VideoModel
from teleop.wire import protocol
from teleop.wire.protocol import Control, Role

log = logging.getLogger(__name__)

#: the window's log levels in the app's log (the connection's own lines are logged where they happen)
_LOGGING_LEVELS = {LogLevel.INFO: logging.INFO, LogLevel.WARNING: logging.WARNING, LogLevel.ERROR: logging.ERROR}


class TeleopModel:
    """The app without its window: the three sub-models and the connection that feeds them."""

    def __init__(self, settings: AppSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.connection = ConnectionModel()
        self.drive = DriveModel(self._drive_settings(), self._send, clock)
        self.drive.profiles = settings.pads
        self.drive.rumble_enabled = settings.rumble
        self.drive.stale.settings = StaleSettings(settings.stale_pad_s)
        self.readings = ReadingsModel()
        self.video = VideoModel()
        self.session: ClientSession | None = None
        #: ``teleop --demo``: the bundled server's address with its token. Both last one run, so connecting
        #: to it again takes them from here, and it is never saved with the user's servers.
        self.demo_url: str | None = None
        self.log: Event[LogLine] = Event()
        #: we asked the server to engage / lift its emergency stop and have not yet seen it say so
        self._estop_asked: bool | None = None
        self._logged_problem: tuple[ConnectionState, Problem] | None = None
        #: where camera snapshots go
        self.snapshot_dir: Path = config_dir() / "snapshots"
        #: a pad button started recording and has not stopped it (the next press stops)
        self.recording = False
        #: how many seconds "save the last seconds" keeps
        self.clip_seconds = 30.0
        self.drive.fired.connect(self._pad_action)

    def _drive_settings(self) -> DriveSettings:
        return DriveSettings(rate_hz=self.settings.rate_hz, default_shape=AxisShape(), shapes=self.settings.shapes())

    def say(self, level: LogLevel, text: str) -> None:
        """A line for the window's log, also written to the app's own log (what ``teleop -v`` prints)."""
        log.log(_LOGGING_LEVELS.get(level, logging.DEBUG), "%s", text)
        self.log.emit(LogLine(level, text))

    def apply_settings(self, settings: AppSettings) -> bool:
        """New settings from the dialog; True if the connection must be remade (address or token changed)."""
        keys = ("host", "port", "tls", "token", "cafile")
        reconnect = any(getattr(settings, k) != getattr(self.settings, k) for k in keys)
        self.settings = settings
        self.drive.profiles = settings.pads
        self.drive.rumble_enabled = settings.rumble
        self.drive.stale.settings = StaleSettings(settings.stale_pad_s)
        self.drive.set_settings(self._drive_settings())
        return reconnect and self.session is not None

    # -- connection -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return server_url(self.settings.host, self.settings.port, self.settings.tls)

    async def connect(self, url: str | None = None) -> None:
        await self.disconnect()
        url = url or self.url
        address = parse_address(url)
        token = (address.token if not isinstance(address, str) else "") or self.settings.token
        server = f"{address.host}:{address.port}" if not isinstance(address, str) else url
        try:
            context = trust_context(self.settings.cafile) if url.startswith("wss:") and self.settings.cafile else None
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            why = getattr(exc, "strerror", None) or exc
            self._connection_update(state=ConnectionState.FAILED, message=f"Cannot use the certificate file {self.settings.cafile}: {why}")
            return
        self.readings.from_server(server)
        self.connection.server = server
        self.connection.refused = ""
        events = SessionEvents(state=self._on_state, message=self._on_message, legacy_text=self._on_legacy, rtt=self._on_rtt)
        # the lines the robot sent its device (outputs, ten a second while driving) are for dashboards: this
        # window does not show them, and decoding them only to drop them cost the GUI thread a wakeup each
        self.session = ClientSession(
            url,
            events,
            name="teleop-gui",
            role=Role.PILOT,
            token=token or None,
            ssl_context=context,
            skip=(protocol.MessageType.OUTPUTS,),
            input_kind=lambda: self.drive.input_kind,
            read_pace=ReadPace(),  # the readings are read at the pace they are shown: each read is a wakeup
            driving=lambda: self.drive.enabled,
        )
        self.video.link(self.session.url, token or None, context, self.session.clock)
        self.session.start()

    async def disconnect(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            was_driving = self.drive.enabled
            self.drive.set_blocked(DriveOff.NOT_CONNECTED)
            if was_driving:  # a reconnect to another address, or Disconnect while driving: said, as every other way off
                self.say(LogLevel.INFO, f"driving off: {DriveOff.NOT_CONNECTED}")
            await session.stop()
            self._on_state_of(session, ConnectionState.DISCONNECTED, "disconnected")
            self.video.close()

    def demo_address(self, address: ServerAddress) -> str | None:
        """The demo server's whole address (its token in it) if ``address`` is that server; else None."""
        demo = parse_address(self.demo_url) if self.demo_url else None
        if isinstance(demo, ServerAddress) and (demo.host, demo.port) == (address.host, address.port):
            return self.demo_url
        return None

    def request_control(self, takeover: bool = True) -> None:
        if self.session is not None and self.session.connected:
            self.session.request_control(takeover)
            self.say(LogLevel.INFO, "asked to take control" if takeover else "asked for control")

    def enable_driving(self) -> bool:
        """Enable driving (clearing an emergency stop this pilot may lift); False, with the reason shown, if not possible."""
        engaged = self.connection.status.estop or self._estop_asked is True  # the server may not have said so yet
        if self.drive.blocked is None and engaged and self.session is not None:
            self.session.emergency_stop(False)
            self._estop_asked = False
        ok = self.drive.enable()
        if ok:
            self.say(LogLevel.INFO, "driving enabled")
        else:
            self.say(LogLevel.WARNING, f"cannot enable driving: {self.drive.blocked}")
        return ok

    def disable_driving(self, why: DriveOff = DriveOff.BY_USER) -> None:
        was = self.drive.enabled
        self.drive.disable(why)
        if was:
            self.say(LogLevel.INFO if why is DriveOff.BY_USER else LogLevel.WARNING, f"driving off: {why}")

    def emergency_stop(self) -> None:
        """Neutral at once, driving off, and the server holds every client off until a pilot re-enables."""
        self.drive.disable(DriveOff.EMERGENCY_STOP)
        if self.session is not None and self.session.connected:
            self.session.emergency_stop(True)
            self._estop_asked = True
        self.say(LogLevel.WARNING, "EMERGENCY STOP")

    def snapshot(self) -> Path | None:
        """Save the newest camera frame with its capture time; None (and said why) if there is none or it cannot be written."""
        frame = self.video.latest
        if frame is None:
            self.say(LogLevel.WARNING, "snapshot: no camera picture yet")
            return None
        try:
            path = save_snapshot(frame, self.snapshot_dir, self.video.capture_on_our_clock(frame), time.time())
        except OSError as exc:
            self.say(LogLevel.ERROR, f"snapshot not saved: {exc.strerror or exc}")
            return None
        self.say(LogLevel.INFO, f"snapshot saved: {path}")
        return path

    def record(self, command: protocol.RecordCommand) -> None:
        if self.session is None or not self.session.connected:
            self.say(LogLevel.WARNING, f"record {command.value}: not connected")
            return
        self.session.record(command)
        self.say(LogLevel.INFO, f"asked the robot to record: {command.value}")

    def save_clip(self, seconds: float) -> None:
        """The robot saves the last ``seconds`` it keeps in memory (its snapshot) to a file."""
        if self.session is None or not self.session.connected:
            self.say(LogLevel.WARNING, "save the last seconds: not connected")
            return
        self.session.save_snapshot(seconds)
        self.say(LogLevel.INFO, f"asked the robot to save its last {seconds:.0f} s")

    def steer_replay(self, action: str, position: float | None = None, speed: float | None = None) -> None:
        """Play, pause, seek (seconds from the start) or set the speed of the server's replay."""
        if self.session is None or not self.session.connected or self.connection.status.replay is None:
            self.say(LogLevel.WARNING, f"replay {action}: the server is not replaying a recording")
            return
        self.session.steer_replay(action, position, speed)

    def _pad_action(self, fired: Fired) -> None:
        """A pad button's action (speed actions never get here: the drive model handles them)."""
        if not fired.down:
            return
        action = fired.action
        if action is Action.ESTOP:
            self.emergency_stop()
        elif action is Action.ENABLE:
            self.enable_driving()
        elif action is Action.TAKE_CONTROL:
            self.request_control(True)
        elif action is Action.SNAPSHOT:
            self.snapshot()
        elif action is Action.RECORD:
            self.recording = not self.recording
            self.record(protocol.RecordCommand.START if self.recording else protocol.RecordCommand.STOP)
        elif action is Action.MARK:
            self.record(protocol.RecordCommand.MARK)
        elif action is Action.SAVE_CLIP:
            self.save_clip(self.clip_seconds)

    async def shutdown(self) -> None:
        self.disable_driving(DriveOff.CLOSING)
        await self.disconnect()

    def _send(self, control: Control) -> None:
        if self.session is not None and self.session.connected:
            self.session.send_control(control)

    # -- session callbacks ---------------------------------------------------------------------

    def _on_state(self, state: ConnectionState, detail: str) -> None:
        if self.session is not None:
            self._on_state_of(self.session, state, detail)

    def _on_state_of(self, session: ClientSession, state: ConnectionState, detail: str) -> None:
        connection = self.connection
        if state is not ConnectionState.CONNECTED and connection.state is ConnectionState.CONNECTED:
            self.readings.link_lost()
            connection.status_stale = True
            if state is not ConnectionState.DISCONNECTED:  # dropped, not closed by the user
                self.drive.buzz(Buzz.LINK_LOST)
        if state is ConnectionState.CONNECTED:
            connection.status_stale = False
        self.video.set_connected(state is ConnectionState.CONNECTED and not session.legacy)
        key = (state, session.problem)
        if key != self._logged_problem:  # one log line per change of trouble, not per retry
            self._logged_problem = key
            self.say(LogLevel.LINK, detail or state.value)  # the detail, in full: the bar shows the plain words
        connection.legacy = session.legacy
        replay = connection.status.replay.file if connection.status.replay is not None and state is ConnectionState.CONNECTED else ""
        self._connection_update(
            state=state, problem=session.problem, message=plain_message(state, session.problem, connection.server, replay)
        )
        if state is not ConnectionState.CONNECTED:
            connection.rtt_ms = None
            connection.rtt_changed.emit(None)

    def _connection_update(self, **fields: Any) -> None:
        connection = self.connection
        for name, value in fields.items():
            setattr(connection, name, value)
        session = self.session
        if session is not None:
            connection.role = session.role
        if not connection.connected:
            connection.role = Role.OBSERVER
        if connection.pilot:
            connection.refused = ""
        was_driving = self.drive.enabled
        self.drive.set_blocked(self._why_blocked())
        if was_driving and not self.drive.enabled:
            self.say(LogLevel.WARNING, f"driving off: {self.drive.off_reason}")
        connection.changed.emit(connection)

    def _why_blocked(self) -> DriveOff | None:
        connection = self.connection
        if not connection.connected:
            return DriveOff.LINK_LOST if self.drive.enabled else DriveOff.NOT_CONNECTED
        if not connection.pilot:
            return DriveOff.TAKEN_OVER if self.drive.enabled else DriveOff.NOT_PILOT
        return None

    def _on_rtt(self, ms: float) -> None:
        self.connection.rtt_ms = ms
        self.connection.rtt_changed.emit(ms)

    def _on_legacy(self, text: str) -> None:
        self.say(LogLevel.LEGACY, text.strip())

    def _on_message(self, message: protocol.ServerMessage) -> None:
        if isinstance(message, protocol.Reading):
            self.readings.add(message.t, message.values)
            return
        if isinstance(message, protocol.Event):
            self._server_event(message)  # logged; the connection's state is as it was
            return
        if not isinstance(message, (protocol.Welcome, protocol.Status, protocol.Error)):
            return  # the lines sent to the device (Outputs), from a server that predates hello's skip: not shown here
        if isinstance(message, protocol.Welcome):
            self.readings.units = dict(message.units)
            self.readings.snapshot(time.time(), message.readings)
            self._apply_status(message.status)
            self.say(LogLevel.INFO, f"connected to {message.server} as {message.role.value}")
        elif isinstance(message, protocol.Status):
            self._apply_status(message)
        elif isinstance(message, protocol.Error):
            self.say(self._error_level(message), f"server: {message.message}")
            if message.code in (protocol.ErrorCode.UNAUTHORIZED, protocol.ErrorCode.PILOT_BUSY):
                self.connection.refused = message.message
        self._connection_update()

    def _error_level(self, error: protocol.Error) -> LogLevel:
        """How loud a refusal is. A control refused for what this window already shows (another pilot took over,
        the emergency stop is on) was on its way when that news came: the news was said, the refusal is not an error.
        Nor is a control refused because the server is stopping: the server said so first, in an event of its own.
        """
        codes = protocol.ErrorCode
        news = (
            (error.code is codes.NOT_PILOT and not self.connection.pilot)
            or (error.code is codes.ESTOP_ACTIVE and self.connection.status.estop)
            or error.code is codes.SERVER_STOPPING
        )
        return LogLevel.INFO if news and error.ref == "control" else LogLevel.ERROR

    def _server_event(self, event: protocol.Event) -> None:
        self.say(event_log_level(event, driving=self.drive.enabled), event.text)

    def _apply_status(self, status: protocol.Status) -> None:
        new = ServerStatus.from_message(status)
        old = self.connection.status
        if new.estop and not old.estop:
            self.drive.buzz(Buzz.ESTOP)
        elif new.failsafe and not old.failsafe and self.drive.enabled and not new.estop:
            self.drive.buzz(Buzz.FAILSAFE)
        # the echo of our own stop, already lifted by a quick re-enable, is not someone else's stop
        echo = self._estop_asked is False
        if new.estop and not self.connection.status.estop and self.drive.enabled and not echo:
            self.disable_driving(DriveOff.STOPPED_ELSEWHERE)
        if new.estop == self._estop_asked:
            self._estop_asked = None
        self.connection.status = new
        if (new.replay is None) != (old.replay is None):  # the connection bar says whether this is the robot or a replay
            connection = self.connection
            replay = new.replay.file if new.replay is not None else ""
            connection.message = plain_message(connection.state, connection.problem, connection.server, replay)
        if new.speed_cap != old.speed_cap:
            self.drive.set_speed_cap(new.speed_cap)
            if new.speed_cap < 1.0:
                self.say(LogLevel.WARNING, f"the robot caps speed at {new.speed_cap:.0%} of each output's travel")
        self.video.set_camera(status.camera)
