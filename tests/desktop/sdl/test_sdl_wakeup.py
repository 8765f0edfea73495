"""SDL wakes the pad reader (teleop.desktop.sdl.wakeup) instead of the reader polling SDL.

SDL virtual joysticks stand in for pads; the reader here is the test itself, as
the GUI thread is in the app: it reads the pads only when woken, then rearms.
Every change must come through that way alone, so a missed wake fails the test
instead of being covered by a poll.
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from sdl_virtual import VirtualJoystick

from teleop.desktop.sdl import wakeup as wakeups
from teleop.desktop.sdl.gamepad import GamepadManager, PollResult
from teleop.desktop.sdl.wakeup import HOTPLUG_TICK_S, STUCK_AFTER, STUCK_RECHECK_S, News, PadSource, SdlWakeup, WaitMode


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


# -- waiting on the pads' own files, with pipes standing in for them -------------------------------


class PipePads:
    """Pads whose device files are pipes the test writes to.

    ``news`` reads every readable pipe into a queue, as SDL's pump reads a pad's file into its
    event queue, and says what is queued: a ``+`` written to a pipe plugs in the next pad (its
    pipe joins the files), a ``-`` unplugs the newest one."""

    def __init__(self) -> None:
        self.pipes: dict[int, int] = {}  # read end (the "file" SDL holds) -> write end (the pad)
        self.spare: list[tuple[int, int]] = []
        self.queue: list[bytes] = []
        self.lock = threading.Lock()
        self.looked_at: list[float] = []
        self.drains = True
        self.listings = 0  # times the open files were listed
        self.devices = 0  # SDL's pad count, as the watch reads it

    def plug(self) -> int:
        read, write = os.pipe()
        os.set_blocking(read, False)
        self.pipes[read] = write
        return write

    def source(self) -> PadSource:
        def sdl_wait(ms: int) -> News:
            raise AssertionError("a pad with a file never falls back to SDL's loop")

        return PadSource(
            files=self.files, mode=lambda files: WaitMode.FILES, news=self.news, sdl_wait=sdl_wait, devices=lambda: self.devices
        )

    def files(self) -> dict[int, str]:
        self.listings += 1
        with self.lock:
            return {read: f"pipe standing in for /dev/input/event{read}" for read in self.pipes}

    def news(self) -> News:
        self.looked_at.append(time.monotonic())
        if not self.drains:
            return News.NONE
        with self.lock:
            for read in list(self.pipes):
                try:
                    self.queue.append(os.read(read, 4096))
                except BlockingIOError:
                    pass
            plugs = b"".join(self.queue)
            if b"+" in plugs:
                self.pipes.update(self.spare)
                self.spare = []
            if b"-" in plugs:
                read = max(self.pipes)
                os.close(self.pipes.pop(read))
                os.close(read)
            if b"+" in plugs or b"-" in plugs:
                return News.HOTPLUG
            return News.INPUT if self.queue else News.NONE

    def read(self) -> list[bytes]:
        """What the GUI reads from the queue when woken."""
        with self.lock:
            taken, self.queue = self.queue, []
        return taken

    def close(self) -> None:
        for read, write in [*self.pipes.items(), *self.spare]:
            os.close(read)
            os.close(write)


@pytest.fixture
def pipe_pads():
    pads = PipePads()
    yield pads
    pads.close()


@pytest.fixture
def watch(pipe_pads):
    """A wakeup on the pipe pads, with the hotplug tick out of the way (an hour): only the files wake it."""
    woke = threading.Event()
    wakeup = SdlWakeup(woke.set, source=pipe_pads.source(), tick_s=3600)
    yield wakeup, woke
    wakeup.stop(wait=True)


def test_a_readable_pad_file_wakes_the_reader_once_until_it_rearms(pipe_pads, watch):
    wakeup, woke = watch
    pad = pipe_pads.plug()
    assert wakeup.start()
    assert wakeup.settle()
    assert wakeup.mode is WaitMode.FILES and len(wakeup.files) == 1
    assert (wakeup.wakes, wakeup.looks) == (0, 0), "nothing readable: no wake, and SDL is not even pumped"
    os.write(pad, b"a")
    assert woke.wait(5)
    os.write(pad, b"b")  # the reader has not read yet
    assert wakeup.settle()
    assert wakeup.wakes == 1, "woken twice before reading"
    woke.clear()
    assert pipe_pads.read() == [b"a"]
    wakeup.rearm()
    assert woke.wait(5), "what came before the rearm wakes the reader after it"
    woke.clear()
    assert pipe_pads.read() == [b"b"]
    wakeup.rearm()
    assert wakeup.settle()
    assert wakeup.wakes == 2 and not woke.is_set(), "woken with nothing new to read"


def test_no_stick_change_is_left_unannounced_however_the_rearm_and_the_next_change_interleave(pipe_pads, watch):
    """A rearm pokes the thread only when it sleeps waiting for one; every other time the thread sees
    it on its own. Whatever the order of rearm and news, each change wakes the reader."""
    wakeup, woke = watch
    pad = pipe_pads.plug()
    assert wakeup.start() and wakeup.settle()
    for round_ in range(300):
        os.write(pad, b"x")
        assert woke.wait(5), f"change {round_} never woke the reader"
        woke.clear()
        if round_ % 3 == 0:
            os.write(pad, b"y")  # news before the rearm: the thread is waiting for the rearm itself
        assert pipe_pads.read() or round_ % 3 == 0
        wakeup.rearm()
        if round_ % 3 == 0:
            assert woke.wait(5), f"the change before rearm {round_} never woke the reader"
            woke.clear()
            pipe_pads.read()
            wakeup.rearm()
    assert wakeup.settle()
    assert not woke.is_set()


def test_the_files_waited_on_follow_the_pads_coming_and_going(pipe_pads, watch):
    wakeup, woke = watch
    first = pipe_pads.plug()
    second = pipe_pads.plug()  # the next pad: its file opens when it is plugged in
    second_read = max(pipe_pads.pipes)
    pipe_pads.spare.append((second_read, pipe_pads.pipes.pop(second_read)))
    assert wakeup.start() and wakeup.settle()
    assert list(wakeup.files) == [min(pipe_pads.pipes)]
    os.write(first, b"+")
    assert woke.wait(5)
    woke.clear()
    pipe_pads.read()
    wakeup.rearm()
    assert wakeup.settle()
    assert sorted(wakeup.files) == sorted(pipe_pads.pipes) and second_read in wakeup.files
    os.write(second, b"x")  # the hotplug tick is an hour away: only waiting on the new file sees this
    assert woke.wait(5), "the new pad's file is not waited on"
    woke.clear()
    assert pipe_pads.read() == [b"x"]
    wakeup.rearm()
    os.write(first, b"-")  # the second pad goes: its file closes
    assert woke.wait(5)
    pipe_pads.read()
    wakeup.rearm()
    assert wakeup.settle()
    assert list(wakeup.files) == list(pipe_pads.pipes) == [min(pipe_pads.pipes)]


def test_a_settle_that_arrives_with_the_rearm_still_sees_the_pads_as_they_are_after_it(pipe_pads, watch, monkeypatch):
    """The reader rearms and at once asks to settle, and both reach the sleeping thread together (a busy
    machine): the barrier must wait for a look at the pads as they are now, not be released on the old one."""
    wakeup, woke = watch
    asleep, gate = threading.Event(), threading.Event()
    real_readable = wakeups._readable

    def readable(fds: list[int], timeout: float):
        if woke.is_set() and timeout > 60:  # it has woken the reader and sleeps until it rearms
            asleep.set()
            assert gate.wait(5), "the test never let the thread go"
        return real_readable(fds, timeout)

    monkeypatch.setattr(wakeups, "_readable", readable)
    pad = pipe_pads.plug()
    assert wakeup.start()
    os.write(pad, b"a")
    assert woke.wait(5) and asleep.wait(5)
    pipe_pads.read()
    pipe_pads.plug()  # a pad came while the reader read (no hotplug tick for an hour, no pad count change)
    wakeup.rearm()
    settled = threading.Event()
    threading.Thread(target=lambda: wakeup.settle() and settled.set(), daemon=True).start()
    run = wakeup._run
    assert run is not None
    began = time.monotonic()
    while not run.barriers:  # the settle is on its way: now the thread may wake to both
        assert time.monotonic() - began < 5, "settle() never asked"
        time.sleep(0.001)
    gate.set()
    assert settled.wait(5)
    assert sorted(wakeup.files) == sorted(pipe_pads.pipes), "the barrier was released on a look from before"


def test_a_settle_asked_as_a_round_begins_is_released_though_that_round_wakes_the_reader(pipe_pads, watch, monkeypatch):
    """The round takes its barriers, then reads the control socket (the settle's poke with it) and wakes the
    reader: the settle asked in between must still be answered, not left until a rearm that never comes."""
    wakeup, woke = watch
    pad = pipe_pads.plug()
    assert wakeup.start() and wakeup.settle()
    hooked, in_round, go = threading.Event(), threading.Event(), threading.Event()
    real_readable = wakeups._readable

    def readable(fds: list[int], timeout: float):
        if hooked.is_set() and not in_round.is_set():
            in_round.set()
            assert go.wait(5), "the test never let the round go on"
        return real_readable(fds, timeout)

    monkeypatch.setattr(wakeups, "_readable", readable)
    hooked.set()
    wakeup.pace_s = 0.0  # a poke: the thread goes round again, and its next wait is held above
    assert in_round.wait(5)
    settled = threading.Event()
    threading.Thread(target=lambda: wakeup.settle() and settled.set(), daemon=True).start()
    run = wakeup._run
    assert run is not None
    began = time.monotonic()
    while not run.barriers:
        assert time.monotonic() - began < 5, "settle() never asked"
        time.sleep(0.001)
    os.write(pad, b"x")  # this round has news: it wakes the reader, who is busy and does not rearm
    go.set()
    assert woke.wait(5)
    assert settled.wait(5), "the settle was left waiting for a rearm"


def test_the_hotplug_tick_lists_the_open_files_only_when_sdls_pad_count_changed(pipe_pads, monkeypatch):
    """Listing a process's files is most of a tick's cost: a tick that sees no change only pumps SDL."""
    monkeypatch.setattr(wakeups, "FILES_RECHECK_S", 3600.0)
    pipe_pads.plug()
    wakeup = SdlWakeup(lambda: None, source=pipe_pads.source(), tick_s=0.01)
    assert wakeup.start()
    try:
        assert wakeup.settle()
        listings = pipe_pads.listings

        def ticks(count: int) -> None:
            looked = len(pipe_pads.looked_at)
            began = time.monotonic()
            while len(pipe_pads.looked_at) < looked + count:
                assert time.monotonic() - began < 10, "the hotplug tick does not come"
                time.sleep(0.005)

        ticks(5)
        assert pipe_pads.listings == listings, "files listed on ticks that saw no change"
        pipe_pads.devices = 1  # a pad came, and the GUI took SDL's hotplug event before this thread saw it
        ticks(2)
        assert pipe_pads.listings == listings + 1
    finally:
        wakeup.stop(wait=True)


def test_a_file_that_stays_readable_with_nothing_to_read_is_not_spun_on(pipe_pads, watch):
    """A descriptor SDL does not drain (say, another library's): looked at every STUCK_RECHECK_S, no faster."""
    wakeup, woke = watch
    pipe_pads.drains = False
    os.write(pipe_pads.plug(), b"x")
    assert wakeup.start()
    began = time.monotonic()
    while len(pipe_pads.looked_at) < STUCK_AFTER + 6:
        assert wakeup.settle() and time.monotonic() - began < 10, "the stuck file is never looked at again"
    gaps = [b - a for a, b in zip(pipe_pads.looked_at[STUCK_AFTER:], pipe_pads.looked_at[STUCK_AFTER + 1 :], strict=False)]
    assert min(gaps) >= STUCK_RECHECK_S * 0.9, f"looked at again after {min(gaps) * 1000:.2f} ms"
    assert wakeup.wakes == 0
    pipe_pads.drains = True  # SDL reads it after all (the pad's data was for it)
    assert woke.wait(5), "a file once stuck is still heard"


def test_between_wakes_the_reader_gets_its_pace(pipe_pads, watch):
    """Not driving, the GUI wants the pads no faster than its stick view's frame rate."""
    wakeup, woke = watch
    pad = pipe_pads.plug()
    wakeup.pace_s = 0.2
    assert wakeup.start()
    os.write(pad, b"a")
    assert woke.wait(5)
    first = time.monotonic()
    woke.clear()
    pipe_pads.read()
    wakeup.rearm()
    os.write(pad, b"b")
    assert woke.wait(5)
    assert time.monotonic() - first >= 0.2 * 0.9


def test_stopping_a_file_watch_ends_its_thread(pipe_pads, watch):
    wakeup, _ = watch
    pipe_pads.plug()
    assert wakeup.start() and wakeup.settle()
    thread = next(t for t in threading.enumerate() if t.native_id == wakeup.native_id)
    wakeup.stop(wait=True)
    assert not wakeup.running and not thread.is_alive()


# -- which wait SDL's pads get ---------------------------------------------------------------------


def test_a_pad_without_a_file_falls_back_to_sdls_loop_and_back_when_it_goes(plugged, pads):
    """An SDL virtual joystick has no device file: only SDL's own loop hears it."""
    woke = threading.Event()
    wakeup = SdlWakeup(woke.set)
    read_when_woken = reader(pads, wakeup, woke)
    assert wakeup.choose_mode() is WaitMode.FILES, "no pad: nothing needs SDL's loop"
    assert wakeup.start()
    try:
        assert wakeup.settle() and wakeup.mode is WaitMode.FILES and wakeup.files == {}
        pad = plugged(VirtualJoystick())
        while pad.instance_id not in pads.infos:
            read_when_woken("plugged in")
        assert wakeup.choose_mode() is WaitMode.SDL_LOOP
        assert wakeup.settle() and wakeup.mode is WaitMode.SDL_LOOP
        pad.detach()
        while pad.instance_id in pads.infos:
            read_when_woken("unplugged")
        assert wakeup.settle() and wakeup.mode is WaitMode.FILES
    finally:
        wakeup.stop(wait=True)


def context_switches(native_id: int) -> int:
    """How often the thread has been switched out (each wakeup is one at least)."""
    with open(f"/proc/self/task/{native_id}/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return int(fields["voluntary_ctxt_switches"]) + int(fields["nonvoluntary_ctxt_switches"])


def test_with_no_pad_the_thread_only_pumps_sdl_at_the_hotplug_tick(pads):
    """No 1 kHz loop with nothing plugged in (keyboard driving): four looks take three ticks, and the thread
    sleeps between them."""
    wakeup = SdlWakeup(lambda: None)
    assert wakeup.start()
    try:
        assert wakeup.settle() and wakeup.mode is WaitMode.FILES and wakeup.files == {}
        native_id = wakeup.native_id
        assert native_id is not None
        looks, switches, began = wakeup.looks, context_switches(native_id), time.monotonic()
        while wakeup.looks < looks + 4:
            assert time.monotonic() - began < 10, "SDL is not pumped for hotplug"
            time.sleep(0.05)
        took, switched = time.monotonic() - began, context_switches(native_id) - switches
        assert took >= 3 * HOTPLUG_TICK_S * 0.9, f"4 looks at SDL in {took * 1000:.0f} ms"
        assert switched <= 4 * 3, f"{switched} wakeups of the thread for 4 looks"
        assert wakeup.wakes == 0
    finally:
        wakeup.stop(wait=True)
