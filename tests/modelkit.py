"""The desktop models with a fake session and a fake clock: what the model, pad and SDL tests build on."""

from __future__ import annotations

from teleop.desktop.models.appsettings import AppSettings
from teleop.desktop.models.connection import ConnectionState, Problem
from teleop.desktop.models.shaping import AxisShape
from teleop.desktop.session.teleop_model import TeleopModel
from teleop.wire import protocol
from teleop.wire.protocol import Control, Role


class FakeSession:
    """What the model needs of a ClientSession: its state, and what was sent."""

    def __init__(self) -> None:
        self.role = Role.OBSERVER
        self.legacy = False
        self.problem = Problem.NONE
        self.state = ConnectionState.CONNECTING
        self.sent: list[Control] = []
        self.estops: list[bool] = []
        self.requests: list[bool] = []

    @property
    def connected(self) -> bool:
        return self.state is ConnectionState.CONNECTED

    def send_control(self, control: Control) -> None:
        self.sent.append(control)

    def emergency_stop(self, engaged: bool = True) -> None:
        self.estops.append(engaged)

    def request_control(self, takeover: bool = False) -> None:
        self.requests.append(takeover)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def connected_model(role: Role = Role.PILOT) -> tuple[TeleopModel, FakeSession, Clock, list]:
    clock = Clock()
    model = TeleopModel(AppSettings(axes={0: AxisShape(deadzone=0.0)}), clock=clock)
    log: list = []
    model.log.connect(log.append)
    session = FakeSession()
    model.session = session
    model.connection.server = "robot:8765"
    session.role = role
    session.state = ConnectionState.CONNECTED
    model._on_state(ConnectionState.CONNECTED, "connected")
    return model, session, clock, log


def status(estop: bool = False, failsafe: bool = False, pilot: str | None = "me") -> protocol.Status:
    return protocol.Status({"state": "ready"}, {"id": 1, "name": pilot} if pilot else None, failsafe, estop, 1)


def is_neutral(control: Control) -> bool:
    return not any(control.axes) and not any(control.buttons)
