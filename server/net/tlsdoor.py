"""TLS on the server's port, with every socket counted from the moment it is accepted.

When asyncio does TLS for a server (``create_server(ssl=...)``), the
connection's protocol hears of the socket only once the TLS handshake is over.
Until then the socket is invisible to :mod:`teleop_server.rules.admission`: one address
could hold hundreds of half-finished handshakes (a TLS slowloris), and a
plain ``http://`` or ``ws://`` request is dropped without a word, so the user
sees only "connection reset".

So the server listens without TLS and each accepted socket goes through a
:class:`TlsDoor` first. The connection is counted (per address, like any
pending socket) before a byte is read. The door then peeks at the first byte
without taking it: a TLS ClientHello starts with 0x16, an HTTP request with the
upper-case letters of its method. TLS goes on with ``loop.start_tls``; plain
HTTP gets a short ``400`` saying to use ``https://`` or ``wss://``, and one log
line per address. A socket still at the door after ``timeout`` seconds (no
byte, or a handshake that never ends) is closed.

Sockets waiting for their first byte are watched by one :class:`Peeker` (a
selector of its own, itself watched by the event loop), not by a second
descriptor each: a slowloris must not cost the server two descriptors per
socket, or the socket budget would run out of files before it runs out of
sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import socket
import ssl
from collections.abc import Callable
from enum import Enum

#: The answer to plain HTTP on the TLS port: HTTP is what the client speaks, so it can show this.
PLAIN_TEXT = "this port speaks TLS: use https:// or wss:// (not http:// or ws://) for this address\n"


def plain_answer(text: str = PLAIN_TEXT) -> bytes:
    body = text.encode()
    head = (
        f"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def speaks_plain_http(first: bytes) -> bool:
    """True if ``first`` (the first byte a client sent) begins an HTTP method rather than a TLS record."""
    return first[:1].isalpha() and first[:1].isupper()


class Peeker:
    """Calls back when sockets become readable, through one selector the event loop watches as one descriptor.

    asyncio refuses a reader on a descriptor its transport owns, even while
    the transport is paused; a selector of our own may watch it.
    """

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._loop: asyncio.AbstractEventLoop | None = None

    def watch(self, fd: int, callback: Callable[[], None]) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(self._selector.fileno(), self._ready)
        self.forget(fd)  # a number left behind by a socket closed without forget() is free again: not an error
        self._selector.register(fd, selectors.EVENT_READ, callback)

    def forget(self, fd: int) -> None:
        """Stop watching ``fd``: call before it is closed, as its number may be reused at once."""
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(fd)

    def _ready(self) -> None:
        for key, _ in self._selector.select(0):
            key.data()

    def close(self) -> None:
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._selector.fileno())
        self._selector.close()


def peek_waiting(raw: asyncio.BaseTransport, size: int) -> bytes | None:
    """Up to ``size`` bytes waiting on ``raw``'s socket, left there for whoever reads next; b"" at EOF, None if none yet."""
    transport_socket = raw.get_extra_info("socket")
    if transport_socket is None:
        return b""
    try:
        # a socket object on asyncio's own descriptor, for one recv() with MSG_PEEK (asyncio's wrapper has no recv)
        sock = socket.socket(transport_socket.family, transport_socket.type, transport_socket.proto, fileno=transport_socket.fileno())
    except OSError:
        return b""
    try:
        return sock.recv(size, socket.MSG_PEEK | getattr(socket, "MSG_DONTWAIT", 0))
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""
    finally:
        sock.detach()  # the descriptor stays asyncio's


def peek_first_byte(raw: asyncio.Transport) -> bytes | None:
    """The first byte waiting on ``raw``'s socket, left there for whoever reads next; b"" at EOF, None if none yet."""
    return peek_waiting(raw, 1)


class Phase(Enum):
    PEEKING = "peeking"  # waiting for the first byte, not reading it
    HANDSHAKE = "handshake"  # TLS handshake under way
    PLAIN = "plain"  # plain HTTP: answered, then closed
    DONE = "done"  # handed over (or closed)


class TlsDoor:
    """One accepted socket on its way to TLS. Calls ``on_secure(tls_transport)`` when the handshake is done.

    ``on_plain(peer)`` is called once if the client speaks plain HTTP (for the
    log line). Data the TLS layer delivers before ``on_secure`` has run (the
    client's first request may come with the handshake's last message) is
    kept in :attr:`early` for the caller to replay.
    """

    def __init__(
        self,
        raw: asyncio.Transport,
        protocol: asyncio.BaseProtocol,
        context: ssl.SSLContext,
        peeker: Peeker,
        *,
        timeout: float,
        on_secure: Callable[[asyncio.Transport], None],
        on_plain: Callable[[], None],
    ) -> None:
        self.raw = raw
        self.protocol = protocol
        self.context = context
        self.timeout = timeout
        self.on_secure = on_secure
        self.on_plain = on_plain
        self.early: list[bytes] = []
        self.phase = Phase.PEEKING
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[None] | None = None
        self._timer = self._loop.call_later(timeout, self._expire)
        # not read through the transport: that would take the bytes the TLS layer needs
        raw.pause_reading()
        self._loop.call_soon(self._keep_paused)
        self._peeker: Peeker | None = peeker
        self._fd = raw.get_extra_info("socket").fileno()
        peeker.watch(self._fd, self._peek)

    def _keep_paused(self) -> None:
        """Pause again, once asyncio has started reading the new socket.

        Python before 3.11.4 (Debian 12's 3.11.2, so Raspberry Pi OS) starts
        reading a socket just after ``connection_made`` even when it was paused
        there (CPython gh-103607): the client's TLS hello would be read as plain
        data and the handshake would wait for it forever. Resuming and pausing
        again removes that reader, and cancels a read it may already have queued.
        """
        if self.phase is Phase.PEEKING and not self.raw.is_closing():
            self.raw.resume_reading()
            self.raw.pause_reading()

    def _peek(self) -> None:
        first = peek_first_byte(self.raw)
        if first is None:
            return
        self._stop_peeking()
        if not first:
            self.phase = Phase.DONE
            self.raw.abort()
        elif speaks_plain_http(first):
            self.phase = Phase.PLAIN
            self.raw.resume_reading()  # the request comes to data_received, which answers it
        else:
            self.phase = Phase.HANDSHAKE
            self._task = self._loop.create_task(self._handshake())

    async def _handshake(self) -> None:
        try:
            tls = await self._loop.start_tls(self.raw, self.protocol, self.context, server_side=True, ssl_handshake_timeout=self.timeout)
        except Exception:  # a failed handshake, or the socket closed (evicted, expired) meanwhile
            self.phase = Phase.DONE
            self.raw.abort()
            return
        if self.phase is not Phase.HANDSHAKE or tls is None:
            return
        self.phase = Phase.DONE
        self._timer.cancel()
        self.on_secure(tls)

    def data_received(self, data: bytes) -> None:
        """Bytes for the connection's protocol before it has a transport: plain HTTP, or early TLS data."""
        if self.phase is Phase.PLAIN:
            self.phase = Phase.DONE
            self._timer.cancel()
            self.on_plain()
            self.raw.write(plain_answer())
            self.raw.close()  # after the answer is written; the request was read, so the close is a clean FIN
        elif self.phase in (Phase.HANDSHAKE, Phase.DONE):
            self.early.append(data)

    def _expire(self) -> None:
        if self.phase is not Phase.DONE:
            self.phase = Phase.DONE
            self._stop_peeking()
            self.raw.abort()

    def lost(self) -> None:
        """The socket is gone: stop peeking and waiting."""
        self.phase = Phase.DONE
        self._timer.cancel()
        self._stop_peeking()

    def _stop_peeking(self) -> None:
        if self._peeker is not None:
            self._peeker.forget(self._fd)
            self._peeker = None
