#!/usr/bin/env python3
"""Many WebSocket observers in one process, as light as a client can be: the fan-out bench's harness.

The bench measures the server's CPU and latency with 200 clients on the same
two cores, so every microsecond a client spends is one the server may not get.
Each connection here is a plain non-blocking socket; one ``epoll`` waits on
all of them. Server frames are not masked, so reading one is a header and a
slice; the only client frames are the hello and the pongs (masked with a zero
key, which leaves the payload as it is). No asyncio, no library in the
receive path.

A reading's arrival time is the kernel's: every socket has
``SO_TIMESTAMPNS`` on, and ``recvmsg`` hands back when the data reached it,
so a harness process that the scheduler wakes late (two cores, the server
and other processes on them) does not add its own delay to the figures.
(Without a kernel stamp it falls back to the time ``epoll`` returned.) For
every connection the script prints the ``(bench value, arrival time)`` pairs
it saw, as one JSON list per line, on CLOCK_MONOTONIC like the bench.
(bench/wsload.c does the same job in C; the bench uses it when it can build it.)

With ``pilot`` it is the pilot instead: one connection that says hello as
pilot (taking control over with TOKEN, if given) and sends a control every
1/HZ seconds, axis 0 a distinct value each time, and drains what the server
sends. Each send is stamped just before the
``send`` system call, so the figure is the server's and the kernel's, not a
client library's framing. It prints one JSON object: the line the device will
read for each control (``B<value>``) and when it was sent.

    python bench/wsload.py PORT CONNECTIONS SECONDS
    python bench/wsload.py pilot PORT SECONDS HZ [TOKEN]
"""

from __future__ import annotations

import json
import re
import select
import socket
import struct
import sys
import time

BENCH = re.compile(rb'"bench":(\d+)')
HANDSHAKE = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
HELLO = b'{"type":"hello","role":"observer","client":"bench"}'
PILOT_HELLO = b'{"type":"hello","role":"pilot","client":"bench"}'
TEXT, PING, PONG = 1, 9, 10
#: Linux's SO_TIMESTAMPNS (the same number as its control message, SCM_TIMESTAMPNS); Python names neither.
SO_TIMESTAMPNS = 35
TIMESPEC = struct.Struct("@ll")
ANCILLARY = socket.CMSG_SPACE(TIMESPEC.size)
#: Seconds to wait, once a socket is readable, before reading them all: waking for each one would take the
#: CPU from the server in the middle of its burst, which clients on other machines never do.
SETTLE = 0.002


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame with the all-zero mask key (payloads under 126 bytes)."""
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + b"\0\0\0\0" + payload


class Observer:
    """One connection: its socket, unread bytes, and the readings it saw."""

    __slots__ = ("buffer", "seen", "sock")

    def __init__(self, port: int, hello: bytes = HELLO) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(HANDSHAKE)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("the server closed the connection during the handshake")
            head += chunk
        status, _, rest = head.partition(b"\r\n\r\n")
        if not status.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(status.split(b"\r\n", 1)[0].decode(errors="replace"))
        self.buffer = rest
        self.seen: list[tuple[int, float]] = []
        self.sock.sendall(client_frame(TEXT, hello))
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)

    def readable(self, now: float, offset: float) -> bool:
        """Read what arrived; False once the server has closed the connection.

        ``now`` is when epoll returned, ``offset`` the wall clock minus the
        monotonic clock (kernel stamps are wall-clock time).
        """
        try:
            data, ancillary, _, _ = self.sock.recvmsg(262144, ANCILLARY)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            return False
        for level, kind, stamp in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(stamp) >= TIMESPEC.size:
                seconds, nanoseconds = TIMESPEC.unpack_from(stamp)
                now = seconds + nanoseconds * 1e-9 - offset
        buf = self.buffer + data if self.buffer else data
        i, size = 0, len(buf)
        while size - i >= 2:
            opcode, n, start = buf[i] & 15, buf[i + 1] & 127, i + 2
            if n == 126:
                if size - i < 4:
                    break
                n, start = int.from_bytes(buf[i + 2 : i + 4], "big"), i + 4
            elif n == 127:
                if size - i < 10:
                    break
                n, start = int.from_bytes(buf[i + 2 : i + 10], "big"), i + 10
            if size < start + n:
                break
            if opcode == TEXT and buf.startswith(b'{"type":"reading"', start):  # not the welcome's snapshot
                found = BENCH.search(buf, start, start + n)
                if found:
                    self.seen.append((int(found.group(1)), now))
            elif opcode == PING:
                self.sock.send(client_frame(PONG, buf[start : start + n]))
            i = start + n
        self.buffer = buf[i:]
        return True


def run(port: int, count: int, seconds: float) -> list[Observer]:
    observers = [Observer(port) for _ in range(count)]
    poller = select.epoll()
    by_fd = {}
    for observer in observers:
        fd = observer.sock.fileno()
        by_fd[fd] = observer
        poller.register(fd, select.EPOLLIN)
    end = time.monotonic() + seconds
    while by_fd:
        left = end - time.monotonic()
        if left <= 0:
            break
        events = poller.poll(min(left, 1.0))
        if events:
            # the server is writing one reading to every client: let it finish before reading any (as
            # bench/wsload.c does; the arrival times are the kernel's, so waiting costs the figures nothing)
            time.sleep(SETTLE)
            events = poller.poll(0)
        now = time.monotonic()
        offset = time.time() - now
        for fd, _ in events:
            if not by_fd[fd].readable(now, offset):
                poller.unregister(fd)
                del by_fd[fd]
    return observers


def control_value(i: int) -> int:
    """Axis 0 of the ``i``-th control, in thousandths: distinct from its neighbours, never the neutral 0."""
    return (i % 1800) - 900 or 1


def pilot(port: int, seconds: float, hz: float, token: str = "") -> dict[str, float]:
    """Drive at ``hz`` for ``seconds``; return when each control was sent, keyed by the line the device reads.

    ``token``: the pilot token, sent with a takeover (the pilot's seat may be taken)."""
    hello = PILOT_HELLO if not token else json.dumps({**json.loads(PILOT_HELLO), "token": token, "takeover": True}).encode()
    observer = Observer(port, hello)
    poller = select.epoll()
    poller.register(observer.sock.fileno(), select.EPOLLIN)
    sent: dict[str, float] = {}
    start = time.monotonic() + 0.2  # after the welcome
    for i in range(int(seconds * hz)):
        due = start + i / hz
        while (left := due - time.monotonic()) > 0:
            if poller.poll(left):
                now = time.monotonic()
                if not observer.readable(now, time.time() - now):
                    raise ConnectionError("the server closed the pilot's connection")
        value = control_value(i)
        payload = b'{"type":"control","seq":%d,"axes":[%s]}' % (i, str(value / 1000).encode())
        sent[f"B{value}"] = time.monotonic()
        observer.sock.send(client_frame(TEXT, payload))
    return sent


def main() -> None:
    if sys.argv[1] == "pilot":
        print(json.dumps(pilot(int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), *sys.argv[5:6])))
        return
    port, count, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    for observer in run(port, count, seconds):
        print(json.dumps(observer.seen))


if __name__ == "__main__":
    main()
