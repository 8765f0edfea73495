"""The fleet's MQTT topics and payloads, as both ends write and read them.

A teleop-server with ``--mqtt`` publishes under ``teleop/<robot>/``; the app and
any dashboard (Home Assistant, ``mosquitto_sub``) read the same topics:

=====================  =========  ===  =========================================================
topic                  retained   QoS  payload
=====================  =========  ===  =========================================================
``connection``         yes        1    ``online`` / ``offline`` (``offline`` is the last will)
``state``              yes        1    :class:`RobotState` as JSON
``readings``           no         0    ``{"t": wall time, "values": {name: number}}``
``events``             no         0    ``{"level", "text", "t"}``
``cmd/estop``          never      1    :class:`EstopCommand` as JSON: who, and a nonce
``cmd/estop/ack``      no         1    :class:`EstopAck` as JSON
=====================  =========  ===  =========================================================

A stop command is never retained: a retained one would fire again on every
reconnect, long after the emergency. Nothing here ever carries the pilot token.
Parsing never raises: whatever a stranger publishes gives None or a value with
its fields checked. :func:`parse_broker_url` is the one reading of a broker's
address (``mqtt://HOST[:PORT]``, ``mqtts://``), the server's ``--mqtt`` and the app's ``--fleet``;
credentials never go in it (a URL shows in ``ps``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from teleop.wire.errors import ConfigError

ROOT = "teleop"
CONNECTION, STATE, READINGS, EVENTS, ESTOP, ESTOP_ACK = "connection", "state", "readings", "events", "cmd/estop", "cmd/estop/ack"
KINDS = (CONNECTION, STATE, READINGS, EVENTS, ESTOP, ESTOP_ACK)
ONLINE, OFFLINE = "online", "offline"
#: A robot's id is at most this long: topic levels stay readable and ACL patterns short.
MAX_ID = 48
_MAX_TEXT = 200
_UNSAFE = re.compile(r"[^a-z0-9_-]+")


def robot_id(name: str) -> str:
    """The topic-safe id of a robot called ``name``: lower case letters, digits, ``-`` and ``_``.

    MQTT gives ``+``, ``#`` and ``/`` meanings in topics and subscriptions, and
    a broker's access rules are written per id, so everything else becomes ``-``.
    """
    text = _UNSAFE.sub("-", name.strip().lower()).strip("-_")[:MAX_ID].strip("-_")
    return text or "robot"


def topic(robot: str, kind: str) -> str:
    """``teleop/<robot>/<kind>`` for a robot id (see :func:`robot_id`)."""
    return f"{ROOT}/{robot}/{kind}"


def all_topics(kind: str) -> str:
    """The subscription that matches ``kind`` for every robot."""
    return f"{ROOT}/+/{kind}"


def parse_topic(name: str) -> tuple[str, str] | None:
    """``(robot id, kind)`` of one of our topics, or None for anything else."""
    parts = name.split("/", 2)
    if len(parts) != 3 or parts[0] != ROOT or parts[2] not in KINDS or robot_id(parts[1]) != parts[1]:
        return None
    return parts[1], parts[2]


def _text(value: Any, limit: int = _MAX_TEXT) -> str:
    return "".join(c for c in str(value) if c.isprintable())[:limit] if value is not None else ""


def _load(payload: bytes | str | None) -> dict[str, Any] | None:
    if payload is None:
        return None
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def dump(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class RobotState:
    """What a robot tells the fleet about itself (retained, so a newcomer knows it at once)."""

    name: str
    #: where to connect for driving, ``ws[s]://host:port`` (the stick stream stays direct)
    address: str = ""
    token: bool = True  #: driving needs the pilot token (never the token itself)
    server: str = ""
    device: str = ""  #: the serial link's state (ready, lost, ...)
    firmware: str = ""  #: the device's name and version as it reported them
    pilot: str | None = None  #: who drives, or None
    input: str = ""  #: what the pilot drives with ("gamepad", "touch", "keyboard"; "app" if it did not say; "legacy client")
    failsafe: bool = True
    estop: bool = False
    camera: str | None = None  #: the camera's state, or None without one
    recording: bool = False
    #: this server run's own random id: two robots given one name tell each other apart by it
    instance: str = ""

    def to_json(self) -> str:
        return dump(asdict(self))


def parse_state(payload: bytes | str | None) -> RobotState | None:
    data = _load(payload)
    if data is None or not isinstance(data.get("name"), str):
        return None
    pilot = data.get("pilot")
    camera = data.get("camera")
    address = _text(data.get("address"))
    return RobotState(
        name=_text(data["name"], 100) or "robot",
        address=address if address.startswith(("ws://", "wss://")) else "",
        token=data.get("token") is not False,
        server=_text(data.get("server"), 100),
        device=_text(data.get("device"), 100),
        firmware=_text(data.get("firmware"), 100),
        pilot=_text(pilot, 100) if isinstance(pilot, str) else None,
        input=_text(data.get("input"), 40),
        failsafe=data.get("failsafe") is not False,
        estop=data.get("estop") is True,
        camera=_text(camera, 40) if isinstance(camera, str) else None,
        recording=data.get("recording") is True,
        instance=_text(data.get("instance"), 40),
    )


@dataclass(frozen=True)
class EstopCommand:
    """A fleet e-stop: who pressed it and a nonce, so the acknowledgement can be matched and a redelivery recognised."""

    who: str
    nonce: str | None = None

    def to_json(self) -> str:
        return dump({"who": self.who, "nonce": self.nonce})


def parse_estop(payload: bytes | str | None) -> EstopCommand:
    """Whatever arrives on ``cmd/estop`` is a stop: stopping is always safe, so a bad payload stops too.

    The sender and nonce are taken when the payload says them (JSON); a bare
    payload (Home Assistant's button, ``mosquitto_pub -m stop``) is an anonymous stop.
    """
    data = _load(payload)
    if data is None:
        return EstopCommand("unknown sender")
    nonce = data.get("nonce")
    nonce = _text(nonce, 64) if isinstance(nonce, (str, int)) and not isinstance(nonce, bool) else None
    return EstopCommand(_text(data.get("who"), 60) or "unknown sender", nonce or None)


@dataclass(frozen=True)
class EstopAck:
    """A robot's answer to a fleet e-stop: its outputs are at neutral and the stop is engaged."""

    robot: str
    who: str
    nonce: str | None
    t: float  #: the robot's wall clock when it stopped
    engaged: bool = True
    duplicate: bool = False  #: the same nonce arrived again (a QoS 1 redelivery): acknowledged, not stopped twice

    def to_json(self) -> str:
        return dump(asdict(self))


def parse_ack(payload: bytes | str | None) -> EstopAck | None:
    data = _load(payload)
    if data is None or not isinstance(data.get("robot"), str):
        return None
    t = data.get("t")
    nonce = data.get("nonce")
    return EstopAck(
        robot=_text(data["robot"], MAX_ID),
        who=_text(data.get("who"), 60),
        nonce=_text(nonce, 64) if isinstance(nonce, str) else None,
        t=float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) else 0.0,
        engaged=data.get("engaged") is not False,
        duplicate=data.get("duplicate") is True,
    )


def readings_payload(t: float, values: dict[str, int | float]) -> str:
    """Numbers only, and finite ones: JSON has no NaN, and a dashboard should not have to guess."""
    kept = {k: v for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
    return dump({"t": round(t, 3), "values": kept})


def event_payload(level: str, text: str, t: float) -> str:
    return dump({"level": level, "text": text, "t": round(t, 3)})


@dataclass(frozen=True)
class BrokerUrl:
    host: str
    port: int
    tls: bool

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}"


def parse_broker_url(text: str, flag: str = "--mqtt") -> BrokerUrl:
    """``mqtt://HOST[:PORT]`` (1883) or ``mqtts://HOST[:PORT]`` (8883); raise :class:`ConfigError` saying what is wrong.

    ``flag``: the option the address came from, named in the error (the server's ``--mqtt``, the app's ``--fleet``)."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{flag} {text!r}: {exc}") from None
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ConfigError(f"{flag} {text!r}: give mqtt://HOST:PORT or mqtts://HOST:PORT")
    if parts.username or parts.password:
        where = "the config file ([mqtt] username, password_file)" if flag == "--mqtt" else "--fleet-user and --fleet-password-file"
        raise ConfigError(f"{flag}: put the broker's user name and password in {where}, not the URL")
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"{flag} {text!r}: give mqtt://HOST:PORT or mqtts://HOST:PORT")
    tls = parts.scheme == "mqtts"
    return BrokerUrl(parts.hostname, port or (8883 if tls else 1883), tls)


#: how a plain MQTT connection to a TLS listener fails: TCP is accepted, then no CONNACK ever comes (aiomqtt's
#: "Operation timed out"; a plain "timed out" is TCP's own, an address that never answered) or the link is cut
_PLAIN_TO_TLS = ("operation timed out", "connection reset")


def broker_failure(url: BrokerUrl, reason: str) -> str:
    """``reason`` for a connection that never worked, with what to try when it is how a TLS-only broker answers
    plain MQTT. (Once the broker has answered at that address, it is not one.)"""
    if url.tls or not any(sign in reason.lower() for sign in _PLAIN_TO_TLS):
        return reason
    tls = BrokerUrl(url.host, url.port, tls=True)
    return f"{reason} (a broker that wants TLS on port {url.port} answers plain MQTT like this: try {tls})"
