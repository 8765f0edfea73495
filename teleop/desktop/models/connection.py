"""Where we are connected, as what, and why not: the connection bar's model and the log's lines."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from teleop.common.events import Event
from teleop.wire.protocol import Event as ServerEvent
from teleop.wire.protocol import EventKind, Role, Status

log = logging.getLogger(__name__)


class ConnectionState(StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    FAILED = "failed"


class Problem(StrEnum):
    """Why the session is not connected, for a plain-words message; the detail goes to the log."""

    NONE = "none"
    REFUSED = "refused"  # nothing listens at that port
    UNKNOWN_HOST = "unknown_host"
    TIMEOUT = "timeout"
    LOST = "lost"
    CLOSED = "closed"
    NOT_ALLOWED = "not_allowed"  # the server closed with a policy violation (token, origin)
    BUSY = "busy"
    TLS_UNTRUSTED = "tls_untrusted"
    TLS = "tls"
    BAD_ADDRESS = "bad_address"
    OTHER = "other"


class LogLevel(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    LINK = "link"
    LEGACY = "legacy"


@dataclass(frozen=True)
class LogLine:
    level: LogLevel
    text: str


def event_log_level(event: ServerEvent, driving: bool) -> LogLevel:
    """How loud a server event is in the log: its level, from its ``level`` and ``kind``, never its words.

    The server's failsafe holds the outputs at neutral whenever no pilot is sending:
    that is the normal idle state of a robot nobody drives, so it is news, not a
    warning, unless we were driving.
    """
    if event.kind is EventKind.FAILSAFE and not driving:
        return LogLevel.INFO
    return LogLevel(event.level.value)


def plain_message(state: ConnectionState, problem: Problem, server: str, replay: str = "") -> str:
    """What a hobbyist reads in the connection bar; the technical detail goes to the log.

    ``replay``: the file the server plays instead of driving a robot (``teleop-server --replay``).
    """
    if state is ConnectionState.CONNECTED:
        return f"Connected to {server}: REPLAY of {replay}, no robot is driven" if replay else f"Connected to {server}"
    if state is ConnectionState.CONNECTING:
        return f"Connecting to {server}…"
    if state is ConnectionState.DISCONNECTED:
        return "Not connected"
    again = "trying again" if state is ConnectionState.RECONNECTING else "gave up"
    return {
        Problem.REFUSED: f"No teleop server at {server} (is it running?); {again}",
        Problem.UNKNOWN_HOST: f"Cannot find {server.rpartition(':')[0] or server} on the network; {again} every few seconds",
        Problem.TIMEOUT: f"{server} does not answer; {again}",
        Problem.LOST: f"Lost the connection to {server}; {again}",
        Problem.CLOSED: f"{server} closed the connection; {again}",
        Problem.NOT_ALLOWED: f"{server} does not let this app in (see the log); {again}",
        Problem.BUSY: f"{server} is busy; {again}",
        Problem.TLS_UNTRUSTED: f"{server}'s certificate is not trusted: choose its certificate file in Settings",
        Problem.TLS: f"Secure connection to {server} failed (see the log); {again}",
        Problem.BAD_ADDRESS: f"{server} is not a usable address",
    }.get(problem, f"Cannot reach {server} (see the log); {again}")


@dataclass(frozen=True)
class ReplayState:
    """The server plays a recording instead of driving a robot (``teleop-server --replay``)."""

    file: str = ""
    position: float = 0.0
    duration: float = 0.0
    playing: bool = False
    speed: float = 1.0

    @classmethod
    def from_message(cls, replay: Any) -> ReplayState | None:
        if not isinstance(replay, dict):
            return None

        def number(key: str, default: float) -> float:
            value = replay.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                return default
            return float(value)

        return cls(
            str(replay.get("file", ""))[:200],
            number("position", 0.0),
            number("duration", 0.0),
            bool(replay.get("playing")),
            number("speed", 1.0),
        )

    def describe(self) -> str:
        """What the connection bar says: this is a replay, of what, where and how fast."""
        state = "playing" if self.playing else "paused"
        speed = f" at {self.speed:g}x" if self.playing and self.speed != 1.0 else ""
        return f"REPLAY of {self.file or '?'}: {self.position:.1f} s of {self.duration:.1f} s, {state}{speed}"


@dataclass(frozen=True)
class ServerStatus:
    """What the server says about the robot, as the window shows it."""

    device: str = ""
    failsafe: bool = False
    estop: bool = False
    pilot: str = ""
    clients: int = 0
    #: the most of each output's travel any client may drive now (the server's cap; 1.0: none)
    speed_cap: float = 1.0
    #: what the pilot drives with ("gamepad", "touch", "keyboard"; "" if it did not say)
    pilot_input: str = ""
    #: set when the server plays a recording: nothing is driven, the readings are the file's
    replay: ReplayState | None = None
    #: some client is the pilot (its name may be empty)
    has_pilot: bool = False

    @classmethod
    def from_message(cls, status: Status) -> ServerStatus:
        pilot = status.pilot.name if status.pilot else ""
        pilot_input = status.pilot.input if status.pilot else ""
        replay = ReplayState.from_message(status.replay)
        return cls(
            status.serial.state,
            status.failsafe,
            status.estop,
            pilot,
            status.clients,
            status.speed_cap,
            pilot_input,
            replay,
            has_pilot=status.pilot is not None,
        )


class ConnectionModel:
    """Where we are connected, as what, and why not: state, role, plain message, refusal, RTT, server status."""

    def __init__(self) -> None:
        self.state = ConnectionState.DISCONNECTED
        self.problem = Problem.NONE
        self.role = Role.OBSERVER
        self.legacy = False
        self.server = ""
        self.message = "Not connected"
        #: why the server refused the pilot role (missing or wrong token); "" when it did not
        self.refused = ""
        self.rtt_ms: float | None = None
        self.status = ServerStatus()
        #: the status is from a connection that has dropped
        self.status_stale = False
        self.changed: Event[ConnectionModel] = Event()
        self.rtt_changed: Event[float | None] = Event()

    @property
    def connected(self) -> bool:
        return self.state is ConnectionState.CONNECTED

    @property
    def pilot(self) -> bool:
        return self.connected and (self.role is Role.PILOT or self.legacy)

    @property
    def another_drives(self) -> bool:
        """Another client is the robot's pilot: this app's emergency stop may be what stops it."""
        return self.connected and not self.pilot and self.status.has_pilot
