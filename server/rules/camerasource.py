"""What a ``--camera SOURCE`` means, without I/O: its settings, the program that captures it, and its failures in plain words.

Sources: ``sim`` (a generated test picture), ``/dev/videoN`` (a USB webcam
in its own MJPEG mode, copied by ``ffmpeg -c:v copy``, not re-encoded),
``rpicam`` (the Raspberry Pi camera through ``rpicam-vid --codec mjpeg``) and
``cmd:COMMAND`` (any command writing MJPEG to its stdout). The asyncio side
that runs them is :mod:`teleop_server.camera.capture`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from enum import StrEnum

from teleop.wire.errors import ConfigError
from teleop_server.rules.notices import printable


class CameraState(StrEnum):
    STARTING = "starting"
    LIVE = "live"
    LOST = "lost"


@dataclass(frozen=True)
class CameraSettings:
    """``[camera]`` in the config file; ``source`` from ``--camera``."""

    source: str
    width: int = 640
    height: int = 480
    fps: float = 30.0
    #: JPEG quality 1-100, for the sources that encode (sim, rpicam).
    quality: int = 80

    def validate(self) -> None:
        if not (16 <= self.width <= 4096 and 16 <= self.height <= 4096):
            raise ConfigError(f"camera size must be 16..4096 pixels each way, got {self.width}x{self.height}")
        if not 0.5 <= self.fps <= 120:
            raise ConfigError(f"camera.fps must be 0.5..120, got {self.fps}")
        if not 1 <= self.quality <= 100:
            raise ConfigError(f"camera.quality must be 1..100, got {self.quality}")
        command(self)  # raises on a source it does not know

    @property
    def kind(self) -> str:
        if self.source == "sim":
            return "sim"
        if self.source.startswith("cmd:"):
            return "cmd"
        if self.source == "rpicam":
            return "rpicam"
        return "v4l2"


def command(settings: CameraSettings) -> list[str] | None:
    """The program that produces the MJPEG stream for ``settings`` (None for ``sim``)."""
    source = settings.source
    size = f"{settings.width}x{settings.height}"
    fps = f"{settings.fps:g}"
    if source == "sim":
        return None
    if source.startswith("cmd:"):
        try:
            argv = shlex.split(source[4:])
        except ValueError as exc:
            raise ConfigError(f"--camera {source!r}: {exc}") from None
        if not argv:
            raise ConfigError("--camera cmd: needs a command, e.g. cmd:ffmpeg -f lavfi -i testsrc -f mjpeg -")
        return argv
    if source == "rpicam":
        return [
            "rpicam-vid", "-t", "0", "-n", "--codec", "mjpeg", "-q", str(settings.quality),
            "--width", str(settings.width), "--height", str(settings.height), "--framerate", fps, "-o", "-",
        ]  # fmt: skip
    if source.startswith("/dev/"):
        return [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "v4l2", "-input_format", "mjpeg",
            "-video_size", size, "-framerate", fps, "-i", source, "-c:v", "copy", "-f", "mjpeg", "-",
        ]  # fmt: skip
    raise ConfigError(f"--camera {source!r}: use sim, /dev/videoN, rpicam or cmd:COMMAND")


INSTALL_HINTS = {
    "ffmpeg": "install it with: sudo apt install ffmpeg",
    "rpicam-vid": "install it with: sudo apt install rpicam-apps (Raspberry Pi OS Bookworm or later)",
}


def plain_failure(settings: CameraSettings, stderr_lines: list[str], returncode: int | None) -> str:
    """What went wrong with a camera process, in words a user can act on."""
    text = " ".join(stderr_lines).lower()
    name = settings.source if settings.kind == "v4l2" else "the camera"
    if "busy" in text:
        return f"{name} is busy: another program is using it"
    if "no such file" in text and settings.kind == "v4l2":
        return f"no camera at {settings.source}: is it plugged in?"
    if "no cameras available" in text:
        return "no Raspberry Pi camera found: check the ribbon cable and that the camera is enabled"
    last = printable(stderr_lines[-1], 160) if stderr_lines else ""
    exited = "the camera program stopped" if returncode is None else f"the camera program exited (code {returncode})"
    return f"{exited}: {last}" if last else exited
