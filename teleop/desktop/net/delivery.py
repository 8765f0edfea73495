"""Messages from the server handed to the session the moment their last frame is parsed.

websockets' asyncio connection puts each message in a queue that a task reads
with ``recv()``: the message waits for that task's next turn of the event loop.
The desktop app gets 20 readings a second, and inside Qt's loop each extra turn
is a wakeup of the GUI thread; together they were a steady share of a core while
the pilot only watched.

:class:`DirectConnection` is websockets' client connection (handshake, pings,
close, the ``max_size`` limit, all websockets' own) that hands each whole data
message to an :class:`Inbox` instead, in the same call that parsed it. The
inbox holds messages until the session is ready for them (the welcome is read
first; past :data:`HELD_MAX` the socket is left unread meanwhile), then hands
them over as they come, in order.

Between two reads the socket may rest (:mod:`teleop.desktop.models.readpace`): the
connection asks :attr:`DirectConnection.read_rest` after each read, and what comes
meanwhile waits in the socket until the rest ends or :meth:`DirectConnection.read_now`
cuts it short.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import State

log = logging.getLogger("teleop.desktop.net.delivery")

Message = str | bytes
#: messages held while the session is not reading yet (it waits for the welcome): past this the socket is not read
HELD_MAX = 64


class Inbox:
    """Where a connection's messages go: held until :meth:`hand_over`, then passed to the handler one by one."""

    def __init__(self) -> None:
        self._held: collections.deque[Message] = collections.deque()
        self._handler: Callable[[Message], None] | None = None
        #: stop and restart reading the socket (the connection sets them): nothing held is ever dropped
        self.pause: Callable[[], None] = lambda: None
        self.resume: Callable[[], None] = lambda: None
        self._waiter: asyncio.Future[None] | None = None
        self._ended: BaseException | None = None

    def put(self, message: Message) -> None:
        if self._handler is not None:
            _handle(self._handler, message)
            return
        self._held.append(message)
        if len(self._held) == HELD_MAX:
            self.pause()
        self._wake()

    def end(self, exc: BaseException) -> None:
        """The connection closed: :meth:`first` raises ``exc`` once the messages held are taken."""
        self._ended = exc
        self._wake()

    async def first(self) -> Message:
        """The oldest message held, waiting for one if need be."""
        while not self._held:
            if self._ended is not None:
                raise self._ended
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self._held.popleft()

    @property
    def handing_over(self) -> bool:
        """Messages go to the session as they come (not held before the welcome, nor dropped after the end)."""
        return self._handler is not None and self._handler is not _drop

    def close(self) -> None:
        """The session is done with this connection: later messages are dropped, and the socket is read again
        (a paused one would hold up the closing handshake)."""
        self._held.clear()
        self._handler = _drop
        self.resume()

    def hand_over(self, handler: Callable[[Message], None]) -> None:
        """From now on every message goes to ``handler``: first the ones held, in order."""
        while self._held:
            _handle(handler, self._held.popleft())
        self._handler = handler
        self.resume()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


def _drop(message: Message) -> None:
    pass


def _handle(handler: Callable[[Message], None], message: Message) -> None:
    try:
        handler(message)
    except Exception:  # a bug on our side must not drop the link, nor lose the next message
        log.exception("handling a message from the server failed")


class DirectConnection(ClientConnection):
    """A client connection whose data messages go to :attr:`inbox` as they are parsed, never to ``recv()``.

    Each connection has its own inbox: ``connect()`` may make more than one (a redirect), and one that is
    given up must not end another's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.inbox = inbox = Inbox()
        inbox.pause = lambda: self.transport.pause_reading()
        inbox.resume = self._read_on
        self._fragments: list[bytes] = []
        self._fragmented: Opcode | None = None
        #: how long the socket may rest after a read (s; 0: read on as data comes), asked after each read
        self.read_rest: Callable[[], float] = lambda: 0.0
        #: the end of the rest under way (None: the socket is read as data comes)
        self._resting: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._resting is not None or not self.inbox.handing_over or self.protocol.state is not State.OPEN:
            return  # a closing handshake is read on at once: the link's end is news
        rest = self.read_rest()
        if rest > 0:
            self.transport.pause_reading()
            # the loop websockets keeps: Qt may deliver a read while asyncio's loop is between runs
            self._resting = self.loop.call_later(rest, self.read_now)

    def read_now(self) -> None:
        """End the rest under way, if any: what came meanwhile is read now, in order (an answer is due)."""
        if self._resting is not None:
            self._read_on()

    def _read_on(self) -> None:
        """Read the socket again as data comes, whether it rested or was paused while the session was not ready."""
        if self._resting is not None:
            self._resting.cancel()
            self._resting = None
        self.transport.resume_reading()

    def process_event(self, event: Any) -> None:
        if not isinstance(event, Frame) or self.response is None or event.opcode not in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
            super().process_event(event)  # the handshake, pings, pongs and close: websockets' own handling
            return
        # websockets' parser enforces max_size over all of a message's fragments and their order
        opcode = self._fragmented if event.opcode is Opcode.CONT else event.opcode
        if not event.fin:
            self._fragmented = opcode
            self._fragments.append(bytes(event.data))
            return
        data = b"".join([*self._fragments, bytes(event.data)]) if self._fragments else bytes(event.data)
        self._fragments, self._fragmented = [], None
        message: Message = data
        if opcode is Opcode.TEXT:
            try:
                message = data.decode()
            except UnicodeDecodeError:  # the bytes go on: the session's parser reports them as a bad message
                pass
        self.inbox.put(message)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._resting is not None:
            self._resting.cancel()
            self._resting = None  # nothing more to read
        super().connection_lost(exc)
        self.inbox.end(self.protocol.close_exc)
