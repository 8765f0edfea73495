"""Driving: enable, the emergency stop, the input in use and what is sent.

The safety rules live here, where they are tested without a window:

* driving can be enabled only while connected as pilot; otherwise
  :attr:`DriveModel.blocked` says why, in plain words;
* every way driving stops (the user, an emergency stop, the link dropping,
  another pilot taking over, the gamepad unplugged, the app closing) sends one
  neutral control at once;
* the emergency stop works whatever the state: neutral, driving off, and the
  server told to hold every client off.

Gamepads (the pygame side is :mod:`teleop.desktop.sdl.gamepad`, which feeds
:class:`DriveModel`): every pad plugged in is listed in :attr:`DriveModel.pads`
with its name, GUID, instance id and whether SDL knows it
(:attr:`GamepadInfo.known`); :meth:`DriveModel.layout_of` says which layout it
sends. The pilot picks the driving pad with :meth:`DriveModel.select`;
unplugging it stops driving and never selects another pad by itself (only the
same pad plugged in again is picked up). Each pad's :class:`~teleop.desktop.models.profiles.PadProfile`
(shaping, calibration, layout, hold-to-drive button) is applied whenever it is
the selected pad; :meth:`DriveModel.set_profile` stores a changed one and emits
:attr:`DriveModel.profile_changed` (the GUI saves the settings then).
:attr:`DriveModel.rumble` asks the gamepad layer for a short rumble on the
driving pad when failsafe or the e-stop trips or the link drops.

What the driving pad does besides steering comes from its profile too: the speed
scale with slow and turbo (:attr:`DriveModel.speed`, sent as a multiplier of the
axes), the action map (:attr:`DriveModel.fired` says which action a button fired;
speed actions are handled here), and the stale-pad guard (:attr:`DriveModel.staleness`:
a pad whose state has not changed for too long while it drives is no longer re-sent,
so the server's failsafe takes over). Only the driving pad fires actions, never while
:attr:`DriveModel.text_focus` (the pilot is typing)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from enum import StrEnum
from pathlib import Path

from teleop.common.events import Event
from teleop.desktop.models.actions import Action, ActionWatcher, Fired
from teleop.desktop.models.drive import DriveController, DriveSettings
from teleop.desktop.models.padhealth import Battery, StaleGuard, Staleness
from teleop.desktop.models.padpace import PadPace
from teleop.desktop.models.pads import BUZZ_PATTERN, VIRTUAL_AXES, VIRTUAL_BUTTONS, Buzz, GamepadInfo, GamepadState, Rumble
from teleop.desktop.models.profiles import LayoutChoice, PadProfile, adopt, export_profile, import_profile, layout_sent
from teleop.desktop.models.shaping import AxisShape
from teleop.desktop.models.speed import SpeedScale, SpeedSettings
from teleop.wire.layout import Layout, is_button, pressed
from teleop.wire.protocol import Control, InputKind

log = logging.getLogger(__name__)


class DriveOff(StrEnum):
    """Why driving is off (or may not be switched on), in the words the window shows."""

    NOT_YET = "not enabled yet"
    BY_USER = "switched off"
    NOT_CONNECTED = "not connected to a robot"
    NOT_PILOT = "watching only"
    EMERGENCY_STOP = "emergency stop"
    STOPPED_ELSEWHERE = "emergency stop pressed on another screen"
    LINK_LOST = "connection lost"
    TAKEN_OVER = "another pilot took control"
    GAMEPAD_UNPLUGGED = "gamepad unplugged"
    PAD_CHANGED = "another pad picked: enable to drive with it"
    LAYOUT_CHANGED = "the pad's layout changed: enable to drive with it"
    CLOSING = "app closing"


class DriveModel:
    """Enable, emergency stop, the input in use (a gamepad or the on-screen sticks and keys) and what is sent.

    ``send`` hands a control to the connection. The owner calls :meth:`tick`
    when :meth:`deadline` passes (the periodic re-send) and tells the model
    whether it may drive with :meth:`set_blocked`.
    """

    def __init__(self, settings: DriveSettings, send: Callable[[Control], None], clock: Callable[[], float] = time.monotonic) -> None:
        self.timing = DriveController(settings)
        self._send = send
        self._clock = clock
        self.off_reason = DriveOff.NOT_YET
        #: why driving may not be enabled now (None: it may)
        self.blocked: DriveOff | None = DriveOff.NOT_CONNECTED
        self.pads: dict[int, GamepadInfo] = {}
        self.pad_states: dict[int, GamepadState] = {}
        self.selected: int | None = None
        #: the settings without any pad's profile (rate, the global axis shapes for pads without one)
        self.base_settings = settings
        #: per-pad profiles by GUID: the app's settings' dict, shared (see TeleopModel)
        self.profiles: dict[str, PadProfile] = {}
        #: rumble on failsafe, e-stop and link loss (the setting)
        self.rumble_enabled = True
        #: GUID of the driving pad that was unplugged: only it is picked up again by itself
        self._lost_guid = ""
        #: the pilot picked the on-screen sticks: a pad plugged in later does not take over
        self._screen_chosen = False
        self.virtual = GamepadState([0.0] * VIRTUAL_AXES, [0] * VIRTUAL_BUTTONS, [])
        #: what moved the on-screen sticks last: the keys, or the mouse on the sticks (shown as touch, as a phone's)
        self.virtual_kind = InputKind.KEYBOARD
        self.sent_count = 0
        self.timing.set_input(self.virtual.axes, self.virtual.buttons, self.virtual.hats, clock())  # neutral, not "no axes"
        self.changed: Event[DriveModel] = Event()  # enabled, off_reason or blocked changed
        self.pads_changed: Event[DriveModel] = Event()
        self.input_changed: Event[DriveModel] = Event()
        #: a pad's profile was stored (the GUI saves the settings)
        self.profile_changed: Event[PadProfile] = Event()
        #: the gamepad layer should buzz a pad
        self.rumble: Event[Rumble] = Event()
        self.speed = SpeedScale()
        self.actions = ActionWatcher()
        self.stale = StaleGuard()
        self.staleness = Staleness.FRESH
        #: a text field has focus: pad buttons fire no actions
        self.text_focus = False
        #: the Settings dialog is waiting for a button to bind: pressing it must not also fire its current action
        self.capturing = False
        #: each pad's power level, as the gamepad layer last read it
        self.batteries: dict[int, Battery] = {}
        #: the profile whose speed settings and action map are in use (its steps survive other changes); at first
        #: none, as :attr:`speed` and :attr:`actions` start: the keys' speed steps survive the first settings applied
        self._aids_of: tuple[str, SpeedSettings, tuple[tuple[str, Action], ...]] = ("", SpeedSettings(), ())
        #: a pad button fired an action this model does not handle itself (enable, e-stop, snapshot, ...)
        self.fired: Event[Fired] = Event()
        #: the speed fraction, the staleness or a battery level changed
        self.aids_changed: Event[DriveModel] = Event()
        #: when the driving pad last moved beyond its flicker: how long the pads may rest between reads
        self.pace = PadPace()

    @property
    def enabled(self) -> bool:
        return self.timing.enabled

    @property
    def shaped(self) -> tuple[float, ...]:
        return self.timing.shaped

    def set_settings(self, settings: DriveSettings) -> None:
        self.base_settings = settings
        self._apply_profile()
        self._input(self._clock())

    # -- pads and their profiles ----------------------------------------------------------------

    def profile_of(self, instance_id: int) -> PadProfile | None:
        """The pad's stored profile or, if it has none yet, a new one from the global axis shapes (not stored)."""
        info = self.pads.get(instance_id)
        if info is None:
            return None
        stored = self.profiles.get(info.guid)
        if stored is not None:
            return stored
        layout = Layout.STANDARD if info.known else Layout.RAW
        return PadProfile.from_shapes(info.guid, info.name, layout, self.base_settings.shapes)

    @property
    def profile(self) -> PadProfile | None:
        """The selected pad's profile (None: no pad selected, the on-screen sticks drive)."""
        return None if self.selected is None else self.profile_of(self.selected)

    def layout_of(self, instance_id: int) -> Layout:
        """The layout the pad sends in (asked several times per stick movement: no profile is built for it)."""
        info = self.pads.get(instance_id)
        if info is None:
            return Layout.RAW
        known = info.known and self.pad_states[instance_id].standard is not None
        stored = self.profiles.get(info.guid)
        return layout_sent(stored.layout if stored is not None else PadProfile.layout, known)  # a new profile's choice

    @property
    def layout(self) -> Layout:
        """The layout of the input in use (the on-screen sticks are raw)."""
        return Layout.RAW if self.selected is None else self.layout_of(self.selected)

    def set_profile(self, profile: PadProfile) -> None:
        """Store a pad's profile (new or changed); applied at once if that pad is driving.

        A layout change stops driving first (neutral at once): the same pad renumbered
        reads differently (a raw trigger rests at -1, a standard one at 0), and the
        robot must not jump to the new reading without the pilot's Enable."""
        before = self.layout
        self.profiles.pop(profile.guid, None)
        self.profiles[profile.guid] = profile
        if self.selected is not None and self.pads[self.selected].guid == profile.guid:
            if self.enabled and self.layout is not before:
                self.disable(DriveOff.LAYOUT_CHANGED)
            self._apply_profile()
            self._input(self._clock())
        self.profile_changed.emit(profile)
        self.pads_changed.emit(self)

    def edit_profile(
        self,
        instance_id: int,
        *,
        layout: LayoutChoice | None = None,
        deadman: str | None = None,
        shapes: dict[str, AxisShape] | None = None,
    ) -> PadProfile:
        """Change some of a pad's settings (what the Settings dialog calls); stored and applied at once.

        ``deadman`` is a button's source name (``"rightshoulder"``, ``"button5"``) or ``""`` for off;
        ``shapes`` replaces the shapes of the axes it names and keeps the others.
        """
        current = self.profile_of(instance_id)
        if current is None:
            raise KeyError(instance_id)
        if deadman and not is_button(deadman):
            raise ValueError(f"{deadman!r} is not a button")
        profile = replace(
            current,
            layout=current.layout if layout is None else LayoutChoice(layout),
            deadman=current.deadman if deadman is None else deadman,
            shapes={**current.shapes, **(shapes or {})},
        )
        self.set_profile(profile)
        return profile

    def export_profile(self, instance_id: int, path: str | Path) -> None:
        """Write the pad's profile (stored or default) to a file; OSError if it cannot be written."""
        profile = self.profile_of(instance_id)
        if profile is None:
            raise KeyError(instance_id)
        export_profile(profile, path)

    def import_profile(self, instance_id: int, path: str | Path) -> PadProfile:
        """Read a profile file and make it this pad's (a profile from another pad of the same kind works too).

        A bad file raises :class:`~teleop.desktop.models.profiles.ProfileError` saying why, and nothing changes.
        """
        info = self.pads[instance_id]
        profile = adopt(import_profile(path), info.guid, info.name)
        self.set_profile(profile)
        return profile

    @property
    def deadman_held(self) -> bool | None:
        """Whether the hold-to-drive button is held (None: hold-to-drive is off for the input in use)."""
        return self.timing.held

    def buzz(self, why: Buzz) -> Rumble | None:
        """Ask for a short rumble on the driving pad (if rumble is on and a pad drives)."""
        if not self.rumble_enabled or self.selected is None:
            return None
        low, high, ms = BUZZ_PATTERN[why]
        request = Rumble(self.selected, low, high, ms, why.value)
        self.rumble.emit(request)
        return request

    def _apply_profile(self) -> None:
        profile = self.profile
        base = self.base_settings
        if profile is None:
            self.timing.settings = replace(base, deadman="")
        else:
            self.timing.settings = replace(base, shapes=profile.shapes_by_index(self.layout), deadman=profile.deadman)
        speed, actions = (profile.speed, profile.actions) if profile is not None else (SpeedSettings(), {})
        aids = (profile.guid if profile else "", speed, tuple(sorted(actions.items())))
        if aids != self._aids_of:
            self._aids_of = aids
            self.speed.configure(speed)
            self.actions.configure(actions)
            self._scale_changed()

    # -- speed, actions and the pad's health -----------------------------------------------------

    def set_speed_cap(self, cap: float) -> None:
        """The server's cap on every output's travel (1.0: none)."""
        self.speed.set_cap(cap)
        self._scale_changed()

    def set_text_focus(self, focused: bool) -> None:
        """A text field took (or lost) the keyboard: pad buttons must not fire while the pilot types."""
        self.text_focus = focused
        self._dispatch(self.actions.suspend(self._actions_held()))

    def set_capturing(self, capturing: bool) -> None:
        """Settings waits for a button to bind (or stopped waiting): no action fires meanwhile."""
        self.capturing = capturing
        self._dispatch(self.actions.suspend(self._actions_held()))

    def _actions_held(self) -> bool:
        return self.text_focus or self.capturing or self.selected is None

    def set_battery(self, instance_id: int, level: Battery) -> None:
        if self.batteries.get(instance_id) != level:
            self.batteries[instance_id] = level
            self.aids_changed.emit(self)

    @property
    def battery(self) -> Battery:
        """The driving pad's battery (unknown with no pad)."""
        return Battery.UNKNOWN if self.selected is None else self.batteries.get(self.selected, Battery.UNKNOWN)

    def _scale_changed(self) -> None:
        control = self.timing.set_scale(self.speed.fraction, self._clock())
        if control is not None:
            self._emit(control)
        self.aids_changed.emit(self)

    def step_speed(self, direction: int) -> None:
        """Speed up (+1) or down (-1) by one step: a pad's speed buttons, or the keyboard's + and -."""
        self.speed.step(direction)
        self._scale_changed()

    def _dispatch(self, fired: list[Fired]) -> None:
        for one in fired:
            if one.action in (Action.SLOW, Action.TURBO):
                self.speed.press(one.action.value, one.down)
                self._scale_changed()
            elif one.action in (Action.SPEED_UP, Action.SPEED_DOWN):
                self.step_speed(1 if one.action is Action.SPEED_UP else -1)
            else:
                self.fired.emit(one)

    def _watch_pad(self, state: GamepadState, now: float) -> None:
        """The driving pad's buttons to the action map; its whole state to the stale-pad guard."""
        if self.actions.names:
            layout = self.layout
            held = [n for n in self.actions.names if pressed(n, layout, state.axes, state.buttons, state.hats)]
            self._dispatch(self.actions.feed(held))
        self.stale.observe((tuple(state.axes), tuple(state.buttons), tuple(state.hats)), now)

    def _check_stale(self, now: float) -> Staleness:
        axes, buttons, hats = self.timing.output()
        moving = any(axes) or any(buttons) or any(h != (0, 0) for h in hats)
        self.stale.watch(self.enabled and self.selected is not None and moving, now)
        status = self.stale.status(now)
        if status is not self.staleness:
            self.staleness = status
            self.aids_changed.emit(self)
        return status

    # -- enable / stop ------------------------------------------------------------------------

    def set_blocked(self, why: DriveOff | None) -> None:
        """The connection says whether driving is possible; if not, driving stops with that reason."""
        changed = why != self.blocked
        self.blocked = why
        if why is not None and self.enabled:
            self.disable(why)
        elif changed:
            self.changed.emit(self)

    def enable(self) -> bool:
        """Start driving with the input as it is now; refused (False) while :attr:`blocked` says why."""
        if self.blocked is not None:
            self.changed.emit(self)
            return False
        if not self.enabled:
            self._emit(self.timing.enable(self._clock()))
            self.changed.emit(self)
        return True

    def disable(self, why: DriveOff = DriveOff.BY_USER) -> None:
        """Stop driving: one neutral control goes out at once."""
        neutral = self.timing.disable(self._clock())
        self.off_reason = why
        if neutral is not None:
            self._emit(neutral)
        self._check_stale(self._clock())
        self.speed.release_all()
        self._scale_changed()
        self.changed.emit(self)

    def tick(self) -> None:
        """The periodic re-send (and a change held back by the rate cap); none for a stale pad."""
        now = self._clock()
        if self._check_stale(now) is Staleness.STALE:
            return
        control = self.timing.poll(now)
        if control is not None:
            self._emit(control)

    def deadline(self) -> float:
        if self.staleness is Staleness.STALE:
            return float("inf")  # nothing is re-sent until the pad's state changes
        return min(self.timing.deadline(), self.stale.deadline(self._clock()))

    def due(self) -> bool:
        """The periodic re-send (or a held-back change) is due: call :meth:`tick`."""
        return self.enabled and self._clock() >= self.deadline()

    def _emit(self, control: Control) -> None:
        self.sent_count += 1
        self._send(control)

    # -- input --------------------------------------------------------------------------------

    def current_input(self) -> GamepadState:
        """The input that drives, in the layout it is sent in."""
        if self.selected is not None and self.selected in self.pad_states:
            state = self.pad_states[self.selected]
            if self.layout_of(self.selected) is Layout.STANDARD and state.standard is not None:
                return state.standard
            return state
        return self.virtual

    @property
    def input_kind(self) -> InputKind:
        """What drives now, as every client is told: the pad in use, or whatever moved the on-screen sticks last."""
        return self.virtual_kind if self.selected is None else InputKind.GAMEPAD

    def set_virtual_axis(self, index: int, value: float) -> None:
        if 0 <= index < VIRTUAL_AXES and self.virtual.axes[index] != value:
            self.virtual.axes[index] = max(-1.0, min(1.0, value))
            if self.selected is None:
                self._input(self._clock())

    def set_virtual_axes(self, values: dict[int, float], kind: InputKind = InputKind.KEYBOARD) -> None:
        """Several axes at once (keys pressed together): one control, not one per axis. ``kind``: what moved them."""
        changed = False
        self.virtual_kind = kind
        for index, value in values.items():
            if 0 <= index < VIRTUAL_AXES and self.virtual.axes[index] != value:
                self.virtual.axes[index] = max(-1.0, min(1.0, value))
                changed = True
        if changed and self.selected is None:
            self._input(self._clock())

    def set_virtual_button(self, index: int, pressed: bool) -> None:
        if 0 <= index < VIRTUAL_BUTTONS:
            self.virtual.buttons[index] = int(pressed)
            if self.selected is None:
                self._input(self._clock())

    def pad_added(self, info: GamepadInfo, state: GamepadState, preferred_guid: str = "") -> None:
        """A pad was plugged in. It is picked to drive only if none is, and it is the pad
        that was driving before it was unplugged, or the preferred one (or any, if the
        preferred one is not plugged in and no driving pad was lost)."""
        self.pads[info.instance_id] = info
        self.pad_states[info.instance_id] = state
        self.pads_changed.emit(self)
        if self.selected is not None or self._screen_chosen:
            return
        if self._lost_guid:
            if info.guid == self._lost_guid:
                self.select(info.instance_id)
        elif not preferred_guid or info.guid == preferred_guid or not self._has_guid(preferred_guid):
            self.select(info.instance_id)

    def _has_guid(self, guid: str) -> bool:
        return any(i.guid == guid for i in self.pads.values())

    def pad_removed(self, instance_id: int) -> None:
        info = self.pads.pop(instance_id, None)
        self.pad_states.pop(instance_id, None)
        self.batteries.pop(instance_id, None)
        if instance_id == self.selected:
            self.selected = None
            self._lost_guid = info.guid if info is not None else ""
            self._dispatch(self.actions.suspend(True))
            if self.enabled:
                self.disable(DriveOff.GAMEPAD_UNPLUGGED)
            self._apply_profile()
            self._input(self._clock())
        self.pads_changed.emit(self)

    def pad_moved(self, instance_id: int) -> None:
        if instance_id == self.selected:
            self._input(self._clock())

    def select(self, instance_id: int | None) -> None:
        """The pilot picks the driving pad (None: the on-screen sticks and keys).

        Any pick, the on-screen sticks included, is the pilot's word: a driving pad
        that was unplugged earlier no longer takes over when it comes back. A pick
        while driving stops driving (neutral at once): the picked pad's stick may rest
        off centre on a desk or be in someone else's hands, so it drives only after
        Enable, as after an unplug."""
        if instance_id is not None and instance_id not in self.pads:
            return
        self._screen_chosen = instance_id is None
        if instance_id == self.selected:
            self._lost_guid = ""
            return
        if self.enabled:
            self.disable(DriveOff.PAD_CHANGED)
        self.selected = instance_id
        self._lost_guid = ""
        self._apply_profile()
        self.actions.suspend(self._actions_held())
        self.pads_changed.emit(self)
        self._input(self._clock())

    def pad_rest_s(self, another_drives: bool) -> float:
        """How long the pads may go unread now: 0 while driving (:mod:`teleop.desktop.models.padpace`)."""
        return self.pace.rest_s(driving=self.enabled, another_drives=another_drives, now=self._clock())

    def _input(self, now: float) -> None:
        state = self.current_input()
        if self.selected is not None:  # actions first: a new speed or an e-stop applies to this very input
            self._watch_pad(state, now)
            if not self.timing.enabled:  # while driving every report is read at once: no pace to keep
                self.pace.seen(state.axes, state.buttons, state.hats, now)
        self.timing.input = self.input_kind
        control = self.timing.set_input(state.axes, state.buttons, state.hats, now, self.layout)
        if control is not None:
            self._emit(control)
        if self.selected is not None:
            self._check_stale(now)
        self.input_changed.emit(self)
