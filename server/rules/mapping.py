"""Which stick or button drives which device command: the pilot's input becomes command lines.

Plain Python, no I/O. The server loads a list of :class:`OutputMap` from its
TOML config; :class:`CommandMapper` turns each control message into one line
per output, keyed by output so that the serial writer can keep only the newest
line of each (latest wins per output, never across outputs).

The speed cap (``[limits] max_speed``, lowered live by an operator) is a fraction of
each output's travel from its neutral: with 0.5, an output with neutral 0 and range
-1000..1000 goes no further than -500..500, whatever the pilot sends. It applies to
outputs driven by an axis or a hat; outputs driven by buttons (lights, a horn, the
``buttons`` bitmask) are switches, not speeds, and are left alone.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from teleop.wire import layout
from teleop.wire.errors import ConfigError
from teleop.wire.protocol import Control
from teleop_server.rules import serial_protocol

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,15}\Z")


def round_half_away(value: float) -> int:
    """Round like people expect (0.5 -> 1, -0.5 -> -1), not banker's rounding."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


@dataclass(frozen=True)
class OutputMap:
    """One device output and the input that drives it.

    ``source`` is a named control (``leftx``, ``lefty``, ``a``, ``dpup``, ...: the
    same control on any pad, see :mod:`teleop.wire.layout`), ``axisN``, ``buttonN``,
    ``hatN.x``, ``hatN.y`` (by number, as the pad sends them) or ``buttons``
    (a, b, x, y, the shoulders, back and start as a bitmask: buttons 0..7 of a
    raw pad). The sent value is
    ``clamp(round(source * scale + offset), low, high)``; ``neutral`` is what
    the failsafe writes.

    ``format`` writes the line for a sketch with its own commands, e.g.
    ``"S{channel},{value}"`` or ``"{value}"``; ``command`` then only names the
    output (newest value wins per name).
    """

    command: str
    source: str
    scale: float = 1.0
    offset: float = 0.0
    low: int = -9999
    high: int = 9999
    neutral: int = 0
    channel: int | None = None
    format: str | None = None

    @property
    def key(self) -> str:
        return f"O{self.channel}" if self.command == "O" else self.command

    def line(self, value: int) -> str:
        if self.format is not None:
            return self.format.format(value=value, channel=self.channel if self.channel is not None else 0).rstrip("\n")
        if self.command == "B":
            return serial_protocol.display(value)
        if self.command == "A":
            return serial_protocol.leds(value)
        assert self.channel is not None
        return serial_protocol.output(self.channel, value)

    def validate(self, where: str) -> None:
        if self.format is not None:
            self._validate_format(where)
        elif self.command not in ("A", "B", "O"):
            raise ConfigError(f"{where}: command must be 'A', 'B' or 'O' (or give a format for a sketch of your own), got {self.command!r}")
        # Our firmware has the protocol table's channels; a sketch of your own (a format) names up to 16.
        channels = len(serial_protocol.CHANNELS) if self.format is None else 16
        if self.command == "O" and (self.channel is None or not 0 <= self.channel < channels):
            whose = " (the firmware's channels)" if self.format is None else ""
            raise ConfigError(f"{where}: command 'O' needs a channel from 0 to {channels - 1}{whose}")
        if not layout.is_source(self.source):
            raise ConfigError(f"{where}: source must be {layout.SOURCE_HELP}; got {self.source!r}")
        if self.low > self.high:
            raise ConfigError(f"{where}: min ({self.low}) is above max ({self.high})")
        if not self.low <= self.neutral <= self.high:
            raise ConfigError(f"{where}: neutral ({self.neutral}) must lie between min and max")
        accepted = serial_protocol.command_range(self.command, self.channel) if self.format is None else None
        if accepted and not accepted[0] <= self.low <= self.high <= accepted[1]:
            raise ConfigError(
                f"{where}: min and max ({self.low}..{self.high}) must lie within {accepted[0]}..{accepted[1]}, what the device accepts for {self.key}"
            )
        if not (math.isfinite(self.scale) and math.isfinite(self.offset)):
            raise ConfigError(f"{where}: scale and offset must be finite numbers")

    def _validate_format(self, where: str) -> None:
        if not _NAME.match(self.command):
            raise ConfigError(f"{where}: command must be a short name (letters, digits, _) when a format is given, got {self.command!r}")
        try:
            sample = self.line(self.low)
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"{where}: format {self.format!r} may use only {{value}} and {{channel}} ({exc})") from None
        if not sample or not sample.isascii() or not sample.isprintable() or len(sample) > 120:
            raise ConfigError(f"{where}: format {self.format!r} must give one line of printable ASCII (at most 120 characters)")

    def read(self, control: Control) -> float:
        """The raw source value from a control message, in the layout it says; missing inputs read as 0."""
        return layout.read(self.source, control.layout, control.axes, control.buttons, control.hats)

    def value(self, control: Control, cap: float = 1.0) -> int:
        raw = round_half_away(self.read(control) * self.scale + self.offset)
        value = max(self.low, min(self.high, raw))
        return value if cap >= 1.0 or not self.is_speed else self.capped(value, cap)

    @property
    def is_speed(self) -> bool:
        """Driven by an axis or a hat (the speed cap applies), not by buttons."""
        return self.source != "buttons" and not layout.is_button(self.source)

    def capped(self, value: int, cap: float) -> int:
        """``value`` held within ``cap`` of the travel on each side of neutral (rounded towards neutral)."""
        cap = max(0.0, min(1.0, cap))
        high = self.neutral + math.floor((self.high - self.neutral) * cap)
        low = self.neutral - math.floor((self.neutral - self.low) * cap)
        return max(low, min(high, value))


#: Reproduces the seed bridge: the left stick's x (axis 0 of a raw pad or the hobby form)
#: times 1000, rounded, shown on the display; and a, b, x, y, the shoulders, back and
#: start (buttons 0..7 of a raw pad) light the matching LEDs. Named, so any pad drives it alike.
DEFAULT_OUTPUTS = (
    OutputMap(command="B", source="leftx", scale=1000, low=-1000, high=1000, neutral=0),
    OutputMap(command="A", source="buttons", scale=1, low=0, high=255, neutral=0),
)


class CommandMapper:
    def __init__(self, outputs: tuple[OutputMap, ...] = DEFAULT_OUTPUTS) -> None:
        self.outputs = outputs
        #: sources written as numbers, which read differently once a pad arrives in the standard layout
        self.numbered = tuple(dict.fromkeys(o.source for o in outputs if layout.is_numbered(o.source)))

    def commands(self, control: Control, cap: float = 1.0) -> dict[str, str]:
        """One command line per output for this input state, axes and hats within ``cap`` of their travel."""
        return {o.key: o.line(o.value(control, cap)) for o in self.outputs}

    def neutral(self) -> dict[str, str]:
        """The failsafe: every mapped output at its neutral value."""
        return {o.key: o.line(o.neutral) for o in self.outputs}
