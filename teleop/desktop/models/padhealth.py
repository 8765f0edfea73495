"""Can the driving pad be trusted? Its battery, and whether it still reports anything at all.

Sans-I/O, with the time passed in.

* :class:`Battery` is SDL's coarse power level (empty, low, medium, full, wired, or
  unknown): pads report no percentage through SDL, and many report nothing.
* :class:`StaleGuard`: a Bluetooth pad whose link dies can keep reporting its last state
  (the driver never hears it go), and re-sending that state would keep the server's
  failsafe fed while the robot does what it last did. A pad whose state has not changed
  at all for ``stale_after`` seconds while it drives something other than neutral gets a
  warning at ``warn_after``, then stops being re-sent, so the server's failsafe takes over.
  Any change of its state (a stick's noise, a button) resumes at once. What it cannot
  tell: a pad that keeps sending changing garbage, or a pilot holding a digital d-pad or
  a button perfectly still for that long (raise the time, or switch it off with 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Battery(StrEnum):
    """SDL's power level of a pad, as coarse as SDL says it."""

    UNKNOWN = "unknown"
    EMPTY = "empty"
    LOW = "low"
    MEDIUM = "medium"
    FULL = "full"
    WIRED = "wired"

    @classmethod
    def of(cls, sdl_level: object) -> Battery:
        """From pygame-ce's ``Joystick.get_power_level()`` (``"max"`` is full)."""
        text = str(sdl_level).lower()
        if text == "max":
            return cls.FULL
        return cls(text) if text in cls._value2member_map_ else cls.UNKNOWN

    @property
    def warning(self) -> bool:
        return self in (Battery.EMPTY, Battery.LOW)

    def describe(self) -> str:
        """In the words the window shows: coarse levels said as such."""
        if self is Battery.UNKNOWN:
            return "battery: not reported"
        if self is Battery.WIRED:
            return "wired"
        return f"battery {self.value} (coarse level)"


class Staleness(StrEnum):
    FRESH = "fresh"
    WARNING = "warning"
    STALE = "stale"


@dataclass(frozen=True)
class StaleSettings:
    #: seconds without any change before re-sending stops (0: never)
    stale_after: float = 5.0

    @property
    def warn_after(self) -> float:
        return self.stale_after * 0.6


class StaleGuard:
    """Whether the driving pad's state has sat unchanged for too long while it drives."""

    def __init__(self, settings: StaleSettings | None = None) -> None:
        self.settings = settings or StaleSettings()
        self._state: object = None
        self._since = 0.0
        self._active = False

    def observe(self, state: object, now: float) -> None:
        """The pad's whole state now (axes, buttons, hats as tuples); only a change restarts the clock."""
        if state != self._state:
            self._state = state
            self._since = now

    def watch(self, active: bool, now: float) -> None:
        """Whether the guard applies now (driving, something other than neutral going out); starting restarts the clock."""
        if active and not self._active:
            self._since = now
        self._active = active

    def status(self, now: float) -> Staleness:
        after = self.settings.stale_after
        if not self._active or after <= 0:
            return Staleness.FRESH
        quiet = now - self._since
        if quiet >= after:
            return Staleness.STALE
        return Staleness.WARNING if quiet >= self.settings.warn_after else Staleness.FRESH

    def deadline(self, now: float) -> float:
        """When :meth:`status` next changes by itself (inf: it will not)."""
        after = self.settings.stale_after
        if not self._active or after <= 0:
            return float("inf")
        for edge in (self._since + self.settings.warn_after, self._since + after):
            if edge > now:
                return edge
        return float("inf")


def health_warning(battery: Battery, staleness: Staleness, stale_after: float) -> str:
    """What the window warns the pilot about the driving pad ("" when all is well); the stale pad first."""
    if staleness is Staleness.STALE:
        return (
            f"The pad has reported nothing new for {stale_after:g} s: it is no longer re-sent and the robot's "
            "failsafe stops it. Move a stick or press a button to drive again."
        )
    if staleness is Staleness.WARNING:
        return "The pad has reported nothing new for a while: is it still connected? Move a stick to keep driving."
    if battery.warning:
        return f"Pad {battery.describe()}: charge it or plug it in soon."
    return ""
