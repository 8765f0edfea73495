"""A small MJPEG HTTP server for the video client's tests: real JPEGs from Debian's ffmpeg, served as the robot would.

In-process (``async with MjpegServer(...)``) for the Qt-free client tests, or
in its own process (``python tests/mjpeg_source.py --port P``) for the GUI
tests, so the app's event loop is not also the sender's. It writes parts with
:func:`teleop.wire.mjpeg.frame_part`, the robot's format, and can misbehave on
purpose: refuse the token, drop every stream, go silent, stamp capture times
on a clock that is off by ``skew`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from teleop.wire import mjpeg


@functools.cache
def ffmpeg_pictures(count: int = 30, size: str = "640x480") -> tuple[bytes, ...]:
    """``count`` distinct JPEGs of ffmpeg's moving test pattern (each has a frame counter drawn on it)."""
    if not shutil.which("ffmpeg"):
        raise RuntimeError("ffmpeg is needed for the test pictures (apt-get install ffmpeg)")
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", f"testsrc=size={size}:rate=30"]
    command += ["-frames:v", str(count), "-q:v", "5", "-f", "mjpeg", "-"]
    data = subprocess.run(command, capture_output=True, check=True, timeout=60).stdout
    parts = data.split(b"\xff\xd9\xff\xd8")  # one picture's end marker, the next one's start
    last = len(parts) - 1
    pictures = [(b"\xff\xd8" if i else b"") + part + (b"\xff\xd9" if i < last else b"") for i, part in enumerate(parts)]
    assert len(pictures) == count, f"expected {count} pictures from ffmpeg, got {len(pictures)}"
    return tuple(pictures)


class MjpegServer:
    """Serves ``/video.mjpg`` on loopback at ``fps``; see the module docstring for the misbehaviours."""

    def __init__(
        self,
        pictures: tuple[bytes, ...] | None = None,
        *,
        fps: float = 30.0,
        token: str | None = None,
        skew: float = 0.0,
        port: int = 0,
    ) -> None:
        self.pictures = pictures or (b"\xff\xd8" + b"x" * 2000 + b"\xff\xd9",)
        self.fps = fps
        self.token = token
        self.skew = skew
        self.port = port
        #: streams answered with 200 since the start
        self.streams = 0
        #: requests seen, with their Authorization header
        self.requests: list[str] = []
        self.sent = 0
        self.silent = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> MjpegServer:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{mjpeg.VIDEO_PATH}"

    @property
    def ws_url(self) -> str:
        """What the app would be connected to for this video (same host and port)."""
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> MjpegServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self.drop_all()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def drop_all(self) -> None:
        """Close every open stream, as a robot whose camera process died would."""
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            self.requests.append(head)
            auth = next((line.split(":", 1)[1].strip() for line in head.split("\r\n") if line.lower().startswith("authorization:")), "")
            path = head.split(" ", 2)[1] if head.count(" ") >= 2 else ""
            if path != mjpeg.VIDEO_PATH:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\nConnection: close\r\n\r\nnot found\n")
                return
            if self.token is not None and auth != f"Bearer {self.token}":
                body = b"video needs the robot's token\n"
                writer.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
                return
            self.streams += 1
            self._writers.add(writer)
            writer.write(mjpeg.response_head())
            period = 1 / self.fps
            next_at = time.monotonic()
            while True:
                if not self.silent:
                    picture = self.pictures[self.sent % len(self.pictures)]
                    writer.write(mjpeg.frame_part(picture, self.sent, time.time() + self.skew))
                    self.sent += 1
                    await writer.drain()
                next_at += period
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


async def _main(args: argparse.Namespace) -> None:
    server = await MjpegServer(ffmpeg_pictures(args.pictures), fps=args.fps, token=args.token, skew=args.skew, port=args.port).start()
    print(f"listening {server.port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--token")
    parser.add_argument("--skew", type=float, default=0.0, help="seconds added to every capture time (a robot whose clock is off)")
    parser.add_argument("--pictures", type=int, default=30)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(parser.parse_args()))
