"""A real SDL joystick without hardware: SDL2 >= 2.24 can attach virtual devices.

We load the SDL library bundled in pygame's wheel (the one teleop.desktop.sdl.gamepad uses)
with ctypes; pygame (same library, same process) then sees a real device, with
hotplug events, so the production polling code is what the tests exercise.

A :class:`VirtualJoystick` is raw by default: SDL does not know it, as with a
pad missing from its database. :meth:`VirtualJoystick.mapping` gives a
GameController mapping line for its GUID; put it in a ``gamecontrollerdb.txt``
the app loads and the same device becomes a known pad with the standard
layout. Every device has a Rumble callback: :attr:`VirtualJoystick.rumbles`
records what SDL was asked to do, as a pad's motors would feel it.
"""

from __future__ import annotations

import ctypes
import threading

import pygame

from teleop.desktop.sdl.gamepad import sdl_library

JOYSTICK_TYPE_UNKNOWN = 0  # SDL_JOYSTICK_TYPE_UNKNOWN: SDL makes no gamepad mapping of its own for it
JOYSTICK_TYPE_GAMECONTROLLER = 1  # SDL maps it by button order itself
DESC_VERSION = 1  # SDL_VIRTUAL_JOYSTICK_DESC_VERSION

_RUMBLE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_uint16, ctypes.c_uint16)


class _Desc(ctypes.Structure):
    """SDL2's SDL_VirtualJoystickDesc (version 1)."""

    _fields_ = [
        ("version", ctypes.c_uint16),
        ("type", ctypes.c_uint16),
        ("naxes", ctypes.c_uint16),
        ("nbuttons", ctypes.c_uint16),
        ("nhats", ctypes.c_uint16),
        ("vendor_id", ctypes.c_uint16),
        ("product_id", ctypes.c_uint16),
        ("padding", ctypes.c_uint16),
        ("button_mask", ctypes.c_uint32),
        ("axis_mask", ctypes.c_uint32),
        ("name", ctypes.c_char_p),
        ("userdata", ctypes.c_void_p),
        ("Update", ctypes.c_void_p),
        ("SetPlayerIndex", ctypes.c_void_p),
        ("Rumble", _RUMBLE),
        ("RumbleTriggers", ctypes.c_void_p),
        ("SetLED", ctypes.c_void_p),
        ("SendEffect", ctypes.c_void_p),
    ]


def _load_sdl() -> ctypes.CDLL:
    sdl = sdl_library()
    if sdl is None:
        raise RuntimeError("pygame's bundled SDL2 library was not found")
    sdl.SDL_JoystickAttachVirtualEx.argtypes = [ctypes.POINTER(_Desc)]
    sdl.SDL_JoystickAttachVirtualEx.restype = ctypes.c_int
    sdl.SDL_JoystickDetachVirtual.argtypes = [ctypes.c_int]
    sdl.SDL_JoystickOpen.argtypes = [ctypes.c_int]
    sdl.SDL_JoystickOpen.restype = ctypes.c_void_p
    sdl.SDL_JoystickClose.argtypes = [ctypes.c_void_p]
    sdl.SDL_JoystickInstanceID.argtypes = [ctypes.c_void_p]
    sdl.SDL_JoystickInstanceID.restype = ctypes.c_int
    sdl.SDL_JoystickGetDeviceInstanceID.argtypes = [ctypes.c_int]
    sdl.SDL_JoystickGetDeviceInstanceID.restype = ctypes.c_int
    sdl.SDL_JoystickSetVirtualAxis.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int16]
    sdl.SDL_JoystickSetVirtualButton.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint8]
    sdl.SDL_JoystickSetVirtualHat.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint8]
    sdl.SDL_NumJoysticks.restype = ctypes.c_int
    return sdl


HAT = {(0, 0): 0x00, (0, 1): 0x01, (1, 0): 0x02, (0, -1): 0x04, (-1, 0): 0x08}


class VirtualJoystick:
    """Plug in with :meth:`attach`, move with :meth:`axis`/:meth:`button`/:meth:`hat`, unplug with :meth:`detach`."""

    def __init__(
        self,
        axes: int = 4,
        buttons: int = 8,
        hats: int = 1,
        *,
        name: str = "Virtual Joystick",
        vendor: int = 0,
        product: int = 0,
        kind: int = JOYSTICK_TYPE_UNKNOWN,
    ) -> None:
        self.sdl = _load_sdl()
        self.shape = (axes, buttons, hats)
        self.name = name
        self.vendor, self.product, self.kind = vendor, product, kind
        self.handle: int | None = None
        self.instance_id = -1
        #: (low, high) strengths SDL asked the motors for, 0..65535, newest last
        self.rumbles: list[tuple[int, int]] = []
        self.rumbled = threading.Event()
        self._callback = _RUMBLE(self._on_rumble)  # kept alive as long as the device

    def _on_rumble(self, _userdata, low: int, high: int) -> int:
        self.rumbles.append((low, high))
        if low or high:
            self.rumbled.set()
        return 0

    def attach(self) -> VirtualJoystick:
        if not pygame.joystick.get_init():
            pygame.joystick.init()
        desc = _Desc(version=DESC_VERSION, type=self.kind, vendor_id=self.vendor, product_id=self.product, name=self.name.encode())
        desc.naxes, desc.nbuttons, desc.nhats = self.shape
        desc.Rumble = self._callback
        self._desc = desc  # SDL copies the name, but keep everything it points at alive anyway
        index = self.sdl.SDL_JoystickAttachVirtualEx(ctypes.byref(desc))
        if index < 0:
            raise RuntimeError("SDL_JoystickAttachVirtualEx failed")
        self.handle = self.sdl.SDL_JoystickOpen(index)
        self.instance_id = self.sdl.SDL_JoystickInstanceID(self.handle)
        return self

    @property
    def device_index(self) -> int:
        """Indexes shift as devices come and go: find ours by instance id."""
        for index in range(self.sdl.SDL_NumJoysticks()):
            if self.sdl.SDL_JoystickGetDeviceInstanceID(index) == self.instance_id:
                return index
        return -1

    @property
    def guid(self) -> str:
        return pygame.joystick.Joystick(self.device_index).get_guid()

    def mapping(self, bindings: str) -> str:
        """A gamecontrollerdb.txt line presenting this device as a known pad (``bindings``: ``a:b0,leftx:a0,...``)."""
        return f"{self.guid},{self.name},{bindings},"

    def axis(self, axis: int, value: float) -> None:
        raw = max(-32768, min(32767, round(value * 32767)))
        self.sdl.SDL_JoystickSetVirtualAxis(self.handle, axis, raw)

    def button(self, button: int, pressed: bool) -> None:
        self.sdl.SDL_JoystickSetVirtualButton(self.handle, button, 1 if pressed else 0)

    def hat(self, hat: int, direction: tuple[int, int]) -> None:
        self.sdl.SDL_JoystickSetVirtualHat(self.handle, hat, HAT[direction])

    def detach(self) -> None:
        if self.handle is not None:
            index = self.device_index
            self.sdl.SDL_JoystickClose(self.handle)
            self.handle = None
            if index >= 0:
                self.sdl.SDL_JoystickDetachVirtual(index)


#: An Xbox pad as Linux's generic HID driver numbers it over Bluetooth: not the raw order
#: teleop.wire.layout assumes for unknown pads (x and y are buttons 3 and 4, start is 11, the
#: triggers are axes 5 and 4), so only its mapping line makes it drive the default mapping right.
XBOX_BLUETOOTH_BINDINGS = (
    "a:b0,b:b1,x:b3,y:b4,leftshoulder:b6,rightshoulder:b7,back:b10,start:b11,guide:b12,leftstick:b13,rightstick:b14,"
    "dpup:h0.1,dpright:h0.2,dpdown:h0.4,dpleft:h0.8,leftx:a0,lefty:a1,rightx:a2,righty:a3,lefttrigger:a5,righttrigger:a4"
)


#: the raw axes of :data:`XBOX_BLUETOOTH_BINDINGS`'s triggers, fully released (a virtual axis starts at 0: half pressed)
XBOX_TRIGGERS_RELEASED = {4: -1.0, 5: -1.0}


def xbox_like() -> VirtualJoystick:
    """A virtual Xbox-like pad (6 axes, 15 buttons, a hat) with its own vendor and product ids, not yet attached."""
    return VirtualJoystick(axes=6, buttons=15, hats=1, name="Xbox-like Test Pad", vendor=0x7E57, product=0x0B0C)
