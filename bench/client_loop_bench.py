#!/usr/bin/env python3
"""What 20 messages a second cost the desktop client's thread, by event loop and by way of reading them.

A WebSocket server in its own process sends a reading-sized JSON message every
50 ms over loopback. Each client runs in a process of its own for ``--seconds``
and prints the CPU its process used, as % of one core:

- ``asyncio``: plain asyncio and websockets' ``recv()`` (no Qt): the floor;
- ``qasync``: qasync's loop inside Qt's and ``recv()``: the app before;
- ``app``: the app's loop (:class:`teleop.desktop.gui.event_loop.QtEventLoop`)
  and its connection (:class:`teleop.desktop.net.delivery.DirectConnection`),
  each message handled as it is parsed.

    .venv/bin/python bench/client_loop_bench.py [--seconds 15] [--runs 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

MESSAGE_EVERY_S = 0.05
CLIENTS = ("asyncio", "qasync", "app")


async def serve(port_file: str) -> None:
    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed

    async def handler(ws) -> None:
        seq = 0
        with contextlib.suppress(ConnectionClosed):  # the client ends each run
            while True:
                values = {"A0": seq % 1024, "A1": 512, "A2": 3, "A3": 4, "D2": 0, "disp": 0}
                await ws.send(json.dumps({"type": "reading", "t": time.time(), "values": values, "seq": seq}))
                seq += 1
                await asyncio.sleep(MESSAGE_EVERY_S)

    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        ready = Path(port_file + ".part")
        ready.write_text(str(server.sockets[0].getsockname()[1]))
        ready.rename(port_file)  # whole or absent
        await asyncio.Future()


async def measure(kind: str, url: str, seconds: float) -> None:
    from websockets.asyncio.client import connect

    got = 0

    def handle(message) -> None:
        nonlocal got
        json.loads(message)
        got += 1

    if kind == "app":
        import functools

        from teleop.desktop.net.delivery import DirectConnection, Inbox

        inbox = Inbox()
        factory = functools.partial(DirectConnection, inbox=inbox)
        async with connect(url, compression=None, create_connection=factory) as ws:  # type: ignore[arg-type]
            inbox.hand_over(handle)
            cpu0, t0 = time.process_time(), time.monotonic()
            await asyncio.sleep(seconds)
            cpu, elapsed = time.process_time() - cpu0, time.monotonic() - t0
            await ws.close()
    else:
        async with connect(url, compression=None) as ws:
            cpu0, t0 = time.process_time(), time.monotonic()
            async for message in ws:
                handle(message)
                if time.monotonic() - t0 >= seconds:
                    break
            cpu, elapsed = time.process_time() - cpu0, time.monotonic() - t0
    print(f"RESULT {cpu / elapsed * 100:.2f} {got / elapsed:.1f}", flush=True)


def client(kind: str, url: str, seconds: float) -> None:
    if kind == "asyncio":
        asyncio.run(measure(kind, url, seconds))
        return
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    app = QApplication([sys.argv[0]])
    if kind == "qasync":
        import qasync

        loop_factory = lambda: qasync.QEventLoop(app)  # noqa: E731
    else:
        from teleop.desktop.gui.event_loop import QtEventLoop

        loop_factory = lambda: QtEventLoop(app)  # noqa: E731
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(measure(kind, url, seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--client", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    if args.client:
        client(args.client, args.url, args.seconds)
        return
    import tempfile

    port_file = os.path.join(tempfile.mkdtemp(), "port")
    server = subprocess.Popen([sys.executable, __file__, "--serve", port_file])
    try:
        while not os.path.exists(port_file):
            time.sleep(0.05)
        url = f"ws://127.0.0.1:{Path(port_file).read_text()}"
        print(f"20 JSON messages a second over loopback, {args.seconds:.0f} s per run; the client's process, % of one core")
        for kind in CLIENTS:
            figures = []
            for _ in range(args.runs):
                out = subprocess.run(
                    [sys.executable, __file__, "--client", kind, "--url", url, "--seconds", str(args.seconds)],
                    capture_output=True,
                    text=True,
                )
                line = next((line for line in out.stdout.splitlines() if line.startswith("RESULT ")), None)
                if line is None:
                    raise SystemExit(f"the {kind} client failed:\n{out.stdout}\n{out.stderr}")
                figures.append(float(line.split()[1]))
            print(f"  {kind:8} " + "  ".join(f"{f:.2f}" for f in figures) + " %")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
