"""``/video.mjpg``: the camera as ``multipart/x-mixed-replace``, on the WebSocket's port.

websockets answers plain HTTP only with whole responses, and a video stream
never ends, so this path is served here instead. :class:`teleop_server.net.gate.GuardedConnection`
reads the first bytes of every request; a request for :data:`~teleop.wire.mjpeg.VIDEO_PATH`
is handed over (:meth:`VideoServer.take`), socket and all, to a :class:`Viewer`.
The socket was counted by admission from the moment it was accepted and
stays counted under the same key until it closes.

A viewer's request passes the same checks as a WebSocket's: Host, Origin
(:func:`teleop_server.net.httpgate.check_request`), the token when ``--observers token``
(``Authorization: Bearer TOKEN`` or ``?token=TOKEN``, wrong guesses counted by
the same judge as every other path, :mod:`teleop_server.rules.tokens`), and a seat from admission.

Delivery: the newest frame wins. Each frame is framed once
(:func:`teleop.wire.mjpeg.frame_part`) and written to every viewer whose socket has
taken everything written before; a viewer whose socket is still busy is
skipped and gets the newest frame when it drains (asyncio's
``resume_writing``, with the write buffer's high-water mark at one byte). So a slow
viewer holds at most the rest of one frame in user space, never a queue, and
one that takes nothing for ``stall_timeout`` is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Request

from teleop.wire.mjpeg import VIDEO_PATH, frame_part, response_head
from teleop_server.net.gate import Gate, GuardedConnection
from teleop_server.net.httpgate import ALLOWED_METHODS, RequestGate, check_request, normalise_origin, same_origin
from teleop_server.net.static import SECURITY_HEADERS, plain
from teleop_server.rules.auth import ObserverAccess
from teleop_server.rules.tokens import Judgement, TokenJudge

log = logging.getLogger("teleop.server")

MAX_HEAD_BYTES = 8192
HEAD_TIMEOUT = 5.0
#: Kernel send buffer per viewer (Linux doubles it): about one 640x480 frame, so what waits
#: in the kernel is at most about a frame old; the rest of the rule is in user space.
VIEWER_SEND_BUFFER = 64 * 1024
_PREFIXES = tuple(f"{method} {VIDEO_PATH}".encode() for method in ("GET", "HEAD"))
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~+/=-]{1,256}")


def is_video_request(head: bytes) -> bool | None:
    """Whether a request starting with ``head`` is for the video path (None: not enough bytes yet)."""
    undecided = False
    for prefix in _PREFIXES:
        if len(head) <= len(prefix):
            undecided = undecided or prefix.startswith(head)
        elif head.startswith(prefix) and head[len(prefix)] in b" ?":
            return True
    return None if undecided else False


def parse_head(head: bytes) -> Request | None:
    """The request line and headers of an HTTP/1.x request head, or None if it is not one."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
        return None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None
    headers = Headers()
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            return None
        headers[name] = value.strip()
    return Request(parts[1], headers, method=parts[0], protocol=parts[2])


def offered_token(request: Request) -> str | None:
    """The token from ``Authorization: Bearer TOKEN``, else from ``?token=TOKEN``; None if neither."""
    auth = request.headers.get_all("Authorization")
    if auth:
        scheme, _, value = auth[0].strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    query = urlsplit(request.path).query
    values = parse_qs(query).get("token") if query else None
    return values[0] if values else None


class VideoServer:
    """The gate's :class:`~teleop_server.net.gate.Diverter`: owns the newest frame and the viewers."""

    def __init__(
        self,
        gate: Gate,
        requests: RequestGate,
        tokens: TokenJudge,
        *,
        camera: bool,
        stall_timeout: float,
    ) -> None:
        self.gate = gate
        self.requests = requests
        self.tokens = tokens
        self.camera = camera
        self.stall_timeout = stall_timeout
        self.viewers: set[Viewer] = set()
        #: the newest frame, framed once for every viewer, and its number
        self.part = b""
        self.seq = 0
        self._stall_timer: asyncio.TimerHandle | None = None

    # -- the gate's Diverter ------------------------------------------------------------

    def wants(self, head: bytes) -> bool | None:
        return is_video_request(head)

    def take(self, connection: GuardedConnection, transport: asyncio.Transport, head: bytes) -> None:
        viewer = Viewer(self, connection, transport)
        transport.set_protocol(viewer)
        viewer.data_received(head)

    # -- frames ---------------------------------------------------------------------------

    def publish(self, jpeg: bytes, capture_time: float) -> None:
        self.seq += 1
        self.part = frame_part(jpeg, self.seq, capture_time)
        for viewer in self.viewers:
            viewer.offer()

    def watching(self, viewer: Viewer) -> None:
        self.viewers.add(viewer)
        if self._stall_timer is None:
            self._stall_timer = asyncio.get_running_loop().call_later(1.0, self._check_stalls)

    def gone(self, viewer: Viewer) -> None:
        self.viewers.discard(viewer)

    def _check_stalls(self) -> None:
        self._stall_timer = None
        now = time.monotonic()
        for viewer in list(self.viewers):
            if viewer.blocked_since is not None and now - viewer.blocked_since > self.stall_timeout:
                self.gate.log.warning(
                    "slow", viewer.peer, "video viewer %s took nothing for %.0f s; disconnecting it", viewer.peer, self.stall_timeout
                )
                viewer.transport.abort()
        if self.viewers:
            self._stall_timer = asyncio.get_running_loop().call_later(1.0, self._check_stalls)

    def close(self) -> None:
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
        for viewer in list(self.viewers):
            viewer.transport.abort()  # the server is stopping: no point flushing video


class Viewer(asyncio.Protocol):
    """One ``/video.mjpg`` request on a socket taken over from websockets."""

    def __init__(self, server: VideoServer, connection: GuardedConnection, transport: asyncio.Transport) -> None:
        self.server = server
        self.connection = connection  # admission's key for this socket
        self.transport = transport
        self.peer = connection.peer
        self._head = bytearray()
        self._answered = False
        self.watching = False
        self.sent_seq = 0
        self.blocked_since: float | None = None
        self._timer = asyncio.get_running_loop().call_later(HEAD_TIMEOUT, self._too_slow)
        # Pause as soon as anything waits in user space. Not high=0: asyncio's TLS transport pauses
        # at size >= high, so with 0 it would pause after every write with nothing left to drain,
        # and resume only when something else makes it look again (the viewer never sends anything).
        transport.set_write_buffer_limits(high=1, low=0)

    # -- asyncio.Protocol ---------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._answered:
            return  # a stream has no request body; whatever a client sends now is ignored
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            if len(self._head) > MAX_HEAD_BYTES:
                self._refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request headers too large\n")
            return
        if end > MAX_HEAD_BYTES:
            self._refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request headers too large\n")
            return
        head = bytes(self._head[:end])
        self._head.clear()
        self._answered = True
        self._timer.cancel()
        self._serve(head)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._timer.cancel()
        self.server.gone(self)
        self.server.gate.closed(self.connection)

    def pause_writing(self) -> None:
        self.blocked_since = time.monotonic()

    def resume_writing(self) -> None:
        self.blocked_since = None
        self.offer()

    # -- the request ----------------------------------------------------------------------

    def _too_slow(self) -> None:
        self.transport.abort()

    def _serve(self, head: bytes) -> None:
        request = parse_head(head)
        if request is None:
            self._refuse(HTTPStatus.BAD_REQUEST, "bad request: not an HTTP/1.1 request\n")
            return
        is_head = request.method == "HEAD"
        gate = self.server.requests
        refusal = check_request(request, gate.hosts, gate.origins, gate.tls)
        if refusal is None:
            origin = request.headers.get("Origin")
            host = request.headers.get("Host", "")
            if origin is not None and not _origin_allowed(origin, host, gate):
                refusal_text = f"video refused: a page from {origin[:100]} may not read it (see --allow-origin)\n"
                self._refuse(HTTPStatus.FORBIDDEN, refusal_text, head=is_head)
                return
        if refusal is not None:
            if refusal.kind:
                gate.log_refusal(self.connection, refusal)
            self._refuse(refusal.status, refusal.text, head=is_head, allow=refusal.allow)
            return
        token = offered_token(request)
        if token is not None and not _TOKEN_CHARS.fullmatch(token):
            token = "?"  # never compared as given; counts as a wrong one
        tokens = self.server.tokens
        judged = tokens.judge(self.peer, token, time.monotonic(), f"a video request from {self.peer} came")
        if judged.judgement is Judgement.LOCKED:
            text = f"too many wrong tokens from your address: wait {judged.wait:.0f} s and check the token\n"
            self._refuse(HTTPStatus.TOO_MANY_REQUESTS, text, head=is_head)
            return
        access = tokens.access
        if not (access.observers is ObserverAccess.OPEN or not access.required or judged.right):
            if token is None:
                text = (
                    f"this robot needs the token to watch its video: send 'Authorization: Bearer TOKEN' or open {VIDEO_PATH}?token=TOKEN\n"
                )
                self._refuse(HTTPStatus.UNAUTHORIZED, text, head=is_head, extra={"WWW-Authenticate": 'Bearer realm="teleop"'})
            else:
                self._refuse(HTTPStatus.FORBIDDEN, "wrong token: check the token in your settings or the address\n", head=is_head)
            return
        if not self.server.camera:
            text = "this robot has no camera: start teleop-server with --camera (sim, /dev/video0, rpicam or cmd:COMMAND)\n"
            self._refuse(HTTPStatus.NOT_FOUND, text, head=is_head)
            return
        trusted = judged.right
        seat = self.server.gate.admit(self.connection, trusted=trusted)
        if not seat.admitted:
            self._refuse(HTTPStatus.SERVICE_UNAVAILABLE, f"no room for another viewer: {seat.reason}\n", head=is_head)
            return
        self.transport.write(response_head({"Server": "teleop-server", **SECURITY_HEADERS}))
        if is_head:
            self.transport.close()
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, VIEWER_SEND_BUFFER)
            except OSError:
                pass
        self.watching = True
        self.server.watching(self)
        self.offer()

    def _refuse(
        self, status: HTTPStatus, text: str, *, head: bool = False, allow: bool = False, extra: dict[str, str] | None = None
    ) -> None:
        self._answered = True
        self._timer.cancel()
        headers = {"Connection": "close", **(extra or {})}
        if allow:
            headers["Allow"] = ", ".join(ALLOWED_METHODS)
        self.transport.write(plain(status, text, head=head, extra=headers).serialize())
        self.transport.close()

    # -- delivery ---------------------------------------------------------------------------

    def offer(self) -> None:
        """Write the newest frame if the socket has taken everything before it and this frame is new to it."""
        server = self.server
        if not self.watching or self.blocked_since is not None or server.seq <= self.sent_seq:
            return
        if self.transport.is_closing():
            return
        self.sent_seq = server.seq
        self.transport.write(server.part)


def _origin_allowed(origin: str, host: str, gate: RequestGate) -> bool:
    """A video request from a page (fetch sends Origin; an ``<img>`` does not) follows the WebSocket's origin rule."""
    return same_origin(origin, host, gate.tls) or normalise_origin(origin) in gate.origins
