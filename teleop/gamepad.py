"""Gamepads through SDL (pygame), with hotplug, keyed by SDL instance id.

No Qt here: the GUI calls :meth:`GamepadManager.poll` from a fast timer.
SDL only delivers joystick events to a program whose window has focus unless
``SDL_JOYSTICK_ALLOW_BACKGROUND_EVENTS=1`` is set before SDL initialises, and a
pilot's focus is often on another window, so this module sets it on import.
Device indexes shift when a pad is plugged or unplugged; instance ids do not,
so everything is keyed by instance id.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

os.environ.setdefault("SDL_JOYSTICK_ALLOW_BACKGROUND_EVENTS", "1")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
# SDL's own SIGINT/SIGTERM handlers turn a kill into an SDL_QUIT event nobody reads: the app
# would ignore `kill`. The app handles both signals itself (teleop.app).
os.environ.setdefault("SDL_NO_SIGNAL_HANDLERS", "1")
if sys.platform.startswith("linux"):
    # SDL opens no window here; its X11 driver would only add a second display connection.
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import pygame

from teleop.models import GamepadInfo, GamepadState

__all__ = ["GamepadInfo", "GamepadManager", "GamepadState", "PollResult"]


@dataclass
class PollResult:
    added: list[GamepadInfo] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    #: instance ids whose inputs changed during this poll
    changed: set[int] = field(default_factory=set)


class GamepadManager:
    """Tracks every connected gamepad and its current state."""

    def __init__(self) -> None:
        if not pygame.display.get_init():
            pygame.display.init()  # SDL's event queue needs it; no window is opened
        pygame.joystick.init()
        pygame.event.set_allowed(None)
        pygame.event.set_allowed(
            [
                pygame.JOYDEVICEADDED,
                pygame.JOYDEVICEREMOVED,
                pygame.JOYAXISMOTION,
                pygame.JOYBUTTONDOWN,
                pygame.JOYBUTTONUP,
                pygame.JOYHATMOTION,
            ]
        )
        self._sticks: dict[int, pygame.joystick.JoystickType] = {}
        self.infos: dict[int, GamepadInfo] = {}
        self.states: dict[int, GamepadState] = {}

    def poll(self) -> PollResult:
        result = PollResult()
        for event in pygame.event.get():
            kind = event.type
            if kind == pygame.JOYAXISMOTION:
                state = self.states.get(event.instance_id)
                if state is not None and event.axis < len(state.axes):
                    state.axes[event.axis] = float(event.value)
                    result.changed.add(event.instance_id)
            elif kind in (pygame.JOYBUTTONDOWN, pygame.JOYBUTTONUP):
                state = self.states.get(event.instance_id)
                if state is not None and event.button < len(state.buttons):
                    state.buttons[event.button] = 1 if kind == pygame.JOYBUTTONDOWN else 0
                    result.changed.add(event.instance_id)
            elif kind == pygame.JOYHATMOTION:
                state = self.states.get(event.instance_id)
                if state is not None and event.hat < len(state.hats):
                    state.hats[event.hat] = (int(event.value[0]), int(event.value[1]))
                    result.changed.add(event.instance_id)
            elif kind == pygame.JOYDEVICEADDED:
                info = self._open(event.device_index)
                if info is not None:
                    result.added.append(info)
            elif kind == pygame.JOYDEVICEREMOVED and self._close(event.instance_id):
                result.removed.append(event.instance_id)
        return result

    def _open(self, device_index: int) -> GamepadInfo | None:
        try:
            stick = pygame.joystick.Joystick(device_index)
            stick.init()
        except pygame.error:
            return None
        instance_id = stick.get_instance_id()
        if instance_id in self._sticks:
            return None
        info = GamepadInfo(
            instance_id, stick.get_name(), stick.get_guid(), stick.get_numaxes(), stick.get_numbuttons(), stick.get_numhats()
        )
        self._sticks[instance_id] = stick
        self.infos[instance_id] = info
        self.states[instance_id] = GamepadState(
            axes=[stick.get_axis(i) for i in range(info.axes)],
            buttons=[stick.get_button(i) for i in range(info.buttons)],
            hats=[tuple(stick.get_hat(i)) for i in range(info.hats)],
        )
        return info

    def _close(self, instance_id: int) -> bool:
        stick = self._sticks.pop(instance_id, None)
        self.infos.pop(instance_id, None)
        self.states.pop(instance_id, None)
        if stick is None:
            return False
        try:
            stick.quit()
        except pygame.error:
            pass
        return True

    def close(self) -> None:
        for instance_id in list(self._sticks):
            self._close(instance_id)
