"""Shared by the bench scripts: a real server process with authentication on, bridging to a
simulated device on a pty that lives in the calling process (so every line the device reads
is visible, timestamped on CLOCK_MONOTONIC)."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from websockets.asyncio.client import connect

from server.simdevice import PtyDevice, SimulatedDevice
from teleop.app import free_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Rig:
    device: PtyDevice
    server: subprocess.Popen
    url: str
    token: str

    async def stop(self) -> None:
        self.server.terminate()
        self.server.wait(5)
        await self.device.stop()


async def start_rig(report_ms: int = 50, extra: list[str] | None = None) -> Rig:
    """The device on a pty, then ``teleop-server`` on a free loopback port (``extra``: more flags), listening when this returns."""
    device = PtyDevice(SimulatedDevice(report_ms=report_ms), link=os.path.join(tempfile.mkdtemp(), "ttyROBOT"))
    path = await device.start()
    token = secrets.token_urlsafe(16)
    token_file = Path(tempfile.mkdtemp()) / "pilot-token"
    token_file.write_text(token)
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server",
            "--serial",
            path,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--token-file",
            str(token_file),
            *(extra or []),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"ws://127.0.0.1:{port}"
    for _ in range(200):
        try:
            async with connect(url):
                break
        except OSError:
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # the device's READY
    return Rig(device, server, url, token)
