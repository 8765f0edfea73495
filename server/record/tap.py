"""Where the bridge sends what it records: every sink that wants the session's streams.

A recording file, the snapshot ring and the live Foxglove endpoint all take the
same calls. The bridge calls the tap without knowing which are switched on, and
a sink that fails never stops the others or the bridge.
"""

from __future__ import annotations

import logging
import socket
from typing import Any, Protocol

from teleop import __version__
from teleop.wire import protocol
from teleop_server.config import ServerConfig

log = logging.getLogger("teleop.server.record")


class Sink(Protocol):
    def reading(self, values: dict[str, int | float], seq: int = 0) -> None: ...
    def command(self, line: str) -> None: ...
    def event(self, text: str, level: str = "info") -> None: ...
    def control(self, client: int, frame: str | bytes) -> None: ...
    def frame(self, jpeg: bytes, t: float) -> None: ...
    def metadata(self, name: str, values: dict[str, Any]) -> None: ...


class Tap:
    """Fans every call out to the sinks; with none it costs one loop over an empty list."""

    def __init__(self, sinks: list[Sink] | None = None) -> None:
        self.sinks: list[Sink] = list(sinks or [])

    def add(self, sink: Sink) -> None:
        self.sinks.append(sink)

    @property
    def wants_video(self) -> bool:
        return any("frame" in getattr(sink, "kinds", ("frame",)) for sink in self.sinks)

    def _each(self, method: str, *args: Any) -> None:
        for sink in self.sinks:
            try:
                getattr(sink, method)(*args)
            except Exception:  # pragma: no cover - a bug in one sink must not stop the bridge
                log.exception("recording: %s failed in %s", method, type(sink).__name__)

    def reading(self, values: dict[str, int | float], seq: int = 0) -> None:
        self._each("reading", values, seq)

    def command(self, line: str) -> None:
        self._each("command", line)

    def event(self, text: str, level: str = "info") -> None:
        self._each("event", text, level)

    def control(self, client: int, frame: str | bytes) -> None:
        self._each("control", client, frame)

    def frame(self, jpeg: bytes, t: float) -> None:
        self._each("frame", jpeg, t)

    def metadata(self, name: str, values: dict[str, Any]) -> None:
        self._each("metadata", name, values)


def session_metadata(config: ServerConfig, session: str) -> dict[str, Any]:
    """What a reviewer needs to know about the session, for the ``session`` metadata record."""
    return {
        "robot": config.announce_name or socket.gethostname().split(".")[0],
        "server": f"teleop-server {__version__}",
        "protocol": str(protocol.PROTOCOL_VERSION),
        "session": session,
        "serial": config.serial,
        "device": config.device,
        "failsafe_ms": str(round(config.failsafe_timeout * 1000)),
        "mapping": [
            {
                "command": o.command,
                "channel": o.channel,
                "source": o.source,
                "scale": o.scale,
                "offset": o.offset,
                "min": o.low,
                "max": o.high,
                "neutral": o.neutral,
                "format": o.format,
            }
            for o in config.outputs
        ],
    }
