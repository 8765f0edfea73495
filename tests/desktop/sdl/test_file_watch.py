"""The GUI's loop waits on the pads' files (teleop.desktop.sdl.filewatch), with pipes standing in for them.

The loop is a plain asyncio loop, as the app's is one (inside Qt); the reader is
the test's ``wake``, which reads what is queued at once, as the app's pad poll
does. Absence is asserted after :func:`barrier`: a pipe of the test's own made
readable after whatever the test did, whose reader runs in the same turn of the
loop as every other file readable by then.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable

import pytest

from teleop.desktop.sdl import filewatch
from teleop.desktop.sdl.filewatch import STUCK_AFTER, STUCK_RECHECK_S, PadFileWatch
from teleop.desktop.sdl.padsource import News, PadSource, WaitMode


class PipePads:
    """Pads whose device files are pipes the test writes to.

    ``news`` reads every readable pipe into a queue, as SDL's pump reads a pad's file into its
    event queue, and says what is queued: a ``+`` written to a pipe plugs in the spare pad (its
    pipe joins the files), a ``-`` unplugs the newest one (its file closes)."""

    def __init__(self) -> None:
        self.pipes: dict[int, int] = {}  # read end (the "file" SDL holds) -> write end (the pad)
        self.spare: list[tuple[int, int]] = []
        self.queue: list[bytes] = []
        self.looked_at: list[float] = []
        self.drains = True
        self.listings = 0  # times the open files were listed
        self.devices = 0  # SDL's pad count, as the watch reads it

    def plug(self) -> int:
        read, write = os.pipe()
        os.set_blocking(read, False)
        self.pipes[read] = write
        return write

    def plug_later(self) -> int:
        """A pad whose file opens when a ``+`` is read; returns its write end."""
        write = self.plug()
        read = max(self.pipes)
        self.spare.append((read, self.pipes.pop(read)))
        return write

    def source(self) -> PadSource:
        def sdl_wait(ms: int) -> News:
            raise AssertionError("a pad with a file never falls back to SDL's loop")

        return PadSource(
            files=self.files, mode=lambda files: WaitMode.FILES, news=self.news, sdl_wait=sdl_wait, devices=lambda: self.devices
        )

    def files(self) -> dict[int, str]:
        self.listings += 1
        return {read: f"pipe standing in for /dev/input/event{read}" for read in self.pipes}

    def news(self) -> News:
        self.looked_at.append(time.monotonic())
        if not self.drains:
            return News.NONE
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

    def close(self) -> None:
        for read, write in [*self.pipes.items(), *self.spare]:
            os.close(read)
            os.close(write)


class Reader:
    """The GUI's part: woken, it reads the whole queue at once."""

    def __init__(self, pads: PipePads) -> None:
        self.pads = pads
        self.reads: list[list[bytes]] = []
        self.woken: asyncio.Event | None = None
        self.at: list[float] = []

    def __call__(self) -> None:
        taken, self.pads.queue = self.pads.queue, []
        self.reads.append(taken)
        self.at.append(time.monotonic())
        if self.woken is not None:
            self.woken.set()

    async def next_read(self, timeout: float = 5.0) -> list[bytes]:
        """What the next wake read."""
        self.woken = asyncio.Event()
        count = len(self.reads)
        await asyncio.wait_for(self.woken.wait(), timeout)
        return self.reads[count]


async def barrier() -> None:
    """Returns once the loop has run the readers of every file readable when this was called."""
    loop = asyncio.get_running_loop()
    read, write = os.pipe()
    seen = loop.create_future()
    loop.add_reader(read, lambda: seen.done() or seen.set_result(None))
    os.write(write, b"!")
    try:
        await asyncio.wait_for(seen, 5)
        await asyncio.sleep(0)  # readers found ready in the same turn, after this one, have run too
    finally:
        loop.remove_reader(read)
        os.close(read)
        os.close(write)


@pytest.fixture
def pipe_pads():
    pads = PipePads()
    yield pads
    pads.close()


def run_watch(pads: PipePads, scenario: Callable, tick_s: float = 3600.0, wake: Callable[[], None] | None = None) -> None:
    """Run ``scenario(watch, reader)`` on a fresh loop, the watch started on it (the hotplug tick an hour away
    unless said: only the files wake it); the watch is stopped afterwards."""
    reader = Reader(pads)

    async def main() -> None:
        watch = PadFileWatch(wake or reader, source=pads.source(), tick_s=tick_s)
        assert watch.start()
        try:
            await scenario(watch, reader)
        finally:
            watch.stop()

    asyncio.run(main())


def test_a_readable_pad_file_wakes_the_reader_and_nothing_else_does(pipe_pads):
    pad = pipe_pads.plug()

    async def scenario(watch: PadFileWatch, reader: Reader) -> None:
        await barrier()
        assert len(watch.files) == 1
        assert (watch.wakes, watch.looks) == (0, 0), "nothing readable: no wake, and SDL is not even pumped"
        os.write(pad, b"a")
        assert await reader.next_read() == [b"a"]
        for value in (b"b", b"c", b"d"):
            os.write(pad, value)
            assert await reader.next_read() == [value]
        await barrier()
        assert (watch.wakes, watch.looks) == (4, 4), "a look or a wake with nothing new to read"

    run_watch(pipe_pads, scenario)


def test_the_files_waited_on_follow_the_pads_coming_and_going(pipe_pads):
    first = pipe_pads.plug()
    second = pipe_pads.plug_later()
    second_read = pipe_pads.spare[0][0]

    async def scenario(watch: PadFileWatch, reader: Reader) -> None:
        assert list(watch.files) == [min(pipe_pads.pipes)]
        os.write(first, b"+")
        await reader.next_read()
        assert sorted(watch.files) == sorted(pipe_pads.pipes) and second_read in watch.files
        os.write(second, b"x")  # the hotplug tick is an hour away: only waiting on the new file sees this
        assert await reader.next_read() == [b"x"], "the new pad's file is not waited on"
        os.write(first, b"-")  # the second pad goes: its file closes
        await reader.next_read()
        assert list(watch.files) == list(pipe_pads.pipes) == [min(pipe_pads.pipes)]
        assert not asyncio.get_running_loop().remove_reader(second_read), "the closed file is still waited on"

    run_watch(pipe_pads, scenario)


def test_a_pad_file_opened_again_under_the_same_number_gets_a_new_reader(pipe_pads):
    """A pad unplugged and plugged in again: its new file may get the old descriptor's number. The loop may have
    dropped the old reader (Qt drops a notifier whose descriptor was closed), so a listing after a hotplug event
    puts a new reader on every file."""
    first = pipe_pads.plug()
    first_read = min(pipe_pads.pipes)
    second = pipe_pads.plug()
    pipe_pads.plug_later()

    async def scenario(watch: PadFileWatch, reader: Reader) -> None:
        assert asyncio.get_running_loop().remove_reader(first_read), "the pad's file is not waited on"  # as Qt may
        os.write(second, b"+")
        await reader.next_read()
        os.write(first, b"x")  # the hotplug tick is an hour away: only a new reader hears this
        assert await reader.next_read() == [b"x"], "the file is not waited on after the hotplug"

    run_watch(pipe_pads, scenario)


def test_the_hotplug_tick_lists_the_open_files_only_when_sdls_pad_count_changed(pipe_pads, monkeypatch):
    """Listing a process's files is most of a tick's cost: a tick that sees no change only pumps SDL."""
    monkeypatch.setattr(filewatch, "FILES_RECHECK_S", 3600.0)
    pipe_pads.plug()

    async def ticks(count: int) -> None:
        looked = len(pipe_pads.looked_at)
        began = time.monotonic()
        while len(pipe_pads.looked_at) < looked + count:
            assert time.monotonic() - began < 10, "the hotplug tick does not come"
            await asyncio.sleep(0.005)

    async def scenario(watch: PadFileWatch, reader: Reader) -> None:
        listings = pipe_pads.listings
        await ticks(5)
        assert pipe_pads.listings == listings, "files listed on ticks that saw no change"
        pipe_pads.devices = 1  # a pad came, and the GUI took SDL's hotplug event before the watch saw it
        await ticks(2)
        assert pipe_pads.listings == listings + 1
        assert watch.wakes == 0

    run_watch(pipe_pads, scenario, tick_s=0.01)


def test_a_file_that_stays_readable_with_nothing_to_read_is_not_spun_on(pipe_pads):
    """A descriptor SDL does not drain (say, another library's): looked at every STUCK_RECHECK_S, no faster."""
    pipe_pads.drains = False
    pad = pipe_pads.plug()
    os.write(pad, b"x")

    async def scenario(watch: PadFileWatch, reader: Reader) -> None:
        began = time.monotonic()
        while len(pipe_pads.looked_at) < STUCK_AFTER + 6:
            assert time.monotonic() - began < 10, "the stuck file is never looked at again"
            await asyncio.sleep(0.005)
        looked = pipe_pads.looked_at
        gaps = [b - a for a, b in zip(looked[STUCK_AFTER:], looked[STUCK_AFTER + 1 :], strict=False)]
        assert min(gaps) >= STUCK_RECHECK_S * 0.9, f"looked at again after {min(gaps) * 1000:.2f} ms"
        assert watch.wakes == 0
        pipe_pads.drains = True  # SDL reads it after all (the pad's data was for it)
        assert await reader.next_read() == [b"x"], "a file once stuck is still heard"
        os.write(pad, b"y")
        assert await reader.next_read() == [b"y"], "a file once stuck is waited on again"

    run_watch(pipe_pads, scenario)


def test_between_wakes_the_reader_gets_its_pace_and_what_came_meanwhile_after_it(pipe_pads):
    """Not driving, the GUI wants the pads no faster than its stick view's frame rate."""
    pad = pipe_pads.plug()

    async def scenario(watch: PadFileWatch, reader: Reader) -> None:
        watch.pace_s = 0.2
        os.write(pad, b"a")
        assert await reader.next_read() == [b"a"]
        os.write(pad, b"b")
        os.write(pad, b"c")
        assert await reader.next_read() == [b"bc"]
        assert reader.at[1] - reader.at[0] >= 0.2 * 0.9
        assert watch.looks == 2, "the files were looked at while resting"

    run_watch(pipe_pads, scenario)


def test_news_the_hotplug_tick_found_while_resting_wakes_the_reader_when_the_rest_ends(pipe_pads):
    """Not waited on while resting, the pad's file is read by the tick's pump: the reader is woken when the rest
    ends, not after yet another look."""
    pad = pipe_pads.plug()

    async def scenario(watch: PadFileWatch, reader: Reader) -> None:
        watch.pace_s = 0.5
        os.write(pad, b"a")
        await reader.next_read()
        os.write(pad, b"b")
        looks = watch.looks
        assert await reader.next_read() == [b"b"]
        assert reader.at[1] - reader.at[0] >= 0.5 * 0.9
        assert watch.looks == looks + 1, "the news found while resting waited for another look"

    run_watch(pipe_pads, scenario, tick_s=0.3)


def test_driving_enabled_while_the_files_rest_ends_the_rest_at_once(pipe_pads):
    pad = pipe_pads.plug()

    async def scenario(watch: PadFileWatch, reader: Reader) -> None:
        watch.pace_s = 3600.0
        os.write(pad, b"a")
        await reader.next_read()
        os.write(pad, b"b")
        watch.pace_s = 0.0
        assert await reader.next_read(timeout=5) == [b"b"]
        os.write(pad, b"c")
        assert await reader.next_read() == [b"c"]

    run_watch(pipe_pads, scenario)


def test_a_reader_that_fails_does_not_end_the_watch(pipe_pads, caplog):
    pad = pipe_pads.plug()
    reader = Reader(pipe_pads)
    fails = [True]

    def wake() -> None:
        reader()
        if fails:
            fails.pop()
            raise RuntimeError("a broken reader")

    async def scenario(watch: PadFileWatch, _: Reader) -> None:
        os.write(pad, b"a")
        assert await reader.next_read() == [b"a"]
        os.write(pad, b"b")
        assert await reader.next_read() == [b"b"]
        assert watch.running

    with caplog.at_level(logging.ERROR, logger="teleop.desktop.sdl.filewatch"):
        run_watch(pipe_pads, scenario, wake=wake)
    assert "waking the GUI for a gamepad event failed" in caplog.text


def test_a_listing_that_fails_ends_the_watch_and_says_so(pipe_pads, caplog):
    def broken() -> dict[int, str]:
        raise OSError("no /proc")

    source = pipe_pads.source()
    source = PadSource(files=broken, mode=source.mode, news=source.news, sdl_wait=source.sdl_wait)

    async def main() -> None:
        watch = PadFileWatch(lambda: None, source=source)
        assert not watch.start() and not watch.running

    with caplog.at_level(logging.ERROR, logger="teleop.desktop.sdl.filewatch"):
        asyncio.run(main())
    assert "watching the gamepads' files failed" in caplog.text


def test_stopping_leaves_no_reader_on_the_loop_and_no_wake_comes(pipe_pads):
    pad = pipe_pads.plug()
    read = min(pipe_pads.pipes)

    async def scenario(watch: PadFileWatch, reader: Reader) -> None:
        watch.stop()
        assert not watch.running
        os.write(pad, b"a")
        await barrier()
        assert not asyncio.get_running_loop().remove_reader(read)
        assert (watch.wakes, watch.looks) == (0, 0)

    run_watch(pipe_pads, scenario, tick_s=0.001)


def test_with_no_pad_only_the_hotplug_tick_pumps_sdl(pipe_pads):
    """No 1 kHz loop with nothing plugged in (keyboard driving): four looks take three ticks."""

    async def scenario(watch: PadFileWatch, reader: Reader) -> None:
        assert watch.files == {}
        began = time.monotonic()
        while watch.looks < 4:
            assert time.monotonic() - began < 10, "SDL is not pumped for hotplug"
            await asyncio.sleep(0.01)
        took = pipe_pads.looked_at[3] - pipe_pads.looked_at[0]
        assert took >= 3 * 0.05 * 0.9, f"4 looks at SDL in {took * 1000:.0f} ms"
        assert watch.wakes == 0

    run_watch(pipe_pads, scenario, tick_s=0.05)
