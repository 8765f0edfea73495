#!/usr/bin/env python3
"""The server's own CPU per report line, hot and cold: what the fan-out bench's "fixed cost" is made of.

Feeds report lines straight into a real bridge's device link (parse, merge,
encode, frame; no clients, no sockets) and times each with the thread's CPU
clock: back to back, then with a pause before each line like the pause
between real readings. The difference is what a cold cache and a virtual CPU
that went idle cost on this machine, which /proc's CPU figure includes.

First it prints the floor under all of that: the CPU an asyncio event loop
spends to wake up every 20 ms and do nothing (a pipe byte in, a callback that
reads it), which every reading pays before the server's own code runs.

    .venv/bin/python bench/reading_path.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.bridge import Bridge
from server.config import ServerConfig

LINES = 300


POKER = "import os, time\nfor _ in range({count}):\n    time.sleep({pause})\n    os.write(1, b'x')\n"


async def empty_wakeup(pause: float = 0.02, count: int = 150) -> float:
    """CPU seconds this process's event loop spends per wakeup when another process pokes it every ``pause`` seconds."""
    loop = asyncio.get_running_loop()
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    seen = 0
    done = loop.create_future()

    def readable() -> None:
        nonlocal seen
        seen += len(os.read(read_end, 64))
        if seen >= count and not done.done():
            done.set_result(None)

    poker = await asyncio.create_subprocess_exec(sys.executable, "-c", POKER.format(count=count, pause=pause), stdout=write_end)
    os.close(write_end)
    loop.add_reader(read_end, readable)
    start = time.thread_time()  # this thread only: the loop, not the poking process
    try:
        await done
    finally:
        spent = time.thread_time() - start
        loop.remove_reader(read_end)
        os.close(read_end)
        await poker.wait()
    return spent / count


async def main() -> None:
    floor = await empty_wakeup()
    print(f"an empty event-loop wakeup after a 20 ms pause (the floor under every reading): {floor * 1e6:6.1f} us of CPU", flush=True)
    bridge = Bridge(ServerConfig(host="127.0.0.1", port=0, auth=False, serial="sim"))
    await bridge.start()
    await asyncio.sleep(0.3)
    try:
        for pause in (0.0, 0.001, 0.02):
            spent = 0.0
            for i in range(LINES):
                bridge._last_readings = -1e9  # each line flushes at once, as readings 20 ms apart do
                start = time.thread_time()
                bridge.link._on_line(b"A0:%d A1:300 D2:1 bench:%d" % (i % 1024, i))
                spent += time.thread_time() - start
                if pause:
                    time.sleep(pause)
            label = "back to back" if not pause else f"after a {pause * 1000:.0f} ms pause"
            print(f"report line -> reading framed for clients, {label:>22}: {spent / LINES * 1e6:6.1f} us of CPU", flush=True)
    finally:
        await bridge.stop()


if __name__ == "__main__":
    asyncio.run(main())
