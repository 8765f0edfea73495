"""Stop a background task: cancel it and wait until it has really finished.

Every shell that owns a task (the app's connection, the video stream, the
robot browser, the server's link and camera tasks, the mDNS announcer, the
simulated device) stops it the same way, so it is written once here.
"""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(*tasks: asyncio.Future[Any] | None) -> None:
    """Cancel each task (None is skipped) and wait until each has finished.

    What a task raises on its way out is not the stopper's business (a task
    logs its own failures), so it is dropped: a stop always completes. A cancel
    of the *caller* while it waits is not dropped: it propagates as usual, so
    whoever stops the stopper is obeyed.
    """
    pending = [task for task in tasks if task is not None]
    for task in pending:
        task.cancel()
    me = asyncio.current_task()
    cancels_before = me.cancelling() if me is not None else 0
    for task in pending:
        try:
            await task
        except asyncio.CancelledError:
            if me is not None and me.cancelling() > cancels_before:
                raise
        except Exception:
            pass
