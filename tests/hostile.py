"""A device that lies: the simulated firmware with its replies mangled, lost or withheld.

Runs behind a real pty (:class:`teleop_server.device.simulated.PtyDevice`) in the test's own
process while the server under test runs in another, so everything the
server does about it goes through a real serial line.
"""

from __future__ import annotations

from teleop_server.device.simulated import SimulatedDevice

#: Longer than the server's 256-byte line limit: a reply glued after it is dropped with it.
LINE_NOISE = b"\x7f~#" * 100


class LyingDevice(SimulatedDevice):
    """Executes every command like the firmware, but what it answers is up to the test.

    * ``lose_every=N``: every Nth reply is glued after a burst of line noise
      longer than any line, so the host's splitter drops it (the reply is lost);
    * ``mangle_every=N``: every Nth reply comes with a little garbage in front;
    * ``silent``: no replies at all (the board hangs in its reply path).
    """

    def __init__(self, *, lose_every: int = 0, mangle_every: int = 0, silent: bool = False, **options) -> None:
        super().__init__(**options)
        self.lose_every = lose_every
        self.mangle_every = mangle_every
        self.silent = silent
        self.replies = 0

    def receive(self, data: bytes, now: float) -> bytes:
        out = bytearray()
        for line in super().receive(data, now).splitlines(keepends=True):
            if not line.startswith((b"OK", b"ERR")):
                out += line
                continue
            if self.silent:
                continue
            self.replies += 1
            if self.lose_every and self.replies % self.lose_every == 0:
                out += LINE_NOISE + line
            elif self.mangle_every and self.replies % self.mangle_every == 0:
                out += b"\xfe~@" + line
            else:
                out += line
        return bytes(out)
