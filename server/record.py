"""``--record FILE``: every reading and every command sent to the device, as JSON lines.

Each record is written straight to the operating system (one ``write`` per
line, no user-space buffering), so a killed server loses nothing already
recorded: the kernel holds it even if the process dies the next instant.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

log = logging.getLogger("teleop.server.record")


class Recorder:
    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.failed = False

    def _write(self, record: dict[str, Any]) -> None:
        if self.failed:
            return
        data = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        try:
            os.write(self._fd, data)
        except OSError as exc:  # disk full: say so once, keep driving
            self.failed = True
            log.error("recording to %s stopped: %s", self.path, exc)

    def reading(self, values: dict[str, int | float]) -> None:
        self._write({"t": round(time.time(), 6), "kind": "reading", "values": values})

    def command(self, line: str) -> None:
        self._write({"t": round(time.time(), 6), "kind": "command", "line": line})

    def event(self, text: str) -> None:
        self._write({"t": round(time.time(), 6), "kind": "event", "text": text})

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
