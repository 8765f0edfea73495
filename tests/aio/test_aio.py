"""The asyncio helpers both sides use: stopping a task, and the lazy deadline timer (on a fake clock)."""

from __future__ import annotations

import asyncio
import math
import sys

import pytest

from teleop.aio.tasks import cancel_and_wait, raise_lost_cancel
from teleop.aio.timers import DeadlineTimer


class FakeHandle:
    def __init__(self, when: float, callback) -> None:
        self._when, self.callback, self._cancelled = when, callback, False

    def when(self) -> float:
        return self._when

    def cancel(self) -> None:
        self._cancelled = True

    def cancelled(self) -> bool:
        return self._cancelled


class FakeLoop:
    """Just enough of an event loop for a timer: ``time``, ``call_at``; ``advance`` runs what falls due."""

    def __init__(self) -> None:
        self.now = 100.0
        self.handles: list[FakeHandle] = []
        self.armed = 0

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback) -> FakeHandle:
        handle = FakeHandle(when, callback)
        self.handles.append(handle)
        self.armed += 1
        return handle

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            due = sorted((h for h in self.handles if not h.cancelled() and h.when() <= end), key=lambda h: h.when())
            if not due:
                break
            handle = due[0]
            self.handles.remove(handle)
            self.now = max(self.now, handle.when())
            handle.callback()
        self.now = end


def timer_on(loop: FakeLoop, **kwargs) -> tuple[DeadlineTimer, list[float]]:
    fired: list[float] = []
    timer = DeadlineTimer(lambda: fired.append(loop.now), loop=loop, clock=loop.time, **kwargs)  # type: ignore[arg-type]
    return timer, fired


# -- the deadline timer -----------------------------------------------------------------------


def test_the_timer_fires_once_at_the_deadline():
    loop = FakeLoop()
    timer, fired = timer_on(loop)
    timer.arm(100.5)
    loop.advance(0.4)
    assert fired == [] and timer.armed
    loop.advance(1.0)
    assert fired == [100.5] and not timer.armed and timer.due == math.inf


def test_a_later_deadline_leaves_the_armed_timer_alone():
    """A pilot at 500 Hz moves the failsafe deadline 500 times a second: the loop sees one timer, not 500."""
    loop = FakeLoop()
    timer, fired = timer_on(loop)
    timer.arm(100.2)
    for step in range(1, 100):
        timer.arm(100.2 + step * 0.002)
    assert loop.armed == 1
    loop.advance(1.0)
    assert fired == [100.2]


def test_an_earlier_deadline_moves_the_timer():
    loop = FakeLoop()
    timer, fired = timer_on(loop)
    timer.arm(101.0)
    timer.arm(100.3)
    loop.advance(2.0)
    assert fired == [100.3]


def test_an_infinite_deadline_arms_nothing_and_keeps_an_armed_timer():
    loop = FakeLoop()
    timer, fired = timer_on(loop)
    timer.arm(math.inf)
    assert not timer.armed
    timer.arm(100.1)
    timer.arm(math.inf)
    loop.advance(1.0)
    assert fired == [100.1]


def test_a_deadline_already_past_fires_at_once():
    loop = FakeLoop()
    timer, fired = timer_on(loop)
    timer.arm(90.0)
    assert timer.due == 100.0
    loop.advance(0.0)
    assert fired == [100.0]


def test_a_slightly_earlier_deadline_within_the_slack_keeps_the_timer():
    loop = FakeLoop()
    timer, fired = timer_on(loop, slack=0.0005)
    timer.arm(100.5)
    timer.arm(100.4998)  # a reply deadline a fraction of a millisecond earlier: not worth a new timer
    assert loop.armed == 1
    timer.arm(100.4)
    assert loop.armed == 2
    loop.advance(1.0)
    assert fired == [100.4]


def test_a_cancelled_timer_does_not_fire_and_can_be_armed_again():
    loop = FakeLoop()
    timer, fired = timer_on(loop)
    timer.arm(100.2)
    timer.cancel()
    loop.advance(1.0)
    assert fired == [] and not timer.armed
    timer.arm(101.5)
    loop.advance(1.0)
    assert fired == [101.5]


def test_deadlines_on_another_clock_are_translated_to_the_loops_time():
    """The cores count on time.monotonic; the loop may count from elsewhere (qasync's loop, a fake one)."""
    loop = FakeLoop()
    core_clock = [5.0]
    fired: list[float] = []
    timer = DeadlineTimer(lambda: fired.append(loop.now), loop=loop, clock=lambda: core_clock[0])  # type: ignore[arg-type]
    timer.arm(5.3)
    loop.advance(1.0)
    assert fired == [pytest.approx(100.3)]


def test_the_timer_callback_may_arm_it_again():
    loop = FakeLoop()
    fired: list[float] = []

    def again() -> None:
        fired.append(loop.now)
        if len(fired) < 3:
            timer.arm(loop.now + 0.25)

    timer = DeadlineTimer(again, loop=loop, clock=loop.time)  # type: ignore[arg-type]
    timer.arm(100.25)
    loop.advance(2.0)
    assert fired == [100.25, 100.5, 100.75]


# -- stopping a task --------------------------------------------------------------------------


async def test_a_stopped_task_has_finished_its_cleanup_when_the_stop_returns():
    cleaned = asyncio.Event()

    async def worker() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0)  # cleanup that itself awaits
            cleaned.set()

    task = asyncio.create_task(worker())
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert task.done() and cleaned.is_set()


async def test_a_task_that_fails_on_its_way_out_does_not_stop_the_stop():
    async def worker() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            raise RuntimeError("cleanup failed")

    async def sleeper() -> None:
        await asyncio.sleep(3600)

    failing, other = asyncio.create_task(worker()), asyncio.create_task(sleeper())
    await asyncio.sleep(0)
    await cancel_and_wait(failing, None, other)
    assert failing.done() and other.cancelled()


async def test_stopping_a_finished_task_or_none_is_harmless():
    async def quick() -> int:
        return 1

    task = asyncio.create_task(quick())
    await task
    await cancel_and_wait(task, None)
    await cancel_and_wait()
    assert task.result() == 1


async def test_a_stopper_that_is_itself_cancelled_is_cancelled():
    """Whoever stops the stopper is obeyed: the helper does not swallow a cancel meant for its caller."""
    winding_down = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            winding_down.set()
            await asyncio.sleep(3600)  # takes its time to wind down: only a second cancel ends it

    task = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0)
    stopper = asyncio.create_task(cancel_and_wait(task))
    async with asyncio.timeout(10):
        await winding_down.wait()
        stopper.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stopper
    assert stopper.cancelled() and task.done()


def _loop_that_loses_its_cancel(acknowledged: asyncio.Future[None], parked: asyncio.Event, ended: list[str], check: bool):
    """A sender as the fleet link's: it awaits an acknowledgement through ``asyncio.wait_for`` (as aiomqtt's publish
    does), then parks until there is more to send. ``check``: it calls :func:`raise_lost_cancel` after each send."""

    async def sender() -> None:
        try:
            while True:
                await asyncio.wait_for(acknowledged, 5)
                if check:
                    raise_lost_cancel()
                parked.set()
                await asyncio.Event().wait()  # nothing more to send
        except asyncio.CancelledError:
            ended.append("cancelled")
            raise

    return sender


async def _cancel_as_the_acknowledgement_lands(check: bool, recancel_s: float) -> tuple[asyncio.Task, list[str], asyncio.Event, float]:
    loop = asyncio.get_running_loop()
    acknowledged: asyncio.Future[None] = loop.create_future()
    parked, ended = asyncio.Event(), []
    task = asyncio.create_task(_loop_that_loses_its_cancel(acknowledged, parked, ended, check)())
    await asyncio.sleep(0)  # the sender waits for its acknowledgement
    acknowledged.set_result(None)  # the broker's answer and the stop in the same turn of the loop
    started = loop.time()
    async with asyncio.timeout(10):
        await cancel_and_wait(task, recancel_s=recancel_s)
    return task, ended, parked, loop.time() - started


async def test_a_task_whose_cancel_is_lost_inside_wait_for_is_still_stopped():
    """Python 3.11's wait_for returns the result that landed with the cancel, and the task runs on: the stop
    cancels it again, so it ends (the server with a fleet link hung on SIGTERM forever before)."""
    task, ended, parked, _ = await _cancel_as_the_acknowledgement_lands(check=False, recancel_s=0.05)
    assert task.done() and ended == ["cancelled"]
    if sys.version_info < (3, 12):
        assert parked.is_set()  # the cancel was lost on the way: only the second one ended it


async def test_a_loop_that_checks_for_a_lost_cancel_ends_at_the_first():
    task, ended, parked, took = await _cancel_as_the_acknowledgement_lands(check=True, recancel_s=60)
    assert task.done() and ended == ["cancelled"] and not parked.is_set()
    assert took < 30  # not the second cancel's minute


async def test_a_lost_cancel_is_repeated_even_when_the_stop_that_lost_it_is_itself_stopped():
    """The fleet link's session stops its receiver and sender in its own clean-up; the server's stop may cancel
    the session again meanwhile. The sender, whose cancel was lost, must still end."""
    loop = asyncio.get_running_loop()
    acknowledged: asyncio.Future[None] = loop.create_future()
    parked, ended = asyncio.Event(), []
    sender = asyncio.create_task(_loop_that_loses_its_cancel(acknowledged, parked, ended, check=False)())

    async def slow_to_clean_up() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.shield(asyncio.sleep(0.3))  # a clean-up of its own, longer than the session's grace

    receiver = asyncio.create_task(slow_to_clean_up())

    async def session() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            acknowledged.set_result(None)  # lands with the sender's cancel
            await cancel_and_wait(receiver, sender, recancel_s=0.2)

    link = asyncio.create_task(session())
    await asyncio.sleep(0)
    await cancel_and_wait(link, recancel_s=0.05)  # cancels the session again while it still waits for the receiver
    async with asyncio.timeout(5):
        while not sender.done():
            await asyncio.sleep(0.01)
    assert ended == ["cancelled"]
