"""Helpers for GUI tests: the one qasync loop and waiting inside Qt's loop; the server launcher lives in launcher.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from conftest import wait_for
from launcher import ROOT, ServerProcess  # noqa: F401 (re-exported: the tests import it from here)

ARTIFACTS = ROOT / "tests" / "artifacts"


def run(loop: asyncio.AbstractEventLoop, awaitable, timeout: float = 10.0) -> Any:
    """Run a coroutine on the qasync loop (Qt's event loop spins meanwhile)."""

    async def bounded():
        async with asyncio.timeout(timeout):
            return await awaitable

    return loop.run_until_complete(bounded())


def wait_until(loop: asyncio.AbstractEventLoop, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """:func:`conftest.wait_for` on the qasync loop, for the synchronous GUI tests."""
    return loop.run_until_complete(wait_for(predicate, timeout, what=what))


def paint_now() -> None:
    """Let Qt handle what is pending (paints, layouts) inside the running qasync loop, e.g. before a screenshot.

    Not ``QApplication.processEvents()``: outside ``run_until_complete`` it also runs qasync's ready
    callbacks with no running asyncio loop, and a client reconnecting at that moment dies with "no
    running event loop" (its retry's ``asyncio.sleep`` needs the loop too), which a test then reads
    as the app never reconnecting.
    """
    loop = asyncio.get_event_loop_policy().get_event_loop()
    loop.run_until_complete(asyncio.sleep(0.05))


class LiveDisplay:
    """The X display, with input sent from a worker thread so the app's loop keeps running meanwhile.

    (Typing an address takes half a second: blocking the loop that long would
    stop the app's periodic re-send and trip the server's failsafe.)
    """

    def __init__(self, display, loop) -> None:
        self.display = display
        self.loop = loop
        self.env = display.env

    def __getattr__(self, name: str):
        action = getattr(self.display, name)
        if name in ("type", "key", "key_down", "key_up", "click"):
            return lambda *args: run(self.loop, asyncio.to_thread(action, *args), timeout=30)
        return action
