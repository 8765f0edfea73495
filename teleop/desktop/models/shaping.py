"""Stick shaping: calibration, deadzone, expo and inversion, applied to raw axis values.

Plain Python so it is tested directly and the values the GUI shows as "sent"
are exactly the values that go on the wire. The order matches what pilots know
from RC transmitters and QGroundControl: calibrate the raw reading to [-1, 1],
cut the deadzone and rescale the rest (so the output still reaches full
scale, with no jump at the deadzone's edge), bend with expo for finer control
near the centre, then invert.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import ClassVar


def clamp(value: float, low: float = -1.0, high: float = 1.0) -> float:
    return low if value < low else high if value > high else value


@dataclass(frozen=True)
class AxisCalibration:
    """Where this stick physically rests and how far it really travels."""

    low: float = -1.0
    center: float = 0.0
    high: float = 1.0

    def valid(self) -> bool:
        return self.low < self.center < self.high

    def apply(self, raw: float) -> float:
        if not self.valid():
            return clamp(raw)
        if raw >= self.center:
            return clamp((raw - self.center) / (self.high - self.center))
        return clamp((raw - self.center) / (self.center - self.low))


@dataclass(frozen=True)
class AxisShape:
    """How one axis is shaped; the one place that says what a deadzone or expo may be.

    The settings dialog takes its spin-box ranges from :attr:`DEADZONE_MAX` and
    :attr:`EXPO_MAX`, stored settings are clamped with :meth:`bounded`, and
    :meth:`apply` clamps again, so a hand-edited file cannot make an axis dead.
    """

    DEADZONE_MAX: ClassVar[float] = 0.5
    EXPO_MAX: ClassVar[float] = 1.0

    deadzone: float = 0.05
    expo: float = 0.0
    invert: bool = False
    calibration: AxisCalibration = AxisCalibration()

    def bounded(self) -> AxisShape:
        """The same shape with deadzone and expo inside their bounds (NaN becomes the default)."""
        deadzone = clamp(self.deadzone, 0.0, self.DEADZONE_MAX) if math.isfinite(self.deadzone) else 0.05
        expo = clamp(self.expo, 0.0, self.EXPO_MAX) if math.isfinite(self.expo) else 0.0
        return replace(self, deadzone=deadzone, expo=expo, invert=bool(self.invert))

    def apply(self, raw: float) -> float:
        if not math.isfinite(raw):
            return 0.0
        value = self.calibration.apply(raw)
        deadzone = clamp(self.deadzone, 0.0, self.DEADZONE_MAX)
        magnitude = abs(value)
        if magnitude <= deadzone:
            return 0.0
        magnitude = (magnitude - deadzone) / (1.0 - deadzone)
        expo = clamp(self.expo, 0.0, self.EXPO_MAX)
        magnitude = (1.0 - expo) * magnitude + expo * magnitude**3
        value = math.copysign(magnitude, value)
        return clamp(-value if self.invert else value)

    def to_dict(self) -> dict:
        calibration = self.calibration
        stored = [calibration.low, calibration.center, calibration.high] if calibration != AxisCalibration() else None
        return {"deadzone": self.deadzone, "expo": self.expo, "invert": self.invert, "calibration": stored}

    @classmethod
    def from_dict(cls, data: dict) -> AxisShape:
        """From :meth:`to_dict`'s output; raises TypeError/ValueError/AttributeError on garbage."""
        stored = data.get("calibration")
        calibration = AxisCalibration(*(float(c) for c in stored)) if stored and len(stored) == 3 else AxisCalibration()
        shape = cls(float(data.get("deadzone", 0.05)), float(data.get("expo", 0.0)), bool(data.get("invert", False)), calibration)
        return shape.bounded()


def shape_axes(raw: list[float] | tuple[float, ...], shapes: dict[int, AxisShape], default: AxisShape = AxisShape()) -> tuple[float, ...]:
    """Shape every axis; an axis with no settings of its own uses ``default``."""
    return tuple(round(shapes.get(i, default).apply(v), 4) for i, v in enumerate(raw))


class CalibrationCapture:
    """Collects a stick's travel while the user moves it around, like QGroundControl's calibration.

    Call :meth:`center` with the stick at rest, :meth:`sample` while the user
    sweeps it to both ends, then :meth:`result`.
    """

    def __init__(self) -> None:
        self._center: float | None = None
        self._low = math.inf
        self._high = -math.inf

    def center(self, raw: float) -> None:
        self._center = raw

    def sample(self, raw: float) -> None:
        if math.isfinite(raw):
            self._low = min(self._low, raw)
            self._high = max(self._high, raw)

    def result(self) -> AxisCalibration | None:
        """The calibration, or None if the sweep did not reach both sides of the centre."""
        if self._center is None:
            return None
        calibration = AxisCalibration(self._low, self._center, self._high)
        if not calibration.valid() or min(self._center - self._low, self._high - self._center) < 0.2:
            return None
        return calibration
