"""Pad buttons that do things: an action map from a button or a chord to an app action.

Sans-I/O. An :class:`ActionMap` maps a binding (a button's source name, ``"a"``,
``"button5"``, or a chord, ``"back+start"``) to an :class:`Action`. An
:class:`ActionWatcher` is fed the driving pad's pressed buttons and says which actions
start and stop. Rules a pilot relies on:

* an action fires once per press, when the binding's last button goes down while the
  others are held (a chord), never again while held;
* a chord beats the single buttons in it: ``back+start`` pressed does not also fire
  ``start``'s action;
* nothing fires while :attr:`ActionWatcher.suspended` (a text field has focus, or the
  input is not a pad that drives); buttons already down then fire nothing until released
  and pressed again;
* held actions (slow, turbo) end when any button of the binding is let go, or when the
  watcher is suspended.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from teleop.wire.layout import is_button

#: The most buttons in one chord: more cannot be pressed with two thumbs.
MAX_CHORD = 3
MAX_BINDINGS = 32


class Action(StrEnum):
    """What a pad button can do."""

    ENABLE = "enable"
    ESTOP = "estop"
    TAKE_CONTROL = "take_control"
    SNAPSHOT = "snapshot"
    RECORD = "record"  # start or stop recording
    MARK = "mark"  # mark this moment in the recording
    SAVE_CLIP = "save_clip"  # save the last N seconds
    SLOW = "slow"
    TURBO = "turbo"
    SPEED_UP = "speed_up"
    SPEED_DOWN = "speed_down"


#: How each action is named in the Settings dialog.
ACTION_LABELS: dict[Action, str] = {
    Action.ENABLE: "Enable driving",
    Action.ESTOP: "Emergency stop",
    Action.TAKE_CONTROL: "Take control",
    Action.SNAPSHOT: "Snapshot of the camera",
    Action.RECORD: "Start / stop recording",
    Action.MARK: "Mark this moment",
    Action.SAVE_CLIP: "Save the last seconds",
    Action.SLOW: "Slow",
    Action.TURBO: "Turbo",
    Action.SPEED_UP: "Speed up a step",
    Action.SPEED_DOWN: "Speed down a step",
}

#: Actions that last while their binding is held (the others fire once per press).
HELD_ACTIONS = frozenset({Action.SLOW, Action.TURBO})


def parse_binding(text: str) -> tuple[str, ...] | str:
    """A binding's buttons (sorted, so ``start+back`` and ``back+start`` are one chord), or why it is not one."""
    parts = [p.strip() for p in str(text).split("+")]
    if not parts or not all(parts):
        return f"{text!r} is not a button or a chord (a, button5, back+start)"
    for part in parts:
        if not is_button(part):
            return f"{part!r} is not a button name (a, rightshoulder, button5, ...)"
    if len(set(parts)) != len(parts) or len(parts) > MAX_CHORD:
        return f"{text!r}: a chord is up to {MAX_CHORD} different buttons"
    return tuple(sorted(parts))


def binding_text(buttons: Iterable[str]) -> str:
    return "+".join(sorted(buttons))


def parse_action_map(data: object) -> dict[str, Action] | str:
    """A stored action map (binding text to action name), normalised, or why it cannot be used."""
    if not isinstance(data, Mapping) or len(data) > MAX_BINDINGS:
        return f"actions must be an object of at most {MAX_BINDINGS} bindings"
    out: dict[str, Action] = {}
    for key, value in data.items():
        buttons = parse_binding(key)
        if isinstance(buttons, str):
            return f"actions: {buttons}"
        if value not in Action._value2member_map_:
            return f"actions.{key}: {value!r} is not an action ({', '.join(a.value for a in Action)})"
        out[binding_text(buttons)] = Action(value)
    return out


@dataclass(frozen=True)
class Fired:
    """An action started (``down``) or, for a held action, stopped."""

    action: Action
    down: bool = True


class ActionWatcher:
    """Feeds on the driving pad's pressed buttons; says which actions fire."""

    def __init__(self, actions: Mapping[str, Action] | None = None) -> None:
        self._bindings: list[tuple[frozenset[str], Action]] = []
        self.pressed: frozenset[str] = frozenset()
        #: buttons that went down while suspended: they fire nothing until let go
        self._spent: set[str] = set()
        self._active: dict[frozenset[str], Action] = {}
        self.suspended = True  # until a pad drives
        self.configure(actions or {})

    def configure(self, actions: Mapping[str, Action]) -> None:
        bindings = []
        for text, action in actions.items():
            buttons = parse_binding(text)
            if not isinstance(buttons, str):
                bindings.append((frozenset(buttons), Action(action)))
        self._bindings = sorted(bindings, key=lambda b: -len(b[0]))  # chords first
        #: every button some binding uses: the only ones worth reading from the pad
        self.names: tuple[str, ...] = tuple(sorted({n for keys, _ in bindings for n in keys}))
        self._spent = set(self.pressed)  # what is held now was not pressed for the new map

    def suspend(self, suspended: bool) -> list[Fired]:
        """Stop (or resume) firing; held actions end at once."""
        self.suspended = suspended
        if not suspended:
            return []
        self._spent |= self.pressed
        return self._end_all()

    def _end_all(self) -> list[Fired]:
        ended = [Fired(action, False) for action in self._active.values()]
        self._active.clear()
        return ended

    def feed(self, pressed: Iterable[str]) -> list[Fired]:
        """The buttons held now (source names in the pad's layout); the actions that start or stop."""
        now = frozenset(pressed)
        if now == self.pressed:
            return []
        went_down, before = now - self.pressed, self.pressed
        self.pressed = now
        self._spent &= now
        out = [Fired(action, False) for keys, action in list(self._active.items()) if not keys <= now]
        self._active = {keys: action for keys, action in self._active.items() if keys <= now}
        if self.suspended:
            self._spent |= went_down
            return out
        covered: set[str] = set()
        for keys, action in self._bindings:
            if not keys <= now or keys <= before or keys & self._spent or keys & covered:
                continue  # not all held, or held already, or held since before it could fire, or inside a chord that fired
            covered |= keys
            out.append(Fired(action, True))
            if action in HELD_ACTIONS:
                self._active[keys] = action
        return out
