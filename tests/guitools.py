"""Helpers for GUI tests: the one qasync loop, a real server process, waiting inside Qt's loop."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import wait_for

from teleop.app import free_port

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"


def run(loop: asyncio.AbstractEventLoop, awaitable, timeout: float = 10.0) -> Any:
    """Run a coroutine on the qasync loop (Qt's event loop spins meanwhile)."""

    async def bounded():
        async with asyncio.timeout(timeout):
            return await awaitable

    return loop.run_until_complete(bounded())


def wait_until(loop: asyncio.AbstractEventLoop, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """:func:`conftest.wait_for` on the qasync loop, for the synchronous GUI tests."""
    return loop.run_until_complete(wait_for(predicate, timeout, what=what))


class ServerProcess:
    """``teleop-server`` as users run it, in its own process, on a free loopback port.

    Authentication is on, as by default; ``token`` (made up if not given) is
    the pilot token, and :attr:`pilot_url` is the address with it, as the
    server prints it. Pass the same token to restart "the same" server.
    ``prefix`` runs it through another command (``unshare ...``) that execs it in the end.
    """

    def __init__(
        self,
        serial: str = "sim",
        port: int | None = None,
        extra: list[str] | None = None,
        *,
        token: str | None = None,
        prefix: list[str] | None = None,
    ) -> None:
        self.serial = serial
        self.port = port or free_port()
        self.extra = extra or []
        self.prefix = prefix or []
        self.token = token or secrets.token_urlsafe(16)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def pilot_url(self) -> str:
        return f"{self.url}/#token={self.token}"

    def restarted(self) -> ServerProcess:
        """The same server (port, token, options) started again."""
        return ServerProcess(self.serial, self.port, self.extra, token=self.token, prefix=self.prefix).start()

    def start(self) -> ServerProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        token_file = Path(tempfile.mkdtemp(prefix="teleop-test-")) / "pilot-token"
        token_file.write_text(self.token)
        self.process = subprocess.Popen(
            [
                *self.prefix,
                sys.executable,
                "-m",
                "server",
                "--serial",
                self.serial,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--token-file",
                str(token_file),
                *self.extra,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"teleop-server exited with {self.process.returncode}: {self.process.communicate()[0]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("teleop-server did not start listening")

    def stop(self) -> str:
        if self.process is None:
            return ""
        self.process.terminate()
        try:
            output, _ = self.process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            output, _ = self.process.communicate()
        self.process = None
        return output or ""
