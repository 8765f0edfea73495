"""The video panel's model: it owns the MJPEG stream while the window shows video."""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

from teleop.common.events import Event
from teleop.desktop.models.clock import ClockOffset
from teleop.desktop.net.video import RateMeter, VideoEvents, VideoState, VideoStream, describe, video_url
from teleop.wire import mjpeg
from teleop.wire.records import CameraStatus

log = logging.getLogger(__name__)


class VideoModel:
    """The robot's camera as the video panel shows it: what to say, and the newest frame.

    It opens the stream (:class:`teleop.desktop.net.video.VideoStream`) only while it can
    show something: connected, the panel visible, and the robot's status naming
    a camera. One frame slot, newest wins: :attr:`arrived` fires when the slot
    goes from empty to full, the view takes it (:meth:`take`), and frames
    that came meanwhile replaced each other (counted in :attr:`replaced`).

    Frames come in on the stream's own thread, and :attr:`arrived` fires there
    (so a view can hand the frame to its decoder without waking the GUI thread);
    :attr:`changed` fires on the event loop. The slot, the counts and the frame
    rate are guarded by :attr:`lock`; hold it to read several of them as one.
    """

    def __init__(self, wall: Callable[[], float] = time.time, clock: Callable[[], float] = time.monotonic) -> None:
        self._wall = wall
        self._mono = clock
        self.connected = False
        self.wanted = True
        #: the status's ``camera`` field; None: the robot has no camera (or its server predates video)
        self.camera: CameraStatus | None = None
        self.state = VideoState.OFF
        self.message = describe(VideoState.OFF)
        self.offset = ClockOffset()  # replaced by the session's own when linked
        self.received = RateMeter()
        #: frames the stream handed on, and of those, the ones a newer one replaced before the view took them
        self.frames_in = 0
        self.replaced = 0
        #: the newest frame received (kept for a snapshot)
        self.latest: mjpeg.Frame | None = None
        self._frame: mjpeg.Frame | None = None
        self._ws_url = ""
        self._token: str | None = None
        self._ssl: ssl.SSLContext | None = None
        self._stream: VideoStream | None = None
        self._stream_url = ""
        self.changed: Event[VideoModel] = Event()
        #: fires on the stream's thread, under :attr:`lock`
        self.arrived: Event[VideoModel] = Event()
        #: re-entrant: a listener of :attr:`arrived` takes the frame while the lock is held
        self.lock = threading.RLock()

    # -- what the app tells it ----------------------------------------------------------------

    def link(self, ws_url: str, token: str | None, ssl_context: ssl.SSLContext | None, offset: ClockOffset) -> None:
        """The robot to watch: its WebSocket address (the video is on the same host and port), token, TLS and clock."""
        self._close_stream()
        self._ws_url, self._token, self._ssl, self.offset = ws_url, token, ssl_context, offset
        self.camera = None
        self._update()

    def set_connected(self, connected: bool) -> None:
        if connected != self.connected:
            self.connected = connected
            if not connected:
                self.camera = None  # the next welcome says again
            self._update()

    def set_camera(self, camera: CameraStatus | dict[str, Any] | None) -> None:
        """The ``camera`` field of the robot's status (its JSON form is read too)."""
        if camera is not None and not isinstance(camera, CameraStatus):
            camera = CameraStatus.from_json(camera)
        if camera != self.camera:
            self.camera = camera
            self._update()

    def set_wanted(self, wanted: bool) -> None:
        """The panel is shown (stream) or hidden (no stream: nothing is downloaded or decoded for nobody)."""
        if wanted != self.wanted:
            self.wanted = wanted
            self._update()

    def close(self) -> None:
        self._ws_url = ""
        self.connected = False
        self._update()

    # -- what the view reads --------------------------------------------------------------------

    def take(self) -> mjpeg.Frame | None:
        """The newest frame not yet taken (None if there is none); the next one fires :attr:`arrived` again."""
        with self.lock:
            frame, self._frame = self._frame, None
            return frame

    def capture_on_our_clock(self, frame: mjpeg.Frame) -> float | None:
        """When ``frame`` was captured, on this PC's wall clock (the robot's clock offset removed).

        None if the frame carries no capture time, or no pong has measured the
        offset yet (a Pi without network time can be minutes off: no guess).
        """
        if frame.capture_time is None or self.offset.offset is None:
            return None
        return self.offset.to_local(frame.capture_time)

    def age(self, frame: mjpeg.Frame, now: float | None = None) -> float | None:
        """How old ``frame`` is now, seconds (None if it carries no capture time)."""
        captured = self.capture_on_our_clock(frame)
        return None if captured is None else (self._wall() if now is None else now) - captured

    def fps(self) -> float:
        """Frames received per second, over the last second."""
        with self.lock:
            return self.received.rate(self._mono())

    @property
    def stream(self) -> VideoStream | None:
        return self._stream

    # -- internals ----------------------------------------------------------------------------

    def _frame_in(self, stream: VideoStream, frame: mjpeg.Frame) -> None:
        """On the stream's thread. Under the lock, so a stream closed meanwhile cannot slip in a last frame."""
        with self.lock:
            if stream is not self._stream:
                return
            self.received.tick(self._mono())
            self.frames_in += 1
            empty = self._frame is None
            if not empty:
                self.replaced += 1
            self._frame = frame
            self.latest = frame  # what a snapshot saves, shown or not yet
            if empty:
                self.arrived.emit(self)

    def _stream_state(self, stream: VideoStream, state: VideoState, detail: str) -> None:
        if stream is self._stream:
            self._update()

    def _update(self) -> None:
        camera = self.camera
        want_url = ""
        if self.connected and self.wanted and camera is not None and self._ws_url:
            want_url = video_url(self._ws_url, camera.path)
        if want_url != self._stream_url:
            self._close_stream()
            if want_url:
                self._open_stream(want_url)
        self._set(*self._shown_state())

    def _shown_state(self) -> tuple[VideoState, str]:
        camera, stream = self.camera, self._stream
        if not self.connected or not self._ws_url:
            return VideoState.OFF, describe(VideoState.OFF)
        if not self.wanted:
            return VideoState.OFF, "Video hidden"
        if camera is None:
            return VideoState.NO_CAMERA, describe(VideoState.NO_CAMERA)
        said, detail = camera.state, camera.detail
        live = stream is not None and stream.state is VideoState.LIVE
        if said == "lost":
            return VideoState.LOST, describe(VideoState.LOST, detail)
        if said == "starting" and not live:
            return VideoState.STARTING, describe(VideoState.STARTING, detail)
        if stream is None:
            return VideoState.CONNECTING, describe(VideoState.CONNECTING)
        return stream.state, describe(stream.state, stream.detail)

    def _set(self, state: VideoState, message: str) -> None:
        if (state, message) != (self.state, self.message):
            self.state, self.message = state, message
            self.changed.emit(self)

    def _open_stream(self, url: str) -> None:
        stream = VideoStream(url, token=self._token, ssl_context=self._ssl)
        stream.events = VideoEvents(
            state=lambda state, detail: self._stream_state(stream, state, detail), frame=lambda frame: self._frame_in(stream, frame)
        )
        with self.lock:
            self._stream, self._stream_url = stream, url
        stream.start()

    def _close_stream(self) -> None:
        with self.lock:
            stream, self._stream, self._stream_url = self._stream, None, ""
            self._frame = None
        if stream is not None:
            stream.close()
