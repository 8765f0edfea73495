"""A short recorded session for the replay tests: the simulated robot recorded to FILE while a client watches."""

from __future__ import annotations

import json
import time
from pathlib import Path

from launcher import ServerProcess, sync_client


def record_a_session(path: Path, seconds: float = 3.0) -> Path:
    """``teleop-server --serial sim --record PATH`` for ``seconds`` with an observer connected; PATH once it is closed."""
    server = ServerProcess("sim", extra=["--record", str(path)]).start()
    try:
        with sync_client(server.url) as ws:
            ws.send(json.dumps({"type": "hello", "role": "observer", "client": "watcher"}))
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    ws.recv(timeout=0.2)
                except TimeoutError:
                    pass
    finally:
        server.stop()
    return path
