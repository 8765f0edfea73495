"""The video wire format: MJPEG over HTTP as ``multipart/x-mixed-replace``.

Browsers, VLC, ffplay and home-automation dashboards all understand this
format, which is why the robot serves its camera this way rather than over the
WebSocket. The server writes one part per frame with :func:`frame_part`; the
desktop app reads the stream with :class:`MultipartReader`. Both live here,
Qt-free and without I/O, so that the two ends cannot drift apart.

Every part carries the frame's capture time on the server's clock
(:data:`CAPTURE_TIME_HEADER`, Unix seconds) and the source's frame number
(:data:`FRAME_HEADER`), so a viewer can show how old the picture is.

The reader never raises on bad input: a malformed part becomes a
:class:`StreamError` in its output and the reader resynchronises on the next
boundary, so one bad frame costs one frame, never the stream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Where the server serves the stream, on the same port as the WebSocket.
VIDEO_PATH = "/video.mjpg"
BOUNDARY = "teleopframe"
CONTENT_TYPE = f"multipart/x-mixed-replace; boundary={BOUNDARY}"
#: Capture time of the frame, Unix seconds on the server's clock (``time.time()``).
CAPTURE_TIME_HEADER = "X-Capture-Time"
#: The source's frame number; gaps tell a viewer how many frames it skipped.
FRAME_HEADER = "X-Frame"
#: A 640x480 JPEG is 20-80 kB; anything this large is not a frame we want.
MAX_FRAME_BYTES = 4 * 1024 * 1024
#: Headers of one part are a few dozen bytes; more than this is garbage.
MAX_PART_HEADER_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Frame:
    """One JPEG picture out of the stream."""

    jpeg: bytes
    #: Frame number from :data:`FRAME_HEADER`, if the sender gave one.
    seq: int | None = None
    #: Capture time from :data:`CAPTURE_TIME_HEADER` (server clock), if given.
    capture_time: float | None = None


@dataclass(frozen=True, slots=True)
class StreamError:
    """Something in the stream was wrong; the reader skipped it and carries on."""

    message: str


def response_head(extra: dict[str, str] | None = None) -> bytes:
    """The HTTP/1.1 response head that starts a stream (status line and headers)."""
    headers = {
        "Content-Type": CONTENT_TYPE,
        "Cache-Control": "no-store, no-cache, must-revalidate",
        "Pragma": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Connection": "close",
        **(extra or {}),
    }
    lines = ["HTTP/1.1 200 OK", *(f"{name}: {value}" for name, value in headers.items()), "", ""]
    return "\r\n".join(lines).encode("latin-1")


def frame_part(jpeg: bytes, seq: int, capture_time: float) -> bytes:
    """One part of the stream: boundary, headers and the JPEG, ready to write."""
    head = (
        f"--{BOUNDARY}\r\n"
        f"Content-Type: image/jpeg\r\n"
        f"Content-Length: {len(jpeg)}\r\n"
        f"{FRAME_HEADER}: {seq}\r\n"
        f"{CAPTURE_TIME_HEADER}: {capture_time:.6f}\r\n"
        "\r\n"
    )
    return head.encode("ascii") + jpeg + b"\r\n"


_BOUNDARY_PARAM = re.compile(r';\s*boundary="?([^";]+)"?', re.IGNORECASE)


def boundary_of(content_type: str) -> str | None:
    """The boundary named in a ``multipart/x-mixed-replace`` Content-Type, or None."""
    if not content_type.lower().startswith("multipart/"):
        return None
    match = _BOUNDARY_PARAM.search(content_type)
    return match.group(1).strip() if match else None


class MultipartReader:
    """Feed it the bytes of a stream's body; it returns the frames found so far.

    Works with or without ``Content-Length`` in the parts (ffmpeg's ``mpjpeg``
    muxer and most cameras send it, some do not), and with a boundary given
    with or without its leading ``--`` in the Content-Type. The buffer is
    bounded by :data:`MAX_FRAME_BYTES`: a part that grows beyond it is dropped
    and reported, and reading resumes at the next boundary.
    """

    def __init__(self, boundary: str = BOUNDARY, *, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        bare = boundary[2:] if boundary.startswith("--") else boundary
        self._delimiter = b"--" + bare.encode("latin-1")
        self._max_frame = max_frame_bytes
        self._buffer = bytearray()
        self._state = "boundary"
        self._headers: dict[str, str] = {}
        self._skipping = False
        self.frames = 0
        self.errors = 0

    def feed(self, data: bytes) -> list[Frame | StreamError]:
        self._buffer += data
        out: list[Frame | StreamError] = []
        while self._step(out):
            pass
        return out

    # ------------------------------------------------------------------ states

    def _step(self, out: list[Frame | StreamError]) -> bool:
        if self._state == "boundary":
            return self._find_boundary()
        if self._state == "headers":
            return self._read_headers(out)
        return self._read_body(out)

    def _find_boundary(self) -> bool:
        at = self._buffer.find(self._delimiter)
        if at < 0:
            # Keep only what could be the start of a delimiter.
            keep = len(self._delimiter) - 1
            if len(self._buffer) > keep:
                del self._buffer[: len(self._buffer) - keep]
            return False
        end = self._buffer.find(b"\n", at)
        if end < 0:
            if len(self._buffer) - at > MAX_PART_HEADER_BYTES:
                del self._buffer[: at + len(self._delimiter)]
                return True
            return False
        del self._buffer[: end + 1]
        self._state = "headers"
        self._headers = {}
        return True

    def _read_headers(self, out: list[Frame | StreamError]) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        sep = 4
        if end < 0:
            end = self._buffer.find(b"\n\n")
            sep = 2
        if end < 0:
            if len(self._buffer) > MAX_PART_HEADER_BYTES:
                self._fail(out, "part headers are too long")
                return True
            return False
        if end > MAX_PART_HEADER_BYTES:
            self._fail(out, "part headers are too long")
            return True
        block = bytes(self._buffer[:end]).decode("latin-1")
        del self._buffer[: end + sep]
        for line in block.splitlines():
            name, colon, value = line.partition(":")
            if colon:
                self._headers[name.strip().lower()] = value.strip()
        self._state = "body"
        return True

    def _read_body(self, out: list[Frame | StreamError]) -> bool:
        length_text = self._headers.get("content-length")
        if length_text is not None:
            try:
                length = int(length_text)
            except ValueError:
                length = -1
            if not 0 <= length <= self._max_frame:
                self._fail(out, f"part length {length_text!r} is not a usable frame size")
                return True
            if len(self._buffer) < length:
                return False
            body = bytes(self._buffer[:length])
            del self._buffer[:length]
        else:
            at = self._buffer.find(b"\r\n" + self._delimiter)
            if at < 0:
                if len(self._buffer) > self._max_frame:
                    self._fail(out, f"frame larger than {self._max_frame} bytes")
                    return True
                return False
            body = bytes(self._buffer[:at])
            del self._buffer[:at]
        self._state = "boundary"
        out.append(self._frame(body))
        return True

    def _frame(self, body: bytes) -> Frame:
        self.frames += 1
        return Frame(
            jpeg=body,
            seq=_int_or_none(self._headers.get(FRAME_HEADER.lower())),
            capture_time=_float_or_none(self._headers.get(CAPTURE_TIME_HEADER.lower())),
        )

    def _fail(self, out: list[Frame | StreamError], message: str) -> None:
        """Drop the current part and resynchronise on the next boundary."""
        self.errors += 1
        out.append(StreamError(message))
        self._state = "boundary"
        # The current part's boundary line is already consumed, so the next
        # delimiter in the buffer, even at its very start, begins the next part.
        at = self._buffer.find(self._delimiter)
        if at < 0:
            keep = len(self._delimiter) - 1
            del self._buffer[: max(0, len(self._buffer) - keep)]
        else:
            del self._buffer[:at]


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _float_or_none(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and value == value and abs(value) != float("inf") else None
