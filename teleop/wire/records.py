"""The typed parts of the server's ``status`` message: the serial link, the pilot, the camera.

Each record is what one JSON object inside a status says, with a fixed set of
fields, so both ends read ``status.serial.state`` instead of digging in a dict
and guessing a default. ``from_json`` takes whatever arrived and never raises:
a field of the wrong type or missing gets its default (a status is shown
whole or not at all, and one odd field from a newer or broken server must not
hide the rest). ``to_json`` gives the JSON object back; a round trip is exact.

Sans-I/O and dependency-free, like the rest of :mod:`teleop.wire`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from teleop.wire.mjpeg import VIDEO_PATH

#: Longest text kept from a status field: the server's details are a sentence, not a page.
MAX_TEXT = 1000
#: At most this many ``device`` info entries are kept (the firmware's info reply has about ten).
MAX_DEVICE_KEYS = 64


def _str(obj: dict[str, Any], key: str, default: str = "") -> str:
    value = obj.get(key, default)
    return value[:MAX_TEXT] if isinstance(value, str) else default


def _int(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(obj: dict[str, Any], key: str) -> float | None:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if isinstance(value, int) or math.isfinite(value) else None  # 1e999 reads as inf


def _object(obj: Any) -> dict[str, Any]:
    return obj if isinstance(obj, dict) else {}


@dataclass(frozen=True, slots=True)
class SerialStatus:
    """The link to the board: ``status.serial``.

    ``state`` is the link's state as the server names it (``closed``, ``opening``,
    ``waiting_ready``, ``ready``, ``lost``, ``failed``); ``device`` is the board's
    info reply (``name``, ``version``, ``stop``, ...) as text; ``profile`` is how it
    is driven (``teleop`` or ``plain``), None until known.
    """

    state: str = ""
    port: str = ""
    detail: str = ""
    device: dict[str, str] = field(default_factory=dict)
    profile: str | None = None

    @classmethod
    def from_json(cls, obj: Any) -> SerialStatus:
        obj = _object(obj)
        device = _object(obj.get("device"))
        profile = obj.get("profile")
        return cls(
            state=_str(obj, "state"),
            port=_str(obj, "port"),
            detail=_str(obj, "detail"),
            device={str(k)[:MAX_TEXT]: v[:MAX_TEXT] for k, v in list(device.items())[:MAX_DEVICE_KEYS] if isinstance(v, str)},
            profile=profile[:MAX_TEXT] if isinstance(profile, str) else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "port": self.port, "detail": self.detail, "device": dict(self.device), "profile": self.profile}


@dataclass(frozen=True, slots=True)
class PilotStatus:
    """Who drives: ``status.pilot`` (absent, JSON null, when nobody does).

    ``id`` is the pilot's connection id, the one a client got as ``client_id`` in
    its welcome: equal means "you are the pilot". ``legacy``: a client without a hello.
    """

    id: int = 0
    name: str = ""
    legacy: bool = False
    #: what the pilot drives with (``gamepad``, ``touch``, ``keyboard``; "" when it did not say)
    input: str = ""

    @classmethod
    def from_json(cls, obj: Any) -> PilotStatus | None:
        """None unless ``obj`` is an object: a status with ``"pilot": null`` means nobody drives."""
        if not isinstance(obj, dict):
            return None
        return cls(id=_int(obj, "id") or 0, name=_str(obj, "name"), legacy=obj.get("legacy") is True, input=_str(obj, "input"))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name, "legacy": self.legacy}
        if self.input:
            out["input"] = self.input
        return out


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """The robot's camera: ``status.camera`` (absent when the server has none, or predates video).

    ``state`` is ``starting``, ``live`` or ``lost``; ``detail`` says why in plain
    words; ``path`` is where the stream is (see :mod:`teleop.wire.mjpeg`). The
    source and picture size are for display only and may be absent (None, "").
    """

    state: str = ""
    path: str = VIDEO_PATH
    detail: str = ""
    source: str = ""
    width: int | None = None
    height: int | None = None
    fps: float | None = None

    @classmethod
    def from_json(cls, obj: Any) -> CameraStatus | None:
        """None unless ``obj`` is an object; a path that is not an absolute path on the server is the default one."""
        if not isinstance(obj, dict):
            return None
        path = obj.get("path")
        return cls(
            state=_str(obj, "state"),
            path=path[:MAX_TEXT] if isinstance(path, str) and path.startswith("/") else VIDEO_PATH,
            detail=_str(obj, "detail"),
            source=_str(obj, "source"),
            width=_int(obj, "width"),
            height=_int(obj, "height"),
            fps=_number(obj, "fps"),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state, "path": self.path, "detail": self.detail}
        if self.source:
            out["source"] = self.source
        out.update({k: v for k, v in (("width", self.width), ("height", self.height), ("fps", self.fps)) if v is not None})
        return out
