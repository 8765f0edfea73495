"""``teleop-server`` in its own process, as users run it: the one launcher for the tests and the benches."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ports import steady_port
from websockets.asyncio.client import connect
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as sync_connect

ROOT = Path(__file__).resolve().parent.parent
#: how long a server may take to exit after SIGTERM before a test calls it hung (a pilot that never answers the close holds it 2 s)
STOP_GRACE_S = 5


class ServerProcess:
    """``teleop-server`` as users run it, in its own process, on a free loopback port.

    Authentication is on, as by default; ``token`` (made up if not given) is
    the pilot token, and :attr:`pilot_url` is the address with it, as the
    server prints it. Pass the same token to restart "the same" server.
    ``prefix`` runs it through another command (``unshare ...``) that execs it in the end.
    ``quiet`` sends its log to /dev/null instead of a pipe read at :meth:`stop`
    (a bench that runs for minutes must not fill a pipe nobody reads).
    ``command`` runs another ``teleop-server`` than this checkout's (an installed one),
    from ``cwd`` (default: the checkout).
    """

    def __init__(
        self,
        serial: str = "sim",
        port: int | None = None,
        extra: list[str] | None = None,
        *,
        token: str | None = None,
        file_limit: int | None = None,
        prefix: list[str] | None = None,
        quiet: bool = False,
        command: list[str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.serial = serial
        self.file_limit = file_limit  # RLIMIT_NOFILE, soft and hard, so the server cannot raise it
        self.port = port or steady_port()
        #: what the server logged, once :func:`running` has stopped it
        self.output = ""
        self.extra = extra or []
        self.prefix = prefix or []
        self.quiet = quiet
        self.command = command or [sys.executable, "-m", "teleop_server"]
        self.cwd = cwd or ROOT
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
        return ServerProcess(
            self.serial,
            self.port,
            self.extra,
            token=self.token,
            file_limit=self.file_limit,
            prefix=self.prefix,
            quiet=self.quiet,
            command=self.command,
            cwd=self.cwd,
        ).start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def serial_ready(self, timeout: float = 10.0) -> None:
        """Wait until the server's device link is ready (commands sent before that are dropped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            async with connect(self.url) as ws:
                await ws.send(json.dumps({"type": "hello", "role": "observer", "client": "launcher", "token": self.token}))
                async for frame in ws:
                    message = json.loads(frame)
                    status = message.get("status", message) if message.get("type") in ("welcome", "status") else None
                    if status and status["serial"]["state"] == "ready":
                        return
                    if time.monotonic() > deadline:
                        break
        raise RuntimeError("the server's device link did not become ready")

    def start(self) -> ServerProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        token_file = Path(tempfile.mkdtemp(prefix="teleop-test-")) / "pilot-token"
        token_file.write_text(self.token)
        self.process = subprocess.Popen(
            [
                *self.prefix,
                *self.command,
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
            cwd=self.cwd,
            env=env,
            stdout=subprocess.DEVNULL if self.quiet else subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=self._in_child,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"teleop-server exited with {self.process.returncode}: {self.process.communicate()[0] or ''}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("teleop-server did not start listening")

    def _in_child(self) -> None:
        """Runs in the server's process before exec.

        The server gets SIGTERM when the process that started it dies, so a test
        run killed by a timeout or ^C leaves no server behind eating the CPU of the
        next run (an orphaned ``--camera sim`` server costs a third of a core).
        Linux ties this to the starting *thread*: start servers from the main thread.
        """
        import ctypes
        import resource

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
        if self.file_limit is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.file_limit, self.file_limit))

    def stop(self) -> str:
        """SIGTERM, as systemd and ^C stop it; a server still running 5 s later is killed and the test fails:
        an owner's ``systemctl stop`` would wait out its timeout too (it hid a fleet link that never ended)."""
        if self.process is None:
            return ""
        self.process.terminate()
        hung = False
        try:
            output, _ = self.process.communicate(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            hung = True
            self.process.kill()
            output, _ = self.process.communicate()
        self.process = None
        print(f"--- teleop-server on port {self.port} logged ---\n{output or ''}")  # pytest shows it when a test fails
        if hung:
            raise AssertionError(f"teleop-server on port {self.port} was still running {STOP_GRACE_S} s after SIGTERM (killed)")
        return output or ""


@contextlib.asynccontextmanager
async def running(server: ServerProcess):
    """``server`` started and, on leaving, stopped (off the event loop: both wait); what it logged is ``server.output`` after."""
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        server.output = await asyncio.to_thread(server.stop)


def sync_client(url: str, **options: Any) -> ClientConnection:
    """A blocking WebSocket client for a test that reads only the messages it looks for.

    What it leaves unread is buffered without flow control: with websockets' default, a full buffer stops
    the client reading, so the server's answer to its close is never read and every close waits out the
    10 s close timeout."""
    return sync_connect(url, max_queue=None, **options)
