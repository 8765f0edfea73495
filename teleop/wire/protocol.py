"""The WebSocket wire protocol spoken by the desktop client, the bridge server and the dashboard.

Sans-I/O: text in, message objects out, and back again. Nothing here touches a
socket, Qt or pygame, so the server on the Pi and the GUI on the PC import the
very same definitions. Parsing never raises on bad input: it returns an
:class:`Invalid` value that says what was wrong, which the server sends back as
an ``error`` message while keeping the connection up.

Every message is a JSON object with a ``type`` field. The first exchange is
``hello`` (client) answered by ``welcome`` (server), which carries the protocol
version. For compatibility with the hobby bridge this product grew out of, a
bare ``{"Axes": [x0, x1, ...]}`` object is accepted as a control message.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

from teleop.wire.layout import Layout
from teleop.wire.records import CameraStatus, PilotStatus, SerialStatus

PROTOCOL_VERSION = 1

#: Frames larger than this are refused: a control message is about 200 bytes.
MAX_MESSAGE_BYTES = 4096
MAX_AXES = 32
MAX_BUTTONS = 64
MAX_HATS = 8
MAX_NAME_CHARS = 64
MAX_TOKEN_CHARS = 256


class Role(StrEnum):
    """What a client may do: the pilot drives, observers only watch."""

    PILOT = "pilot"
    OBSERVER = "observer"


class InputKind(StrEnum):
    """What the pilot drives with, so every client can show it: a phone's touch sticks steer as surely as a pad.

    Sent in ``hello`` and in each ``control`` (a browser pilot may switch from touch to a
    pad mid-drive); the server puts the pilot's in ``status.pilot.input``. Absent: not said
    (older clients, the hobby ``{"Axes": ...}`` form).
    """

    GAMEPAD = "gamepad"
    TOUCH = "touch"
    KEYBOARD = "keyboard"


class MessageType(StrEnum):
    """The ``type`` of every message, client to server and back."""

    HELLO = "hello"
    CONTROL = "control"
    PING = "ping"
    REQUEST_CONTROL = "request_control"
    RELEASE_CONTROL = "release_control"
    ESTOP = "estop"
    RECORD = "record"
    SPEED_CAP = "speed_cap"
    SAVE_SNAPSHOT = "save_snapshot"
    REPLAY = "replay"
    WELCOME = "welcome"
    READING = "reading"
    STATUS = "status"
    PONG = "pong"
    ERROR = "error"
    EVENT = "event"
    OUTPUTS = "outputs"


#: the streams a client may ask not to be sent (``hello``'s ``skip``): everything else it must hear
SKIPPABLE = (MessageType.READING, MessageType.OUTPUTS)
#: names a hello's ``skip`` may list (the ones beyond :data:`SKIPPABLE` are passed over)
MAX_SKIPPED = 16


class ErrorCode(StrEnum):
    """Machine-readable ``code`` of an ``error`` message; the ``message`` field is for humans."""

    INVALID_JSON = "invalid_json"
    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_TYPE = "unknown_type"
    TOO_LARGE = "too_large"
    BINARY_NOT_SUPPORTED = "binary_not_supported"
    NOT_PILOT = "not_pilot"
    PILOT_BUSY = "pilot_busy"
    UNAUTHORIZED = "unauthorized"
    RATE_LIMITED = "rate_limited"
    ESTOP_ACTIVE = "estop_active"
    UNSUPPORTED_VERSION = "unsupported_version"
    #: the server understood the message but does not provide what it asks for (e.g. recording)
    NOT_SUPPORTED = "not_supported"
    #: the server is shutting down: outputs stay at neutral and no control drives until it is started again
    SERVER_STOPPING = "server_stopping"


class CloseCode(IntEnum):
    """The WebSocket close codes this protocol uses (RFC 6455), named once for both ends and the dashboard.

    The close reason text says which case; the code says what a client should do.
    """

    #: the session ended normally (the server's handler returned, or the client left)
    NORMAL = 1000
    #: the server is shutting down
    GOING_AWAY = 1001
    #: a text frame that is not UTF-8
    INVALID_DATA = 1007
    #: refused: no token where one is required, flooding, too many wrong tokens; retry slowly
    POLICY_VIOLATION = 1008
    #: a frame over :data:`MAX_MESSAGE_BYTES`
    MESSAGE_TOO_BIG = 1009
    #: the server failed unexpectedly
    INTERNAL_ERROR = 1011
    #: the server is full, or this client was too slow to take what it is sent; retry later
    TRY_AGAIN_LATER = 1013


class EventLevel(StrEnum):
    """How much an ``event`` matters, as the server judged it where the event was made."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class EventKind(StrEnum):
    """What an ``event`` is about, so a client decides how to show it without reading its words."""

    #: outputs held at neutral because no pilot is sending (or the failsafe let go)
    FAILSAFE = "failsafe"
    #: the emergency stop was engaged or cleared
    ESTOP = "estop"
    #: who drives changed: someone became pilot, took over, released control or left
    PILOT = "pilot"
    #: the serial link and the board: ready, lost, failed, the board's own events
    DEVICE = "device"
    CAMERA = "camera"
    RECORDING = "recording"
    #: a limit on driving changed (the speed cap)
    LIMIT = "limit"
    #: the server's settings met the robot (e.g. a mapping that reads controls by number)
    CONFIG = "config"
    #: the server itself: told to stop, shutting down
    SERVER = "server"
    #: anything else, and every event from a newer server whose kind this client does not know
    OTHER = "other"


# --------------------------------------------------------------------------- messages
# Client to server.


@dataclass(frozen=True, slots=True)
class Hello:
    """First message of a client: who it is and which role it wants."""

    role: Role = Role.OBSERVER
    client: str = "unknown"
    version: str = ""
    protocol: int = PROTOCOL_VERSION
    token: str | None = None
    takeover: bool = False
    input: InputKind | None = None
    #: streams this client does not show (:data:`SKIPPABLE`): the server does not send them to it, so it does
    #: not wake ten or twenty times a second to decode and drop them
    skip: tuple[MessageType, ...] = ()


@dataclass(frozen=True, slots=True)
class Control:
    """The pilot's whole input state; the newest one always wins.

    ``layout`` says how ``axes`` and ``buttons`` are numbered (:mod:`teleop.wire.layout`):
    ``"standard"`` for a pad SDL knows, ``"raw"`` otherwise. It is sent only when
    standard: absent means raw, as from older clients and the hobby ``{"Axes": ...}`` form.
    """

    seq: int = 0
    t: float = 0.0
    axes: tuple[float, ...] = ()
    buttons: tuple[int, ...] = ()
    hats: tuple[tuple[int, int], ...] = ()
    legacy: bool = False
    layout: Layout = Layout.RAW
    #: what produced this input (None: not said)
    input: InputKind | None = None


@dataclass(frozen=True, slots=True)
class Ping:
    id: int = 0
    t: float = 0.0


@dataclass(frozen=True, slots=True)
class RequestControl:
    """Ask to become pilot; ``takeover`` must be true to displace a current pilot."""

    takeover: bool = False
    token: str | None = None


@dataclass(frozen=True, slots=True)
class ReleaseControl:
    """The pilot hands control back; the device goes to neutral."""


@dataclass(frozen=True, slots=True)
class EmergencyStop:
    """``engaged=True`` from anyone stops the device; only the pilot may clear it."""

    engaged: bool = True


class RecordCommand(StrEnum):
    """What a pilot asks of the server's recording."""

    START = "start"
    STOP = "stop"
    MARK = "mark"  # mark this moment in the recording


@dataclass(frozen=True, slots=True)
class Record:
    """Ask the server to start, stop or mark its recording (the last seconds: :class:`SaveSnapshot`).

    A server that cannot answers ``error`` with code ``not_supported`` and goes on.
    """

    command: RecordCommand
    note: str = ""


@dataclass(frozen=True, slots=True)
class SpeedCap:
    """Set the server's speed cap live (a fraction of each output's travel, at most its configured maximum).

    Needs the pilot token (given in the hello or here) where the server requires one.
    """

    max_speed: float
    token: str | None = None


@dataclass(frozen=True, slots=True)
class SaveSnapshot:
    """Write the last ``seconds`` the server keeps in memory (default: all it keeps) to a recording file.

    Any client that may drive may ask (the pilot-token holder, or anyone with
    authentication off); the server answers with an ``event`` naming the file.
    """

    seconds: float | None = None


@dataclass(frozen=True, slots=True)
class ReplayControl:
    """Steer a replay (``teleop-server --replay``): ``action`` is play, pause, seek or speed.

    ``position`` is seconds from the recording's start (seek), ``speed`` a factor (speed).
    """

    action: str
    position: float | None = None
    speed: float | None = None


REPLAY_ACTIONS = ("play", "pause", "seek", "speed")


# Server to client.


@dataclass(frozen=True, slots=True)
class Welcome:
    protocol: int
    server: str
    session: str
    role: Role
    #: The status as of joining; on the wire a whole ``status`` message (with its ``type``).
    status: Status
    readings: dict[str, float | int]
    limits: dict[str, Any] = field(default_factory=dict)
    #: This connection's id, as used in ``status.pilot.id``: how a client knows it is the pilot.
    client_id: int = 0
    #: The unit of each reading key (``{"A0": "ADC 0-1023", ...}``), from the device's protocol table.
    #: Optional: older servers do not send it, and older clients ignore it.
    units: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.status, Status):  # its JSON form, from code that builds one by hand
            object.__setattr__(self, "status", Status.from_json(self.status))


@dataclass(frozen=True, slots=True)
class Reading:
    t: float
    values: dict[str, float | int]
    seq: int = 0


@dataclass(frozen=True, slots=True)
class Status:
    """Link and control state; sent whenever any of it changes."""

    serial: SerialStatus
    #: Who drives; None: nobody.
    pilot: PilotStatus | None
    failsafe: bool
    estop: bool
    clients: int
    #: The robot's camera, or None when the server has none configured (or is older);
    #: see :mod:`teleop.wire.mjpeg` for the stream.
    camera: CameraStatus | None = None
    #: The most of each output's travel from neutral any client can drive now (1.0: no cap);
    #: the configured ``[limits] max_speed``, or lower while an operator has lowered it.
    speed_cap: float = 1.0
    #: Set when the server plays a recording instead of driving a device (``teleop-server --replay``):
    #: ``{"file": "drive.mcap", "position": 12.5, "duration": 3600.0, "playing": true, "speed": 1.0}``.
    replay: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        # the JSON form of a part (a dict) is accepted too, from code that builds a status by hand
        if not isinstance(self.serial, SerialStatus):
            object.__setattr__(self, "serial", SerialStatus.from_json(self.serial))
        if self.pilot is not None and not isinstance(self.pilot, PilotStatus):
            object.__setattr__(self, "pilot", PilotStatus.from_json(self.pilot))
        if self.camera is not None and not isinstance(self.camera, CameraStatus):
            object.__setattr__(self, "camera", CameraStatus.from_json(self.camera))

    @classmethod
    def from_json(cls, obj: Any) -> Status:
        """A status from its JSON object (with or without ``type``); never raises: odd fields get their defaults."""
        obj = obj if isinstance(obj, dict) else {}
        clients = obj.get("clients", 0)
        return cls(
            serial=SerialStatus.from_json(obj.get("serial")),
            pilot=PilotStatus.from_json(obj.get("pilot")),
            failsafe=bool(obj.get("failsafe")),
            estop=bool(obj.get("estop")),
            clients=clients if isinstance(clients, int) and not isinstance(clients, bool) else 0,
            camera=CameraStatus.from_json(obj.get("camera")),
            speed_cap=_speed_cap(obj.get("speed_cap", 1.0)),
            replay=obj.get("replay") if isinstance(obj.get("replay"), dict) else None,
        )


@dataclass(frozen=True, slots=True)
class Pong:
    id: int
    t: float
    server_t: float


@dataclass(frozen=True, slots=True)
class Error:
    code: ErrorCode
    message: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """A human-readable announcement (take-over, failsafe, device unplugged).

    ``level`` and ``kind`` are set by the server where the event is made; a client
    decides how loud to be from them, never from ``text``, which is for people and
    may be reworded at any time. From a server that predates ``kind``, the parser
    reads it from the fixed wording such servers used (:func:`legacy_event_kind`).
    """

    level: EventLevel
    text: str
    t: float = 0.0
    kind: EventKind = EventKind.OTHER

    def __post_init__(self) -> None:
        if not isinstance(self.level, EventLevel):
            object.__setattr__(self, "level", _event_level(self.level))
        if not isinstance(self.kind, EventKind):
            object.__setattr__(self, "kind", _event_kind(self.kind))


@dataclass(frozen=True, slots=True)
class Outputs:
    """The last command line the device accepted, per output; for dashboards."""

    t: float
    lines: dict[str, str]


@dataclass(frozen=True, slots=True)
class Invalid:
    """Returned (never raised) when incoming data is not a valid message."""

    code: ErrorCode
    message: str
    ref: str | None = None

    def as_error(self) -> Error:
        return Error(self.code, self.message, self.ref)


ClientMessage = Hello | Control | Ping | RequestControl | ReleaseControl | EmergencyStop | Record | SpeedCap | SaveSnapshot | ReplayControl
ServerMessage = Welcome | Reading | Status | Pong | Error | Event | Outputs

_TYPE_NAMES: dict[type, MessageType] = {
    Hello: MessageType.HELLO,
    Control: MessageType.CONTROL,
    Ping: MessageType.PING,
    RequestControl: MessageType.REQUEST_CONTROL,
    ReleaseControl: MessageType.RELEASE_CONTROL,
    EmergencyStop: MessageType.ESTOP,
    Record: MessageType.RECORD,
    SpeedCap: MessageType.SPEED_CAP,
    SaveSnapshot: MessageType.SAVE_SNAPSHOT,
    ReplayControl: MessageType.REPLAY,
    Welcome: MessageType.WELCOME,
    Reading: MessageType.READING,
    Status: MessageType.STATUS,
    Pong: MessageType.PONG,
    Error: MessageType.ERROR,
    Event: MessageType.EVENT,
    Outputs: MessageType.OUTPUTS,
}


# --------------------------------------------------------------------------- encoding


def to_dict(message: ClientMessage | ServerMessage) -> dict[str, Any]:
    """The JSON-ready form of a message, ``type`` first."""
    if type(message) is Control:
        return json.loads(_control_text(message))  # a control's wire form is written in one place: below
    out: dict[str, Any] = {"type": _TYPE_NAMES[type(message)]}
    for name in message.__dataclass_fields__:
        value = getattr(message, name)
        if isinstance(value, tuple):
            value = [list(v) if isinstance(v, tuple) else v for v in value]
        elif isinstance(value, Status):
            value = to_dict(value)
        elif isinstance(value, (SerialStatus, PilotStatus, CameraStatus)):
            value = value.to_json()
        if value is None and name in ("token", "ref", "camera", "replay", "seconds", "position", "speed", "input"):
            continue
        if name == "skip" and not value:
            continue
        out[name] = value
    return out


def _control_text(control: Control) -> str:
    """A control's JSON, written out directly: the message a pilot sends 50 times a second or more.

    With caches cold, as they are between two messages 20 ms apart, building a dict for the JSON encoder
    took about 70 µs a message on a 2-core VM, and this takes about 35. Numbers as the encoder writes them:
    ``repr`` of a float is valid JSON when it is finite, and a non-finite one is refused with the
    encoder's ValueError. ``legacy`` is how a control was received, never sent; a raw layout and an
    unsaid input kind stay off the wire."""
    if not math.isfinite(control.t) or not all(map(math.isfinite, control.axes)):
        raise ValueError("Out of range float values are not JSON compliant")
    axes = ",".join([repr(float(a)) for a in control.axes])
    buttons = ",".join([f"{b:d}" for b in control.buttons])
    hats = ",".join([f"[{x:d},{y:d}]" for x, y in control.hats])
    text = f'{{"type":"control","seq":{control.seq:d},"t":{float(control.t)!r},"axes":[{axes}],"buttons":[{buttons}],"hats":[{hats}]'
    if control.layout != Layout.RAW:
        text += f',"layout":"{Layout(control.layout).value}"'
    if control.input is not None:
        text += f',"input":"{InputKind(control.input).value}"'
    return text + "}"


#: One encoder for every message, as there is one decoder: ``json.dumps`` with an option builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def encode(message: ClientMessage | ServerMessage) -> str:
    """Serialise a message to compact JSON text (never NaN: parsing rejects it)."""
    if type(message) is Control:
        return _control_text(message)
    return _ENCODER.encode(to_dict(message))


# --------------------------------------------------------------------------- decoding


class _Bad(Exception):
    """Internal: a field failed validation. Converted to :class:`Invalid`, never escapes."""


def _reject_constant(name: str) -> None:
    raise _Bad(f"{name} is not valid JSON (numbers must be finite)")


#: One decoder for every message: ``json.loads`` with an option builds a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _load_object(data: str | bytes) -> dict[str, Any] | Invalid:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return Invalid(ErrorCode.BINARY_NOT_SUPPORTED, "binary frames are not supported; send JSON text")
    if len(data) > MAX_MESSAGE_BYTES:
        return Invalid(ErrorCode.TOO_LARGE, f"message is {len(data)} characters; the limit is {MAX_MESSAGE_BYTES}")
    try:
        obj = _DECODER.decode(data)
    except _Bad as exc:
        return Invalid(ErrorCode.INVALID_JSON, str(exc))
    except (ValueError, RecursionError) as exc:
        return Invalid(ErrorCode.INVALID_JSON, f"not valid JSON: {exc}")
    if not isinstance(obj, dict):
        return Invalid(ErrorCode.INVALID_MESSAGE, f"expected a JSON object, got {type(obj).__name__}")
    return obj


def _number(value: Any, where: str, lo: float | None = None, hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad(f"{where} must be a number, got {_describe(value)}")
    try:
        value = float(value)
    except OverflowError:  # an integer with hundreds of digits is valid JSON
        raise _Bad(f"{where} is far too large") from None
    if not math.isfinite(value):
        raise _Bad(f"{where} must be finite")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise _Bad(f"{where} must be in [{lo:g}, {hi:g}], got {value:g}")
    return value


def _integer(value: Any, where: str, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(f"{where} must be an integer, got {_describe(value)}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise _Bad(f"{where} must be in [{lo}, {hi}], got {value}")
    return value


def _text(value: Any, where: str, limit: int) -> str:
    if not isinstance(value, str):
        raise _Bad(f"{where} must be a string, got {_describe(value)}")
    if len(value) > limit:
        raise _Bad(f"{where} is longer than {limit} characters")
    return value


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _Bad(f"{where} must be true or false, got {_describe(value)}")
    return value


def _list(value: Any, where: str, limit: int) -> list[Any]:
    if not isinstance(value, list):
        raise _Bad(f"{where} must be a list, got {_describe(value)}")
    if len(value) > limit:
        raise _Bad(f"{where} has {len(value)} entries; at most {limit} are allowed")
    return value


def _describe(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _axes(value: Any, where: str = "axes") -> tuple[float, ...]:
    return tuple(_number(v, f"{where}[{i}]", -1.0, 1.0) for i, v in enumerate(_list(value, where, MAX_AXES)))


def _input_kind(value: Any) -> InputKind | None:
    if value is None:
        return None
    if value not in InputKind._value2member_map_:
        raise _Bad(f"input must be one of {', '.join(k.value for k in InputKind)}, got {_describe(value)}")
    return InputKind(value)


def _parse_control(obj: dict[str, Any]) -> Control:
    buttons = tuple(
        int(v) if isinstance(v, bool) else _integer(v, f"buttons[{i}]", 0, 1)
        for i, v in enumerate(_list(obj.get("buttons", []), "buttons", MAX_BUTTONS))
    )
    hats = []
    for i, hat in enumerate(_list(obj.get("hats", []), "hats", MAX_HATS)):
        pair = _list(hat, f"hats[{i}]", 2)
        if len(pair) != 2:
            raise _Bad(f"hats[{i}] must be [x, y]")
        hats.append((_integer(pair[0], f"hats[{i}][0]", -1, 1), _integer(pair[1], f"hats[{i}][1]", -1, 1)))
    layout = obj.get("layout", Layout.RAW.value)
    if layout not in (Layout.STANDARD.value, Layout.RAW.value):
        raise _Bad(f"layout must be 'standard' or 'raw', got {_describe(layout)}")
    return Control(
        seq=_integer(obj.get("seq", 0), "seq", 0, 2**53),
        t=_number(obj.get("t", 0.0), "t"),
        axes=_axes(obj.get("axes", [])),
        buttons=buttons,
        hats=tuple(hats),
        layout=Layout(layout),
        input=_input_kind(obj.get("input")),
    )


def _parse_hello(obj: dict[str, Any]) -> Hello:
    role = obj.get("role", "observer")
    if role not in ("pilot", "observer"):
        raise _Bad(f"role must be 'pilot' or 'observer', got {_describe(role)}")
    token = obj.get("token")
    return Hello(
        role=Role(role),
        client=_text(obj.get("client", "unknown"), "client", MAX_NAME_CHARS),
        version=_text(obj.get("version", ""), "version", MAX_NAME_CHARS),
        protocol=_integer(obj.get("protocol", PROTOCOL_VERSION), "protocol", 0, 1_000_000),
        token=None if token is None else _text(token, "token", MAX_TOKEN_CHARS),
        takeover=_flag(obj.get("takeover", False), "takeover"),
        input=_input_kind(obj.get("input")),
        skip=_skip(obj.get("skip", [])),
    )


def _skip(value: Any) -> tuple[MessageType, ...]:
    """The streams of :data:`SKIPPABLE` a hello names; a name this side does not know is passed over, not
    refused: a newer client that can skip more must still get its seat (and its token's rights) here."""
    names = [_text(name, f"skip[{i}]", MAX_NAME_CHARS) for i, name in enumerate(_list(value, "skip", MAX_SKIPPED))]
    return tuple(MessageType(name) for name in dict.fromkeys(names) if name in SKIPPABLE)


def _parse_request_control(obj: dict[str, Any]) -> RequestControl:
    token = obj.get("token")
    return RequestControl(
        takeover=_flag(obj.get("takeover", False), "takeover"),
        token=None if token is None else _text(token, "token", MAX_TOKEN_CHARS),
    )


_CLIENT_PARSERS: dict[str, Callable[[dict[str, Any]], ClientMessage]] = {
    "hello": _parse_hello,
    "control": _parse_control,
    "ping": lambda o: Ping(id=_integer(o.get("id", 0), "id", 0, 2**53), t=_number(o.get("t", 0.0), "t")),
    "request_control": _parse_request_control,
    "release_control": lambda o: ReleaseControl(),
    "estop": lambda o: EmergencyStop(engaged=_flag(o.get("engaged", True), "engaged")),
    "record": lambda o: _parse_record(o),
    "speed_cap": lambda o: SpeedCap(
        max_speed=_number(o.get("max_speed"), "max_speed", 0.0, 1.0),
        token=None if o.get("token") is None else _text(o.get("token"), "token", MAX_TOKEN_CHARS),
    ),
    "save_snapshot": lambda o: SaveSnapshot(seconds=None if o.get("seconds") is None else _number(o["seconds"], "seconds", 0.1, 3600)),
    "replay": lambda o: _parse_replay(o),
}


def _parse_record(obj: dict[str, Any]) -> Record:
    command = obj.get("command")
    if not isinstance(command, str) or command not in RecordCommand._value2member_map_:
        raise _Bad(f"command must be one of {', '.join(c.value for c in RecordCommand)}, got {_describe(command)}")
    return Record(RecordCommand(command), _text(obj.get("note", ""), "note", MAX_NAME_CHARS))


def _parse_replay(obj: dict[str, Any]) -> ReplayControl:
    action = obj.get("action")
    if action not in REPLAY_ACTIONS:
        raise _Bad(f"action must be one of {', '.join(REPLAY_ACTIONS)}")
    position = None if obj.get("position") is None else _number(obj["position"], "position", 0, 1e9)
    speed = None if obj.get("speed") is None else _number(obj["speed"], "speed", 0.05, 64)
    return ReplayControl(action, position, speed)


def parse_client_message(data: str | bytes) -> ClientMessage | Invalid:
    """Decode one frame from a client. Never raises; bad input gives :class:`Invalid`."""
    obj = _load_object(data)
    if isinstance(obj, Invalid):
        return obj
    kind = obj.get("type")
    try:
        if kind is None and "Axes" in obj:
            return Control(axes=_axes(obj["Axes"], "Axes"), legacy=True)
        if not isinstance(kind, str):
            return Invalid(ErrorCode.INVALID_MESSAGE, "message has no 'type' field")
        parser = _CLIENT_PARSERS.get(kind)
        if parser is None:
            known = ", ".join(sorted(_CLIENT_PARSERS))
            return Invalid(ErrorCode.UNKNOWN_TYPE, f"unknown message type {_describe(kind)}; expected one of {known}", kind)
        return parser(obj)
    except _Bad as exc:
        return Invalid(ErrorCode.INVALID_MESSAGE, f"{kind}: {exc}", kind if isinstance(kind, str) else None)
    except (TypeError, ValueError, ArithmeticError) as exc:  # a case the checks above missed: still never raise
        return Invalid(ErrorCode.INVALID_MESSAGE, f"{kind}: cannot be read ({type(exc).__name__})", kind if isinstance(kind, str) else None)


def _values(obj: Any) -> dict[str, float | int]:
    if not isinstance(obj, dict):
        raise _Bad("values must be an object")
    return {str(k): v for k, v in obj.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _units(obj: Any) -> dict[str, str]:
    """A welcome's unit names; anything that is not a short text is left out rather than refusing the welcome."""
    if not isinstance(obj, dict):
        return {}
    return {str(k)[:MAX_NAME_CHARS]: v[:MAX_NAME_CHARS] for k, v in obj.items() if isinstance(v, str)}


def _speed_cap(value: Any) -> float:
    """A status's speed cap; anything unreadable is no cap (the server enforces it anyway)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        return 1.0
    return float(value)


def _opt_dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Bad(f"{where} must be an object")
    return value


def _event_level(value: Any) -> EventLevel:
    """An unknown level (from a newer server) is shown as news, as before levels were checked."""
    return EventLevel(value) if isinstance(value, str) and value in EventLevel._value2member_map_ else EventLevel.INFO


def _event_kind(value: Any) -> EventKind:
    return EventKind(value) if isinstance(value, str) and value in EventKind._value2member_map_ else EventKind.OTHER


#: How servers that predate ``kind`` began each kind of event's text. Read only when an
#: event has no ``kind`` field at all: a server that sends one is never read by its words.
LEGACY_EVENT_PREFIXES: tuple[tuple[str, EventKind], ...] = (
    ("failsafe", EventKind.FAILSAFE),
    ("emergency stop", EventKind.ESTOP),
    ("outputs to neutral", EventKind.SERVER),
    ("device", EventKind.DEVICE),
    ("serial link", EventKind.DEVICE),
    ("camera", EventKind.CAMERA),
)


def legacy_event_kind(text: str) -> EventKind:
    """The kind of an event from a server that sent none, from the fixed wording such servers used."""
    return next((kind for prefix, kind in LEGACY_EVENT_PREFIXES if text.startswith(prefix)), EventKind.OTHER)


def _parse_event(o: dict[str, Any]) -> Event:
    text = str(o.get("text", ""))
    return Event(
        level=_event_level(o.get("level", "info")),
        text=text,
        t=_number(o.get("t", 0.0), "t"),
        kind=_event_kind(o["kind"]) if "kind" in o else legacy_event_kind(text),
    )


def _parse_status(o: dict[str, Any]) -> Status:
    _opt_dict(o.get("serial", {}), "serial")  # a status whose link is not an object is refused whole, as it always was
    return Status.from_json(o)


_SERVER_PARSERS: dict[str, Callable[[dict[str, Any]], ServerMessage]] = {
    "welcome": lambda o: Welcome(
        protocol=_integer(o.get("protocol"), "protocol"),
        server=str(o.get("server", "")),
        session=str(o.get("session", "")),
        role=Role(o["role"]) if o.get("role") in ("pilot", "observer") else Role.OBSERVER,
        status=Status.from_json(_opt_dict(o.get("status", {}), "status")),
        readings=_values(o.get("readings", {})),
        limits=_opt_dict(o.get("limits", {}), "limits"),
        client_id=o.get("client_id", 0) if isinstance(o.get("client_id", 0), int) else 0,
        units=_units(o.get("units", {})),
    ),
    "reading": lambda o: Reading(t=_number(o.get("t", 0.0), "t"), values=_values(o.get("values")), seq=o.get("seq", 0)),
    "status": _parse_status,
    "pong": lambda o: Pong(
        id=_integer(o.get("id", 0), "id"), t=_number(o.get("t", 0.0), "t"), server_t=_number(o.get("server_t", 0.0), "server_t")
    ),
    "error": lambda o: Error(
        code=ErrorCode(o["code"]) if o.get("code") in ErrorCode._value2member_map_ else ErrorCode.INVALID_MESSAGE,
        message=str(o.get("message", "")),
        ref=o.get("ref") if isinstance(o.get("ref"), str) else None,
    ),
    "event": _parse_event,
    "outputs": lambda o: Outputs(
        t=_number(o.get("t", 0.0), "t"), lines={str(k): str(v) for k, v in _opt_dict(o.get("lines", {}), "lines").items()}
    ),
}


def parse_server_message(data: str | bytes, *, limit: int = 1 << 20) -> ServerMessage | Invalid:
    """Decode one frame from the server (client side). Never raises.

    The size limit is larger than the client-to-server one because a welcome
    carries a full readings snapshot.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        return Invalid(ErrorCode.BINARY_NOT_SUPPORTED, "binary frames are not supported")
    if len(data) > limit:
        return Invalid(ErrorCode.TOO_LARGE, f"message is {len(data)} characters; the limit is {limit}")
    try:
        obj = _DECODER.decode(data)
    except (_Bad, ValueError, RecursionError) as exc:
        return Invalid(ErrorCode.INVALID_JSON, f"not valid JSON: {exc}")
    if not isinstance(obj, dict):
        return Invalid(ErrorCode.INVALID_MESSAGE, "expected a JSON object")
    kind = obj.get("type")
    parser = _SERVER_PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        return Invalid(ErrorCode.UNKNOWN_TYPE, f"unknown message type {_describe(kind)}")
    try:
        return parser(obj)
    except (_Bad, KeyError, TypeError, ValueError, ArithmeticError) as exc:
        return Invalid(ErrorCode.INVALID_MESSAGE, f"{kind}: {exc}", kind)
