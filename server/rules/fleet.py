"""The robot's side of the fleet broker, as plain objects: what to publish, when, and what a stop command does.

The topics and payloads are :mod:`teleop.wire.fleet`'s. Here are the rules the
MQTT shell (:mod:`teleop_server.net.mqtt`) follows, each fed the time so they
are tested with a fake clock:

* :class:`Outbox`: what waits for the broker is bounded and newest-wins per
  topic (a state, the readings); events are a short queue that drops its
  oldest; acknowledgements go first. A broker that is slow or gone therefore
  costs a fixed amount of memory and never holds up driving.
* :class:`ReadingsPace`: readings at most ``rate`` times a second, the newest value of every key.
* :class:`EstopInbox`: every message on ``cmd/estop`` stops the robot; a nonce
  seen before (a QoS 1 redelivery) is acknowledged again but not acted on twice.
  There is no "release" command: only the pilot releases a stop, as always.
* :class:`BrokerLink`: a broker that is down, refusing or slow is reported
  once (again only when the reason changes) and retried with the one backoff rule
  (:class:`teleop.common.backoff.Backoff`).
* :func:`discovery_messages`: Home Assistant's MQTT discovery for connectivity,
  e-stop state, pilot, every reading as a sensor, and an emergency-stop button.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from teleop.common.backoff import Backoff
from teleop.wire import fleet
from teleop.wire.fleet import EstopAck, RobotState
from teleop_server.rules.readings import Pace

#: Readings published per second unless the config says otherwise: enough for a dashboard, cheap for a Pi.
DEFAULT_READINGS_RATE = 4.0
#: Seconds between keepalive pings; the broker declares a silent robot gone after 1.5 times this,
#: so a robot that loses power or network shows offline within 10 s.
DEFAULT_KEEPALIVE = 5
#: Reconnect delays: quick at first (a broker restarting), then one attempt every few seconds.
BROKER_DELAYS: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 5.0)
#: Events waiting for a broker that is slow or gone; older ones are dropped first.
MAX_QUEUED_EVENTS = 32
#: Acknowledgements waiting: a stop storm must not grow memory either.
MAX_QUEUED_ACKS = 64
#: Nonces remembered, so a redelivered stop is recognised for this long.
NONCE_MEMORY = 256
NONCE_WINDOW_S = 600.0
HA_PREFIX = "homeassistant"


# --------------------------------------------------------------------------- what waits for the broker


@dataclass(frozen=True)
class Message:
    topic: str
    payload: str
    qos: int = 0
    retain: bool = False


class Outbox:
    """Messages waiting for the broker: bounded, newest wins.

    Acknowledgements first (someone is waiting for them), then retained state
    (one per topic, the newest), then readings (the newest), then events (the
    newest :data:`MAX_QUEUED_EVENTS`). ``dropped`` counts what was replaced or pushed out.
    """

    def __init__(self, max_events: int = MAX_QUEUED_EVENTS, max_acks: int = MAX_QUEUED_ACKS) -> None:
        self._acks: deque[Message] = deque(maxlen=max_acks)
        self._latest: OrderedDict[str, Message] = OrderedDict()
        self._readings: Message | None = None
        self._events: deque[Message] = deque(maxlen=max_events)
        self.dropped = 0
        #: the robot is stopping and says `offline` itself: nothing queued may go out after that
        self.closed = False

    def ack(self, message: Message) -> None:
        self.dropped += len(self._acks) == self._acks.maxlen
        self._acks.append(message)

    def latest(self, message: Message) -> None:
        """A message whose newer version makes the older one worthless (state, connection, discovery)."""
        self.dropped += self._latest.pop(message.topic, None) is not None
        self._latest[message.topic] = message

    def readings(self, message: Message) -> None:
        self.dropped += self._readings is not None
        self._readings = message

    def event(self, message: Message) -> None:
        self.dropped += len(self._events) == self._events.maxlen
        self._events.append(message)

    def close(self) -> None:
        """Nothing more is taken: an `online` queued as the link came up, sent after the stop's `offline`, would
        be the broker's retained word for a robot that has exited (a clean disconnect fires no last will)."""
        self.closed = True

    def take(self) -> Message | None:
        if self.closed:
            return None
        if self._acks:
            return self._acks.popleft()
        if self._latest:
            return self._latest.popitem(last=False)[1]
        if self._readings is not None:
            message, self._readings = self._readings, None
            return message
        if self._events:
            return self._events.popleft()
        return None

    def drop_transient(self) -> None:
        """The link is down: readings and events are stale by the time it is back; retained state is kept."""
        self.dropped += len(self._events) + (self._readings is not None)
        self._events.clear()
        self._readings = None

    def __len__(self) -> int:
        return len(self._acks) + len(self._latest) + (self._readings is not None) + len(self._events)


class ReadingsPace:
    """Readings at most ``rate`` times a second, newest value per key, the whole snapshot each time.

    The whole snapshot (not only what changed) so a dashboard that just
    subscribed, or a Home Assistant sensor per key, always finds every value.
    """

    def __init__(self, rate: float = DEFAULT_READINGS_RATE) -> None:
        self.pace = Pace(rate, burst=1)
        self.values: dict[str, int | float] = {}
        self._fresh = False

    def update(self, values: dict[str, int | float]) -> None:
        for key, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                self.values[key] = value
                self._fresh = True

    def delay(self, now: float) -> float | None:
        """None: nothing new to publish; else seconds until it may go (0: now)."""
        return self.pace.delay(now) if self._fresh else None

    def take(self, now: float) -> dict[str, int | float]:
        self.pace.sent(now)
        self._fresh = False
        return dict(self.values)


# --------------------------------------------------------------------------- the fleet e-stop


@dataclass(frozen=True)
class EstopDecision:
    #: True unless this nonce was seen before: engage the e-stop (the same rule as every other stop).
    #: A redelivered stop is only acknowledged again: it must not re-engage a stop the pilot has since released.
    stop: bool
    who: str
    ack: EstopAck


class EstopInbox:
    """What a message on ``cmd/estop`` does. It always stops; a repeated nonce is only acknowledged again."""

    def __init__(self, robot: str, *, memory: int = NONCE_MEMORY, window: float = NONCE_WINDOW_S) -> None:
        self.robot = robot
        self.memory = memory
        self.window = window
        self._seen: OrderedDict[str, float] = OrderedDict()

    def receive(self, payload: bytes | str | None, now: float, wall: float) -> EstopDecision:
        command = fleet.parse_estop(payload)
        while self._seen and (len(self._seen) > self.memory or now - next(iter(self._seen.values())) > self.window):
            self._seen.popitem(last=False)
        duplicate = command.nonce is not None and command.nonce in self._seen
        if command.nonce is not None and not duplicate:
            self._seen[command.nonce] = now
        ack = EstopAck(self.robot, command.who, command.nonce, wall, engaged=True, duplicate=duplicate)
        return EstopDecision(not duplicate, command.who, ack)


# --------------------------------------------------------------------------- the link's decisions


@dataclass(frozen=True)
class Retry:
    delay: float
    #: a line to log (once per reason), or None to stay quiet
    report: str | None


class BrokerLink:
    """When to try the broker again and what to say about it: once per distinct trouble, never per attempt."""

    def __init__(self, url: fleet.BrokerUrl, backoff: Backoff | None = None) -> None:
        self.url = url
        self.backoff = backoff or Backoff(BROKER_DELAYS)
        self.connected = False
        #: the broker has answered at this address once: a failure is then never blamed on TLS
        self.ever_connected = False
        self._reported: str | None = None
        self.attempts = 0

    def failed(self, reason: str) -> Retry:
        """An attempt failed, or an established link broke (``reason`` says why)."""
        was_connected, self.connected = self.connected, False
        self.attempts += 1
        delay = self.backoff.failed()
        if reason == self._reported and not was_connected:
            return Retry(delay, None)
        self._reported = reason
        verb = "lost the MQTT broker" if was_connected else "cannot reach the MQTT broker"
        if not self.ever_connected:
            reason = fleet.broker_failure(self.url, reason)
        return Retry(delay, f"{verb} {self.url}: {reason}; driving goes on, retrying every few seconds")

    def succeeded(self) -> str:
        first = self._reported is None
        self.connected = self.ever_connected = True
        self.backoff.succeeded()
        attempts, self.attempts, self._reported = self.attempts, 0, None
        if first:
            return f"connected to the MQTT broker {self.url}"
        return f"MQTT broker {self.url} is back (after {attempts} failed attempt{'s' if attempts != 1 else ''})"


# --------------------------------------------------------------------------- state


def robot_state(
    *,
    name: str,
    address: str,
    token: bool,
    server: str,
    status: dict[str, Any],
    recording: bool,
    instance: str = "",
) -> RobotState:
    """The retained state from the bridge's status (the same one clients get): never the token itself."""
    serial = status.get("serial") or {}
    info = serial.get("device") or {}
    firmware = " ".join(str(info[k]) for k in ("name", "version") if info.get(k))
    pilot = status.get("pilot") or None
    camera = status.get("camera")
    return RobotState(
        name=name,
        address=address,
        token=token,
        server=server,
        device=str(serial.get("state", "")),
        firmware=firmware,
        pilot=str(pilot.get("name", "unknown")) if pilot else None,
        # what the pilot said it drives with (gamepad, touch, keyboard), as every client sees it; "app" if unsaid
        input=("legacy client" if pilot.get("legacy") else str(pilot.get("input") or "app")) if pilot else "",
        failsafe=bool(status.get("failsafe", True)),
        estop=bool(status.get("estop", False)),
        camera=str(camera.get("state", "")) if isinstance(camera, dict) else None,
        recording=recording,
        instance=instance,
    )


#: other runs under this robot's name said at most (each one once); past that, a stranger is flooding the topic
MAX_TWINS_TOLD = 8


class TwinWatch:
    """Another robot that took this robot's name on the broker, said once per other run.

    Two robots left with one name (every Pi starts as raspberrypi) share every topic: both take the
    fleet stop for that name, which is the safe side, but their states overwrite each other and the
    fleet view shows one robot that keeps changing its address. Only the other's live messages count:
    a retained state from this robot's own last run carries another instance too."""

    def __init__(self, instance: str, name: str) -> None:
        self.instance = instance
        self.name = name
        self._told: set[str] = set()

    def heard(self, state: RobotState | None, retained: bool) -> str | None:
        """A state on this robot's own topic; the warning to give, or None."""
        if state is None or retained or not state.instance or state.instance == self.instance or state.instance in self._told:
            return None
        if len(self._told) >= MAX_TWINS_TOLD:  # a broker without access rules lets anyone publish here: no flood
            return None
        self._told.add(state.instance)
        where = f" (at {state.address})" if state.address else ""
        return (
            f"another robot publishes as '{self.name}' on the fleet broker{where}: give each robot its own name "
            f"(--name, or [announce] name). Until then a fleet stop for '{self.name}' stops both, and the fleet "
            "view shows them as one robot"
        )


# --------------------------------------------------------------------------- Home Assistant


def _device(robot: str, name: str, server: str) -> dict[str, Any]:
    return {"identifiers": [f"teleop_{robot}"], "name": name, "manufacturer": "teleop", "model": "teleop-server", "sw_version": server}


def _availability(robot: str) -> dict[str, Any]:
    return {
        "availability_topic": fleet.topic(robot, fleet.CONNECTION),
        "payload_available": fleet.ONLINE,
        "payload_not_available": fleet.OFFLINE,
    }


def _config(prefix: str, component: str, robot: str, object_id: str, body: dict[str, Any]) -> Message:
    return Message(f"{prefix}/{component}/teleop_{robot}/{object_id}/config", fleet.dump(body), qos=1, retain=True)


def _object_id(key: str) -> str:
    return fleet.robot_id(key).replace("-", "_")


def discovery_messages(
    robot: str, name: str, server: str, reading_keys: list[str], units: dict[str, str], prefix: str = HA_PREFIX
) -> list[Message]:
    """Home Assistant's MQTT discovery configs (retained) for this robot.

    One config per entity on ``<prefix>/<component>/teleop_<robot>/<object>/config``:
    connectivity (a binary sensor on the connection topic itself, so it shows
    offline rather than unavailable), the e-stop state, who drives, one sensor per
    reading key, and a button that publishes a fleet e-stop.
    """
    device = _device(robot, name, server)
    state_topic = fleet.topic(robot, fleet.STATE)
    out = [
        _config(
            prefix,
            "binary_sensor",
            robot,
            "connection",
            {
                "name": "Connection",
                "unique_id": f"teleop_{robot}_connection",
                "state_topic": fleet.topic(robot, fleet.CONNECTION),
                "payload_on": fleet.ONLINE,
                "payload_off": fleet.OFFLINE,
                "device_class": "connectivity",
                "device": device,
            },
        ),
        _config(
            prefix,
            "binary_sensor",
            robot,
            "estop",
            {
                "name": "Emergency stop engaged",
                "unique_id": f"teleop_{robot}_estop_engaged",
                "state_topic": state_topic,
                "value_template": "{{ 'ON' if value_json.estop else 'OFF' }}",
                "device_class": "safety",
                "device": device,
                **_availability(robot),
            },
        ),
        _config(
            prefix,
            "sensor",
            robot,
            "pilot",
            {
                "name": "Pilot",
                "unique_id": f"teleop_{robot}_pilot",
                "state_topic": state_topic,
                "value_template": "{{ value_json.pilot or 'nobody' }}",
                "icon": "mdi:account",
                "device": device,
                **_availability(robot),
            },
        ),
        _config(
            prefix,
            "button",
            robot,
            "estop",
            {
                "name": "Emergency stop",
                "unique_id": f"teleop_{robot}_estop",
                "command_topic": fleet.topic(robot, fleet.ESTOP),
                "payload_press": fleet.EstopCommand("Home Assistant").to_json(),
                "qos": 1,
                "retain": False,
                "icon": "mdi:octagon",
                "device": device,
                **_availability(robot),
            },
        ),
    ]
    out += [reading_sensor(robot, device, key, units.get(key), prefix) for key in reading_keys]
    return out


def reading_sensor(robot: str, device: dict[str, Any], key: str, unit: str | None, prefix: str = HA_PREFIX) -> Message:
    object_id = _object_id(key)
    body: dict[str, Any] = {
        "name": key,
        "unique_id": f"teleop_{robot}_reading_{object_id}",
        "state_topic": fleet.topic(robot, fleet.READINGS),
        # bracket access: value_json.values would be the dict's own method in a template
        "value_template": "{{ value_json['values'][" + json.dumps(key) + "] }}",
        "state_class": "measurement",
        "device": device,
        **_availability(robot),
    }
    if unit:
        body["unit_of_measurement"] = unit
    return _config(prefix, "sensor", robot, f"reading_{object_id}", body)


class Discovery:
    """Which reading keys already have a sensor config; a new key gets one (bounded by the bridge's key limit)."""

    def __init__(self, robot: str, name: str, server: str, units: dict[str, str], prefix: str = HA_PREFIX) -> None:
        self.robot, self.name, self.server, self.units, self.prefix = robot, name, server, units, prefix
        self.keys: list[str] = []

    def all(self) -> list[Message]:
        return discovery_messages(self.robot, self.name, self.server, self.keys, self.units, self.prefix)

    def new_keys(self, values: dict[str, int | float]) -> list[Message]:
        fresh = [key for key in values if key not in self.keys]
        self.keys += fresh
        device = _device(self.robot, self.name, self.server)
        return [reading_sensor(self.robot, device, key, self.units.get(key), self.prefix) for key in fresh]
