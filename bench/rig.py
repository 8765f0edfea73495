"""Shared by the bench scripts: a real server process with authentication on, bridging to a
simulated device on a pty that lives in the calling process (so every line the device reads
is visible, timestamped on CLOCK_MONOTONIC)."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from launcher import ServerProcess  # noqa: E402  (the one server launcher, shared with the tests)

from teleop_server.device.simulated import PtyDevice, SimulatedDevice  # noqa: E402


@dataclass
class Rig:
    device: PtyDevice
    server: ServerProcess
    url: str
    token: str

    async def stop(self) -> None:
        await asyncio.to_thread(self.server.stop)
        await self.device.stop()


async def start_rig(report_ms: int = 50, extra: list[str] | None = None) -> Rig:
    """The device on a pty, then ``teleop-server`` on a free loopback port (``extra``: more flags), its link ready when this returns."""
    device = PtyDevice(SimulatedDevice(report_ms=report_ms), link=os.path.join(tempfile.mkdtemp(), "ttyROBOT"))
    path = await device.start()
    server = ServerProcess(path, extra=extra, quiet=True)
    await asyncio.to_thread(server.start)  # the device answers the server meanwhile, on this loop
    await server.serial_ready()
    return Rig(device, server, server.url, server.token)
