"""What the app asks SDL about the pads in order to sleep until one has news, and which way to wait.

Two ways to wait (:class:`WaitMode`):

- ``FILES`` (Linux, every pad read from a device file this process has open): the GUI's
  own event loop waits on the very descriptors SDL reads the pads from
  (:mod:`teleop.desktop.sdl.padfiles`, :class:`teleop.desktop.sdl.filewatch.PadFileWatch`)
  and reads the pads when one is readable. No thread: a stick change wakes one thread once.
- ``SDL_LOOP`` (a pad with no file: SDL's virtual joysticks, other systems): only SDL's own
  ``SDL_WaitEventTimeout``, which pumps every millisecond, hears such a pad; it runs on a
  thread of its own (:class:`teleop.desktop.sdl.wakeup.SdlWakeup`).

:func:`choose_wait` says which one the pads plugged in now need.
"""

from __future__ import annotations

import ctypes
import enum
import math
import select
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from teleop.desktop.sdl.gamepad import sdl_library
from teleop.desktop.sdl.padfiles import DELETED, open_pad_files, pad_file_kind


class WaitMode(enum.Enum):
    FILES = "the pads' files"
    SDL_LOOP = "SDL's 1 ms loop"


@dataclass(frozen=True)
class PadSource:
    """What the waits ask about the pads: SDL's answers (:func:`sdl_source`), or stand-ins in tests and benches."""

    #: every descriptor open on a pad's file, with its path
    files: Callable[[], Mapping[int, str]]
    #: the wait that suits the pads there are, given those files
    mode: Callable[[Mapping[int, str]], WaitMode]
    #: SDL_LOOP: SDL's own wait, up to this many ms: True when it has an event queued (left in the queue)
    sdl_wait: Callable[[int], bool]
    #: how many pads SDL knows now (cheap, unlike :attr:`files`: a change means the files are worth a look)
    devices: Callable[[], int] = lambda: 0


def choose_wait(source: PadSource | None) -> WaitMode | None:
    """How the pads plugged in now are waited on (None without SDL: the caller polls)."""
    if source is None:
        return None
    return source.mode(source.files())


def sdl_source() -> PadSource | None:
    """The pads as SDL (pygame's library) has them; None where that library cannot be loaded."""
    sdl = sdl_library()
    if sdl is None:
        return None
    wait = sdl.SDL_WaitEventTimeout
    wait.argtypes, wait.restype = [ctypes.c_void_p, ctypes.c_int], ctypes.c_int
    count = sdl.SDL_NumJoysticks
    count.argtypes, count.restype = [], ctypes.c_int
    path_of = getattr(sdl, "SDL_JoystickPathForIndex", None)  # SDL >= 2.24
    linux = sys.platform.startswith("linux")
    if path_of is not None:
        path_of.argtypes, path_of.restype = [ctypes.c_int], ctypes.c_char_p

    def mode(files: Mapping[int, str]) -> WaitMode:
        """FILES only if every device SDL has is read from a pad file this process has open."""
        open_paths = {path.removesuffix(DELETED) for path in files.values()}
        for index in range(count()):
            raw = path_of(index) if path_of is not None and linux else None
            path = raw.decode(errors="replace") if raw else ""
            if pad_file_kind(path) is None or path not in open_paths:
                return WaitMode.SDL_LOOP
        return WaitMode.FILES

    def sdl_wait(ms: int) -> bool:
        return wait(None, ms) > 0  # NULL event: a peek, the event stays queued

    return PadSource(files=open_pad_files if linux else dict, mode=mode, sdl_wait=sdl_wait, devices=count)


def readable(fds: Sequence[int], timeout: float) -> set[int]:
    """The descriptors of ``fds`` ready to read (or hung up) within ``timeout`` seconds (a closed one is not)."""
    if not hasattr(select, "poll"):  # Windows: no pad files, only sockets
        ready, _, _ = select.select(fds, [], [], None if math.isinf(timeout) else timeout)
        return set(ready)
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN | select.POLLPRI)
    events = poller.poll(None if math.isinf(timeout) else max(0, math.ceil(timeout * 1000)))
    return {fd for fd, flags in events if not flags & select.POLLNVAL}
