"""The settings as the Settings dialog edits them, before OK: plain data and rules, no Qt.

The dialog's pages are thin views over these: :class:`ConnectionDraft` checks and
splits what is typed in the address field, :class:`PadDraft` holds the driving pad's
profile being edited (its layout decides which axis rows and hold buttons the pages
show) and reads and writes profile files. Keeping them here lets the rules be tested
without a window, and lets two pages share one pad profile without reaching into
each other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from teleop.desktop.models.actions import ACTION_LABELS, MAX_CHORD, Action, binding_text
from teleop.desktop.models.appsettings import ServerAddress, check_host, parse_address
from teleop.desktop.models.pads import GamepadInfo
from teleop.desktop.models.profiles import MAX_AXES, LayoutChoice, PadProfile, adopt, export_profile, import_profile, layout_sent
from teleop.desktop.models.shaping import AxisCalibration, AxisShape
from teleop.desktop.models.speed import SpeedSettings
from teleop.wire.errors import ConfigError
from teleop.wire.fleet import parse_broker_url
from teleop.wire.layout import RAW_BUTTONS, STANDARD_AXES, STANDARD_BUTTONS, Layout, axis_name, button_name, is_button
from teleop.wire.protocol import MAX_BUTTONS

#: Rows shown for the on-screen sticks and pads without a profile
AXIS_ROWS = 8


def address_field_problem(text: str, port: int) -> str | None:
    """Why the address field's text cannot be used (None: it can); ``host:port`` being typed is checked whole."""
    text = text.strip()
    if text.count(":") == 1 and "://" not in text:
        address = parse_address(text, port)
        return address if isinstance(address, str) else None
    return check_host(text)


def should_split_address(text: str, finished: bool) -> bool:
    """Whether the address field's text is split into host, port, TLS and token now.

    A pasted ``ws://...`` is split as soon as it appears; a ``host:port`` typed key by
    key only when the field is left (splitting at the colon would eat it and glue the
    port's digits to the host).
    """
    return "://" in text or (finished and text.count(":") == 1)


def split_address(text: str, port: int) -> ServerAddress | None:
    """The parts of a pasted or typed address, or None if it does not parse (the field's problem says why)."""
    address = parse_address(text, port)
    return address if isinstance(address, ServerAddress) else None


def cafile_problem(path: str) -> str | None:
    path = path.strip()
    return f"certificate file {path} does not exist" if path and not os.path.isfile(path) else None


def broker_url_problem(url: str) -> str | None:
    """Why the fleet page's broker address is not one (None: it is, or it is empty: no fleet list)."""
    url = url.strip()
    if not url:
        return None
    try:
        parse_broker_url(url)
    except ConfigError:
        if "@" in url:
            return "the broker's user name and password go in their own fields, not in its address"
        return f"broker {url!r}: give mqtt://HOST:PORT or mqtts://HOST:PORT"
    return None


def profile_file_name(pad_name: str) -> str:
    """A file name to suggest when exporting a pad's profile: its name, lower-case, safe on every system."""
    safe = "".join(c if c.isalnum() else "-" for c in pad_name).strip("-").lower() or "pad"
    return f"{safe}.teleop-pad.json"


def calibration_text(calibration: AxisCalibration) -> str:
    if calibration == AxisCalibration():
        return "not calibrated"
    return f"{calibration.low:+.2f} / {calibration.center:+.2f} / {calibration.high:+.2f}"


@dataclass
class PadDraft:
    """The profile of the pad that was driving when the dialog opened, as edited (None pad: the global axes).

    ``shapes`` are keyed by axis name (``"leftx"``, ``"axis3"``); with no pad they are the
    global axes under their raw names. ``calibrations`` are those captured or cleared in
    the dialog, kept apart so a rebuilt row shows them.
    """

    pad: GamepadInfo | None
    known: bool
    profile: PadProfile
    shapes: dict[str, AxisShape]
    layout: LayoutChoice = LayoutChoice.AUTO
    calibrations: dict[str, AxisCalibration] = field(default_factory=dict)
    #: the action map as edited: binding ("a", "back+start") to action
    actions: dict[str, Action] = field(default_factory=dict)
    speed: SpeedSettings = field(default_factory=SpeedSettings)

    @classmethod
    def of(cls, pad: GamepadInfo | None, known: bool, profile: PadProfile | None, global_axes: dict[int, AxisShape]) -> PadDraft:
        profile = profile or PadProfile("none")
        shapes = dict(profile.shapes) if pad else {axis_name(Layout.RAW, i): s for i, s in global_axes.items()}
        return cls(pad, known, profile, shapes, profile.layout, actions=dict(profile.actions), speed=profile.speed)

    def bindings_of(self, action: Action) -> list[str]:
        """The bindings that fire ``action`` (usually one), in a stable order."""
        return sorted(b for b, a in self.actions.items() if a is action)

    def bind(self, action: Action, binding: str) -> str:
        """Make ``binding`` (and only it) fire ``action``; what to tell the user.

        A binding does one thing: if it fired another action, that action loses it (and the note says so)."""
        note = f"{ACTION_LABELS[action]}: {binding}"
        taken = self.actions.get(binding)
        if taken is not None and taken is not action:
            note += f" (it was {ACTION_LABELS[taken]}'s: that action now has no button)"
        self.actions = {b: a for b, a in self.actions.items() if a is not action and b != binding}
        self.actions[binding] = action
        return note

    def unbind(self, action: Action) -> None:
        self.actions = {b: a for b, a in self.actions.items() if a is not action}

    @property
    def effective_layout(self) -> Layout:
        """The layout the pad sends with the layout chosen in the dialog (raw with no pad)."""
        return layout_sent(self.layout, self.known) if self.pad is not None else Layout.RAW

    def axis_names(self) -> list[str]:
        """The axis rows to show: the pad's, in the chosen layout; axis0..7 with no pad."""
        if self.pad is None:
            return [f"axis{i}" for i in range(AXIS_ROWS)]
        if self.effective_layout is Layout.STANDARD:
            return list(STANDARD_AXES)
        return [axis_name(Layout.RAW, i) for i in range(max(1, min(self.pad.axes, MAX_AXES)))]

    def button_names(self) -> list[str]:
        """The buttons a pilot can pick (hold to drive, an action): the pad's, in the chosen layout."""
        if self.pad is None:
            return []
        if self.effective_layout is Layout.STANDARD:
            names = list(STANDARD_BUTTONS[:15])  # a b x y back guide start, stick clicks, shoulders, d-pad
        else:  # only buttons a control message carries: one past them could never be seen held
            names = [button_name(Layout.RAW, i) for i in range(min(self.pad.buttons, MAX_BUTTONS))]
        kept = self.profile.deadman
        if kept and kept not in names and is_button(kept):
            names.append(kept)  # a paddle, or a number from an imported profile: kept, never swapped behind the pilot's back
        return names

    def default_hold_button(self, names: list[str]) -> str:
        return "rightshoulder" if "rightshoulder" in names else f"button{RAW_BUTTONS['rightshoulder']}"

    def calibration(self, name: str) -> AxisCalibration:
        """The axis's calibration as the dialog shows it: captured or cleared here, else the stored one."""
        if name not in self.calibrations:
            self.calibrations[name] = self.shapes.get(name, AxisShape()).calibration
        return self.calibrations[name]

    def keep_row(self, name: str, deadzone: float, expo: float, invert: bool) -> None:
        calibration = self.calibrations.get(name) or AxisCalibration()
        self.shapes[name] = AxisShape(round(deadzone, 3), round(expo, 3), invert, calibration).bounded()

    def collect(self, deadman: str) -> PadProfile:
        """The pad's profile as edited (``deadman`` "" = hold-to-drive off)."""
        names = set(STANDARD_AXES) | {axis_name(Layout.RAW, i) for i in range(MAX_AXES)}
        shapes = {n: s for n, s in self.shapes.items() if n in names and s != AxisShape()}
        pad = self.pad
        return replace(
            self.profile,
            guid=pad.guid if pad else self.profile.guid,
            name=pad.name if pad else self.profile.name,
            layout=self.layout,
            shapes=shapes,
            deadman=deadman,
            actions=dict(self.actions),
            speed=self.speed.bounded(),
        )

    def export(self, profile: PadProfile, path: str | Path) -> str:
        """Write ``profile`` to ``path``; what to tell the user. Raises OSError (the caller says why)."""
        export_profile(profile, path)
        return f"Saved this pad's profile to {path}"

    def load(self, path: str | Path) -> tuple[PadProfile, str]:
        """Read a profile file for this pad; the profile and what to tell the user.

        Raises :class:`~teleop.desktop.models.profiles.ProfileError` for a bad file, and then
        nothing in the draft changes. With no pad, the profile is returned as it is, to be
        stored for when that pad is plugged in.
        """
        profile = import_profile(path)
        if self.pad is None:
            return profile, (f"Imported the profile of {profile.name or profile.guid}: it is used when that pad is plugged in (after OK).")
        if profile.guid != self.pad.guid:
            origin = profile.name or "another pad"
            profile = adopt(profile, self.pad.guid, self.pad.name)
            note = f"Imported the profile of {origin} for this pad; press OK to keep it."
        else:
            note = "Imported this pad's profile; press OK to keep it."
        self.profile = profile
        self.shapes = dict(profile.shapes)
        self.layout = profile.layout
        self.calibrations = {}
        self.actions = dict(profile.actions)
        self.speed = profile.speed
        return profile, note


class ButtonCapture:
    """The "press the button" of Settings: which button, or chord, the pilot pressed on the driving pad.

    Fed the pad's held buttons after every change. Buttons already held when the
    capture starts count only after they are let go. The binding is every button held
    together at the fullest moment, taken when all are let go again (so a chord is
    pressed as it will be used: hold back, press start, let go).
    """

    def __init__(self, held_at_start: frozenset[str] | set[str] = frozenset()) -> None:
        self._ignored = set(held_at_start)
        self._peak: frozenset[str] = frozenset()
        #: the buttons held now (for the dialog to show while waiting)
        self.held: frozenset[str] = frozenset()

    def feed(self, held: set[str] | frozenset[str]) -> str | None:
        """The binding once every pressed button is let go; None while waiting. Too many buttons is refused by :meth:`problem`."""
        self._ignored &= set(held)
        self.held = frozenset(held) - self._ignored
        if len(self.held) > len(self._peak):
            self._peak = self.held
        if self.held or not self._peak:
            return None
        return binding_text(self._peak)

    @property
    def problem(self) -> str | None:
        if len(self._peak) > MAX_CHORD:
            return f"a chord is at most {MAX_CHORD} buttons"
        return None
