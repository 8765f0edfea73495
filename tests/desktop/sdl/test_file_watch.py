"""The GUI's loop waits on the pads' files (teleop.desktop.sdl.filewatch), with pipes standing in for them.

The loop is a plain asyncio loop, as the app's is one (inside Qt). The read is
the test's :class:`Reader`: it empties every readable pipe, as SDL's pump reads
a pad's file, and, as the app does, starts the watch again when a pad came or
went. Absence is asserted after :func:`barrier`: a pipe of the test's own made
readable after whatever the test did, whose reader runs in the same turn of the
loop as every other file readable by then.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import selectors
import time
from collections.abc import Callable

import pytest

from teleop.desktop.sdl import filewatch
from teleop.desktop.sdl.filewatch import STUCK_AFTER, STUCK_RECHECK_S, PadFileWatch
from teleop.desktop.sdl.padfiles import open_pad_files
from teleop.desktop.sdl.padsource import PadSource, WaitMode


class PipePads:
    """Pads whose device files are pipes the test writes to (the read end is the "file" SDL holds)."""

    def __init__(self) -> None:
        self.pipes: dict[int, int] = {}  # read end -> write end (the pad)
        #: a pad whose file opens when a ``+`` is read
        self.spare: list[tuple[int, int]] = []
        self.listings = 0  # times the open files were listed
        self.devices = 0  # SDL's pad count, as the watch reads it

    def plug(self) -> int:
        read, write = os.pipe()
        os.set_blocking(read, False)
        self.pipes[read] = write
        return write

    def plug_later(self) -> int:
        write = self.plug()
        read = next(r for r, w in self.pipes.items() if w == write)
        self.spare.append((read, self.pipes.pop(read)))
        return write

    def source(self) -> PadSource:
        def sdl_wait(ms: int) -> bool:
            raise AssertionError("a pad with a file never falls back to SDL's loop")

        return PadSource(files=self.files, mode=lambda files: WaitMode.FILES, sdl_wait=sdl_wait, devices=lambda: self.devices)

    def files(self) -> dict[int, str]:
        self.listings += 1
        return {read: f"pipe standing in for /dev/input/event{read}" for read in self.pipes}

    def close(self) -> None:
        for read, write in [*self.pipes.items(), *self.spare]:
            os.close(read)
            os.close(write)


class Reader:
    """The app's read of the pads: empties every pipe into :attr:`reads`; a ``+`` plugs in the spare pad, a ``-``
    unplugs the newest one (its file closes), and either makes it start the watch again, as the app does."""

    def __init__(self, pads: PipePads) -> None:
        self.pads = pads
        self.watch: PadFileWatch | None = None
        #: what each read found (empty: nothing)
        self.reads: list[bytes] = []
        self.at: list[float] = []
        self.drains = True
        self._news: asyncio.Event | None = None

    def __call__(self) -> bool:
        got = b""
        for read in list(self.pads.pipes) if self.drains else []:
            try:
                got += os.read(read, 4096)
            except BlockingIOError:
                pass
        self.reads.append(got)
        self.at.append(time.monotonic())
        if b"+" in got:
            self.pads.pipes.update(self.pads.spare)
            self.pads.spare = []
        if b"-" in got:
            read = max(self.pads.pipes)
            os.close(self.pads.pipes.pop(read))
            os.close(read)
        if (b"+" in got or b"-" in got) and self.watch is not None:
            self.watch.start()
        if got and self._news is not None:
            self._news.set()
        return bool(got)

    async def news(self, timeout: float = 5.0) -> bytes:
        """What the next read that finds something finds."""
        self._news = asyncio.Event()
        count = len(self.reads)
        await asyncio.wait_for(self._news.wait(), timeout)
        return next(got for got in self.reads[count:] if got)


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


def run_watch(
    pads: PipePads,
    scenario: Callable,
    tick_s: float = 3600.0,
    read: Callable[[], bool] | None = None,
    reader: Reader | None = None,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> None:
    """Run ``scenario(watch, reader)`` on a fresh loop, the watch started on it (the hotplug tick an hour away
    unless said: only the files make it read); the watch is stopped afterwards."""
    reader = reader or Reader(pads)

    async def main() -> None:
        watch = PadFileWatch(read or reader, source=pads.source(), tick_s=tick_s)
        reader.watch = watch
        assert watch.start()
        try:
            await scenario(watch, reader)
        finally:
            watch.stop()

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())


def test_a_readable_pad_file_makes_the_pads_read_and_nothing_else_does(pipe_pads):
    pad = pipe_pads.plug()

    async def scenario(watch: PadFileWatch, reader: Reader) -> None:
        await barrier()
        assert len(watch.files) == 1
        assert watch.reads == 0, "nothing readable, and the pads were read"
        for value in (b"a", b"b", b"c", b"d"):
            os.write(pad, value)
            assert await reader.news() == value
        await barrier()
        assert watch.reads == 4, "a read with nothing new"

    run_watch(pipe_pads, scenario)


def test_the_files_waited_on_follow_the_pads_coming_and_going(pipe_pads):
    first = pipe_pads.plug()
    second = pipe_pads.plug_later()

    async def scenario(watch: PadFileWatch, reader: Reader) -> None:
        assert list(watch.files) == list(pipe_pads.pipes)
        os.write(first, b"+")
        await reader.news()
        assert sorted(watch.files) == sorted(pipe_pads.pipes) and len(watch.files) == 2
        os.write(second, b"x")  # the hotplug tick is an hour away: only waiting on the new file hears this
        assert await reader.news() == b"x", "the new pad's file is not waited on"
        os.write(first, b"-")  # the second pad goes: its file closes
        await reader.news()
        assert list(watch.files) == list(pipe_pads.pipes) and len(watch.files) == 1
        reads = watch.reads
        await barrier()
        await barrier()
        assert watch.reads == reads, "the pads are read again and again (a closed pad's file still waited on)"

    run_watch(pipe_pads, scenario)


def test_a_descriptor_number_reused_after_a_pad_went_is_not_waited_on_for_it(pipe_pads):
    """SDL closes a gone pad's file, and the number may be reused by anything (here a pipe with data) before the
    watch lists the files again. A loop that polls by number, as Qt's does, would then wake for that file: the
    watch waits on a duplicate of its own instead, which stays on the pad's file."""
    pipe_pads.plug()
    gone = min(pipe_pads.pipes)

    async def scenario(watch: PadFileWatch, reader: Reader) -> None:
        pipe_pads.pipes.pop(gone)
        os.close(gone)  # SDL's descriptor; the pad (the write end) is still there, with nothing to say
        other_read, other_write = os.pipe()  # takes the lowest free number: the pad's
        try:
            assert other_read == gone
            os.write(other_write, b"not a pad")
            await barrier()
            assert watch.reads == 0, "the pads were read for another file's data"
        finally:
            os.close(other_read)
            os.close(other_write)

    run_watch(pipe_pads, scenario, loop_factory=lambda: asyncio.SelectorEventLoop(selectors.PollSelector()))


def test_the_hotplug_tick_lists_the_open_files_only_when_sdls_pad_count_changed(pipe_pads, monkeypatch):
    """Listing a process's files is most of a tick's cost: a tick that sees no change only reads the pads."""
    monkeypatch.setattr(filewatch, "FILES_RECHECK_S", 3600.0)
    pipe_pads.plug()

    async def ticks(watch: PadFileWatch, count: int) -> None:
        reads = watch.reads
        began = time.monotonic()
        while watch.reads < reads + count:
            assert time.monotonic() - began < 10, "the hotplug tick does not come"
            await asyncio.sleep(0.005)

    async def scenario(watch: PadFileWatch, reader: Reader) -> None:
        listings = pipe_pads.listings
        await ticks(watch, 5)
        assert pipe_pads.listings == listings, "files listed on ticks that saw no change"
        pipe_pads.devices = 1  # a pad came, and the app read SDL's hotplug event before the tick
        await ticks(watch, 2)
        assert pipe_pads.listings == listings + 1

    run_watch(pipe_pads, scenario, tick_s=0.01)


def test_a_file_that_stays_readable_with_nothing_to_read_is_not_spun_on(pipe_pads):
    """A descriptor the read does not drain (say, another library's): looked at every STUCK_RECHECK_S, no faster."""
    pad = pipe_pads.plug()
    os.write(pad, b"x")
    reader = Reader(pipe_pads)
    reader.drains = False

    async def scenario(watch: PadFileWatch, _: Reader) -> None:
        began = time.monotonic()
        while len(reader.at) < STUCK_AFTER + 6:
            assert time.monotonic() - began < 10, "the stuck file is never looked at again"
            await asyncio.sleep(0.005)
        gaps = [b - a for a, b in zip(reader.at[STUCK_AFTER:], reader.at[STUCK_AFTER + 1 :], strict=False)]
        assert min(gaps) >= STUCK_RECHECK_S * 0.9, f"read again after {min(gaps) * 1000:.2f} ms"
        reader.drains = True  # the read empties it after all (the pad's data was for SDL)
        assert await reader.news() == b"x", "a file once stuck is still heard"
        os.write(pad, b"y")
        assert await reader.news() == b"y", "a file once stuck is waited on again"

    run_watch(pipe_pads, scenario, reader=reader)


@pytest.mark.parametrize("tick_s", [3600.0, 0.02])
def test_between_reads_the_files_rest_for_the_pace_and_what_came_meanwhile_is_read_after(pipe_pads, tick_s):
    """Not driving, the GUI wants the pads no faster than its stick view's frame rate: neither a readable file nor
    the hotplug tick reads them while the files rest."""
    pad = pipe_pads.plug()

    async def scenario(watch: PadFileWatch, reader: Reader) -> None:
        watch.pace_s = 0.2
        os.write(pad, b"a")
        assert await reader.news() == b"a"
        os.write(pad, b"b")
        os.write(pad, b"c")
        assert await reader.news() == b"bc"
        assert reader.at[-1] - reader.at[0] >= 0.2 * 0.9
        assert watch.reads == 2, "the pads were read while the files rested"

    run_watch(pipe_pads, scenario, tick_s=tick_s)


def test_a_pad_that_reports_through_its_rests_is_read_as_each_rest_ends_without_being_waited_on_again(pipe_pads):
    """A pad that streams reports (as HIDAPI pads do) has news at the end of every rest: read then, not watched
    first (a reader added and removed and a second turn of the loop per read)."""
    pad = pipe_pads.plug()
    reader = Reader(pipe_pads)
    reports = [b"2", b"3", b"4"]

    def read_then_report() -> bool:
        found = reader()
        if found and reports:
            os.write(pad, reports.pop(0))  # the pad's next report comes while the files rest
        return found

    async def scenario(watch: PadFileWatch, _: Reader) -> None:
        loop = asyncio.get_running_loop()
        added: list[int] = []  # the reads made before each reader added
        add_reader = loop.add_reader
        loop.add_reader = lambda fd, *args: (added.append(len(reader.reads)), add_reader(fd, *args))[1]  # type: ignore[method-assign]
        watch.pace_s = 0.03
        os.write(pad, b"1")
        began = time.monotonic()
        while not [n for n in added if n >= 4]:  # the last rest ends with nothing to read: waited on again
            assert time.monotonic() - began < 5, "a quiet file is never waited on again"
            await asyncio.sleep(0.005)
        assert [got for got in reader.reads if got] == [b"1", b"2", b"3", b"4"]
        assert not [n for n in added if 1 <= n < 4], "the file was waited on again before a read at a rest's end"
        assert min(b - a for a, b in zip(reader.at, reader.at[1:], strict=False)) >= 0.03 * 0.9, "read faster than the pace"
        os.write(pad, b"5")
        assert await reader.news() == b"5"

    run_watch(pipe_pads, scenario, read=read_then_report, reader=reader)


def test_driving_enabled_while_the_files_rest_ends_the_rest_at_once(pipe_pads):
    pad = pipe_pads.plug()

    async def scenario(watch: PadFileWatch, reader: Reader) -> None:
        watch.pace_s = 3600.0
        os.write(pad, b"a")
        await reader.news()
        os.write(pad, b"b")
        watch.pace_s = 0.0
        assert await reader.news() == b"b"
        os.write(pad, b"c")
        assert await reader.news() == b"c"

    run_watch(pipe_pads, scenario)


def test_a_read_that_stops_or_restarts_the_watch_leaves_it_as_the_read_made_it(pipe_pads):
    """The app's read may switch the wait (a pad without a file came) or list the files again (one with a file
    came), from inside the watch's own call."""
    pad = pipe_pads.plug()
    reader = Reader(pipe_pads)
    then: list[Callable[[PadFileWatch], None]] = []

    def read() -> bool:
        found = reader()
        if then:
            then.pop(0)(reader.watch)
        return found

    async def scenario(watch: PadFileWatch, _: Reader) -> None:
        then.append(lambda w: w.start())
        os.write(pad, b"a")
        assert await reader.news() == b"a"
        os.write(pad, b"b")
        assert await reader.news() == b"b", "not waited on after a start from inside the read"
        then.append(lambda w: w.stop())
        os.write(pad, b"c")
        await reader.news()
        os.write(pad, b"d")
        await barrier()
        assert not watch.running and reader.reads[-1] == b"c", "read after a stop from inside the read"

    run_watch(pipe_pads, scenario, read=read, reader=reader)


def test_a_read_that_fails_does_not_end_the_watch(pipe_pads, caplog):
    pad = pipe_pads.plug()
    reader = Reader(pipe_pads)
    fails = [True]

    def read() -> bool:
        reader()
        if fails:
            fails.pop()
            raise RuntimeError("a broken read")
        return True

    async def scenario(watch: PadFileWatch, _: Reader) -> None:
        os.write(pad, b"a")
        assert await reader.news() == b"a"
        os.write(pad, b"b")
        assert await reader.news() == b"b"
        assert watch.running

    with caplog.at_level(logging.ERROR, logger="teleop.desktop.sdl.filewatch"):
        run_watch(pipe_pads, scenario, read=read, reader=reader)
    assert "reading the gamepads failed" in caplog.text


def test_a_listing_that_fails_ends_the_watch_says_so_and_tells_its_owner(pipe_pads, caplog):
    def broken() -> dict[int, str]:
        raise OSError("no /proc")

    source = PadSource(files=broken, mode=lambda files: WaitMode.FILES, sdl_wait=lambda ms: False)
    told: list[str] = []

    async def main() -> None:
        watch = PadFileWatch(lambda: False, source=source, failed=lambda: told.append("failed"))
        assert not watch.start() and not watch.running

    with caplog.at_level(logging.ERROR, logger="teleop.desktop.sdl.filewatch"):
        asyncio.run(main())
    assert "watching the gamepads' files failed" in caplog.text and told == ["failed"]


def test_stopping_leaves_no_reader_on_the_loop(pipe_pads):
    """On a loop that polls by number, as Qt's does, a reader left on a closed duplicate's number would fire for
    whatever file gets that number next: here new pipes with data, which take the lowest free numbers."""
    pad = pipe_pads.plug()

    async def scenario(watch: PadFileWatch, reader: Reader) -> None:
        watch.stop()
        assert not watch.running
        os.write(pad, b"a")
        pipes = [os.pipe() for _ in range(4)]
        try:
            for _, write in pipes:
                os.write(write, b"not a pad")
            await barrier()
            assert watch.reads == 0
        finally:
            for read, write in pipes:
                os.close(read)
                os.close(write)

    run_watch(pipe_pads, scenario, loop_factory=lambda: asyncio.SelectorEventLoop(selectors.PollSelector()))


def test_with_no_pad_only_the_hotplug_tick_reads_the_pads(pipe_pads):
    """No 1 kHz loop with nothing plugged in (keyboard driving): four reads take three ticks."""

    async def scenario(watch: PadFileWatch, reader: Reader) -> None:
        assert watch.files == {}
        began = time.monotonic()
        while watch.reads < 4:
            assert time.monotonic() - began < 10, "the pads are not read for hotplug"
            await asyncio.sleep(0.01)
        took = reader.at[3] - reader.at[0]
        assert took >= 3 * 0.05 * 0.9, f"4 reads in {took * 1000:.0f} ms"

    run_watch(pipe_pads, scenario, tick_s=0.05)


def test_the_watch_never_copies_its_own_copies_and_closes_them_when_it_stops(tmp_path):
    """The files are listed from the process's own descriptors (as the app lists SDL's), where the watch's
    duplicates show up too: a listing must not copy them again, and stopping closes every one."""
    fifo = tmp_path / "pad0"
    os.mkfifo(fifo)
    pad_end = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # the descriptor SDL would hold
    writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    table = {"fifo": re.compile(re.escape(str(tmp_path)) + r"/pad\d+")}
    source = PadSource(files=lambda: open_pad_files(table), mode=lambda files: WaitMode.FILES, sdl_wait=lambda ms: False)

    def open_count() -> int:
        return len(os.listdir("/proc/self/fd"))

    async def main() -> None:
        before = open_count()
        watch = PadFileWatch(lambda: False, source=source)
        other = PadFileWatch(lambda: False, source=source)  # a second window's, in the same process
        assert watch.start() and other.start()
        assert sorted(watch.files) == sorted(other.files) == sorted([pad_end, writer])
        opened = open_count()
        for _ in range(3):  # listed again, as after a hotplug
            assert watch.start() and other.start()
        assert open_count() == opened, "copies of copies"
        assert sorted(watch.files) == sorted([pad_end, writer])
        watch.stop()
        other.stop()
        assert open_count() == before, "a copy left open"

    try:
        asyncio.run(main())
    finally:
        os.close(pad_end)
        os.close(writer)
