"""A pilot in its own process, for tests that kill it or cut its network: ``python pilot_process.py URL TOKEN AXIS``.

Connects as pilot and sends ``{"axes": [AXIS]}`` at 50 Hz until killed. Prints
``driving`` once the server made it pilot, so the test knows when to strike.
"""

from __future__ import annotations

import asyncio
import json
import sys

from websockets.asyncio.client import connect


async def main(url: str, token: str, axis: float) -> None:
    async with connect(url, open_timeout=5) as ws:
        await ws.send(json.dumps({"type": "hello", "role": "pilot", "client": "pilot-process", "token": token}))
        welcome = json.loads(await ws.recv())
        if welcome.get("role") != "pilot":
            sys.exit(f"not pilot: {welcome}")
        print("driving", flush=True)
        seq = 0
        while True:
            seq += 1
            await ws.send(json.dumps({"type": "control", "seq": seq, "axes": [axis]}))
            await asyncio.sleep(0.02)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
