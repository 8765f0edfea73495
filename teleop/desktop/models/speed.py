"""How fast the pilot may drive: the profile's speed scale, slow and turbo, steps, and the server's cap.

Sans-I/O. The scale is a fraction of each output's travel (1.0: full travel); the
sticks' values are multiplied by :attr:`SpeedScale.fraction` before they are sent, so
full stick is the scale and the pilot keeps the stick's whole resolution. Slow and
turbo replace the profile's scale while they are on (held, or toggled by a press);
slow wins when both are. The server's cap (its ``[limits] max_speed``, which an
operator may lower live) is a ceiling on all of it: the server enforces it whatever a
client sends, and the client scales to it too so that full stick means the cap.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

#: Below this a robot barely moves and a pilot would think it broken.
MIN_SCALE = 0.05


class Hold(StrEnum):
    """How the slow and turbo buttons work."""

    HELD = "held"  # on while the button is held
    TOGGLE = "toggle"  # a press switches it on, the next press off


def bounded_scale(value: float, low: float = MIN_SCALE) -> float:
    """A speed fraction within ``low``..1; anything not a number is full speed's opposite: the lowest."""
    if not isinstance(value, (int, float)) or value != value:  # NaN
        return low
    return round(max(low, min(1.0, float(value))), 3)


@dataclass(frozen=True)
class SpeedSettings:
    """A pad profile's speed settings."""

    scale: float = 1.0
    slow: float = 0.3
    turbo: float = 1.0
    #: what one press of speed up / speed down changes the scale by
    step: float = 0.1
    hold: Hold = Hold.HELD

    def bounded(self) -> SpeedSettings:
        return SpeedSettings(
            bounded_scale(self.scale), bounded_scale(self.slow), bounded_scale(self.turbo), bounded_scale(self.step, 0.01), Hold(self.hold)
        )


class SpeedScale:
    """The fraction the sticks are scaled by now: the profile's scale, slow or turbo, capped by the server."""

    def __init__(self, settings: SpeedSettings | None = None) -> None:
        self.settings = (settings or SpeedSettings()).bounded()
        #: the profile's scale as stepped up and down since the profile was loaded
        self.scale = self.settings.scale
        self.slow = False
        self.turbo = False
        #: the server's cap (1.0: none)
        self.cap = 1.0

    def configure(self, settings: SpeedSettings) -> None:
        """A (new) profile's settings: its scale replaces any steps; slow and turbo are let go."""
        self.settings = settings.bounded()
        self.scale = self.settings.scale
        self.slow = self.turbo = False

    @property
    def wanted(self) -> float:
        """The pilot's fraction before the server's cap."""
        if self.slow:
            return self.settings.slow
        if self.turbo:
            return self.settings.turbo
        return self.scale

    @property
    def fraction(self) -> float:
        """What the sticks are multiplied by now."""
        return min(self.wanted, self.cap)

    @property
    def capped(self) -> bool:
        """The server's cap holds the pilot below what they asked for."""
        return self.cap < self.wanted

    def set_cap(self, cap: float) -> None:
        self.cap = bounded_scale(cap, 0.0)

    def press(self, which: str, down: bool) -> None:
        """The slow or turbo button went down (``down``) or up."""
        if which not in ("slow", "turbo"):
            return
        if self.settings.hold is Hold.HELD:
            setattr(self, which, down)
        elif down:
            setattr(self, which, not getattr(self, which))

    def step(self, direction: int) -> None:
        """Speed up (+1) or down (-1) by the profile's step."""
        self.scale = bounded_scale(self.scale + (1 if direction > 0 else -1) * self.settings.step)

    def describe(self) -> str:
        """What the window says under the big figure: which speed is in use, and whether the robot caps it."""
        mode = "slow" if self.slow else "turbo" if self.turbo else "speed"
        if self.capped:
            return f"{mode} (you asked {self.wanted:.0%}; the robot caps it at {self.cap:.0%})"
        if self.cap < 1.0:
            return f"{mode} (the robot's cap: {self.cap:.0%})"
        return mode

    def release_all(self) -> None:
        """Driving stopped or the pad changed: held slow or turbo buttons cannot be trusted to be let go."""
        if self.settings.hold is Hold.HELD:
            self.slow = self.turbo = False
