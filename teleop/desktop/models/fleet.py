"""The robots on a fleet broker, as the app lists them, and the "stop every robot" round. No Qt, no I/O.

Fed every message the broker delivers under ``teleop/+/connection``, ``state``
and ``cmd/estop/ack`` (:mod:`teleop.wire.fleet`), with the time. A robot is
listed once its retained state says where to connect; ``online``/``offline``
(its last will) greys it in and out. :meth:`FleetDirectory.stop_all` starts a
round: one stop per known robot with one nonce, and each robot's
acknowledgement is recorded as it arrives, so the view can show who has stopped
and who has not answered.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from teleop.common.events import Event
from teleop.wire import fleet
from teleop.wire.fleet import EstopAck, RobotState
from teleop.wire.mdns import Robot

#: Robots a broker may make us list; a stranger publishing thousands of ids must not grow the app without end.
MAX_ROBOTS = 500
KEY_PREFIX = "broker:"


@dataclass
class FleetRobot:
    id: str
    online: bool | None = None  #: None until the connection topic said
    state: RobotState | None = None


@dataclass
class StopRound:
    """One press of "stop every robot": who it went to, and who acknowledged, how fast."""

    who: str
    nonce: str
    started: float
    robots: tuple[str, ...]
    acks: dict[str, float] = field(default_factory=dict)  #: robot id -> seconds from the press to its ack
    sent: bool = True  #: False: the broker was not connected, nothing went out
    #: when it was pressed, on the wall clock (shown with the round: one that never went out is not news later)
    pressed_at: float = field(default_factory=time.time)

    @property
    def waiting(self) -> list[str]:
        return [r for r in self.robots if r not in self.acks]

    def text(self) -> str:
        if not self.robots:
            return "no robots on the broker to stop"
        if not self.sent:
            return "not sent: the fleet broker was not connected; press again once it is"
        done = ", ".join(f"{r} ✓ {self.acks[r] * 1000:.0f} ms" for r in self.robots if r in self.acks)
        text = f"stopped {len(self.acks)} of {len(self.robots)}" + (f": {done}" if done else "")
        return text + (f"; waiting for {', '.join(self.waiting)}" if self.waiting else "")


def robot_entry(robot: FleetRobot) -> Robot | None:
    """The row the robot list shows for a broker robot, or None until its state says where to connect."""
    state = robot.state
    if state is None or not state.address:
        return None
    try:
        parts = urlsplit(state.address)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or not port:
        return None
    return Robot(
        key=KEY_PREFIX + robot.id,
        name=state.name,
        addresses=(parts.hostname,),
        port=port,
        tls=parts.scheme == "wss",
        token=state.token,
        camera=state.camera is not None,
        device=state.firmware,
        server=state.server,
        present=robot.online is not False,
        pilot=state.pilot or "nobody",
        via="broker",
    )


class FleetDirectory:
    """The broker's robots by id; emits the :class:`~teleop.wire.mdns.Robot` rows the robot list shows."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, nonces: Callable[[], str] = lambda: uuid.uuid4().hex) -> None:
        self.clock = clock
        self.nonces = nonces
        self.robots: dict[str, FleetRobot] = {}
        self.round: StopRound | None = None
        self.seen: Event[Robot] = Event()  #: a row to show or update (present or greyed)
        self.round_changed: Event[StopRound] = Event()
        #: "" while connected, else why not (for the view to say)
        self.problem = "not connected yet"

    def message(self, topic: str, payload: bytes | str | None) -> None:
        """One message from the broker; anything that is not ours is ignored."""
        parsed = fleet.parse_topic(topic)
        if parsed is None:
            return
        robot_id, kind = parsed
        if kind == fleet.ESTOP_ACK:
            self._ack(fleet.parse_ack(payload), robot_id)
            return
        if kind not in (fleet.CONNECTION, fleet.STATE):
            return
        robot = self.robots.get(robot_id)
        if robot is None:
            if len(self.robots) >= MAX_ROBOTS:
                return
            robot = self.robots[robot_id] = FleetRobot(robot_id)
        if kind == fleet.CONNECTION:
            text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else (payload or "")
            if text not in (fleet.ONLINE, fleet.OFFLINE):
                return
            robot.online = text == fleet.ONLINE
        else:
            state = fleet.parse_state(payload)
            if state is None:
                return
            robot.state = state
        entry = robot_entry(robot)
        if entry is not None:
            self.seen.emit(entry)

    def stop_all(self, who: str, *, connected: bool = True) -> tuple[StopRound, list[tuple[str, str]]]:
        """Start a round: the (topic, payload) stops to publish, one per known robot, all with one nonce."""
        targets = tuple(sorted(self.robots))
        self.round = StopRound(who, self.nonces(), self.clock(), targets, sent=connected and bool(targets))
        payload = fleet.EstopCommand(who, self.round.nonce).to_json()
        self.round_changed.emit(self.round)
        return self.round, [(fleet.topic(r, fleet.ESTOP), payload) for r in targets] if self.round.sent else []

    def _ack(self, ack: EstopAck | None, robot_id: str) -> None:
        current = self.round
        if ack is None or current is None or ack.nonce != current.nonce or robot_id not in current.robots or robot_id in current.acks:
            return
        current.acks[robot_id] = self.clock() - current.started
        self.round_changed.emit(current)
