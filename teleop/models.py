"""The desktop app's models: plain Python objects with typed events, no Qt, no pygame.

Napari style: the Qt layer (``teleop.gui``) is a thin adapter that owns the
timers and the gamepad poll and feeds this module; each widget receives the
sub-model it shows (:class:`ConnectionModel`, :class:`DriveModel`,
:class:`ReadingsModel`), listens to its events and writes back through its
methods. Enums, not strings, travel between them.

The safety rules live here, where they are tested without a window:

* driving can be enabled only while connected as pilot; otherwise
  :attr:`DriveModel.blocked` says why, in plain words;
* every way driving stops (the user, an emergency stop, the link dropping,
  another pilot taking over, the gamepad unplugged, the app closing) sends one
  neutral control at once;
* the emergency stop works whatever the state: neutral, driving off, and the
  server told to hold every client off.

Gamepads (the pygame side is :mod:`teleop.gamepad`, which feeds
:class:`DriveModel`): every pad plugged in is listed in :attr:`DriveModel.pads`
with its name, GUID, instance id and whether SDL knows it
(:attr:`GamepadInfo.known`); :meth:`DriveModel.layout_of` says which layout it
sends. The pilot picks the driving pad with :meth:`DriveModel.select`;
unplugging it stops driving and never selects another pad by itself (only the
same pad plugged in again is picked up). Each pad's :class:`~teleop.profiles.PadProfile`
(shaping, calibration, layout, hold-to-drive button) is applied whenever it is
the selected pad; :meth:`DriveModel.set_profile` stores a changed one and emits
:attr:`DriveModel.profile_changed` (the GUI saves the settings then).
:attr:`DriveModel.rumble` asks the gamepad layer for a short rumble on the
driving pad when failsafe or the e-stop trips or the link drops.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, TypeVar

from teleop import mjpeg, protocol
from teleop.appsettings import AppSettings, parse_address, server_url
from teleop.client import ClientSession, ConnectionState, Problem, SessionEvents, trust_context
from teleop.clock import ClockOffset
from teleop.drive import DriveController, DriveSettings
from teleop.layout import Layout, is_button
from teleop.profiles import LayoutChoice, PadProfile, adopt, export_profile, import_profile
from teleop.protocol import Control, Role
from teleop.readings import ReadingsStore
from teleop.shaping import AxisShape
from teleop.video import RateMeter, VideoEvents, VideoState, VideoStream, describe, video_url

log = logging.getLogger("teleop.models")

T = TypeVar("T")

VIRTUAL_AXES = 4
VIRTUAL_BUTTONS = 8


class Event(Generic[T]):
    """A typed event: ``connect(callback)``, ``emit(value)``; callbacks run in connection order."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[T], Any]] = []

    def connect(self, callback: Callable[[T], Any]) -> Callable[[T], Any]:
        self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable[[T], Any]) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, value: T) -> None:
        """Call every listener; one that raises is logged and the others still run.

        A bug in a view must never stop the model (the connection task that emits
        these would die with it, and the robot would stop hearing from us).
        """
        for callback in list(self._callbacks):
            try:
                callback(value)
            except Exception:
                log.exception("a listener of %r failed", callback)


class LogLevel(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    LINK = "link"
    LEGACY = "legacy"


@dataclass(frozen=True)
class LogLine:
    level: LogLevel
    text: str


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


# -- gamepads as data (the pygame side lives in teleop.gamepad) ------------------------------


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
    """A pad's inputs now, numbered as ``layout`` says (:mod:`teleop.layout`).

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


# -- connection ------------------------------------------------------------------------------


def plain_message(state: ConnectionState, problem: Problem, server: str) -> str:
    """What a hobbyist reads in the connection bar; the technical detail goes to the log."""
    if state is ConnectionState.CONNECTED:
        return f"Connected to {server}"
    if state is ConnectionState.CONNECTING:
        return f"Connecting to {server}…"
    if state is ConnectionState.DISCONNECTED:
        return "Not connected"
    again = "trying again" if state is ConnectionState.RECONNECTING else "gave up"
    return {
        Problem.REFUSED: f"No teleop server at {server} (is it running?); {again}",
        Problem.UNKNOWN_HOST: f"Cannot find {server.rpartition(':')[0] or server} on the network; {again} every few seconds",
        Problem.TIMEOUT: f"{server} does not answer; {again}",
        Problem.LOST: f"Lost the connection to {server}; {again}",
        Problem.CLOSED: f"{server} closed the connection; {again}",
        Problem.NOT_ALLOWED: f"{server} does not let this app in (see the log); {again}",
        Problem.BUSY: f"{server} is busy; {again}",
        Problem.TLS_UNTRUSTED: f"{server}'s certificate is not trusted: choose its certificate file in Settings",
        Problem.TLS: f"Secure connection to {server} failed (see the log); {again}",
        Problem.BAD_ADDRESS: f"{server} is not a usable address",
    }.get(problem, f"Cannot reach {server} (see the log); {again}")


@dataclass(frozen=True)
class ServerStatus:
    """What the server says about the robot, as the window shows it."""

    device: str = ""
    failsafe: bool = False
    estop: bool = False
    pilot: str = ""
    clients: int = 0

    @classmethod
    def from_message(cls, status: dict[str, Any]) -> ServerStatus:
        serial = status.get("serial") or {}
        pilot = status.get("pilot") or {}
        return cls(
            str(serial.get("state", "")),
            bool(status.get("failsafe")),
            bool(status.get("estop")),
            str(pilot.get("name", "")),
            int(status.get("clients", 0) or 0),
        )


class ConnectionModel:
    """Where we are connected, as what, and why not: state, role, plain message, refusal, RTT, server status."""

    def __init__(self) -> None:
        self.state = ConnectionState.DISCONNECTED
        self.problem = Problem.NONE
        self.role = Role.OBSERVER
        self.legacy = False
        self.server = ""
        self.message = "Not connected"
        #: why the server refused the pilot role (missing or wrong token); "" when it did not
        self.refused = ""
        self.rtt_ms: float | None = None
        self.status = ServerStatus()
        #: the status is from a connection that has dropped
        self.status_stale = False
        self.changed: Event[ConnectionModel] = Event()
        self.rtt_changed: Event[float | None] = Event()

    @property
    def connected(self) -> bool:
        return self.state is ConnectionState.CONNECTED

    @property
    def pilot(self) -> bool:
        return self.connected and (self.role is Role.PILOT or self.legacy)


# -- driving ---------------------------------------------------------------------------------


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
        self.sent_count = 0
        self.timing.set_input(self.virtual.axes, self.virtual.buttons, self.virtual.hats, clock())  # neutral, not "no axes"
        self.changed: Event[DriveModel] = Event()  # enabled, off_reason or blocked changed
        self.pads_changed: Event[DriveModel] = Event()
        self.input_changed: Event[DriveModel] = Event()
        #: a pad's profile was stored (the GUI saves the settings)
        self.profile_changed: Event[PadProfile] = Event()
        #: the gamepad layer should buzz a pad
        self.rumble: Event[Rumble] = Event()

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
        info = self.pads.get(instance_id)
        profile = self.profile_of(instance_id)
        if info is None or profile is None:
            return Layout.RAW
        return profile.effective_layout(info.known and self.pad_states[instance_id].standard is not None)

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

        A bad file raises :class:`~teleop.profiles.ProfileError` saying why, and nothing changes.
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
        self.changed.emit(self)

    def tick(self) -> None:
        """The periodic re-send (and a change held back by the rate cap)."""
        control = self.timing.poll(self._clock())
        if control is not None:
            self._emit(control)

    def deadline(self) -> float:
        return self.timing.deadline()

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

    def set_virtual_axis(self, index: int, value: float) -> None:
        if 0 <= index < VIRTUAL_AXES and self.virtual.axes[index] != value:
            self.virtual.axes[index] = max(-1.0, min(1.0, value))
            if self.selected is None:
                self._input(self._clock())

    def set_virtual_axes(self, values: dict[int, float]) -> None:
        """Several axes at once (keys pressed together): one control, not one per axis."""
        changed = False
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
        if instance_id == self.selected:
            self.selected = None
            self._lost_guid = info.guid if info is not None else ""
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
        self.pads_changed.emit(self)
        self._input(self._clock())

    def _input(self, now: float) -> None:
        state = self.current_input()
        control = self.timing.set_input(state.axes, state.buttons, state.hats, now, self.layout)
        if control is not None:
            self._emit(control)
        self.input_changed.emit(self)


# -- readings --------------------------------------------------------------------------------


class ReadingsModel:
    """The readings store, plus whether they are current and whose server they came from."""

    def __init__(self, store: ReadingsStore | None = None) -> None:
        self.store = store or ReadingsStore()
        self.server = ""
        #: what each reading key means ("ADC 0-1023"), as the server's welcome says
        self.units: dict[str, str] = {}
        #: the link dropped: values shown are the last ones seen, not the robot's state now
        self.stale = False
        self.names_added: Event[list[str]] = Event()
        self.stale_changed: Event[bool] = Event()
        self.cleared: Event[ReadingsModel] = Event()
        #: new readings since the view last called :meth:`seen` (one event per view frame, not per reading)
        self.arrived: Event[ReadingsModel] = Event()
        self._unseen = False

    def from_server(self, server: str) -> None:
        """Readings are about to come from ``server``: another server's history is dropped."""
        if server != self.server:
            self.server = server
            if self.store.count or self.store.latest:
                self.store.clear()
                self.cleared.emit(self)

    def add(self, t: float, values: dict[str, float | int]) -> None:
        self._fresh()
        new = self.store.add(t, values)
        if new:
            self.names_added.emit(new)
        if not self._unseen:
            self._unseen = True
            self.arrived.emit(self)

    def seen(self) -> None:
        """The view has drawn what arrived; the next reading emits :attr:`arrived` again."""
        self._unseen = False

    def snapshot(self, t: float, values: dict[str, float | int]) -> None:
        new = self.store.snapshot(t, values)
        if new:
            self.names_added.emit(new)

    def link_lost(self) -> None:
        if not self.stale:
            self.stale = True
            self.store.break_lines()
            self.stale_changed.emit(True)

    def _fresh(self) -> None:
        if self.stale:
            self.stale = False
            self.stale_changed.emit(False)


# -- video -----------------------------------------------------------------------------------


class VideoModel:
    """The robot's camera as the video panel shows it: what to say, and the newest frame.

    It opens the stream (:class:`teleop.video.VideoStream`) only while it can
    show something: connected, the panel visible, and the robot's status naming
    a camera. One frame slot, newest wins: :attr:`arrived` fires when the slot
    goes from empty to full, the view takes it (:meth:`take`), and frames
    that came meanwhile replaced each other (counted in :attr:`replaced`).
    """

    def __init__(self, wall: Callable[[], float] = time.time, clock: Callable[[], float] = time.monotonic) -> None:
        self._wall = wall
        self._mono = clock
        self.connected = False
        self.wanted = True
        #: the status's ``camera`` field; None: the robot has no camera (or its server predates video)
        self.camera: dict[str, Any] | None = None
        self.state = VideoState.OFF
        self.message = describe(VideoState.OFF)
        self.offset = ClockOffset()  # replaced by the session's own when linked
        self.received = RateMeter()
        self.replaced = 0
        self._frame: mjpeg.Frame | None = None
        self._ws_url = ""
        self._token: str | None = None
        self._ssl: ssl.SSLContext | None = None
        self._stream: VideoStream | None = None
        self._stream_url = ""
        self.changed: Event[VideoModel] = Event()
        self.arrived: Event[VideoModel] = Event()

    # -- what the app tells it ----------------------------------------------------------------

    def link(self, ws_url: str, token: str | None, ssl_context: ssl.SSLContext | None, offset: ClockOffset) -> None:
        """The robot to watch: its WebSocket address (the video is on the same host and port), token, TLS and clock."""
        self._close_stream()
        self._ws_url, self._token, self._ssl, self.offset = ws_url, token, ssl_context, offset
        self.camera = None
        self._update()

    def set_connected(self, connected: bool) -> None:
        if connected != self.connected:
            self.connected = connected
            if not connected:
                self.camera = None  # the next welcome says again
            self._update()

    def set_camera(self, camera: dict[str, Any] | None) -> None:
        """The ``camera`` field of the robot's status."""
        if camera != self.camera:
            self.camera = camera if isinstance(camera, dict) else None
            self._update()

    def set_wanted(self, wanted: bool) -> None:
        """The panel is shown (stream) or hidden (no stream: nothing is downloaded or decoded for nobody)."""
        if wanted != self.wanted:
            self.wanted = wanted
            self._update()

    def close(self) -> None:
        self._ws_url = ""
        self.connected = False
        self._update()

    # -- what the view reads --------------------------------------------------------------------

    def take(self) -> mjpeg.Frame | None:
        """The newest frame not yet taken (None if there is none); the next one fires :attr:`arrived` again."""
        frame, self._frame = self._frame, None
        return frame

    def capture_on_our_clock(self, frame: mjpeg.Frame) -> float | None:
        """When ``frame`` was captured, on this PC's wall clock (the robot's clock offset removed).

        None if the frame carries no capture time, or no pong has measured the
        offset yet (a Pi without network time can be minutes off: no guess).
        """
        if frame.capture_time is None or self.offset.offset is None:
            return None
        return self.offset.to_local(frame.capture_time)

    def age(self, frame: mjpeg.Frame, now: float | None = None) -> float | None:
        """How old ``frame`` is now, seconds (None if it carries no capture time)."""
        captured = self.capture_on_our_clock(frame)
        return None if captured is None else (self._wall() if now is None else now) - captured

    def fps(self) -> float:
        """Frames received per second, over the last second."""
        return self.received.rate(self._mono())

    @property
    def stream(self) -> VideoStream | None:
        return self._stream

    # -- internals ----------------------------------------------------------------------------

    def _frame_in(self, stream: VideoStream, frame: mjpeg.Frame) -> None:
        if stream is not self._stream:
            return
        self.received.tick(self._mono())
        empty = self._frame is None
        if not empty:
            self.replaced += 1
        self._frame = frame
        if empty:
            self.arrived.emit(self)

    def _stream_state(self, stream: VideoStream, state: VideoState, detail: str) -> None:
        if stream is self._stream:
            self._update()

    def _update(self) -> None:
        camera = self.camera
        want_url = ""
        if self.connected and self.wanted and camera is not None and self._ws_url:
            path = camera.get("path")
            want_url = video_url(self._ws_url, path if isinstance(path, str) and path.startswith("/") else mjpeg.VIDEO_PATH)
        if want_url != self._stream_url:
            self._close_stream()
            if want_url:
                self._open_stream(want_url)
        self._set(*self._shown_state())

    def _shown_state(self) -> tuple[VideoState, str]:
        camera, stream = self.camera, self._stream
        if not self.connected or not self._ws_url:
            return VideoState.OFF, describe(VideoState.OFF)
        if not self.wanted:
            return VideoState.OFF, "Video hidden"
        if camera is None:
            return VideoState.NO_CAMERA, describe(VideoState.NO_CAMERA)
        said = str(camera.get("state", ""))
        detail = str(camera.get("detail") or "")
        live = stream is not None and stream.state is VideoState.LIVE
        if said == "lost":
            return VideoState.LOST, describe(VideoState.LOST, detail)
        if said == "starting" and not live:
            return VideoState.STARTING, describe(VideoState.STARTING, detail)
        if stream is None:
            return VideoState.CONNECTING, describe(VideoState.CONNECTING)
        return stream.state, describe(stream.state, stream.detail)

    def _set(self, state: VideoState, message: str) -> None:
        if (state, message) != (self.state, self.message):
            self.state, self.message = state, message
            self.changed.emit(self)

    def _open_stream(self, url: str) -> None:
        stream = VideoStream(url, token=self._token, ssl_context=self._ssl)
        stream.events = VideoEvents(
            state=lambda state, detail: self._stream_state(stream, state, detail), frame=lambda frame: self._frame_in(stream, frame)
        )
        self._stream, self._stream_url = stream, url
        stream.start()

    def _close_stream(self) -> None:
        stream, self._stream, self._stream_url = self._stream, None, ""
        self._frame = None
        if stream is not None:
            stream.close()


# -- the whole app ---------------------------------------------------------------------------


class TeleopModel:
    """The app without its window: the three sub-models and the connection that feeds them."""

    def __init__(self, settings: AppSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.connection = ConnectionModel()
        self.drive = DriveModel(self._drive_settings(), self._send, clock)
        self.drive.profiles = settings.pads
        self.drive.rumble_enabled = settings.rumble
        self.readings = ReadingsModel()
        self.video = VideoModel()
        self.session: ClientSession | None = None
        self.log: Event[LogLine] = Event()
        #: we asked the server to engage / lift its emergency stop and have not yet seen it say so
        self._estop_asked: bool | None = None
        self._logged_problem: tuple[ConnectionState, Problem] | None = None

    def _drive_settings(self) -> DriveSettings:
        return DriveSettings(rate_hz=self.settings.rate_hz, default_shape=AxisShape(), shapes=self.settings.shapes())

    def say(self, level: LogLevel, text: str) -> None:
        self.log.emit(LogLine(level, text))

    def apply_settings(self, settings: AppSettings) -> bool:
        """New settings from the dialog; True if the connection must be remade (address or token changed)."""
        keys = ("host", "port", "tls", "token", "cafile")
        reconnect = any(getattr(settings, k) != getattr(self.settings, k) for k in keys)
        self.settings = settings
        self.drive.profiles = settings.pads
        self.drive.rumble_enabled = settings.rumble
        self.drive.set_settings(self._drive_settings())
        return reconnect and self.session is not None

    # -- connection -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return server_url(self.settings.host, self.settings.port, self.settings.tls)

    async def connect(self, url: str | None = None) -> None:
        await self.disconnect()
        url = url or self.url
        address = parse_address(url)
        token = (address.token if not isinstance(address, str) else "") or self.settings.token
        server = f"{address.host}:{address.port}" if not isinstance(address, str) else url
        try:
            context = trust_context(self.settings.cafile) if url.startswith("wss:") and self.settings.cafile else None
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            why = getattr(exc, "strerror", None) or exc
            self._connection_update(state=ConnectionState.FAILED, message=f"Cannot use the certificate file {self.settings.cafile}: {why}")
            return
        self.readings.from_server(server)
        self.connection.server = server
        self.connection.refused = ""
        events = SessionEvents(state=self._on_state, message=self._on_message, legacy_text=self._on_legacy, rtt=self._on_rtt)
        self.session = ClientSession(url, events, name="teleop-gui", role=Role.PILOT, token=token or None, ssl_context=context)
        self.video.link(self.session.url, token or None, context, self.session.clock)
        self.session.start()

    async def disconnect(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            self.drive.set_blocked(DriveOff.NOT_CONNECTED)
            await session.stop()
            self._on_state_of(session, ConnectionState.DISCONNECTED, "disconnected")
            self.video.close()

    def request_control(self, takeover: bool = True) -> None:
        if self.session is not None and self.session.connected:
            self.session.request_control(takeover)
            self.say(LogLevel.INFO, "asked to take control" if takeover else "asked for control")

    def enable_driving(self) -> bool:
        """Enable driving (clearing an emergency stop this pilot may lift); False, with the reason shown, if not possible."""
        engaged = self.connection.status.estop or self._estop_asked is True  # the server may not have said so yet
        if self.drive.blocked is None and engaged and self.session is not None:
            self.session.emergency_stop(False)
            self._estop_asked = False
        ok = self.drive.enable()
        if ok:
            self.say(LogLevel.INFO, "driving enabled")
        else:
            self.say(LogLevel.WARNING, f"cannot enable driving: {self.drive.blocked}")
        return ok

    def disable_driving(self, why: DriveOff = DriveOff.BY_USER) -> None:
        was = self.drive.enabled
        self.drive.disable(why)
        if was:
            self.say(LogLevel.INFO if why is DriveOff.BY_USER else LogLevel.WARNING, f"driving off: {why}")

    def emergency_stop(self) -> None:
        """Neutral at once, driving off, and the server holds every client off until a pilot re-enables."""
        self.drive.disable(DriveOff.EMERGENCY_STOP)
        if self.session is not None and self.session.connected:
            self.session.emergency_stop(True)
            self._estop_asked = True
        self.say(LogLevel.WARNING, "EMERGENCY STOP")

    async def shutdown(self) -> None:
        self.disable_driving(DriveOff.CLOSING)
        await self.disconnect()

    def _send(self, control: Control) -> None:
        if self.session is not None and self.session.connected:
            self.session.send_control(control)

    # -- session callbacks ---------------------------------------------------------------------

    def _on_state(self, state: ConnectionState, detail: str) -> None:
        if self.session is not None:
            self._on_state_of(self.session, state, detail)

    def _on_state_of(self, session: ClientSession, state: ConnectionState, detail: str) -> None:
        connection = self.connection
        if state is not ConnectionState.CONNECTED and connection.state is ConnectionState.CONNECTED:
            self.readings.link_lost()
            connection.status_stale = True
            if state is not ConnectionState.DISCONNECTED:  # dropped, not closed by the user
                self.drive.buzz(Buzz.LINK_LOST)
        if state is ConnectionState.CONNECTED:
            connection.status_stale = False
        self.video.set_connected(state is ConnectionState.CONNECTED and not session.legacy)
        key = (state, session.problem)
        if key != self._logged_problem:  # one log line per change of trouble, not per retry
            self._logged_problem = key
            self.say(LogLevel.LINK, detail or state.value)  # the detail, in full: the bar shows the plain words
        connection.legacy = session.legacy
        self._connection_update(state=state, problem=session.problem, message=plain_message(state, session.problem, connection.server))
        if state is not ConnectionState.CONNECTED:
            connection.rtt_ms = None
            connection.rtt_changed.emit(None)

    def _connection_update(self, **fields: Any) -> None:
        connection = self.connection
        for name, value in fields.items():
            setattr(connection, name, value)
        session = self.session
        if session is not None:
            connection.role = session.role
        if not connection.connected:
            connection.role = Role.OBSERVER
        if connection.pilot:
            connection.refused = ""
        was_driving = self.drive.enabled
        self.drive.set_blocked(self._why_blocked())
        if was_driving and not self.drive.enabled:
            self.say(LogLevel.WARNING, f"driving off: {self.drive.off_reason}")
        connection.changed.emit(connection)

    def _why_blocked(self) -> DriveOff | None:
        connection = self.connection
        if not connection.connected:
            return DriveOff.LINK_LOST if self.drive.enabled else DriveOff.NOT_CONNECTED
        if not connection.pilot:
            return DriveOff.TAKEN_OVER if self.drive.enabled else DriveOff.NOT_PILOT
        return None

    def _on_rtt(self, ms: float) -> None:
        self.connection.rtt_ms = ms
        self.connection.rtt_changed.emit(ms)

    def _on_legacy(self, text: str) -> None:
        self.say(LogLevel.LEGACY, text.strip())

    def _on_message(self, message: protocol.ServerMessage) -> None:
        if isinstance(message, protocol.Reading):
            self.readings.add(message.t, message.values)
            return
        if isinstance(message, protocol.Welcome):
            self.readings.units = dict(message.units)
            self.readings.snapshot(time.time(), message.readings)
            self._apply_status(message.status)
            self.say(LogLevel.INFO, f"connected to {message.server} as {message.role.value}")
        elif isinstance(message, protocol.Status):
            self._apply_status(protocol.to_dict(message))
        elif isinstance(message, protocol.Event):
            self._server_event(message)
        elif isinstance(message, protocol.Error):
            self.say(LogLevel.ERROR, f"server: {message.message}")
            if message.code in (protocol.ErrorCode.UNAUTHORIZED, protocol.ErrorCode.PILOT_BUSY):
                self.connection.refused = message.message
        self._connection_update()

    def _server_event(self, event: protocol.Event) -> None:
        # The server's failsafe holds the outputs at neutral whenever no pilot is sending: that is
        # the normal idle state of a robot nobody drives, not a warning, unless we were driving.
        level = LogLevel(event.level) if event.level in LogLevel.__members__.values() else LogLevel.INFO
        if event.text.startswith("failsafe") and not self.drive.enabled:
            level = LogLevel.INFO
        self.say(level, event.text)

    def _apply_status(self, status: dict[str, Any]) -> None:
        new = ServerStatus.from_message(status)
        old = self.connection.status
        if new.estop and not old.estop:
            self.drive.buzz(Buzz.ESTOP)
        elif new.failsafe and not old.failsafe and self.drive.enabled and not new.estop:
            self.drive.buzz(Buzz.FAILSAFE)
        # the echo of our own stop, already lifted by a quick re-enable, is not someone else's stop
        echo = self._estop_asked is False
        if new.estop and not self.connection.status.estop and self.drive.enabled and not echo:
            self.disable_driving(DriveOff.STOPPED_ELSEWHERE)
        if new.estop == self._estop_asked:
            self._estop_asked = None
        self.connection.status = new
        self.video.set_camera(status.get("camera"))
