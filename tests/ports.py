"""Free loopback ports for the servers the tests start, chosen where nothing else will take them.

A port from the kernel's ephemeral range (what binding port 0 gives) is free
only for the moment it is probed: before the server started on it binds it,
any socket on the machine that binds port 0, or connects out, can be given the
same port. The suite starts servers by the hundred while other servers connect
to brokers and reconnect, and such a collision ("address already in use") did
happen. Ports below the range are never handed out by the kernel.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

#: how far below the ephemeral range the ports are drawn from
SPAN = 12_000


def _kernel_picked() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def steady_port() -> int:
    """A free loopback TCP port below the kernel's ephemeral range (one from it where the range is unknown)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _kernel_picked()
    for port in random.sample(range(max(1024, low - SPAN), low), 50):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return _kernel_picked()
