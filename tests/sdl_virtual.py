"""A real SDL joystick without hardware: SDL2 >= 2.0.14 can attach virtual devices.

We load the SDL library bundled in pygame's wheel with ctypes; pygame (same
library, same process) then sees a real device, with hotplug events, so the
production polling code is what the tests exercise.
"""

from __future__ import annotations

import ctypes
import glob
import os

import pygame


def _load_sdl() -> ctypes.CDLL:
    here = os.path.dirname(pygame.__file__)
    candidates = glob.glob(os.path.join(here + ".libs", "libSDL2-*.so*")) + glob.glob(os.path.join(here, ".dylibs", "libSDL2*.dylib"))
    if not candidates:
        raise RuntimeError("pygame's bundled SDL2 library was not found")
    sdl = ctypes.CDLL(candidates[0])
    sdl.SDL_JoystickAttachVirtual.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    sdl.SDL_JoystickAttachVirtual.restype = ctypes.c_int
    sdl.SDL_JoystickDetachVirtual.argtypes = [ctypes.c_int]
    sdl.SDL_JoystickOpen.argtypes = [ctypes.c_int]
    sdl.SDL_JoystickOpen.restype = ctypes.c_void_p
    sdl.SDL_JoystickClose.argtypes = [ctypes.c_void_p]
    sdl.SDL_JoystickInstanceID.argtypes = [ctypes.c_void_p]
    sdl.SDL_JoystickInstanceID.restype = ctypes.c_int
    sdl.SDL_JoystickSetVirtualAxis.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int16]
    sdl.SDL_JoystickSetVirtualButton.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint8]
    sdl.SDL_JoystickSetVirtualHat.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint8]
    sdl.SDL_NumJoysticks.restype = ctypes.c_int
    return sdl


HAT = {(0, 0): 0x00, (0, 1): 0x01, (1, 0): 0x02, (0, -1): 0x04, (-1, 0): 0x08}


class VirtualJoystick:
    """Plug in with :meth:`attach`, move with :meth:`axis`/:meth:`button`/:meth:`hat`, unplug with :meth:`detach`."""

    def __init__(self, axes: int = 4, buttons: int = 8, hats: int = 1) -> None:
        self.sdl = _load_sdl()
        self.shape = (axes, buttons, hats)
        self.handle: int | None = None
        self.device_index = -1
        self.instance_id = -1

    def attach(self) -> VirtualJoystick:
        index = self.sdl.SDL_JoystickAttachVirtual(1, *self.shape)  # 1 = SDL_JOYSTICK_TYPE_GAMECONTROLLER
        if index < 0:
            raise RuntimeError("SDL_JoystickAttachVirtual failed")
        self.device_index = index
        self.handle = self.sdl.SDL_JoystickOpen(index)
        self.instance_id = self.sdl.SDL_JoystickInstanceID(self.handle)
        return self

    def axis(self, axis: int, value: float) -> None:
        raw = max(-32768, min(32767, round(value * 32767)))
        self.sdl.SDL_JoystickSetVirtualAxis(self.handle, axis, raw)

    def button(self, button: int, pressed: bool) -> None:
        self.sdl.SDL_JoystickSetVirtualButton(self.handle, button, 1 if pressed else 0)

    def hat(self, hat: int, direction: tuple[int, int]) -> None:
        self.sdl.SDL_JoystickSetVirtualHat(self.handle, hat, HAT[direction])

    def detach(self) -> None:
        if self.handle is not None:
            self.sdl.SDL_JoystickClose(self.handle)
            self.handle = None
            # the virtual device's index may have moved if others came and went: find ours
            for index in range(self.sdl.SDL_NumJoysticks()):
                self.sdl.SDL_JoystickDetachVirtual(index) if index == self.device_index else None
