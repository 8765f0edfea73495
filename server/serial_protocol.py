"""The serial line protocol between the bridge and the Arduino (or the simulator).

Host to device, one ASCII command per ``\\n``-terminated line::

    B<int>          show a value on the display         (-9999..9999; seed-compatible)
    A<int>          set the LED bitmask                 (0..255; seed-compatible)
    O<ch> <int>     set output channel ch (servo in microseconds, or PWM duty)
    H               heartbeat: feeds the watchdog, changes nothing
    I               info query
    R<ms>           report interval in ms (0 turns reports off, else 10..10000)

Control lines (``B``, ``A``, ``O``, ``H``) feed the device's watchdog: after
500 ms without one, every output goes to neutral (``EVT watchdog neutral``)
until the next control line (``EVT watchdog resume``). Queries do not feed it.

Every command line gets exactly one reply, ``OK [key=value ...]`` or
``ERR <code> <text>``. Device to host, besides replies:

    READY <name> <version>      once, on boot
    A0:512 A1:300 D2:1 ...      a report: only ``key:value`` tokens
    EVT <name> [text]           an unsolicited event, e.g. ``EVT watchdog neutral``
    # text                      a comment for humans; ignored

Replies start with ``OK``/``ERR`` and reports contain only ``key:value``
tokens, so an unsolicited line can never be mistaken for a reply. The error
codes live here and in ``firmware/protocol.h``; a test keeps them equal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

#: Longest command line the firmware accepts, without the newline.
MAX_LINE = 63

DISPLAY_RANGE = (-9999, 9999)
LEDS_RANGE = (0, 255)
REPORT_MS_RANGE = (10, 10000)


class DeviceError(IntEnum):
    """Numbered error codes of ``ERR <code> <text>`` replies (mirrors protocol.h)."""

    UNKNOWN_COMMAND = 1
    BAD_NUMBER = 2
    OUT_OF_RANGE = 3
    LINE_TOO_LONG = 4
    BAD_CHANNEL = 5


# --------------------------------------------------------------------------- host to device


def display(value: int) -> str:
    return f"B{int(value)}"


def leds(mask: int) -> str:
    return f"A{int(mask)}"


def output(channel: int, value: int) -> str:
    return f"O{int(channel)} {int(value)}"


HEARTBEAT = "H"
INFO = "I"


def report_interval(ms: int) -> str:
    return f"R{int(ms)}"


# --------------------------------------------------------------------------- device to host


@dataclass(frozen=True, slots=True)
class Ready:
    name: str
    version: str


@dataclass(frozen=True, slots=True)
class Ok:
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class Err:
    code: int
    text: str


@dataclass(frozen=True, slots=True)
class Report:
    values: dict[str, int | float]


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    name: str
    text: str


@dataclass(frozen=True, slots=True)
class Comment:
    text: str


@dataclass(frozen=True, slots=True)
class Unrecognised:
    """A line that fits no rule (line noise at boot, a foreign sketch); logged, never fatal."""

    line: str


DeviceLine = Ready | Ok | Err | Report | DeviceEvent | Comment | Unrecognised

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,31}\Z")


def _number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None


def parse_device_line(raw: bytes | str) -> DeviceLine:
    """Classify one line from the device. Never raises."""
    line = raw.decode("ascii", errors="replace") if isinstance(raw, bytes) else raw
    line = line.strip()
    if not line:
        return Comment("")
    if line.startswith("#"):
        return Comment(line[1:].strip())
    head, _, rest = line.partition(" ")
    if head == "OK":
        fields = {}
        for token in rest.split():
            key, sep, value = token.partition("=")
            fields[key] = value if sep else ""
        return Ok(fields)
    if head == "ERR":
        code_text, _, text = rest.partition(" ")
        if code_text.isdigit():
            return Err(int(code_text), text)
        return Unrecognised(line)
    if head == "READY":
        name, _, version = rest.partition(" ")
        return Ready(name or "unknown", version.strip())
    if head == "EVT":
        name, _, text = rest.partition(" ")
        return DeviceEvent(name, text.strip())
    values: dict[str, int | float] = {}
    for token in line.split():
        key, sep, value_text = token.partition(":")
        value = _number(value_text) if sep else None
        if value is None or not _KEY.match(key):
            return Unrecognised(line)
        values[key] = value
    return Report(values)


class LineSplitter:
    """Cuts a byte stream into lines, bounded so a device spewing garbage cannot grow memory.

    A line longer than ``max_line`` is dropped whole (reported as ``None``) up to
    its newline, the same rule the firmware applies to its input.
    """

    def __init__(self, max_line: int = 256) -> None:
        self._buffer = bytearray()
        self._max_line = max_line
        self._discarding = False

    def feed(self, data: bytes) -> list[bytes | None]:
        lines: list[bytes | None] = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            chunk = data[start:end]
            if self._discarding:
                self._discarding = False
                lines.append(None)
            elif len(self._buffer) + len(chunk) > self._max_line:
                self._buffer.clear()
                lines.append(None)
            else:
                self._buffer += chunk
                lines.append(bytes(self._buffer).rstrip(b"\r"))
                self._buffer.clear()
            start = end + 1
        tail = data[start:]
        if not self._discarding:
            if len(self._buffer) + len(tail) > self._max_line:
                self._buffer.clear()
                self._discarding = True
            else:
                self._buffer += tail
        return lines

    def flush(self) -> bytes | None:
        """The partial line held so far (a sketch's ``print`` without a newline), taken as complete."""
        if self._discarding or not self._buffer:
            return None
        line = bytes(self._buffer).rstrip(b"\r")
        self._buffer.clear()
        return line
