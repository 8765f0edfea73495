"""Gamepad layouts: the names of a pad's controls, in one place both ends import.

Plain Python (no Qt, no pygame): the server's mapping (``source = "lefty"``),
the app's drive logic (the hold-to-drive button) and the views (row labels,
the on-screen pad) all read controls through :func:`read`.

Two layouts travel on the wire (the ``control`` message's ``layout`` field):

``standard``
    A pad SDL knows (its GameController database, or a line the user added).
    ``axes`` are :data:`STANDARD_AXES` in that order (sticks in [-1, 1], y down
    positive as SDL reports it; triggers in [0, 1], 0 released), ``buttons``
    are :data:`STANDARD_BUTTONS` in that order (SDL's GameController order),
    and ``hats`` is empty: the d-pad is four buttons.

``raw``
    Whatever the joystick reports, by number: a flight stick, a wheel, an RC
    transmitter, a pad SDL does not know, and every client that does not say
    (an absent ``layout`` is raw, so the hobby ``{"Axes": [...]}`` form and
    older clients keep working). A named control is read from a raw pad
    through :data:`RAW_AXES`, :data:`RAW_BUTTONS` and :data:`RAW_DPAD`, the
    numbering most generic pads use (and Linux's Xbox driver, for buttons), so
    a raw-only pad still drives a mapping written with names.

A *source* names one input: a control name (``"leftx"``, ``"a"``,
``"dpup"``), ``axisN``, ``buttonN``, ``hatN.x``/``hatN.y`` (by number in
whatever layout was sent), or ``"buttons"``: the eight :data:`BITMASK_BUTTONS`
as a bitmask (bit 0 = ``a``), which for a raw pad is buttons 0..7, exactly
what it always was.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import StrEnum


class Layout(StrEnum):
    """Which numbering a control message's axes and buttons follow."""

    STANDARD = "standard"
    RAW = "raw"


#: SDL_GameControllerAxis order.
STANDARD_AXES: tuple[str, ...] = ("leftx", "lefty", "rightx", "righty", "lefttrigger", "righttrigger")
#: SDL_GameControllerButton order (SDL 2.0.14+; the last six exist on few pads).
STANDARD_BUTTONS: tuple[str, ...] = (
    "a",
    "b",
    "x",
    "y",
    "back",
    "guide",
    "start",
    "leftstick",
    "rightstick",
    "leftshoulder",
    "rightshoulder",
    "dpup",
    "dpdown",
    "dpleft",
    "dpright",
    "misc1",
    "paddle1",
    "paddle2",
    "paddle3",
    "paddle4",
    "touchpad",
)
TRIGGERS: tuple[str, ...] = ("lefttrigger", "righttrigger")
STICKS: tuple[str, ...] = STANDARD_AXES[:4]
DPAD: tuple[str, ...] = ("dpup", "dpdown", "dpleft", "dpright")

#: Where a raw pad's named controls are: generic USB pads put the right stick on axes 2 and 3.
RAW_AXES: dict[str, int] = {"leftx": 0, "lefty": 1, "rightx": 2, "righty": 3, "lefttrigger": 4, "righttrigger": 5}
#: The Xbox order (Linux xpad, most DirectInput pads): a b x y, shoulders, back start, guide, stick clicks.
RAW_BUTTONS: dict[str, int] = {
    "a": 0,
    "b": 1,
    "x": 2,
    "y": 3,
    "leftshoulder": 4,
    "rightshoulder": 5,
    "back": 6,
    "start": 7,
    "guide": 8,
    "leftstick": 9,
    "rightstick": 10,
}
#: A raw pad's d-pad is hat 0: (hat component, value that means pressed).
RAW_DPAD: dict[str, tuple[int, int]] = {"dpup": (1, 1), "dpdown": (1, -1), "dpleft": (0, -1), "dpright": (0, 1)}

#: The ``"buttons"`` bitmask source, bit 0 first: for a raw pad these are buttons 0..7.
BITMASK_BUTTONS: tuple[str, ...] = ("a", "b", "x", "y", "leftshoulder", "rightshoulder", "back", "start")

NAMES: frozenset[str] = frozenset(STANDARD_AXES + STANDARD_BUTTONS)
#: Where each bit of the ``buttons`` bitmask is found, in each layout.
_BITMASK_STANDARD: tuple[int, ...] = tuple(STANDARD_BUTTONS.index(name) for name in BITMASK_BUTTONS)
_BITMASK_RAW: tuple[int, ...] = tuple(RAW_BUTTONS[name] for name in BITMASK_BUTTONS)
_NUMBERED = re.compile(r"(?:axis(\d{1,2})|button(\d{1,2})|hat(\d)\.([xy])|buttons)\Z")

#: What a user reads when a source is wrong (the server's config errors and the app's import use it).
SOURCE_HELP = "a control name (leftx, lefty, rightx, righty, lefttrigger, righttrigger, a, b, x, y, back, start, dpup, ...), axisN, buttonN, hatN.x, hatN.y or buttons"


def is_source(text: str) -> bool:
    """True for a source :func:`read` understands."""
    return isinstance(text, str) and (text in NAMES or _NUMBERED.match(text) is not None)


def is_numbered(source: str) -> bool:
    """True for ``axisN``, ``buttonN`` and ``hatN.x/y``: sources whose meaning depends on the layout.

    A name means the same control on every pad, and ``buttons`` is the bitmask of
    named buttons; but ``axis2`` is whatever the third axis of the layout in the
    message is (the left trigger on a raw Linux xpad, ``rightx`` in the standard one).
    """
    return isinstance(source, str) and source != "buttons" and _NUMBERED.match(source) is not None


def is_button(source: str) -> bool:
    """True for a source that is one button (a hold-to-drive button must be one)."""
    return source in STANDARD_BUTTONS or (source.startswith("button") and source != "buttons" and is_source(source))


def _at(values: Sequence, index: int, default=0):
    return values[index] if 0 <= index < len(values) else default


def read(source: str, layout: Layout | str, axes: Sequence[float], buttons: Sequence[int], hats: Sequence[tuple[int, int]] = ()) -> float:
    """The value of ``source`` in one input state; an input the state lacks reads as 0 (never raises)."""
    standard = layout == Layout.STANDARD
    if source == "buttons":  # the LED bitmask of the default mapping: read on every control, so no lookups by name
        bits = _BITMASK_STANDARD if standard else _BITMASK_RAW
        return float(sum(1 << bit for bit, index in enumerate(bits) if _at(buttons, index) > 0.5))
    if source in NAMES:
        if standard:
            if source in STANDARD_AXES:
                return float(_at(axes, STANDARD_AXES.index(source), 0.0))
            return float(_at(buttons, STANDARD_BUTTONS.index(source)))
        if source in RAW_AXES:
            return float(_at(axes, RAW_AXES[source], 0.0))
        if source in RAW_BUTTONS:
            return float(_at(buttons, RAW_BUTTONS[source]))
        if source in RAW_DPAD:
            component, pressed = RAW_DPAD[source]
            return 1.0 if _at(hats, 0, (0, 0))[component] == pressed else 0.0
        return 0.0  # misc1, paddles, touchpad: a raw pad has no agreed number for them
    match = _NUMBERED.match(source) if isinstance(source, str) else None
    if match is None:
        return 0.0
    axis, button, hat, hat_component = match.groups()
    if axis is not None:
        return float(_at(axes, int(axis), 0.0))
    if button is not None:
        return float(_at(buttons, int(button)))
    if hat is not None:
        index = 0 if hat_component == "x" else 1
        if standard and hat == "0":  # a standard pad's d-pad, read as the hat a raw pad would have
            plus, minus = ("dpright", "dpleft") if index == 0 else ("dpup", "dpdown")
            return read(plus, layout, axes, buttons) - read(minus, layout, axes, buttons)
        return float(_at(hats, int(hat), (0, 0))[index])
    return 0.0  # (the pattern matched nothing else: ``buttons`` is read above)


def pressed(source: str, layout: Layout | str, axes: Sequence[float], buttons: Sequence[int], hats: Sequence[tuple[int, int]] = ()) -> bool:
    """A button (or trigger pulled past half way) is held."""
    return read(source, layout, axes, buttons, hats) > 0.5


def axis_name(layout: Layout | str, index: int) -> str:
    """How a settings row names axis ``index`` of this layout: ``"lefty"`` or ``"axis1"``."""
    if layout == Layout.STANDARD and 0 <= index < len(STANDARD_AXES):
        return STANDARD_AXES[index]
    return f"axis{index}"


def button_name(layout: Layout | str, index: int) -> str:
    if layout == Layout.STANDARD and 0 <= index < len(STANDARD_BUTTONS):
        return STANDARD_BUTTONS[index]
    return f"button{index}"


def axis_index(layout: Layout | str, name: str) -> int | None:
    """The inverse of :func:`axis_name` (None for a name this layout has no number for)."""
    if layout == Layout.STANDARD:
        if name in STANDARD_AXES:
            return STANDARD_AXES.index(name)
    elif name in RAW_AXES:
        return RAW_AXES[name]
    match = _NUMBERED.match(name)
    return int(match.group(1)) if match and match.group(1) is not None else None
