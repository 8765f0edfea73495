"""A device that lies: the simulated firmware with its replies mangled, lost or withheld.

Runs behind a real pty (:class:`teleop_server.device.simulated.PtyDevice`) in the test's own
process while the server under test runs in another, so everything the
server does about it goes through a real serial line.
"""

from __future__ import annotations

from conftest import WsClient
from guitools import ServerProcess
from websockets.asyncio.client import connect

from teleop_server.device.simulated import PtyDevice, SimulatedDevice

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


async def join(server: ServerProcess, role: str = "pilot", client: type[WsClient] = WsClient) -> WsClient:
    """A client that said hello, once the server's device link is ready (commands before that are dropped)."""
    ws = await connect(server.url, open_timeout=5)
    peer = client(ws)
    await peer.send({"type": "hello", "role": role, "client": role, "token": server.token if role == "pilot" else None})
    welcome = await peer.expect("welcome")
    assert welcome["role"] == role, welcome
    if welcome["status"]["serial"]["state"] != "ready":
        await peer.expect("status", lambda m: m["serial"]["state"] == "ready", timeout=10)
    return peer


def lines(device: PtyDevice, prefix: str = "") -> list[tuple[float, str]]:
    # the stop byte (0x18) may stand in front of the first neutral line: the device acts on it first
    return [(t, line.lstrip("\x18")) for t, line in list(device.received_lines) if line.lstrip("\x18").startswith(prefix)]
