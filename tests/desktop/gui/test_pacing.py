"""A view refreshed through Paced: never faster than its frame rate, and the last news always shown."""

from __future__ import annotations

import itertools
import time

from guitools import wait_until

from teleop.desktop.gui.pacing import Paced


def test_news_after_a_quiet_spell_is_shown_at_once_in_the_same_turn(loop):
    calls: list[float] = []
    paced = Paced(40, lambda: calls.append(time.monotonic()))
    paced.request()
    assert len(calls) == 1, "the first news waits for nothing"
    wait_until(loop, lambda: time.monotonic() - calls[0] > 0.05, what="a quiet spell longer than the interval")
    paced.request()
    assert len(calls) == 2 and not paced.pending


def test_a_stream_of_news_is_shown_at_the_frame_rate_and_its_last_news_is_shown(loop):
    calls: list[float] = []
    paced = Paced(40, lambda: calls.append(time.monotonic()))
    news_at: list[float] = []

    async def stream() -> None:
        import asyncio

        for _ in range(40):  # a stick moving every 5 ms for 0.2 s
            news_at.append(time.monotonic())
            paced.request()
            await asyncio.sleep(0.005)

    loop.run_until_complete(stream())
    wait_until(loop, lambda: not paced.pending, what="the last news shown")
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert all(gap >= 0.039 for gap in gaps), f"refreshed faster than 25 a second: {gaps}"
    assert len(calls) <= 2 + (news_at[-1] - news_at[0]) / 0.04
    assert calls[-1] >= news_at[-1], "the last news was never shown"


def stream(loop, paced: Paced, slow: bool, seconds: float, every: float = 0.005) -> list[float]:
    """News every ``every`` s for ``seconds`` (each ``slow`` or not); the times it came."""
    import asyncio

    news_at: list[float] = []

    async def run() -> None:
        while not news_at or time.monotonic() - news_at[0] < seconds:
            news_at.append(time.monotonic())
            paced.request(slow=slow)
            await asyncio.sleep(every)

    loop.run_until_complete(run())
    return news_at


def test_news_that_can_wait_is_shown_at_the_slow_rate_and_its_last_news_is_shown(loop):
    calls: list[float] = []
    paced = Paced(40, lambda: calls.append(time.monotonic()), slow_ms=200)
    news_at = stream(loop, paced, slow=True, seconds=0.6)
    wait_until(loop, lambda: not paced.pending, what="the last news shown")
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert all(gap >= 0.199 for gap in gaps), f"news that could wait was shown faster than 5 a second: {gaps}"
    assert calls[-1] >= news_at[-1], "the last news was never shown"


def test_news_that_cannot_wait_is_shown_at_the_frame_rate_while_news_that_can_waits(loop):
    calls: list[float] = []
    paced = Paced(40, lambda: calls.append(time.monotonic()), slow_ms=200)
    paced.request()
    paced.request(slow=True)  # waits for the slow interval...
    paced.request()  # ...and news that cannot wait, coming meanwhile, for the frame interval only
    wait_until(loop, lambda: not paced.pending, what="the news shown")
    assert 0.039 <= calls[1] - calls[0] < 0.15, "news that cannot wait waited for the slow interval"
    wait_until(loop, lambda: time.monotonic() - calls[1] > 0.05, what="the frame interval passed")
    paced.request(slow=True)
    assert len(calls) == 2 and paced.pending, "news that can wait was shown before the slow interval"
    paced.request()
    assert len(calls) == 3, "news that cannot wait was not shown at once after the frame interval"
