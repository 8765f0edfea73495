"""Per-pad profiles: what a pilot set up for one gamepad, kept by its SDL GUID.

Plain Python (no Qt, no pygame). A :class:`PadProfile` holds a pad's stick
shaping and calibration (one :class:`~teleop.desktop.models.shaping.AxisShape` per axis,
keyed by the axis's name in the pad's layout: ``"leftx"`` or ``"axis3"``), the
layout the pilot chose (``auto``: the standard layout where SDL knows the pad;
``raw``: its own numbering, e.g. for a flight stick SDL mistakes for a pad) and
its hold-to-drive button. Profiles live in :class:`~teleop.desktop.models.appsettings.AppSettings`
``.pads`` and come back when the same pad (same GUID) is plugged in again.

A profile can be exported to a file and imported on another machine
(:func:`export_profile`, :func:`import_profile`). The file is JSON with a
``teleop-pad-profile`` version marker; a bad file raises :class:`ProfileError`
saying what is wrong and nothing already stored is touched.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from teleop.desktop.models.actions import Action, parse_action_map
from teleop.desktop.models.shaping import AxisShape
from teleop.desktop.models.speed import Hold, SpeedSettings
from teleop.wire.layout import Layout, axis_index, axis_name, is_button

FORMAT = "teleop-pad-profile"
FORMAT_VERSION = 1
#: A profile file is a few hundred bytes; anything much larger is not one.
MAX_FILE_BYTES = 64 * 1024
MAX_AXES = 32


class ProfileError(ValueError):
    """A profile file cannot be used; the message says why, for the user."""


class LayoutChoice(StrEnum):
    """The layout a pilot picked for a pad."""

    AUTO = "auto"  # standard where SDL knows the pad, raw otherwise
    RAW = "raw"


def layout_sent(choice: LayoutChoice, known: bool) -> Layout:
    """The layout a pad sends with the pilot's ``choice``: standard only if SDL knows it (``known``) and the
    choice is not raw."""
    return Layout.STANDARD if known and choice is LayoutChoice.AUTO else Layout.RAW


@dataclass
class PadProfile:
    guid: str
    #: the pad's name when the profile was saved, to show in lists and in an exported file
    name: str = ""
    layout: LayoutChoice = LayoutChoice.AUTO
    #: shaping and calibration per axis, by the axis's name in the layout in use ("leftx", "axis3")
    shapes: dict[str, AxisShape] = field(default_factory=dict)
    #: the hold-to-drive button ("rightshoulder", "button5"); "" = hold-to-drive off
    deadman: str = ""
    #: speed scale, slow and turbo (fractions of each output's travel), steps
    speed: SpeedSettings = field(default_factory=SpeedSettings)
    #: pad buttons that do things: binding ("a", "back+start") to action
    actions: dict[str, Action] = field(default_factory=dict)

    def effective_layout(self, known: bool) -> Layout:
        """The layout this pad sends: standard only if SDL knows it and the pilot did not pick raw."""
        return layout_sent(self.layout, known)

    def shape(self, name: str) -> AxisShape:
        return self.shapes.get(name, AxisShape())

    def shapes_by_index(self, layout: Layout) -> dict[int, AxisShape]:
        """The shapes as :func:`teleop.desktop.models.shaping.shape_axes` takes them, for the layout in use."""
        out: dict[int, AxisShape] = {}
        for name, shape in self.shapes.items():
            index = axis_index(layout, name)
            if index is not None:
                out[index] = shape
        return out

    @staticmethod
    def from_shapes(guid: str, name: str, layout: Layout, shapes: dict[int, AxisShape]) -> PadProfile:
        """A new profile whose shapes start from index-keyed ones (the app's global axis settings)."""
        return PadProfile(guid, name, shapes={axis_name(layout, i): s for i, s in shapes.items()})

    def to_dict(self) -> dict[str, Any]:
        return {
            "guid": self.guid,
            "name": self.name,
            "layout": self.layout.value,
            "shapes": {k: v.to_dict() for k, v in self.shapes.items()},
            "deadman": self.deadman,
            "speed": {
                "scale": self.speed.scale,
                "slow": self.speed.slow,
                "turbo": self.speed.turbo,
                "step": self.speed.step,
                "hold": self.speed.hold.value,
            },
            "actions": {k: v.value for k, v in self.actions.items()},
        }

    @classmethod
    def from_dict(cls, data: Any) -> PadProfile:
        """From :meth:`to_dict`'s output; raises :class:`ProfileError` naming the bad field."""
        if not isinstance(data, dict):
            raise ProfileError("a profile must be a JSON object")
        guid = data.get("guid")
        if not isinstance(guid, str) or not guid or len(guid) > 64 or not guid.isalnum():
            raise ProfileError("guid must be the pad's SDL GUID (letters and digits)")
        name = data.get("name", "")
        if not isinstance(name, str):
            raise ProfileError("name must be text")
        layout = data.get("layout", LayoutChoice.AUTO.value)
        if layout not in LayoutChoice._value2member_map_:
            raise ProfileError(f"layout must be 'auto' or 'raw', got {layout!r}")
        deadman = data.get("deadman", "")
        if not isinstance(deadman, str) or (deadman and not is_button(deadman)):
            raise ProfileError(f"deadman must be a button name (a, rightshoulder, button5, ...) or empty, got {deadman!r}")
        raw_shapes = data.get("shapes", {})
        if not isinstance(raw_shapes, dict) or len(raw_shapes) > MAX_AXES:
            raise ProfileError(f"shapes must be an object of at most {MAX_AXES} axes")
        shapes: dict[str, AxisShape] = {}
        for key, value in raw_shapes.items():
            if axis_index(Layout.STANDARD, key) is None and axis_index(Layout.RAW, key) is None:
                raise ProfileError(f"shapes: {key!r} is not an axis name (leftx, lefty, ..., axis0, axis1, ...)")
            if not isinstance(value, dict):
                raise ProfileError(f"shapes.{key} must be an object")
            try:
                shape = AxisShape.from_dict(value)
            except (TypeError, ValueError, AttributeError) as exc:
                raise ProfileError(f"shapes.{key}: {exc}") from None
            numbers = (shape.deadzone, shape.expo, shape.calibration.low, shape.calibration.center, shape.calibration.high)
            if not all(math.isfinite(n) for n in numbers):
                raise ProfileError(f"shapes.{key}: numbers must be finite")
            shapes[key] = shape
        actions = parse_action_map(data.get("actions", {}))
        if isinstance(actions, str):
            raise ProfileError(actions)
        return cls(guid, name[:128], LayoutChoice(layout), shapes, deadman, _speed(data.get("speed", {})), actions)


def _speed(data: Any) -> SpeedSettings:
    """A profile's speed settings; raises :class:`ProfileError` naming the bad field."""
    if not isinstance(data, dict):
        raise ProfileError("speed must be an object")
    default = SpeedSettings()
    values: dict[str, float] = {}
    for key in ("scale", "slow", "turbo", "step"):
        value = data.get(key, getattr(default, key))
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or not 0 < value <= 1:
            raise ProfileError(f"speed.{key} must be a fraction above 0 and at most 1, got {value!r}")
        values[key] = float(value)
    hold = data.get("hold", default.hold.value)
    if hold not in Hold._value2member_map_:
        raise ProfileError(f"speed.hold must be 'held' or 'toggle', got {hold!r}")
    return SpeedSettings(values["scale"], values["slow"], values["turbo"], values["step"], Hold(hold)).bounded()


def export_profile(profile: PadProfile, path: str | Path) -> None:
    """Write ``profile`` to ``path`` as JSON (raises OSError if the file cannot be written)."""
    document = {"format": FORMAT, "version": FORMAT_VERSION, **profile.to_dict()}
    Path(path).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def import_profile(path: str | Path) -> PadProfile:
    """Read a profile file; :class:`ProfileError` says what is wrong with it (never another exception)."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ProfileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ProfileError(f"{path.name} is larger than {MAX_FILE_BYTES // 1024} KiB: not a teleop pad profile")
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProfileError(f"{path.name} is not a teleop pad profile (not JSON: {exc})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ProfileError(f'{path.name} is not a teleop pad profile (no "format": "{FORMAT}")')
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION:
        raise ProfileError(f"{path.name} is a profile of version {version!r}; this teleop reads version {FORMAT_VERSION}")
    try:
        return PadProfile.from_dict(document)
    except ProfileError as exc:
        raise ProfileError(f"{path.name}: {exc}") from None


def adopt(profile: PadProfile, guid: str, name: str) -> PadProfile:
    """An imported profile applied to another pad (a friend's profile for the same model): same settings, this pad's GUID."""
    return replace(profile, guid=guid, name=name or profile.name, shapes=dict(profile.shapes), actions=dict(profile.actions))
