"""The robot's camera: where frames come from, and what to tell the user when they stop.

Sources (``--camera SOURCE``):

* ``sim``: a generated test picture (:mod:`teleop_server.camera.simulated`).
* ``/dev/videoN``: a USB (UVC) webcam in its own MJPEG mode. The frames are
  passed through as the camera encoded them: ``ffmpeg -f v4l2 -input_format
  mjpeg ... -c:v copy`` only copies them to a pipe, it does not re-encode.
* ``rpicam``: the Raspberry Pi camera, JPEG-encoded by ``rpicam-vid --codec mjpeg``.
* ``cmd:COMMAND``: any command that writes MJPEG to its stdout, raw JPEGs back
  to back (``ffmpeg -f mjpeg -``) or multipart (``ffmpeg -f mpjpeg -``).

Every source but ``sim`` is a child process whose stdout is read by the event
loop without blocking and cut into JPEGs by :mod:`teleop_server.rules.jpegstream`. A
process that will not start, exits, or sends no picture for a while is
reported in plain words (:class:`CameraState` ``lost`` with a ``detail``) and
started again with the serial port's :class:`~teleop.common.backoff.Backoff`. The
capture time of a frame is when its last byte reached the server.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable

from teleop.common.backoff import CAMERA_DELAYS, Backoff
from teleop.common.throttle import first_and_every
from teleop.wire.mjpeg import VIDEO_PATH
from teleop.wire.records import CameraStatus
from teleop_server.rules.camerasource import INSTALL_HINTS, CameraSettings, CameraState, command, plain_failure
from teleop_server.rules.jpegstream import FrameSplitter, jpeg_size

log = logging.getLogger("teleop.server")

#: A running source that sends no frame for this many frame intervals (at least NO_PICTURE_MIN s) is restarted.
NO_PICTURE_FRAMES = 30
NO_PICTURE_MIN = 3.0
READ_CHUNK = 256 * 1024


class Camera:
    """Runs one source for ever: frames to ``on_frame(jpeg, capture_time)``, changes to ``on_state``."""

    def __init__(
        self,
        settings: CameraSettings,
        on_frame: Callable[[bytes, float], None],
        on_state: Callable[[CameraState, str], None],
        *,
        backoff: Backoff | None = None,
    ) -> None:
        self.settings = settings
        self.on_frame = on_frame
        self.on_state = on_state
        self.backoff = backoff or Backoff(CAMERA_DELAYS)
        self.state = CameraState.STARTING
        self.detail = "starting the camera"
        self.size: tuple[int, int] | None = None
        self.frames = 0
        self._last_frame = 0.0
        self._process: asyncio.subprocess.Process | None = None

    @property
    def no_picture_timeout(self) -> float:
        return max(NO_PICTURE_MIN, NO_PICTURE_FRAMES / self.settings.fps)

    def snapshot(self) -> CameraStatus:
        """The ``camera`` field of the status message."""
        width, height = self.size or (self.settings.width, self.settings.height)
        return CameraStatus(self.state.value, VIDEO_PATH, self.detail, self.settings.kind, width, height, self.settings.fps)

    def _set(self, state: CameraState, detail: str) -> None:
        if (state, detail) == (self.state, self.detail):
            return
        self.state, self.detail = state, detail
        self.on_state(state, detail)

    def _frame(self, jpeg: bytes) -> None:
        now = time.time()
        self._last_frame = time.monotonic()
        self.frames += 1
        if self.state is not CameraState.LIVE:
            self.size = jpeg_size(jpeg) or self.size
            self.backoff.succeeded()
            width, height = self.size or (self.settings.width, self.settings.height)
            self._set(CameraState.LIVE, f"{width}x{height} from {self._describe()}")
        self.on_frame(jpeg, now)

    def _describe(self) -> str:
        kind = self.settings.kind
        if kind == "sim":
            return "the simulated camera"
        if kind == "rpicam":
            return "the Raspberry Pi camera"
        if kind == "v4l2":
            return self.settings.source
        return "the camera command"

    async def run(self) -> None:
        """Capture, and restart after every failure, until cancelled.

        A camera that keeps failing stays ``lost`` with the same words while it is
        retried (no new event per attempt); its first frame makes it ``live`` again.
        """
        while True:
            if self.state is not CameraState.LOST:
                self._set(CameraState.STARTING, f"starting {self._describe()}")
            try:
                if self.settings.kind == "sim":
                    problem = await self._run_sim()
                else:
                    problem = await self._run_process()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let the camera take the server down
                log.exception("camera failed")
                problem = f"camera failed: {exc}"
            delay = self.backoff.failed()
            self._set(CameraState.LOST, f"{problem}; trying again every {self.backoff.settled:g} s")
            if first_and_every(self.backoff.failures, 30):
                log.warning("camera: %s", problem)
            await asyncio.sleep(delay)

    async def _run_sim(self) -> str:
        from teleop_server.camera.simulated import TestPicture

        picture = TestPicture(self.settings.width, self.settings.height, self.settings.quality)
        interval = 1.0 / self.settings.fps
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        n = 0
        while True:
            n += 1
            jpeg = await asyncio.to_thread(picture.render, n)
            self._frame(jpeg)
            next_at = max(next_at + interval, loop.time())  # a slow machine gets fewer frames, never a backlog
            await asyncio.sleep(next_at - loop.time())

    async def _run_process(self) -> str:
        argv = command(self.settings)
        assert argv is not None
        if self.settings.kind == "v4l2" and not os.path.exists(self.settings.source):
            return f"no camera at {self.settings.source}: is it plugged in?"
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # its own process group: a shell's children are stopped with it
            )
        except FileNotFoundError:
            hint = INSTALL_HINTS.get(argv[0], "check the command")
            return f"camera program {argv[0]!r} not found: {hint}"
        except OSError as exc:
            return f"cannot start camera program {argv[0]!r}: {exc.strerror or exc}"
        self._process = process
        stderr: collections.deque[str] = collections.deque(maxlen=8)
        assert process.stdout is not None and process.stderr is not None
        errors = asyncio.create_task(self._read_stderr(process.stderr, stderr))
        splitter = FrameSplitter()
        self._last_frame = time.monotonic()
        silent = False
        try:
            while True:
                try:
                    async with asyncio.timeout(1.0):
                        chunk = await process.stdout.read(READ_CHUNK)
                except TimeoutError:
                    chunk = None
                if chunk == b"":
                    break
                for jpeg in splitter.feed(chunk or b""):
                    self._frame(jpeg)
                if time.monotonic() - self._last_frame > self.no_picture_timeout:
                    silent = True
                    break
        finally:
            await self._stop(process)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(errors, 1.0)
            self._process = None
        if silent:
            return f"no picture from {self._describe()} for {self.no_picture_timeout:g} s"
        return plain_failure(self.settings, list(stderr), process.returncode)

    @staticmethod
    async def _read_stderr(stream: asyncio.StreamReader, into: collections.deque[str]) -> None:
        while True:
            line = await stream.readline()
            if not line:
                return
            text = line.decode("utf-8", "replace").strip()
            if text:
                into.append(text)

    @staticmethod
    async def _stop(process: asyncio.subprocess.Process) -> None:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                async with asyncio.timeout(1.0):
                    await process.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
        else:
            # the leader exited; anything it left behind in its group goes too
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
