"""What an MCAP recording holds and when its files and chunks end: no disk, no clock of its own.

Every stream is one channel of JSON messages with a JSON schema, so Foxglove,
Lichtblick and PlotJuggler show them without a plug-in: readings plot, the
event log uses Foxglove's own ``foxglove.Log`` schema (its log panel shows it)
and the camera its ``foxglove.CompressedImage``. Log times are the server's
receive time in nanoseconds since the Unix epoch, which is what those tools put
on their time line; a sender's own clock (the pilot's ``t``) stays inside the
message.

The writers (:mod:`teleop_server.record`) ask this module what to write and when
to close a chunk or start a new file; the snapshot ring decides what the last
N seconds are. Everything here is fed the time, so tests drive it with a fake clock.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: MCAP's well-known encodings for JSON messages described by a JSON schema.
MESSAGE_ENCODING = "json"
SCHEMA_ENCODING = "jsonschema"
#: The MCAP header's profile: empty means "no ROS profile", the right one for JSON channels.
PROFILE = ""

#: A chunk is closed at this size (uncompressed) or age, whichever comes first: what a crash can cost.
CHUNK_BYTES = 64 * 1024
CHUNK_SECONDS = 1.0

_NUMBER = {"type": "number"}
_SECONDS = {"type": "number", "description": "seconds since the Unix epoch"}

#: foxglove.Log levels (1 DEBUG .. 5 FATAL) for the levels the bridge's events carry.
LOG_LEVELS = {"debug": 1, "info": 2, "warning": 3, "error": 4, "fatal": 5}

_TIME = {
    "type": "object",
    "title": "time",
    "properties": {"sec": {"type": "integer", "minimum": 0}, "nsec": {"type": "integer", "minimum": 0, "maximum": 999999999}},
    "required": ["sec", "nsec"],
}


@dataclass(frozen=True)
class ChannelSpec:
    """One stream of the recording: its topic, the name of its schema and the schema itself."""

    topic: str
    schema_name: str
    schema: dict[str, Any]

    @property
    def schema_bytes(self) -> bytes:
        return json.dumps(self.schema, separators=(",", ":"), sort_keys=True).encode()


READINGS = ChannelSpec(
    "/readings",
    "teleop.Reading",
    {
        "type": "object",
        "title": "teleop.Reading",
        "description": "The device's readings as clients received them (newest value per key since the previous message).",
        "properties": {
            "t": _SECONDS,
            "seq": {"type": "integer", "minimum": 0},
            "values": {"type": "object", "additionalProperties": _NUMBER},
        },
        "required": ["t", "values"],
    },
)
COMMANDS = ChannelSpec(
    "/device/commands",
    "teleop.DeviceCommand",
    {
        "type": "object",
        "title": "teleop.DeviceCommand",
        "description": "A command line written to the device on the serial port.",
        "properties": {"t": _SECONDS, "line": {"type": "string"}},
        "required": ["t", "line"],
    },
)
CONTROLS = ChannelSpec(
    "/pilot/control",
    "teleop.Control",
    {
        "type": "object",
        "title": "teleop.Control",
        "description": "The pilot's control message as received; 'sent' is the pilot's own clock.",
        "properties": {
            "t": _SECONDS,
            "client": {"type": "integer"},
            "seq": {"type": "integer"},
            "sent": _NUMBER,
            "axes": {"type": "array", "items": _NUMBER},
            "buttons": {"type": "array", "items": _NUMBER},
            "hats": {"type": "array", "items": {"type": "array", "items": _NUMBER}},
            "layout": {"type": "string"},
            "raw": {"type": "string", "description": "the message as text when it was not a control message the server understood"},
        },
        "required": ["t"],
    },
)
EVENTS = ChannelSpec(
    "/events",
    "foxglove.Log",
    {
        "type": "object",
        "title": "foxglove.Log",
        "description": "A log message",
        "properties": {
            "timestamp": _TIME,
            "level": {"type": "integer", "enum": [0, 1, 2, 3, 4, 5]},
            "message": {"type": "string"},
            "name": {"type": "string"},
            "file": {"type": "string"},
            "line": {"type": "integer", "minimum": 0},
        },
        "required": ["timestamp", "level", "message", "name", "file", "line"],
    },
)
VIDEO = ChannelSpec(
    "/camera/image",
    "foxglove.CompressedImage",
    {
        "type": "object",
        "title": "foxglove.CompressedImage",
        "description": "A compressed image",
        "properties": {
            "timestamp": _TIME,
            "frame_id": {"type": "string"},
            "data": {"type": "string", "contentEncoding": "base64"},
            "format": {"type": "string"},
        },
        "required": ["timestamp", "frame_id", "data", "format"],
    },
)
GAPS = ChannelSpec(
    "/recording/gap",
    "teleop.RecordingGap",
    {
        "type": "object",
        "title": "teleop.RecordingGap",
        "description": "Messages the recorder could not write (a full, failing or stalled disk): how many, from when to when.",
        "properties": {
            "t": _SECONDS,
            "lost": {"type": "integer", "minimum": 1},
            "from": _SECONDS,
            "to": _SECONDS,
            "reason": {"type": "string"},
        },
        "required": ["t", "lost", "from", "to", "reason"],
    },
)

#: Every channel, in the order a file declares them.
CHANNELS: tuple[ChannelSpec, ...] = (READINGS, COMMANDS, CONTROLS, EVENTS, VIDEO, GAPS)
BY_TOPIC = {spec.topic: spec for spec in CHANNELS}
#: The record kinds the recorders are offered, and the channel each goes to.
KIND_CHANNEL = {"reading": READINGS, "command": COMMANDS, "control": CONTROLS, "event": EVENTS, "frame": VIDEO, "gap": GAPS}


def ns(t: float) -> int:
    """Seconds since the epoch to MCAP's nanoseconds (never negative, never a float)."""
    return max(0, round(t * 1e9))


def stamp(t: float) -> dict[str, int]:
    whole = ns(t)
    return {"sec": whole // 1_000_000_000, "nsec": whole % 1_000_000_000}


def _dump(message: dict[str, Any]) -> bytes:
    # default=str: a value JSON cannot hold is written as text rather than losing the message
    return json.dumps(message, separators=(",", ":"), default=str, allow_nan=False).encode()


def reading_message(t: float, values: dict[str, int | float], seq: int = 0) -> bytes:
    finite = {k: v for k, v in values.items() if isinstance(v, int | float) and math.isfinite(v)}
    return _dump({"t": round(t, 6), "seq": seq, "values": finite})


def command_message(t: float, line: str) -> bytes:
    return _dump({"t": round(t, 6), "line": line})


def control_message(t: float, client: int, text: str | bytes) -> bytes:
    """The pilot's frame: its fields when it is a JSON object the schema describes, else the text itself."""
    message: dict[str, Any] = {"t": round(t, 6), "client": client}
    try:
        body = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        body = None
    if (
        isinstance(body, dict)
        and body.get("type") == "control"
        and all(fits(body[key]) for key, (_, fits) in _CONTROL_FIELDS.items() if key in body)
    ):
        for key, (target, _) in _CONTROL_FIELDS.items():
            if key in body:
                message[target] = body[key]
        try:
            return _blanked(_dump(message))  # a field the schema reads may still hold a string: the token, say
        except ValueError:  # NaN or infinity smuggled in: keep it as text
            pass
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    # blanked before it is cut: a token across the cut would keep its first characters
    return _dump({"t": round(t, 6), "client": client, "raw": without_secrets(raw)[:4096]})


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)  # JSON's true is no number to a reader


def _are_numbers(value: Any) -> bool:
    return isinstance(value, list) and all(map(_is_number, value))


#: a control's field -> (its name in the channel's schema, whether a value fits it): a control with a field that
#: does not fit (a string among the axes) is kept as text, so every message in the file is one its schema describes
_CONTROL_FIELDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "seq": ("seq", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "t": ("sent", _is_number),
    "axes": ("axes", _are_numbers),
    "buttons": ("buttons", _are_numbers),
    "hats": ("hats", lambda v: isinstance(v, list) and all(map(_are_numbers, v))),
    "layout": ("layout", lambda v: isinstance(v, str)),
}


def _blanked(data: bytes) -> bytes:
    """``data`` (JSON) with the server's own token blanked, in the rare message that holds it: every control the
    pilot sends comes through here, so the common case is one search of the bytes per secret, nothing decoded."""
    if any(secret in data for secret in _KNOWN_SECRET_BYTES):
        return without_secrets(data.decode()).encode()
    return data


#: a ``"token": "..."`` pair in a frame's text, whole or cut short (the value up to its closing quote, if any)
_SECRET = re.compile(r'("token"\s*:\s*)"(?:[^"\\]|\\.)*"?')


#: secrets blanked wherever they appear (the server's pilot token: a frame may carry it under any key, or none)
_KNOWN_SECRETS: set[str] = set()
#: the same, as UTF-8 (what a message is searched for before it is decoded)
_KNOWN_SECRET_BYTES: set[bytes] = set()
#: shorter than this, a value could be part of any text: never blanked by value
MIN_SECRET = 8


def keep_out(secret: str | None) -> None:
    """Blank ``secret`` wherever it appears in what is recorded or streamed from now on (the pilot token), as
    written and as JSON writes it inside a string (a token of the owner's choosing may hold quotes or non-ASCII)."""
    if secret and len(secret) >= MIN_SECRET:
        forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
        _KNOWN_SECRETS.update(forms)
        _KNOWN_SECRET_BYTES.update(form.encode() for form in forms)


def without_secrets(text: str) -> str:
    """``text`` with every pilot token blanked: recordings and the Foxglove stream outlive the session and reach
    people who may not drive. A ``"token"`` value goes whatever it is (a pilot's request to drive carries one);
    the server's own token goes wherever it is (in a list, under another key, in a note, in text that is not
    JSON)."""
    text = _SECRET.sub(r'\1"(removed)"', text)
    for secret in _KNOWN_SECRETS:
        if secret in text:
            text = text.replace(secret, "(removed)")
    return text


def log_message(t: float, level: str, text: str, name: str = "teleop-server") -> bytes:
    message = without_secrets(text)  # an event may quote what a client sent (its name, say)
    return _dump({"timestamp": stamp(t), "level": LOG_LEVELS.get(level, 2), "message": message, "name": name, "file": "", "line": 0})


def image_message(t: float, jpeg: bytes, frame_id: str = "camera") -> bytes:
    return _dump({"timestamp": stamp(t), "frame_id": frame_id, "data": base64.b64encode(jpeg).decode("ascii"), "format": "jpeg"})


def gap_message(t: float, lost: int, first: float, last: float, reason: str) -> bytes:
    return _dump({"t": round(t, 6), "lost": lost, "from": round(first, 6), "to": round(last, 6), "reason": reason})


def metadata_text(values: dict[str, Any]) -> dict[str, str]:
    """MCAP metadata holds strings only: anything else is written as JSON."""
    return {str(k): v if isinstance(v, str) else json.dumps(v, separators=(",", ":"), default=str) for k, v in values.items()}


# -- when a file ends ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Rotation:
    """When the current file is closed and a new one begun: past ``max_bytes`` or older than ``max_seconds``."""

    max_bytes: int | None = None
    max_seconds: float | None = None

    def due(self, size: int, opened_at: float, now: float, *, adding: int = 0) -> bool:
        """True if a file of ``size`` bytes opened at ``opened_at`` must end before ``adding`` more bytes go in."""
        if size <= 0:
            return False  # an empty file takes what comes, even one record bigger than the limit
        if self.max_bytes and size + adding > self.max_bytes:
            return True
        return bool(self.max_seconds) and now - opened_at >= self.max_seconds  # type: ignore[operator]


def rotated_names(path: str, keep: int) -> list[tuple[str, str]]:
    """The renames that shift FILE to FILE.1, FILE.1 to FILE.2, ... (oldest first), as logrotate does.

    Empty when ``keep`` is 0: FILE is then simply started afresh.
    """
    if keep <= 0:
        return []
    return [(f"{path}.{n}", f"{path}.{n + 1}") for n in range(keep - 1, 0, -1)] + [(path, f"{path}.1")]


@dataclass
class ChunkClock:
    """A chunk closes at :data:`CHUNK_BYTES` or after :data:`CHUNK_SECONDS`, so a crash costs about a second at most."""

    max_bytes: int = CHUNK_BYTES
    max_seconds: float = CHUNK_SECONDS
    started: float | None = None  # monotonic time of the chunk's first message
    size: int = 0

    def added(self, nbytes: int, now: float) -> None:
        if self.started is None:
            self.started = now
        self.size += nbytes

    def due(self, now: float) -> bool:
        return self.started is not None and (self.size >= self.max_bytes or now - self.started >= self.max_seconds)

    def wait(self, now: float) -> float | None:
        """Seconds until the open chunk must be closed; None when no chunk is open."""
        if self.started is None:
            return None
        return max(0.0, self.started + self.max_seconds - now)

    def closed(self) -> None:
        self.started = None
        self.size = 0


# -- the snapshot: the last N seconds in memory --------------------------------------------------


@dataclass(slots=True)
class Kept:
    """One message in the snapshot ring: its wall-clock receive time, what it is, and the bytes it holds."""

    t: float
    item: Any
    size: int


@dataclass
class SnapshotRing:
    """The last ``seconds`` of messages, within ``max_bytes`` of memory (the oldest go first).

    Video frames are large: the byte bound is what keeps a Pi's memory in check
    when the camera is kept too; readings alone never come near it.
    """

    seconds: float = 30.0
    max_bytes: int = 64 * 1024 * 1024
    size: int = 0
    items: deque[Kept] = field(default_factory=deque)

    def add(self, t: float, item: Any, size: int) -> None:
        self.items.append(Kept(t, item, size))
        self.size += size
        self.trim(t)

    def trim(self, now: float) -> None:
        items = self.items
        while items and (items[0].t < now - self.seconds or self.size > self.max_bytes):
            self.size -= items.popleft().size

    def window(self, now: float, seconds: float | None = None) -> list[Any]:
        """What a snapshot taken at ``now`` holds: the last ``seconds`` (at most all it keeps), oldest first."""
        self.trim(now)
        since = now - min(self.seconds, seconds if seconds is not None else self.seconds)
        return [k.item for k in self.items if k.t >= since]


def snapshot_name(t: float, local: Any) -> str:
    """``snapshot-20261206-142501.mcap`` from a local ``time.struct_time``; sorts by time."""
    return f"snapshot-{local.tm_year:04d}{local.tm_mon:02d}{local.tm_mday:02d}-{local.tm_hour:02d}{local.tm_min:02d}{local.tm_sec:02d}.mcap"


#: Once a snapshot was saved, another one is not begun for this long (a pad button held down, a flood of asks).
SNAPSHOT_INTERVAL = 2.0


@dataclass
class TripWatch:
    """An automatic snapshot when the e-stop is engaged or the failsafe trips (each time it does, not while it stays)."""

    on_estop: bool = False
    on_failsafe: bool = False
    estop: bool = False
    failsafe: bool = True  # the server starts with outputs at neutral: that is no trip

    def changed(self, estop: bool, failsafe: bool) -> str | None:
        reason = None
        if estop and not self.estop and self.on_estop:
            reason = "the emergency stop was engaged"
        elif failsafe and not self.failsafe and not estop and self.on_failsafe:
            reason = "the failsafe tripped"
        self.estop, self.failsafe = estop, failsafe
        return reason
