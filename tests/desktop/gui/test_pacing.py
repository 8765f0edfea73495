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
