"""Attackers that must not share the test's event loop: each runs as a process of its own.

    python tests/attacker.py ping-flood PORT SECONDS
        One WebSocket connection (hello as an observer, no token) that sends
        ping frames as fast as the socket takes them and reads nothing.
    python tests/attacker.py deaf-pilot PORT TOKEN SECONDS
        A pilot (hello with the token) that sends a control for half speed
        every 20 ms and reads nothing: it never answers the server's close, so
        the server waits for it while it goes on sending.
    python tests/attacker.py slow-crowd PORT COUNT SECONDS SOURCE
        COUNT sockets from SOURCE that send an HTTP request one header byte a
        second and reconnect as soon as they are closed.
    python tests/attacker.py storm PORT COUNT SECONDS SOURCE HOLD
        COUNT sockets from SOURCE that each connect, send the first byte of a
        request, close after HOLD seconds and connect again: hundreds of new
        sockets a second, whatever the server does.

Each prints one JSON line of figures when it is done. Loopback only; every
count and time is bounded by the arguments.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable

#: One masked ping frame with an empty payload (a client must mask): FIN+ping, mask bit, the mask.
PING = b"\x89\x80" + b"\x00\x00\x00\x00"


def masked_text(text: str) -> bytes:
    payload = text.encode()
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + b"\x00\x00\x00\x00" + payload  # a zero mask leaves the payload as is


def upgraded(port: int) -> socket.socket | str:
    """A socket past the WebSocket handshake, nothing after the response head read; or why not."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)  # byte by byte: not one byte after the response head is read
        if not chunk:
            return "closed during the handshake"
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        return head.decode("latin-1").splitlines()[0]
    return sock


def ping_flood(port: int, seconds: float) -> dict[str, object]:
    sock = upgraded(port)
    if isinstance(sock, str):
        return {"error": sock}
    sock.sendall(masked_text(json.dumps({"type": "hello", "role": "observer", "client": "pinger"})))
    burst = PING * 2000
    sent = 0
    started = time.monotonic()
    ended = ""
    sock.settimeout(0.2)
    while time.monotonic() - started < seconds:
        try:
            n = sock.send(burst)
            sent += n // len(PING)
        except TimeoutError:
            continue  # the server reads nothing more from us for now: keep pushing
        except OSError as exc:
            ended = type(exc).__name__
            break
    flooded = time.monotonic() - started
    if not ended:  # still open from our side: did the server close it meanwhile?
        sock.settimeout(2)
        try:
            while sock.recv(65536):
                pass
            ended = "closed"
        except TimeoutError:
            ended = ""
        except OSError as exc:
            ended = type(exc).__name__
    sock.close()
    return {"pings_sent": sent, "seconds": round(flooded, 2), "closed_by_server": bool(ended), "how": ended}


def deaf_pilot(port: int, token: str, seconds: float) -> dict[str, object]:
    sock = upgraded(port)
    if isinstance(sock, str):
        return {"error": sock}
    sock.sendall(masked_text(json.dumps({"type": "hello", "role": "pilot", "client": "deaf-pilot", "token": token})))
    control = masked_text(json.dumps({"type": "control", "axes": [0.5]}))
    sent, ended = 0, ""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            sock.sendall(control)
        except OSError as exc:  # the server gave up waiting for our close and cut the socket
            ended = type(exc).__name__
            break
        sent += 1
        time.sleep(0.02)
    sock.close()
    return {"controls": sent, "ended": ended or "time"}


async def reconnecting(
    port: int, count: int, seconds: float, source: str, session: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
) -> dict[str, object]:
    """``count`` sockets from ``source``, each running ``session`` then connecting again, until ``seconds`` are up."""
    deadline = time.monotonic() + seconds
    connections = 0

    async def one() -> None:
        nonlocal connections
        while time.monotonic() < deadline:
            try:
                async with asyncio.timeout(3):
                    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
            except (OSError, TimeoutError):
                await asyncio.sleep(0.05)
                continue
            connections += 1
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    await session(reader, writer)
            except (OSError, TimeoutError):
                pass
            writer.transport.abort()

    await asyncio.gather(*(one() for _ in range(count)))
    return {"connections": connections, "sockets": count, "seconds": seconds}


async def slow_crowd(port: int, count: int, seconds: float, source: str) -> dict[str, object]:
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow\r\nX-Padding: " + b"a" * 200 + b"\r\n\r\n"

    async def dribble_into(writer: asyncio.StreamWriter) -> None:
        try:
            for byte in request:
                writer.write(bytes([byte]))
                await asyncio.sleep(1.0)
        except OSError:
            pass

    async def dribble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        dribbling = asyncio.create_task(dribble_into(writer))
        try:
            await reader.read(65536)  # whatever the server answers or closes with: reconnect at once
        finally:
            dribbling.cancel()

    return await reconnecting(port, count, seconds, source, dribble)


async def storm(port: int, count: int, seconds: float, source: str, hold: float) -> dict[str, object]:
    async def first_byte_then_gone(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"G")
        await asyncio.sleep(hold)

    return await reconnecting(port, count, seconds, source, first_byte_then_gone)


def main() -> None:
    mode = sys.argv[1]
    if mode == "ping-flood":
        result = ping_flood(int(sys.argv[2]), float(sys.argv[3]))
    elif mode == "deaf-pilot":
        result = deaf_pilot(int(sys.argv[2]), sys.argv[3], float(sys.argv[4]))
    elif mode == "slow-crowd":
        result = asyncio.run(slow_crowd(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]))
    elif mode == "storm":
        result = asyncio.run(storm(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5], float(sys.argv[6])))
    else:
        raise SystemExit(f"unknown attack {mode!r}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
