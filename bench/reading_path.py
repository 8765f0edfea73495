#!/usr/bin/env python3
"""The server's own CPU per report line, hot and cold: what the fan-out bench's "fixed cost" is made of.

Feeds report lines straight into a real bridge's device link (parse, merge,
encode, frame; no clients, no sockets) and times each with the thread's CPU
clock: back to back, then with a pause before each line like the pause
between real readings. The difference is what a cold cache and a virtual CPU
that went idle cost on this machine, which /proc's CPU figure includes.

    .venv/bin/python bench/reading_path.py
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.bridge import Bridge
from server.config import ServerConfig

LINES = 300


async def main() -> None:
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
