"""The desktop app's video client: the robot's ``/video.mjpg`` over plain HTTP/1.1 on a thread of its own, no Qt.

:class:`VideoStream` opens the stream the server advertises in its status
(``camera.path``, on the WebSocket's host and port, TLS when the WebSocket
uses it), authenticates with ``Authorization: Bearer TOKEN``, reads parts with
:class:`teleop.wire.mjpeg.MultipartReader` and hands each new frame to a callback.
It keeps no queue: of the frames that arrive in one read only the newest is
handed on, and the model that receives them keeps one (see
:class:`teleop.desktop.session.video_model.VideoModel`). A stream that ends, stalls or is refused is
reopened with the session's backoff (:data:`teleop.common.backoff.RECONNECT_DELAYS`).
Frames are handed on from the stream's thread, states on the event loop that
started it.

The parts that decide something (the response head, chunked bodies, the frame
rate) are sans-I/O functions and classes, tested without a socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from teleop import __version__
from teleop.common.backoff import RECONNECT_DELAYS, Backoff
from teleop.desktop.net.client import UNKNOWN_HOST_RETRY
from teleop.wire import mjpeg

log = logging.getLogger("teleop.desktop.net.video")

#: no byte for this long on an open stream: the link is dead even if TCP has not noticed
STALL_TIMEOUT = 5.0
OPEN_TIMEOUT = 5.0
MAX_HEAD_BYTES = 16 * 1024
READ_SIZE = 256 * 1024


class VideoState(StrEnum):
    """What the video panel can say; :func:`describe` turns it into the words shown."""

    OFF = "off"  # not connected to a robot, or the panel is hidden
    NO_CAMERA = "no camera"
    CONNECTING = "connecting"
    STARTING = "camera starting"
    LIVE = "live"
    LOST = "camera lost"
    REFUSED = "refused"
    FAILED = "failed"  # the stream could not be opened or broke; retrying


def describe(state: VideoState, detail: str = "") -> str:
    """The plain words for a state; ``detail`` is the server's or the network's own explanation."""
    words = {
        VideoState.OFF: "Video off: not connected to a robot",
        VideoState.NO_CAMERA: "No camera on this robot",
        VideoState.CONNECTING: "Connecting to the camera…",
        VideoState.STARTING: "Camera starting…",
        VideoState.LIVE: "",
        VideoState.LOST: "Camera lost",
        VideoState.REFUSED: "The robot refused the video: the token is missing or wrong (see Settings)",
        VideoState.FAILED: "No video",
    }[state]
    if detail and state in (VideoState.LOST, VideoState.FAILED, VideoState.STARTING, VideoState.NO_CAMERA):
        words = f"{words.rstrip('…')}: {detail}"
    return f"{words}; trying again" if state is VideoState.FAILED else words


def video_url(ws_url: str, path: str = mjpeg.VIDEO_PATH) -> str:
    """The stream's address on the WebSocket's host and port: ``ws://h:p`` gives ``http://h:p/video.mjpg``."""
    parts = urlsplit(ws_url.split("#", 1)[0])
    scheme = "https" if parts.scheme in ("wss", "https") else "http"
    if not path.startswith("/"):
        path = "/" + path
    return f"{scheme}://{parts.netloc}{path}"


# -- sans-I/O parts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ResponseHead:
    status: int
    reason: str
    #: header names in lower case; a repeated header keeps its last value
    headers: dict[str, str]


def parse_head(block: bytes) -> ResponseHead | None:
    """An HTTP/1.x response head (status line and headers, without the blank line), or None if it is not one."""
    lines = block.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or not code.isdigit():
        return None
    headers = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return ResponseHead(int(code), reason.strip(), headers)


class ChunkedDecoder:
    """``Transfer-Encoding: chunked`` bodies (ffmpeg's HTTP server sends them): bytes in, payload out.

    Raises ValueError on a malformed chunk size: the stream is then unusable
    and is reopened.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._left = 0  # payload bytes still to come in the current chunk
        self._skip_crlf = False
        self.ended = False

    def feed(self, data: bytes) -> bytes:
        self._buffer += data
        out = bytearray()
        while self._buffer and not self.ended:
            if self._left:
                take = min(self._left, len(self._buffer))
                out += self._buffer[:take]
                del self._buffer[:take]
                self._left -= take
                self._skip_crlf = self._left == 0
                continue
            if self._skip_crlf:
                if len(self._buffer) < 2:
                    break
                del self._buffer[:2]
                self._skip_crlf = False
                continue
            end = self._buffer.find(b"\r\n")
            if end < 0:
                if len(self._buffer) > 1024:
                    raise ValueError("chunk size line too long")
                break
            size_text = bytes(self._buffer[:end]).split(b";", 1)[0].strip()
            del self._buffer[: end + 2]
            try:
                self._left = int(size_text, 16)
            except ValueError:
                raise ValueError(f"bad chunk size {size_text[:20]!r}") from None
            if self._left < 0:
                raise ValueError("negative chunk size")
            if self._left == 0:
                self.ended = True
        return bytes(out)


class RateMeter:
    """Events per second over the last ``window`` seconds (frames received, frames painted)."""

    def __init__(self, window: float = 1.0) -> None:
        self.window = window
        self._times: deque[float] = deque()

    def tick(self, now: float) -> None:
        self._times.append(now)
        self._trim(now)

    def rate(self, now: float) -> float:
        self._trim(now)
        times = self._times
        if len(times) < 2:
            return 0.0
        # the span of the last window; a stream that has just started is measured over what it has
        span = max(now - times[0], times[-1] - times[0])
        return (len(times) - 1) / span if span > 0 else 0.0

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] < now - self.window:
            self._times.popleft()


def refusal(head: ResponseHead, body: bytes) -> tuple[VideoState, str]:
    """Why the server did not start the stream, from its status code and the start of its body."""
    said = body.decode("utf-8", "replace").strip().splitlines()[0][:200] if body.strip() else ""
    if head.status in (401, 403):
        return VideoState.REFUSED, said or head.reason
    if head.status == 404:
        return VideoState.NO_CAMERA, "this robot's server does not serve video"
    if head.status == 503:
        return VideoState.LOST, said or "the camera is not available"
    return VideoState.FAILED, f"the robot answered {head.status} {head.reason}".strip() + (f": {said}" if said else "")


# -- the stream's own thread -------------------------------------------------------------------


@dataclass
class VideoEvents:
    """Callbacks the stream calls: ``state`` on the event loop that started it, ``frame`` on its own thread."""

    state: Callable[[VideoState, str], None] = lambda state, detail: None
    #: the newest frame of a read (older ones of the same read are never handed on); called on the stream's
    #: own thread, so it must be quick and thread-safe (put the frame in a slot, hand it to a decoder)
    frame: Callable[[mjpeg.Frame], None] = lambda frame: None


class StreamProblem(Exception):
    """The stream was refused or broke; ``state`` and ``detail`` say how, in plain words."""

    def __init__(self, state: VideoState, detail: str) -> None:
        super().__init__(detail)
        self.state = state
        self.detail = detail


class VideoStream:
    """Keeps one MJPEG stream open while started, reopening it with backoff; see the module docstring.

    The stream is read on a thread of its own with a blocking socket: 30 frames a second arrive as
    socket reads, and on the event loop each read would cost a wakeup of the thread that also sends
    the controls (about 0.6 ms of CPU a frame there, measured). The thread parses the parts and hands
    the newest frame of each read to :attr:`VideoEvents.frame` itself; only changes of state go to the
    event loop.
    """

    def __init__(
        self,
        url: str,
        events: VideoEvents | None = None,
        *,
        token: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        backoff: tuple[float, ...] = RECONNECT_DELAYS,
        stall_timeout: float = STALL_TIMEOUT,
    ) -> None:
        self.url = url
        self.events = events or VideoEvents()
        self.token = token
        self.ssl_context = ssl_context
        self.backoff = backoff
        self.stall_timeout = stall_timeout
        self.slow_retry = UNKNOWN_HOST_RETRY
        self.state = VideoState.OFF
        self.detail = ""
        self.received = 0
        #: frames that arrived in the same read as a newer one and were never handed on
        self.skipped = 0
        self.errors = 0
        #: frames received since the stream was last (re)opened: a stream that delivered resets the backoff
        self.received_this_time = 0
        self._thread: threading.Thread | None = None
        #: set to end the current thread; a new one gets a new flag, so an old thread's late news is ignored
        self._stop: threading.Event | None = None
        #: each running thread's open socket, by its stop flag, so :meth:`close` can wake its blocking read
        self._sockets: dict[threading.Event, socket.socket] = {}
        self._socket_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ended: asyncio.Future[None] | None = None

    def start(self) -> None:
        if self.running:
            return
        # get_event_loop, not get_running_loop(): a Qt slot (the panel's toggle) may start it, and qasync
        # can run Qt's event processing while its loop is not marked running
        loop = self._loop = asyncio.get_event_loop()
        stop = self._stop = threading.Event()
        self._ended = loop.create_future()
        self._thread = threading.Thread(target=self._run, args=(stop, self._ended), name="video-stream", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop at once: the thread's blocking read is woken by shutting the socket down, and it ends."""
        stop, self._stop = self._stop, None
        if stop is not None:
            stop.set()
            self._abort(stop)
        self._set_state(VideoState.OFF, "")

    async def stop(self) -> None:
        """:meth:`close`, and wait until the thread has ended (its socket closed)."""
        ended = self._ended
        self.close()
        if ended is not None:
            await ended

    @property
    def running(self) -> bool:
        return self._stop is not None and self._thread is not None and self._thread.is_alive()

    def _set_state(self, state: VideoState, detail: str) -> None:
        if (state, detail) == (self.state, self.detail):
            return
        self.state, self.detail = state, detail
        log.debug("video %s: %s", state.value, detail)
        self.events.state(state, detail)

    # -- on the stream's thread -----------------------------------------------------------------

    def _tell(self, stop: threading.Event, state: VideoState, detail: str) -> None:
        """A change of state, said on the event loop (unless the stream was closed meanwhile)."""
        assert self._loop is not None

        def there() -> None:
            if self._stop is stop:
                self._set_state(state, detail)

        self._loop.call_soon_threadsafe(there)

    def _run(self, stop: threading.Event, ended: asyncio.Future[None]) -> None:
        try:
            self._retry_until_stopped(stop)
        except RuntimeError:  # the event loop is closed: nobody left to tell
            pass
        finally:
            loop = self._loop
            if loop is not None and not loop.is_closed():
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(lambda: None if ended.done() else ended.set_result(None))

    def _retry_until_stopped(self, stop: threading.Event) -> None:
        retry = Backoff(self.backoff)
        while not stop.is_set():
            self._tell(stop, VideoState.CONNECTING, "")
            try:
                self._stream(stop)
                state, detail = VideoState.FAILED, "the robot ended the stream"
            except StreamProblem as problem:
                state, detail = problem.state, problem.detail
            except ssl.SSLCertVerificationError as exc:
                state, detail = VideoState.FAILED, f"the robot's TLS certificate is not trusted ({exc.verify_message})"
            except (OSError, EOFError, ValueError) as exc:
                state, detail = VideoState.FAILED, _describe(exc)
            except Exception as exc:  # a bug on our side: log it, keep retrying (the video must never die silently)
                if stop.is_set():
                    return
                log.exception("unexpected error in the video stream")
                state, detail = VideoState.FAILED, f"internal error: {type(exc).__name__}: {exc}"
            if stop.is_set():
                return
            if self.received_this_time:
                retry.succeeded()
            delay = retry.failed()
            if state in (VideoState.REFUSED, VideoState.NO_CAMERA):
                # a token or a server that will not change by itself: ask rarely (and a wrong
                # token retried every 2 s would soon lock this PC out, pilot connection and all)
                delay = max(delay, self.slow_retry)
            self._tell(stop, state, detail)
            stop.wait(delay)

    def _abort(self, stop: threading.Event) -> None:
        """Wake the read blocked on that thread's socket (from any thread): it returns end-of-stream and the thread ends."""
        with self._socket_lock:
            sock = self._sockets.get(stop)
            if sock is not None:
                with contextlib.suppress(OSError):
                    # the plain socket's shutdown, even under TLS: the SSL object stays to the reading thread
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def _stream(self, stop: threading.Event) -> None:
        self.received_this_time = 0
        parts = urlsplit(self.url)
        tls = parts.scheme == "https"
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (443 if tls else 80)
        sock = socket.create_connection((host, port), timeout=OPEN_TIMEOUT)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls:
                context = self.ssl_context or ssl.create_default_context()
                sock = context.wrap_socket(sock, server_hostname=host)
            with self._socket_lock:
                self._sockets[stop] = sock
            if stop.is_set():
                return
            sock.sendall(self._request(parts.netloc, parts.path or "/", parts.query))
            head_block, rest = _read_head(sock)
            head = parse_head(head_block)
            if head is None:
                raise StreamProblem(VideoState.FAILED, "the robot's answer is not HTTP")
            if head.status != 200:
                body = rest
                with contextlib.suppress(TimeoutError, OSError):
                    sock.settimeout(1.0)
                    body += sock.recv(2048)
                raise StreamProblem(*refusal(head, body))
            sock.settimeout(self.stall_timeout)
            self._read_body(sock, head, rest, stop)
        finally:
            with self._socket_lock:
                self._sockets.pop(stop, None)
            sock.close()  # a viewer going away owes the server no goodbye; nothing to flush either

    def _request(self, netloc: str, path: str, query: str) -> bytes:
        lines = [
            f"GET {path}{'?' + query if query else ''} HTTP/1.1",
            f"Host: {netloc}",
            f"User-Agent: teleop/{__version__}",
            "Accept: multipart/x-mixed-replace, */*",
            "Cache-Control: no-cache",
            "Connection: close",
        ]
        if self.token:
            lines.append(f"Authorization: Bearer {self.token}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _read_body(self, sock: socket.socket, head: ResponseHead, rest: bytes, stop: threading.Event) -> None:
        chunked = "chunked" in head.headers.get("transfer-encoding", "").lower()
        dechunk = ChunkedDecoder() if chunked else None
        boundary = mjpeg.boundary_of(head.headers.get("content-type", ""))
        parser = mjpeg.MultipartReader(boundary) if boundary else None
        pending = b""  # body bytes kept until the boundary is known (a server that did not name it)
        data = rest
        while True:
            if not data:
                try:
                    data = sock.recv(READ_SIZE)
                except TimeoutError:
                    if stop.is_set():
                        return
                    raise StreamProblem(VideoState.FAILED, f"no picture for {self.stall_timeout:g} s") from None
                if not data or stop.is_set():
                    return
            if dechunk is not None:
                data = dechunk.feed(data)
                if dechunk.ended:
                    return
            if parser is None:
                pending += data
                boundary = _sniff_boundary(pending)
                if boundary is None:
                    if len(pending) > MAX_HEAD_BYTES:
                        raise StreamProblem(VideoState.FAILED, "the robot's stream is not MJPEG")
                    data = b""
                    continue
                parser, data, pending = mjpeg.MultipartReader(boundary), pending, b""
            self._hand_on(stop, parser.feed(data))
            data = b""

    def _hand_on(self, stop: threading.Event, items: list[mjpeg.Frame | mjpeg.StreamError]) -> None:
        """The newest frame of one read goes out; the older ones of the same read are counted and dropped."""
        newest: mjpeg.Frame | None = None
        for item in items:
            if isinstance(item, mjpeg.Frame):
                if newest is not None:
                    self.skipped += 1
                newest = item
            else:
                self.errors += 1
                log.debug("video: %s", item.message)
        if newest is not None:
            self.received += 1
            self.received_this_time += 1
            if self.received_this_time == 1:
                self._tell(stop, VideoState.LIVE, "")
            self.events.frame(newest)


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """The response head (without its blank line) and whatever of the body came with it."""
    block = b""
    while True:
        end = block.find(b"\r\n\r\n")
        if end >= 0:
            return block[:end], block[end + 4 :]
        if len(block) > READ_SIZE:
            raise StreamProblem(VideoState.FAILED, "the robot's answer has an oversized head")
        data = sock.recv(READ_SIZE)
        if not data:
            raise StreamProblem(VideoState.FAILED, "the robot closed the stream")
        block += data


def _sniff_boundary(body: bytes) -> str | None:
    """The boundary of a multipart body whose Content-Type did not name one: its first ``--xxx`` line."""
    start = body.lstrip(b"\r\n")
    end = start.find(b"\r\n")
    if end < 0:
        return None
    line = start[:end]
    if line.startswith(b"--") and 2 < len(line) <= 72:
        return line[2:].decode("latin-1")
    raise StreamProblem(VideoState.FAILED, "the robot's stream is not MJPEG")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "the robot did not answer"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
