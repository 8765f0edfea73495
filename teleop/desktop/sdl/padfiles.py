"""Which of this process's open files are the ones SDL reads gamepads from (Linux).

SDL reads a pad from a device file it keeps open: the pad's evdev node (its
Linux joystick driver), the old joystick API's node (when asked for it), or
the pad's hidraw node (its HIDAPI drivers, for the pads it knows well). The
GUI's event loop can wait on those very files and learn that a pad sent
something the moment the kernel has it, instead of asking SDL every
millisecond (:mod:`teleop.desktop.sdl.filewatch`).

The descriptors are found by reading the links in ``/proc/self/fd``: SDL
does not hand them out. :data:`PAD_FILES` is the one list of what a pad's
file looks like; SDL's own name for a pad's device
(``SDL_JoystickPathForIndex``) is checked against the same list.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

#: what a pad's device file is called, by who reads it that way
PAD_FILES: Mapping[str, re.Pattern[str]] = {
    "evdev": re.compile(r"/dev/input/event\d+"),
    "joydev": re.compile(r"/dev/input/js\d+"),
    "hidraw": re.compile(r"/dev/hidraw\d+"),
}

#: what Linux adds to a link whose file was removed: an unplugged pad's node, still open until SDL closes it
DELETED = " (deleted)"

#: where Linux lists this process's descriptors, each a link to what it has open
PROC_FDS = "/proc/self/fd"


def pad_file_kind(path: str, table: Mapping[str, re.Pattern[str]] = PAD_FILES) -> str | None:
    """The kind of pad file ``path`` is (a key of ``table``), or None when it is not one."""
    path = path.removesuffix(DELETED)
    return next((kind for kind, pattern in table.items() if pattern.fullmatch(path)), None)


def open_pad_files(table: Mapping[str, re.Pattern[str]] = PAD_FILES, fd_dir: str = PROC_FDS) -> dict[int, str]:
    """Every descriptor of this process open on a pad's file, with its path; empty where there is no ``/proc``.

    Descriptors open and close under us (other threads): one that is gone before its link
    is read is simply not there."""
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return {}
    found: dict[int, str] = {}
    for name in names:
        try:
            path = os.readlink(f"{fd_dir}/{name}")
        except OSError:
            continue
        if path.startswith("/") and pad_file_kind(path, table) is not None:
            found[int(name)] = path
    return found
