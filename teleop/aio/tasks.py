"""Stop a background task: cancel it and wait until it has really finished.

Every shell that owns a task (the app's connection, the video stream, the
robot browser, the server's link and camera tasks, the mDNS announcer, the
simulated device) stops it the same way, so it is written once here.

A task can lose its cancel. On Python 3.11 (Debian 12 and Raspberry Pi OS
Bookworm) ``asyncio.wait_for`` returns the awaited result when it completes in
the same turn of the loop as the cancel, and the task runs on as if nothing
had been asked: aiomqtt's publish and subscribe await through it, so the fleet
link's sender went back to waiting for work and the server never exited on
SIGTERM. A stop that waited only for the first cancel waited forever, so the
cancel is repeated while the task still runs.
"""

from __future__ import annotations

import asyncio
from typing import Any

#: how long a cancelled task may take to end (its own clean-up) before it is cancelled again (s)
RECANCEL_S = 1.5


async def cancel_and_wait(*tasks: asyncio.Future[Any] | None, recancel_s: float = RECANCEL_S) -> None:
    """Cancel each task (None is skipped) and wait until each has finished.

    What a task raises on its way out is not the stopper's business (a task
    logs its own failures), so it is dropped: a stop always completes. A task
    still running ``recancel_s`` after its cancel is cancelled again (a lost
    cancel, above), and again after as long, until it ends. A cancel of the
    *caller* while it waits is not dropped: it propagates as usual, so whoever
    stops the stopper is obeyed.
    """
    pending = [task for task in tasks if task is not None]
    for task in pending:
        task.cancel()
    # one for each task from the start: a task whose cancel was lost is cancelled again whichever task is awaited
    # now, and still if this stop is itself cancelled part way (a watchdog ends with its task)
    watchdogs = [_Recancel(task, recancel_s) for task in pending]
    me = asyncio.current_task()
    cancels_before = me.cancelling() if me is not None else 0
    try:
        for task in pending:
            try:
                await task
            except asyncio.CancelledError:
                if me is not None and me.cancelling() > cancels_before:
                    raise
            except Exception:
                pass
    finally:
        for watchdog in watchdogs:
            watchdog.stop_if_done()


def raise_lost_cancel() -> None:
    """Raise the cancel an ``asyncio.wait_for`` inside the last await swallowed (above), if this task was cancelled.

    For a loop that awaits one (an MQTT publish) and then waits for more work: without it, a stop waits
    :data:`RECANCEL_S` for the second cancel."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class _Recancel:
    """Cancels ``task`` again every ``every_s`` until it is done."""

    def __init__(self, task: asyncio.Future[Any], every_s: float) -> None:
        self._task, self._every_s = task, every_s
        self._handle = asyncio.get_running_loop().call_later(every_s, self._again)

    def _again(self) -> None:
        if not self._task.done():
            self._task.cancel()
            self._handle = asyncio.get_running_loop().call_later(self._every_s, self._again)

    def stop_if_done(self) -> None:
        """Drop the timer of a task that has ended; one still running keeps being cancelled until it ends."""
        if self._task.done():
            self._handle.cancel()
