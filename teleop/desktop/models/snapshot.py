"""A snapshot of the camera: the frame as the robot sent it, named after when it was captured.

The JPEG is saved byte for byte (no re-encoding). Its name says the capture time on
this PC's clock when the robot's clock offset is known, else the time it arrived, and
says which: ``snapshot-2025-01-31T14-03-07.412-captured.jpg`` or ``...-received.jpg``.
"""

from __future__ import annotations

import time
from pathlib import Path

from teleop.wire.mjpeg import Frame


def snapshot_name(captured: float | None, received: float) -> str:
    when, how = (captured, "captured") if captured is not None else (received, "received")
    stamp = time.strftime("%Y-%m-%dT%H-%M-%S", time.localtime(when)) + f".{int(when * 1000) % 1000:03d}"
    return f"snapshot-{stamp}-{how}.jpg"


def save_snapshot(frame: Frame, folder: Path, captured: float | None, received: float) -> Path:
    """Write the frame into ``folder`` (made if missing); the path written. Raises OSError if it cannot be."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / snapshot_name(captured, received)
    path.write_bytes(frame.jpeg)
    return path
