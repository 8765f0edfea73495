"""Finding the descriptors SDL reads the pads from (teleop.desktop.sdl.padfiles), on real open files."""

from __future__ import annotations

import os
import re

import pytest

from teleop.desktop.sdl.padfiles import PAD_FILES, open_pad_files, pad_file_kind


@pytest.mark.parametrize(
    ("link", "kind"),
    [
        ("/dev/input/event12", "evdev"),
        ("/dev/input/js0", "joydev"),
        ("/dev/hidraw3", "hidraw"),
        ("/dev/input/event5 (deleted)", "evdev"),  # unplugged, still open until SDL closes it
        ("/dev/input/mice", None),
        ("/dev/input/event", None),
        ("/dev/input/by-id/usb-pad-event-joystick", None),
        ("/tmp/dev/input/event1", None),
        ("socket:[4631394]", None),
        ("anon_inode:inotify", None),
    ],
)
def test_a_pads_device_file_is_told_from_everything_else_a_process_has_open(link, kind):
    assert pad_file_kind(link) == kind


@pytest.fixture
def fake_dev(tmp_path):
    """A table like PAD_FILES for files under a temporary folder (no /dev/input here)."""
    return tmp_path, {"evdev": re.compile(re.escape(str(tmp_path)) + r"/event\d+")}


def test_the_descriptors_open_on_pad_files_are_found_through_proc_self_fd(fake_dev):
    folder, table = fake_dev
    for name in ("event7", "mice", "event8"):
        (folder / name).write_bytes(b"")
    pad = os.open(folder / "event7", os.O_RDONLY)
    other = os.open(folder / "mice", os.O_RDONLY)
    closed = os.open(folder / "event8", os.O_RDONLY)
    os.close(closed)
    try:
        assert open_pad_files(table) == {pad: str(folder / "event7")}
    finally:
        os.close(pad)
        os.close(other)
    assert open_pad_files(table) == {}


def test_a_pad_file_removed_while_open_is_still_found(fake_dev):
    """An unplugged pad's node goes from /dev before SDL closes it: its descriptor still says when it hangs up."""
    folder, table = fake_dev
    (folder / "event9").write_bytes(b"")
    pad = os.open(folder / "event9", os.O_RDONLY)
    try:
        (folder / "event9").unlink()
        found = open_pad_files(table)
        assert list(found) == [pad] and found[pad].endswith(" (deleted)")
    finally:
        os.close(pad)


def test_the_real_table_finds_nothing_where_no_pad_is_open():
    """This machine has no /dev/input: nothing this test process has open looks like a pad."""
    assert open_pad_files(PAD_FILES) == {}
