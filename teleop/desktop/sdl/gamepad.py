"""Gamepads through SDL (pygame-ce), with hotplug, keyed by SDL instance id.

No Qt here: the GUI calls :meth:`GamepadManager.pump` (or :meth:`~GamepadManager.poll`)
when a pad's file is readable (:mod:`teleop.desktop.sdl.filewatch`), when SDL's own wait
says it has news (:mod:`teleop.desktop.sdl.wakeup`), or on a slow timer. SDL only
delivers joystick events to a program whose window has focus unless ``SDL_JOYSTICK_ALLOW_BACKGROUND_EVENTS=1`` is set before SDL
initialises, and a pilot's focus is often on another window, so this module sets it
on import. Device indexes shift when a pad is plugged or unplugged; instance ids do
not, so everything is keyed by instance id.

Layouts (:mod:`teleop.wire.layout`): every pad is opened as a joystick and read raw.
A pad SDL knows, from the database built into SDL or from a mapping line loaded at
start (:func:`load_mappings`: a ``gamecontrollerdb.txt`` shipped beside the app's
resources, then the user's own in :func:`teleop.desktop.models.appsettings.config_dir`), is also
opened through SDL's GameController API, and its named controls are kept in the
standard layout in ``GamepadState.standard``. A pad SDL does not know stays raw.

Typical use (what the GUI's adapter does)::

    pads = GamepadManager()
    pads.attach(model)          # a teleop.desktop.session.teleop_model.TeleopModel: pads feed its DriveModel, rumble comes back
    ...when SDL wakes us: pads.pump()
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("SDL_JOYSTICK_ALLOW_BACKGROUND_EVENTS", "1")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
# SDL's own SIGINT/SIGTERM handlers turn a kill into an SDL_QUIT event nobody reads: the app
# would ignore `kill`. The app handles both signals itself (teleop.desktop.app).
os.environ.setdefault("SDL_NO_SIGNAL_HANDLERS", "1")
if sys.platform.startswith("linux"):
    # SDL opens no window here; its X11 driver would only add a second display connection.
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import pygame
from pygame._sdl2 import controller as sdl_controller

from teleop.common.resources import resource_path
from teleop.desktop.models.appsettings import config_dir
from teleop.desktop.models.connection import LogLevel
from teleop.desktop.models.padhealth import Battery
from teleop.desktop.models.pads import GamepadInfo, GamepadState, Rumble
from teleop.desktop.session.teleop_model import TeleopModel
from teleop.wire.layout import STANDARD_AXES, STANDARD_BUTTONS, TRIGGERS, Layout

__all__ = ["GamepadInfo", "GamepadManager", "GamepadState", "PollResult", "load_mappings", "mapping_files", "sdl_library"]

log = logging.getLogger("teleop.desktop.sdl.gamepad")

#: The file name SDL's community database and most tools use; one mapping per line.
MAPPING_FILE = "gamecontrollerdb.txt"
#: How often the pads' power levels are read: a battery drains over minutes, and the read is an SDL call per pad.
BATTERY_EVERY_S = 5.0


@dataclass
class PollResult:
    added: list[GamepadInfo] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    #: instance ids whose inputs changed during this poll
    changed: set[int] = field(default_factory=set)


# -- SDL itself, for what pygame does not expose --------------------------------------------------


def sdl_library() -> ctypes.CDLL | None:
    """The SDL2 library pygame runs on (the one in its wheel), for the calls pygame lacks.

    pygame-ce keeps it in ``pygame_ce.libs/``, pygame in ``pygame.libs/``, macOS wheels in
    ``pygame/.dylibs/``, Windows wheels beside the package; a distribution's pygame uses
    the system's. Loading the same file again gives the library already loaded.
    """
    here = Path(pygame.__file__).resolve().parent
    patterns = [
        str(here.parent / "pygame_ce.libs" / "libSDL2-*.so*"),
        str(here.parent / "pygame.libs" / "libSDL2-*.so*"),
        str(here / ".dylibs" / "libSDL2*.dylib"),
        str(here / "SDL2.dll"),
    ]
    candidates = [*_loaded_sdl(), *(path for pattern in patterns for path in sorted(glob.glob(pattern)))]
    system = ctypes.util.find_library("SDL2")
    for path in [*candidates, *([system] if system else [])]:
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


def _loaded_sdl() -> list[str]:
    """On Linux, the SDL2 file this process has already loaded (pygame's): surely the right one."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = {line.split()[-1] for line in maps if "libSDL2" in line and "/" in line}
    except OSError:
        return []
    return sorted(p for p in paths if Path(p).name.startswith(("libSDL2-", "libSDL2.")) and os.path.exists(p))


def mapping_files() -> list[Path]:
    """Where mapping lines are read from at start, in order (a later line for a GUID wins)."""
    return [resource_path(MAPPING_FILE), config_dir() / MAPPING_FILE]


_ELEMENTS = frozenset(STANDARD_AXES + STANDARD_BUTTONS)
_BINDING = re.compile(r"[+-]?(?:b\d{1,3}|a\d{1,3}~?|h\d{1,2}\.(?:1|2|4|8))\Z")
_EXTRAS = ("platform:", "crc:", "hint:", "sdk>=:", "sdk<=:")


def _bad_binding(fields: list[str]) -> str | None:
    """Why a mapping line's bindings (``a:b0,leftx:a0,...``) are not ones SDL can use; None if they are."""
    for binding in fields:
        if not binding or binding.startswith(_EXTRAS):
            continue
        element, _, source = binding.partition(":")
        if element.lstrip("+-") not in _ELEMENTS:
            return f"{element!r} is not a gamepad control name"
        if source and not _BINDING.match(source):
            return f"{binding!r}: expected a raw input like b0, a1, -a2, a3~ or h0.1"
    return None


def _platform_name() -> str:
    return {"win32": "Windows", "darwin": "Mac OS X"}.get(sys.platform, "Linux")


def load_mappings(files: Iterable[Path]) -> tuple[int, list[str]]:
    """Add every usable mapping line of ``files`` to SDL; returns (lines added, problems in words).

    A line is ``GUID,name,a:b0,b:b1,...[,platform:Linux]``; comments (``#``) and lines for
    another platform are skipped. A bad line is reported with its file and line number and
    the rest still load. Files that do not exist are not a problem.
    """
    sdl = sdl_library()
    problems: list[str] = []
    added = 0
    if sdl is None:
        return 0, ["cannot load extra gamepad mappings: pygame's SDL library was not found (SDL's built-in ones still work)"]
    sdl.SDL_GameControllerAddMapping.argtypes = [ctypes.c_char_p]
    sdl.SDL_GameControllerAddMapping.restype = ctypes.c_int
    sdl.SDL_GetError.restype = ctypes.c_char_p
    platform = _platform_name()
    for path in files:
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            continue
        except OSError as exc:
            problems.append(f"cannot read {path}: {exc.strerror or exc}")
            continue
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = [f.strip() for f in line.split(",")]
            wanted = next((f.split(":", 1)[1] for f in fields if f.startswith("platform:")), platform)
            if wanted != platform:
                continue
            if len(fields) < 3 or len(fields[0]) != 32 or not all(c in "0123456789abcdefABCDEF" for c in fields[0]):
                problems.append(f"{path}, line {number}: not a mapping (expected GUID,name,a:b0,... with a 32-digit GUID)")
                continue
            why = _bad_binding(fields[2:])
            if why:
                problems.append(f"{path}, line {number}: {why}")
                continue
            if sdl.SDL_GameControllerAddMapping(line.encode()) < 0:
                problems.append(f"{path}, line {number}: SDL refused it ({(sdl.SDL_GetError() or b'').decode(errors='replace')})")
                continue
            added += 1
    return added, problems


#: a known pad's GameController events read: its named buttons, in order with its raw events, for the
#: moments inside a read (a tap); its axes are read from SDL at the end of each read, as they only ever
#: matter as they are then (no action or hold-to-drive button is an axis)
_STANDARD_EVENTS = ("CONTROLLERBUTTONDOWN", "CONTROLLERBUTTONUP", "CONTROLLERDEVICEREMAPPED")
#: these repeat joystick events (a stick moved, a pad came or went): half the events for nothing
_CONTROLLER_REPEATS = ("CONTROLLERAXISMOTION", "CONTROLLERDEVICEADDED", "CONTROLLERDEVICEREMOVED")


def _is_on(kind: str, value) -> bool | tuple | None:
    """What the action map and hold-to-drive read from an input (:func:`teleop.wire.layout.pressed`): a button
    held, a hat's direction; None for an axis, which neither reads (bindings are buttons). Two changes of it
    within one read would leave no trace in the state at the end."""
    if kind == "axis":
        return None
    return value if kind == "hat" else bool(value)


# -- the pads -------------------------------------------------------------------------------------


def _standard_axis(raw: int, name: str) -> float:
    value = raw / 32767.0
    low = 0.0 if name in TRIGGERS else -1.0
    return max(low, min(1.0, value))


class GamepadManager:
    """Tracks every connected gamepad and its current state (raw, and standard where SDL knows it)."""

    def __init__(self, mappings: Sequence[Path] | None = None) -> None:
        if not pygame.display.get_init():
            pygame.display.init()  # SDL's event queue needs it; no window is opened
        pygame.joystick.init()
        #: what went wrong loading mapping files, in words (the app logs them)
        self.mapping_problems: list[str] = []
        self.mappings_added, self.mapping_problems = load_mappings(mapping_files() if mappings is None else mappings)
        sdl_controller.init()
        pygame.event.set_allowed(None)
        pygame.event.set_allowed(
            [
                pygame.JOYDEVICEADDED,
                pygame.JOYDEVICEREMOVED,
                pygame.JOYAXISMOTION,
                pygame.JOYBUTTONDOWN,
                pygame.JOYBUTTONUP,
                pygame.JOYHATMOTION,
                *(getattr(pygame, name) for name in _STANDARD_EVENTS),
            ]
        )
        pygame.event.set_blocked([getattr(pygame, name) for name in _CONTROLLER_REPEATS])
        self._sticks: dict[int, pygame.joystick.JoystickType] = {}
        self._controllers: dict[int, sdl_controller.Controller] = {}
        self.infos: dict[int, GamepadInfo] = {}
        self.states: dict[int, GamepadState] = {}
        self._model: TeleopModel | None = None
        self._battery_due = 0.0
        self._pumping = False
        self._pump_again = False
        #: SDL_JoystickGetDeviceInstanceID: a device's instance id without opening it (None: opened to find out)
        self._instance_at = None
        sdl = sdl_library()
        if sdl is not None:
            sdl.SDL_JoystickGetDeviceInstanceID.argtypes = [ctypes.c_int]
            sdl.SDL_JoystickGetDeviceInstanceID.restype = ctypes.c_int
            self._instance_at = sdl.SDL_JoystickGetDeviceInstanceID
        # Pads already plugged in: SDL announced them to whoever polled first (another
        # manager in this process, or nobody yet), so open them now and report them once.
        self._found = [info for info in (self._open(i) for i in range(pygame.joystick.get_count())) if info is not None]

    # -- reading SDL ------------------------------------------------------------------------------

    def poll(self, moved: Callable[[int], None] | None = None) -> PollResult:
        """Read SDL's queued events into the pads' states, in the order they happened.

        A press and its release can both be queued by the time of a read (the GUI was busy, or reads
        the pads only every 40 ms while not driving), and the state at the end would show neither.
        So before an event undoes an input's change that nobody has seen yet (a button, a hat),
        ``moved(instance_id)`` is called with the state showing it: a tap
        of a pad's e-stop button, however short, reaches the action map.
        """
        result = PollResult(added=self._found)
        self._found = []
        unseen: set[tuple[int, bool, str, int]] = set()  # (pad, standard, kind, index) changed since the last moved()
        for event in pygame.event.get():
            kind = event.type
            if kind == pygame.JOYDEVICEADDED:
                result.added += self._open_new()
            elif kind == pygame.JOYDEVICEREMOVED:
                if self._close(event.instance_id):
                    result.removed.append(event.instance_id)
                    result.changed.discard(event.instance_id)
            elif kind == pygame.CONTROLLERDEVICEREMAPPED:
                result.changed.add(event.instance_id)  # read again from SDL below
            else:
                found = self._input_of(event)
                if found is None:
                    continue
                values, index, value, key = found
                if _is_on(key[2], values[index]) != _is_on(key[2], value):
                    if key in unseen and moved is not None:
                        moved(key[0])  # the change this event undoes, seen before it is undone
                        unseen = {seen for seen in unseen if seen[0] != key[0]}
                    unseen.add(key)
                values[index] = value
                result.changed.add(key[0])
        for instance_id in result.changed:
            # SDL's own word at the end: it combines a control bound to two inputs (a split axis), which its
            # events, one per input, do not
            self._read_standard(instance_id)
        return result

    def _input_of(self, event) -> tuple[list[Any], int, Any, tuple[int, bool, str, int]] | None:
        """Where an input event's new value goes: (the state's list, index, value, its key); None if nowhere."""
        state = self.states.get(getattr(event, "instance_id", None))
        if state is None:
            return None
        kind = event.type
        standard = kind in (pygame.CONTROLLERBUTTONDOWN, pygame.CONTROLLERBUTTONUP)
        if standard:
            if state.standard is None:
                return None
            state = state.standard
        values: list[Any]
        value: Any
        if kind == pygame.JOYAXISMOTION:
            values, index, what = state.axes, event.axis, "axis"
            value = float(event.value)
        elif kind in (pygame.JOYBUTTONDOWN, pygame.CONTROLLERBUTTONDOWN, pygame.JOYBUTTONUP, pygame.CONTROLLERBUTTONUP):
            values, index, what = state.buttons, event.button, "button"
            value = 1 if kind in (pygame.JOYBUTTONDOWN, pygame.CONTROLLERBUTTONDOWN) else 0
        elif kind == pygame.JOYHATMOTION:
            values, index, what = state.hats, event.hat, "hat"
            value = (int(event.value[0]), int(event.value[1]))
        else:
            return None
        if not 0 <= index < len(values):
            return None
        return values, index, value, (event.instance_id, standard, what, index)

    def _read_standard(self, instance_id: int) -> None:
        """A known pad's named controls as SDL has them now (the events give the moments in between)."""
        pad = self._controllers.get(instance_id)
        state = self.states.get(instance_id)
        if pad is None or state is None or state.standard is None:
            return
        standard = state.standard
        try:
            for i, name in enumerate(STANDARD_AXES):
                standard.axes[i] = _standard_axis(pad.get_axis(i), name)
            for i in range(len(STANDARD_BUTTONS)):
                standard.buttons[i] = 1 if pad.get_button(i) else 0
        except (pygame.error, ValueError, IndexError):
            pass  # unplugged under us: the removal event follows

    def _open_new(self) -> list[GamepadInfo]:
        """Open every device not open yet.

        An "added" event's device index is where the pad was when it arrived: if another
        pad was unplugged before this poll, the indexes have shifted and that number now
        names another pad or none, so every index is checked (by instance id, without
        opening a pad twice)."""
        found = []
        for index in range(pygame.joystick.get_count()):
            if self._instance_at is not None and self._instance_at(index) in self._sticks:
                continue
            info = self._open(index)
            if info is not None:
                found.append(info)
        return found

    def _open(self, device_index: int) -> GamepadInfo | None:
        try:
            stick = pygame.joystick.Joystick(device_index)  # opened on creation
        except pygame.error:
            return None
        instance_id = stick.get_instance_id()
        if instance_id in self._sticks:
            return None
        pad = None
        try:
            if sdl_controller.is_controller(device_index):
                pad = sdl_controller.Controller(device_index)
        except (pygame.error, ValueError):
            pad = None
        info = GamepadInfo(
            instance_id,
            stick.get_name(),
            stick.get_guid(),
            stick.get_numaxes(),
            stick.get_numbuttons(),
            stick.get_numhats(),
            known=pad is not None,
        )
        self._sticks[instance_id] = stick
        self.infos[instance_id] = info
        state = GamepadState(
            axes=[stick.get_axis(i) for i in range(info.axes)],
            buttons=[stick.get_button(i) for i in range(info.buttons)],
            hats=[tuple(stick.get_hat(i)) for i in range(info.hats)],
        )
        if pad is not None:
            self._controllers[instance_id] = pad
            state.standard = GamepadState([0.0] * len(STANDARD_AXES), [0] * len(STANDARD_BUTTONS), [], Layout.STANDARD)
        self.states[instance_id] = state
        self._read_standard(instance_id)
        return info

    def _close(self, instance_id: int) -> bool:
        stick = self._sticks.pop(instance_id, None)
        pad = self._controllers.pop(instance_id, None)
        self.infos.pop(instance_id, None)
        self.states.pop(instance_id, None)
        if stick is None:
            return False
        for thing in (pad, stick):
            try:
                if thing is not None:
                    thing.quit()
            except pygame.error:
                pass
        return True

    def mapping_of(self, instance_id: int) -> str:
        """The SDL mapping in use for a known pad ("" for a raw one): what a user copies into gamecontrollerdb.txt."""
        pad = self._controllers.get(instance_id)
        if pad is None:
            return ""
        try:
            mapping = pad.get_mapping()
        except pygame.error:
            return ""
        info = self.infos[instance_id]
        bindings = ",".join(f"{k}:{v}" for k, v in mapping.items() if k != "crc") if isinstance(mapping, dict) else str(mapping)
        return f"{info.guid},{info.name.replace(',', ' ')},{bindings},"

    def battery(self, instance_id: int) -> Battery:
        """The pad's power level as SDL reports it (coarse; unknown for most wired and many cheap pads)."""
        stick = self._sticks.get(instance_id)
        try:
            return Battery.of(stick.get_power_level()) if stick is not None else Battery.UNKNOWN
        except (pygame.error, AttributeError):
            return Battery.UNKNOWN

    # -- rumble -----------------------------------------------------------------------------------

    def rumble(self, instance_id: int, low: float, high: float, ms: int) -> bool:
        """Buzz a pad; False if it cannot (no motors, or gone). Never raises."""
        device = self._controllers.get(instance_id) or self._sticks.get(instance_id)
        if device is None:
            return False
        try:
            return bool(device.rumble(max(0.0, min(1.0, low)), max(0.0, min(1.0, high)), int(ms)))
        except pygame.error:
            return False

    def _on_rumble(self, request: Rumble) -> None:
        if not self.rumble(request.instance_id, request.low, request.high, request.ms):
            log.debug("pad #%d cannot rumble (%s)", request.instance_id, request.why)

    # -- feeding the models -----------------------------------------------------------------------

    def attach(self, model: TeleopModel) -> None:
        """Feed ``model``'s drive model from :meth:`pump`, and rumble when it asks."""
        self._model = model
        model.drive.rumble.connect(self._on_rumble)
        for problem in self.mapping_problems:
            model.say(LogLevel.WARNING, f"gamepad mappings: {problem}")

    def pump(self) -> PollResult:
        """Read SDL's events into the attached model and send what its timing says is due.

        A pump asked for while one runs (a pad button bound to Enable makes the app read the pads again
        at once) is done when the running one ends, never inside it: the outer read would otherwise go on
        to apply its older events over the newer ones."""
        if self._pumping:
            self._pump_again = True
            return PollResult()
        self._pumping = True
        try:
            result = self._pump_once()
            while self._pump_again:
                self._pump_again = False
                more = self._pump_once()
                result.added += more.added
                result.removed += more.removed
                result.changed |= more.changed
            return result
        finally:
            self._pumping = False

    def _pump_once(self) -> PollResult:
        model = self._model
        if model is None:
            return self.poll()
        drive = model.drive
        result = self.poll(moved=drive.pad_moved)
        for instance_id in result.removed:
            drive.pad_removed(instance_id)
            model.say(LogLevel.WARNING, f"gamepad #{instance_id} unplugged")
        for info in result.added:
            layout = "standard layout" if info.known else "raw"
            model.say(
                LogLevel.INFO, f"gamepad connected: {info.name} ({layout}; {info.axes} axes, {info.buttons} buttons, {info.hats} hats)"
            )
            drive.pad_added(info, self.states[info.instance_id], model.settings.gamepad)
            drive.set_battery(info.instance_id, self.battery(info.instance_id))
        now = time.monotonic()
        if now >= self._battery_due:
            self._battery_due = now + BATTERY_EVERY_S
            for instance_id in self._sticks:
                drive.set_battery(instance_id, self.battery(instance_id))
        for instance_id in result.changed:
            drive.pad_moved(instance_id)
        if drive.due():
            drive.tick()
        return result

    def close(self) -> None:
        if self._model is not None:
            self._model.drive.rumble.disconnect(self._on_rumble)
            self._model = None
        for instance_id in list(self._sticks):
            self._close(instance_id)
