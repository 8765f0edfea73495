"""The serial line protocol between the bridge and the Arduino (or the simulator), and its one table.

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
tokens, so an unsolicited line can never be mistaken for a reply.

**The stop byte (realtime, like grbl's).** The single byte ``0x18`` (Ctrl-X)
is not a line and gets no reply. The device acts on it the moment it arrives,
before its line buffer: every output (display, LEDs, all channels) goes to
neutral at once, any partial line is discarded, and the watchdog is left
tripped, so the outputs stay neutral until the next control line (which
prints ``EVT watchdog resume`` as usual). Complete lines received before it
are still answered, in order. The device prints ``EVT stop neutral`` once per
stop byte. A device supports it when its info reply carries ``stop=24`` (the
byte's value in decimal; protocol 2); a device without that field gets only
the neutral lines.

**One table.** Everything both ends must agree on lives below, once: the
error codes and their texts, event lines, value ranges, the output channels
(kind, low, high, neutral), the report keys and their units, line and reply
limits, watchdog and report timing, the stop byte, the protocol version and
the firmware's name and version. The firmware's ``protocol.h`` is generated
from it (``python -m teleop_server.rules.serial_protocol --c-header > firmware/protocol.h``),
the simulator, the config's channel check and the clients' units follow it,
and ``tests/server/rules/test_protocol_table.py`` checks that they all still agree.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from enum import IntEnum, StrEnum

# --------------------------------------------------------------------------- the table

#: Name and version the real firmware announces (``READY`` line and info reply).
FIRMWARE_NAME = "teleop-uno"
FIRMWARE_VERSION = "0.2.0"
#: Version of this serial protocol; 2 added the stop byte. (Not the WebSocket protocol's.)
PROTOCOL_VERSION = 2

#: Longest command line the firmware accepts, without the newline.
MAX_LINE = 63
#: No control line for this long: every output to neutral.
WATCHDOG_MS = 500
DEFAULT_REPORT_MS = 50
#: The realtime stop byte (Ctrl-X, as grbl's soft reset): neutral now, outside the line buffer.
STOP_BYTE = 0x18

DISPLAY_RANGE = (-9999, 9999)
LEDS_RANGE = (0, 255)
REPORT_MS_RANGE = (10, 10000)


class DeviceError(IntEnum):
    """Numbered error codes of ``ERR <code> <text>`` replies."""

    UNKNOWN_COMMAND = 1
    BAD_NUMBER = 2
    OUT_OF_RANGE = 3
    LINE_TOO_LONG = 4
    BAD_CHANNEL = 5


#: The text after the code in an ``ERR`` reply.
ERROR_TEXT: dict[DeviceError, str] = {
    DeviceError.UNKNOWN_COMMAND: "unknown command",
    DeviceError.BAD_NUMBER: "bad number",
    DeviceError.OUT_OF_RANGE: "out of range",
    DeviceError.LINE_TOO_LONG: "line too long",
    DeviceError.BAD_CHANNEL: "bad channel",
}


class EventLine(StrEnum):
    """What follows ``EVT `` in the device's unsolicited event lines."""

    WATCHDOG_NEUTRAL = "watchdog neutral"
    WATCHDOG_RESUME = "watchdog resume"
    STOP_NEUTRAL = "stop neutral"


class ChannelKind(StrEnum):
    SERVO = "servo"  # pulse width in microseconds
    PWM = "pwm"  # duty 0..255


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """One output channel ``O<n>``: what it drives and the values it accepts."""

    kind: ChannelKind
    low: int
    high: int
    neutral: int

    @property
    def unit(self) -> str:
        return "servo µs" if self.kind is ChannelKind.SERVO else f"PWM {self.low}-{self.high}"


#: The Uno build's channels: two servos (pins 9, 10) and two PWM pins (5, 6).
CHANNELS: tuple[ChannelSpec, ...] = (
    ChannelSpec(ChannelKind.SERVO, 1000, 2000, 1500),
    ChannelSpec(ChannelKind.SERVO, 1000, 2000, 1500),
    ChannelSpec(ChannelKind.PWM, 0, 255, 0),
    ChannelSpec(ChannelKind.PWM, 0, 255, 0),
)

#: Analog inputs reported as ``A0``.. (10-bit ADC counts).
ANALOG_INPUTS = 4


def report_keys(channels: tuple[ChannelSpec, ...] = CHANNELS) -> list[str]:
    """The keys of the periodic report, in the order the device prints them."""
    return [*(f"A{pin}" for pin in range(ANALOG_INPUTS)), "D2", "disp", "led", *(f"O{n}" for n in range(len(channels))), "wd"]


_FIXED_UNITS = {"D2": "button", "disp": "display", "led": "LED mask", "wd": "watchdog"}

#: Every key of the periodic report, in the device's order, with its unit (what clients show beside it).
REPORT_UNITS: dict[str, str] = {
    key: _FIXED_UNITS.get(key) or (CHANNELS[int(key[1:])].unit if key.startswith("O") else "ADC 0-1023") for key in report_keys()
}


def command_range(command: str, channel: int | None = None) -> tuple[int, int] | None:
    """The values a device command accepts (``B``, ``A`` or ``O`` with its channel); None if unknown."""
    if command == "B":
        return DISPLAY_RANGE
    if command == "A":
        return LEDS_RANGE
    if command == "O" and channel is not None and 0 <= channel < len(CHANNELS):
        return CHANNELS[channel].low, CHANNELS[channel].high
    return None


def command_neutral(command: str, channel: int | None = None) -> int:
    """The neutral value of a device command: the channel's for ``O``, else 0 (display blank, LEDs off)."""
    if command == "O" and channel is not None and 0 <= channel < len(CHANNELS):
        return CHANNELS[channel].neutral
    return 0


def error_reply(code: DeviceError) -> str:
    """The ``ERR`` reply line (no newline) for a code."""
    return f"ERR {int(code)} {ERROR_TEXT[code]}"


def event_line(event: EventLine) -> str:
    return f"EVT {event}"


def info_reply(name: str, version: str, channels: tuple[ChannelSpec, ...], report_ms: int) -> str:
    """The reply to ``I`` (no newline), as the firmware formats it."""
    outputs = ",".join(f"O{n}:{c.kind}:{c.low}:{c.high}:{c.neutral}" for n, c in enumerate(channels))
    return f"OK name={name} version={version} protocol={PROTOCOL_VERSION} outputs={outputs} report_ms={report_ms} stop={STOP_BYTE}"


def supports_stop(info: dict[str, str]) -> bool:
    """Whether a device's info reply fields announce the stop byte (``stop=24``)."""
    return info.get("stop") == str(STOP_BYTE)


def parse_outputs(text: str) -> tuple[ChannelSpec, ...] | None:
    """The channels of an info reply's ``outputs=`` field, or None if it is malformed."""
    channels = []
    for index, item in enumerate(text.split(",") if text else ()):
        match = re.fullmatch(r"O(\d+):(servo|pwm):(-?\d+):(-?\d+):(-?\d+)", item)
        if not match or int(match.group(1)) != index:
            return None
        channels.append(ChannelSpec(ChannelKind(match.group(2)), *(int(match.group(g)) for g in (3, 4, 5))))
    return tuple(channels)


# --------------------------------------------------------------------------- host to device


def display(value: int) -> str:
    return f"B{int(value)}"


def leds(mask: int) -> str:
    return f"A{int(mask)}"


def output(channel: int, value: int) -> str:
    return f"O{int(channel)} {int(value)}"


HEARTBEAT = "H"
INFO = "I"
#: Sent on its own, never inside a line: every output to neutral now (see the module docstring).
STOP = bytes([STOP_BYTE])


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

    @property
    def event(self) -> str:
        """``name text`` as one string, to compare with an :class:`EventLine`."""
        return f"{self.name} {self.text}".strip()


@dataclass(frozen=True, slots=True)
class Comment:
    text: str


@dataclass(frozen=True, slots=True)
class Unrecognised:
    """A line that fits no rule (line noise at boot, a foreign sketch); logged, never fatal."""

    line: str


DeviceLine = Ready | Ok | Err | Report | DeviceEvent | Comment | Unrecognised

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,31}\Z")


def number(text: str) -> int | float | None:
    """A device's number: an int if it is one, else a finite float, else None (NaN and inf are not readings)."""
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
        fields: dict[str, str] = {}
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
        reading = number(value_text) if sep else None
        if reading is None or not _KEY.match(key):
            return Unrecognised(line)
        values[key] = reading
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


# --------------------------------------------------------------------------- reports and limits


def report_line(values: dict[str, int], channels: tuple[ChannelSpec, ...] = CHANNELS) -> str:
    """A report (no newline) with its keys in the device's order; missing keys read 0."""
    return " ".join(f"{key}:{int(values.get(key, 0))}" for key in report_keys(channels))


def _widest(*numbers: int) -> int:
    return max(len(str(n)) for n in numbers)


def max_reply_length() -> int:
    """The longest reply the firmware can print (its reply buffer is this plus one)."""
    info = info_reply(FIRMWARE_NAME, FIRMWARE_VERSION, CHANNELS, REPORT_MS_RANGE[1])
    return max(len(info), *(len(error_reply(code)) for code in DeviceError))


def max_report_length() -> int:
    """The longest report line the firmware can print, from the widest value of every key."""
    widths = {f"A{pin}": 4 for pin in range(ANALOG_INPUTS)}
    widths |= {"D2": 1, "disp": _widest(*DISPLAY_RANGE), "led": _widest(*LEDS_RANGE), "wd": 1}
    widths |= {f"O{n}": _widest(c.low, c.high, c.neutral) for n, c in enumerate(CHANNELS)}
    return sum(len(key) + 1 + widths[key] for key in REPORT_UNITS) + len(REPORT_UNITS) - 1


# --------------------------------------------------------------------------- the firmware's header


def _c_int(value: int) -> str:
    return f"({value})" if value < 0 else str(value)


def _c_string(text: str) -> str:
    if not text.isascii() or any(c in text for c in '"\\'):
        raise ValueError(f"not a plain C string: {text!r}")
    return f'"{text}"'


def c_header() -> str:
    """``firmware/protocol.h``, generated from the table above."""
    kinds = list(ChannelKind)
    out = [
        "/*",
        " * GENERATED by `python -m teleop_server.rules.serial_protocol --c-header > firmware/protocol.h`",
        " * from the table in server/rules/serial_protocol.py: do not edit; change the table and regenerate.",
        " * tests/server/rules/test_protocol_table.py fails when this file and the table disagree.",
        " */",
        "#ifndef TELEOP_PROTOCOL_H",
        "#define TELEOP_PROTOCOL_H",
        "",
        f"#define TELEOP_FIRMWARE_NAME {_c_string(FIRMWARE_NAME)}",
        f"#define TELEOP_FIRMWARE_VERSION {_c_string(FIRMWARE_VERSION)}",
        f"#define TELEOP_PROTOCOL_VERSION {PROTOCOL_VERSION}",
        "",
        "/* Longest command line accepted, without its newline; a longer line is rejected whole. */",
        f"#define TELEOP_MAX_LINE {MAX_LINE}",
        "/* Longest reply (the info reply at the slowest report rate) and report line, without newline. */",
        f"#define TELEOP_MAX_REPLY {max_reply_length()}",
        f"#define TELEOP_MAX_REPORT {max_report_length()}",
        "",
        "/* Realtime byte, acted on before the line buffer: every output to neutral, partial line dropped. */",
        f"#define TELEOP_STOP_BYTE 0x{STOP_BYTE:02X}",
        "/* No control line (B, A, O, H) for this long: every output to neutral. */",
        f"#define TELEOP_WATCHDOG_MS {WATCHDOG_MS}UL",
        f"#define TELEOP_DEFAULT_REPORT_MS {DEFAULT_REPORT_MS}",
        "",
        f"#define TELEOP_DISPLAY_MIN {_c_int(DISPLAY_RANGE[0])}",
        f"#define TELEOP_DISPLAY_MAX {_c_int(DISPLAY_RANGE[1])}",
        f"#define TELEOP_LEDS_MIN {_c_int(LEDS_RANGE[0])}",
        f"#define TELEOP_LEDS_MAX {_c_int(LEDS_RANGE[1])}",
        f"#define TELEOP_REPORT_MS_MIN {_c_int(REPORT_MS_RANGE[0])}",
        f"#define TELEOP_REPORT_MS_MAX {_c_int(REPORT_MS_RANGE[1])}",
        "",
        "/* ERR <code> <text> */",
        *(f"#define ERR_{code.name} {int(code)}" for code in DeviceError),
        "/* X(code, text) for every error: #define X(code, text) ... then TELEOP_ERRORS(X) */",
        "#define TELEOP_ERRORS(X) \\",
        *(f"    X(ERR_{code.name}, {_c_string(ERROR_TEXT[code])}) \\" for code in DeviceError),
        "",
        "/* Event lines, without the newline. */",
        *(f"#define TELEOP_EVT_{event.name} {_c_string(event_line(event))}" for event in EventLine),
        "",
        "/* Output channels O0..: kind, low, high, neutral. */",
        *(f"#define TELEOP_CHANNEL_{kind.name} {i}" for i, kind in enumerate(kinds)),
        f"#define TELEOP_CHANNEL_KIND_NAMES {{{', '.join(_c_string(str(kind)) for kind in kinds)}}}",
        f"#define TELEOP_CHANNELS {len(CHANNELS)}",
        "#define TELEOP_CHANNEL_TABLE \\",
        "    { \\",
        *(f"        {{TELEOP_CHANNEL_{c.kind.name}, {_c_int(c.low)}, {_c_int(c.high)}, {_c_int(c.neutral)}}}, \\" for c in CHANNELS),
        "    }",
        "",
        "/* Report keys, in order: " + " ".join(REPORT_UNITS) + " */",
        f"#define TELEOP_ANALOG_INPUTS {ANALOG_INPUTS}",
        "",
        "#endif",
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m teleop_server.rules.serial_protocol", description="The serial protocol's table.")
    parser.add_argument("--c-header", action="store_true", help="print the firmware's protocol.h, generated from the table")
    args = parser.parse_args(argv)
    if not args.c_header:
        parser.print_help()
        return 2
    sys.stdout.write(c_header())
    return 0


if __name__ == "__main__":
    sys.exit(main())
