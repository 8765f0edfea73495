"""``--record FILE``: the format follows the extension (``.mcap``: MCAP; anything else: JSON lines)."""

from __future__ import annotations

import logging

from teleop.common.extras import extra_hint
from teleop.wire.errors import ConfigError
from teleop_server.config import ServerConfig
from teleop_server.record.writer import Recorder, ReportFn

log = logging.getLogger("teleop.server.record")

INSTALL_HINT = f"MCAP recording needs the record extra: {extra_hint('record')}"


def is_mcap(path: str) -> bool:
    return path.lower().endswith(".mcap")


def mcap_recorder_class() -> type[Recorder]:
    """The MCAP recorder, or a clear error when the ``mcap`` library is not installed."""
    try:
        from teleop_server.record.mcapfile import McapRecorder
    except ImportError as exc:
        raise ConfigError(f"{INSTALL_HINT} ({exc})") from None
    return McapRecorder


def open_recorder(config: ServerConfig, on_trouble: ReportFn | None = None) -> Recorder | None:
    """The recorder ``config`` asks for, or None; an unusable path is a :class:`ConfigError` now, at start."""
    path = config.record
    if not path:
        return None
    max_bytes = round(config.record_max_mb * 1024 * 1024) or None
    max_seconds = config.record_max_minutes * 60 or None
    if is_mcap(path):
        if config.record_video and not config.camera and not config.replay:
            # not an error: a robot's camera may be off for a while; but say why the file will hold no video
            log.warning("--record-video: this server has no camera (--camera, or [camera] source), so no video is recorded")
        return mcap_recorder_class()(  # type: ignore[call-arg]
            path, max_bytes=max_bytes, max_seconds=max_seconds, keep=config.record_keep, video=config.record_video, on_trouble=on_trouble
        )
    if config.record_video:
        raise ConfigError("--record-video needs an MCAP recording (--record FILE.mcap); JSON lines hold no video")
    from teleop_server.record.jsonlines import Recorder as JsonLinesRecorder

    return JsonLinesRecorder(path, max_bytes=max_bytes, max_seconds=max_seconds, keep=config.record_keep, on_trouble=on_trouble)
