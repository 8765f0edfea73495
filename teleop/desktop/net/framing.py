"""A client's WebSocket text frame, written straight to the socket on the control path.

A pilot's controls go out 50 times a second or more. Through ``websockets``' ``send()`` each one
runs a coroutine, an async context manager and the sans-I/O protocol's bookkeeping; with caches
cold between two controls 20 ms apart, that took about 160 µs of CPU a message on a 2-core VM,
twice the socket write itself. While nothing waits in the transport's buffer,
:class:`teleop.desktop.net.client.ClientSession` writes this frame to the transport instead, in the
order of everything else sent on it; otherwise it waits in ``send()`` as before (flow control).

The frame itself is websockets' own (as the server's fan-out frames its broadcasts once,
:func:`teleop_server.net.fanout.frame`): final, opcode text, no extension bits (the session
connects without compression), and masked with a fresh random key, as RFC 6455 asks of a client.
"""

from __future__ import annotations

from websockets.frames import Frame, Opcode


def masked_text_frame(payload: bytes) -> bytes:
    """One whole text message as a client sends it: header, masking key, masked UTF-8 payload."""
    return Frame(Opcode.TEXT, payload).serialize(mask=True)
