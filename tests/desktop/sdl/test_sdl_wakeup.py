"""SDL's own wait wakes the pad reader (teleop.desktop.sdl.wakeup) for a pad with no file, and which pads need it.

SDL virtual joysticks stand in for pads (they have no device file, as pads on
other systems); the reader here is the test itself, as the GUI thread is in the
app: it reads the pads only when woken, then rearms. Every change must come
through that way alone, so a missed wake fails the test instead of being
covered by a poll.
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from sdl_virtual import VirtualJoystick

from teleop.desktop.sdl.gamepad import GamepadManager, PollResult
from teleop.desktop.sdl.padsource import PadSource, WaitMode, choose_wait, readable, sdl_source
from teleop.desktop.sdl.wakeup import SdlWakeup


@pytest.fixture
def pads():
    """The app's pad layer, with SDL's own mappings only; what was queued before the test is read off."""
    manager = GamepadManager(mappings=[])
    manager.poll()
    yield manager
    manager.close()


def reader(pads: GamepadManager, wakeup: SdlWakeup, woke: threading.Event):
    """Read SDL's queue once SDL has woken us, as the GUI thread does; then rearm."""

    def read_when_woken(what: str) -> PollResult:
        assert woke.wait(5), f"{what}: SDL did not wake the reader"
        woke.clear()
        result = pads.poll()
        wakeup.rearm()
        return result

    return read_when_woken


def test_sdl_wakes_the_reader_for_a_plug_in_each_stick_change_and_an_unplug(plugged, pads):
    woke = threading.Event()
    wakeup = SdlWakeup(woke.set)
    assert wakeup.start(), "pygame's SDL library was not found"
    read_when_woken = reader(pads, wakeup, woke)
    try:
        pad = plugged(VirtualJoystick())
        while pad.instance_id not in pads.infos:
            read_when_woken("plugged in")
        for value in (0.25, -0.5, 0.75, 0.0):
            pad.axis(0, value)
            while abs(pads.states[pad.instance_id].axes[0] - value) > 0.01:
                read_when_woken(f"axis 0 to {value}")
        pad.button(1, True)
        while not pads.states[pad.instance_id].buttons[1]:
            read_when_woken("button pressed")
        pad.detach()
        while pad.instance_id in pads.infos:
            read_when_woken("unplugged")
    finally:
        wakeup.stop(wait=True)
    assert not wakeup.running


def test_watching_again_right_after_a_stop_still_wakes_the_reader(plugged, pads):
    """Driving stopped and enabled again at once: the stop did not wait for SDL, and the new watch works."""
    woke = threading.Event()
    wakeup = SdlWakeup(woke.set)
    read_when_woken = reader(pads, wakeup, woke)
    assert wakeup.start()
    try:
        pad = plugged(VirtualJoystick())
        while pad.instance_id not in pads.infos:
            read_when_woken("plugged in")
        wakeup.stop()  # returns at once; the stopped thread may still be inside SDL's wait
        assert wakeup.start()
        pad.axis(0, 0.5)
        while abs(pads.states[pad.instance_id].axes[0] - 0.5) > 0.01:
            read_when_woken("axis 0 moved after the restart")
    finally:
        wakeup.stop(wait=True)


def test_stopping_the_wakeup_returns_while_sdl_has_nothing_to_say(pads):
    wakeup = SdlWakeup(lambda: None)
    assert wakeup.start()
    wakeup.stop(wait=True)  # the thread is inside SDL's wait: it comes out within one wait slice
    assert not wakeup.running


class PipeQueue:
    """SDL's queue stood in for by a pipe: an event is a byte in it; SDL's wait peeks, the reader takes."""

    def __init__(self) -> None:
        self.read_end, self.write_end = os.pipe()
        os.set_blocking(self.read_end, False)

    def source(self) -> PadSource:
        return PadSource(files=dict, mode=lambda files: WaitMode.SDL_LOOP, sdl_wait=lambda ms: bool(readable([self.read_end], ms / 1000)))

    def take(self) -> bytes:
        try:
            return os.read(self.read_end, 4096)
        except BlockingIOError:
            return b""

    def close(self) -> None:
        os.close(self.read_end)
        os.close(self.write_end)


def test_no_event_is_left_unannounced_however_the_rearm_and_the_next_event_interleave():
    """A rearm pokes the thread only when it sleeps waiting for one; otherwise the thread sees it at the end of
    its wait slice. Whatever the order of the reader's rearm and the next event, each event wakes the reader."""
    queue = PipeQueue()
    woke = threading.Event()
    wakeup = SdlWakeup(woke.set, source=queue.source())
    assert wakeup.start()
    try:
        for round_ in range(300):
            os.write(queue.write_end, b"x")
            assert woke.wait(5), f"event {round_} never woke the reader"
            woke.clear()
            assert queue.take()
            if round_ % 3 == 0:
                os.write(queue.write_end, b"y")  # after the read, before the rearm: only the rearm can let it wake
            wakeup.rearm()
            if round_ % 3 == 0:
                assert woke.wait(5), f"the event before rearm {round_} never woke the reader"
                woke.clear()
                assert queue.take() == b"y"
                wakeup.rearm()
    finally:
        wakeup.stop(wait=True)
        queue.close()


# -- which wait SDL's pads get ---------------------------------------------------------------------


def test_a_pad_without_a_file_needs_sdls_loop_and_the_files_do_again_once_it_goes(plugged, pads):
    """An SDL virtual joystick has no device file: only SDL's own loop hears it."""
    source = sdl_source()
    assert choose_wait(source) is WaitMode.FILES, "no pad: nothing needs SDL's loop"
    pad = plugged(VirtualJoystick())
    read_until(pads, lambda: pad.instance_id in pads.infos, "plugged in")
    assert choose_wait(source) is WaitMode.SDL_LOOP
    pad.detach()
    read_until(pads, lambda: pad.instance_id not in pads.infos, "unplugged")
    assert choose_wait(source) is WaitMode.FILES


def read_until(pads: GamepadManager, done, what: str) -> None:
    began = time.monotonic()
    while not done():
        assert time.monotonic() - began < 5, f"{what}: SDL never said so"
        pads.poll()
        time.sleep(0.001)
