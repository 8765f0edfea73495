"""Gamepads as data: what is plugged in, its inputs now, and rumble requests (the SDL side is :mod:`teleop.desktop.sdl.gamepad`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum

from teleop.wire.layout import Layout

log = logging.getLogger(__name__)


VIRTUAL_AXES = 4
VIRTUAL_BUTTONS = 8


@dataclass(frozen=True)
class GamepadInfo:
    """One plugged-in pad. ``axes``/``buttons``/``hats`` count its raw inputs."""

    instance_id: int
    name: str
    guid: str
    axes: int
    buttons: int
    hats: int
    #: SDL knows this pad (its database or the user's gamecontrollerdb.txt): it has the standard layout
    known: bool = False

    @property
    def label(self) -> str:
        return f"{self.name} (#{self.instance_id})"


@dataclass
class GamepadState:
    """A pad's inputs now, numbered as ``layout`` says (:mod:`teleop.wire.layout`).

    The gamepad layer keeps the raw state here and, for a pad SDL knows, the
    same inputs in the standard layout in :attr:`standard`; both are updated in
    place, so a model holding this object always sees the current input.
    """

    axes: list[float] = field(default_factory=list)
    buttons: list[int] = field(default_factory=list)
    hats: list[tuple[int, int]] = field(default_factory=list)
    layout: Layout = Layout.RAW
    standard: GamepadState | None = None


@dataclass(frozen=True)
class Rumble:
    """A request to buzz a pad: strengths 0..1 for the low and high frequency motors."""

    instance_id: int
    low: float
    high: float
    ms: int
    why: str


class Buzz(StrEnum):
    """Why the pad in the pilot's hands rumbles."""

    FAILSAFE = "failsafe"
    ESTOP = "emergency stop"
    LINK_LOST = "connection lost"


#: How each reason feels: (low motor, high motor, milliseconds). Short: a nudge, not a drill.
BUZZ_PATTERN: dict[Buzz, tuple[float, float, int]] = {
    Buzz.FAILSAFE: (0.6, 0.3, 250),
    Buzz.ESTOP: (1.0, 1.0, 400),
    Buzz.LINK_LOST: (0.4, 0.8, 300),
}
