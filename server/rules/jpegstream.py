"""Cut a camera's byte stream into JPEG frames, without I/O.

Camera programs write MJPEG to a pipe in one of two ways:

* raw JPEGs back to back (``ffmpeg -f mjpeg -``, ``rpicam-vid --codec mjpeg -o -``):
  each frame starts with SOI (``FF D8``) and ends with EOI (``FF D9``);
* multipart, as served over HTTP (``ffmpeg -f mpjpeg -``): ``--boundary``
  lines with part headers before each JPEG.

:class:`FrameSplitter` tells which from the first bytes and returns whole
frames as they complete. Finding the end of a raw JPEG walks its header
segments by their lengths (an EXIF thumbnail holds an ``FF D9`` of its own)
up to the scan, where byte stuffing guarantees the next ``FF D9`` is the end.
Memory is bounded by ``max_frame_bytes``: a frame that grows beyond it is
dropped and counted, and splitting resumes at the next SOI. Nothing here
raises on bad input.
"""

from __future__ import annotations

from teleop.wire.mjpeg import MAX_FRAME_BYTES, Frame, MultipartReader

SOI = b"\xff\xd8"
EOI = b"\xff\xd9"
#: Start-of-frame markers carry the picture's size (baseline, extended, progressive, lossless).
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
#: Markers that stand alone, without a length (TEM, RSTn, SOI, EOI).
_STANDALONE = frozenset({0x01, *range(0xD0, 0xDA)})


def jpeg_size(jpeg: bytes) -> tuple[int, int] | None:
    """(width, height) from the JPEG's start-of-frame segment, or None if there is none."""
    at = 2
    while at + 4 <= len(jpeg):
        if jpeg[at] != 0xFF:
            return None
        marker = jpeg[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in _STANDALONE:
            at += 2
            continue
        length = int.from_bytes(jpeg[at + 2 : at + 4], "big")
        if marker in _SOF and at + 9 <= len(jpeg):
            return int.from_bytes(jpeg[at + 7 : at + 9], "big"), int.from_bytes(jpeg[at + 5 : at + 7], "big")
        if marker == 0xDA:
            return None
        at += 2 + length
    return None


class RawJpegSplitter:
    """JPEGs written back to back, each from SOI to EOI; garbage between them is skipped."""

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self.max_frame = max_frame_bytes
        self._buffer = bytearray()
        #: where the header walk stopped (offset of the next segment), or where the scan's data begins
        self._at = 0
        self._in_scan = False
        self.dropped = 0

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        frames: list[bytes] = []
        while True:
            frame = self._next()
            if frame is None:
                break
            frames.append(frame)
        return frames

    def _restart(self, skip: int) -> None:
        """Forget the current frame and look for the next SOI from ``skip`` on."""
        start = self._buffer.find(SOI, skip)
        if start < 0:
            # keep a trailing FF: it may be the first half of the next SOI
            del self._buffer[: max(0, len(self._buffer) - 1)]
            if self._buffer and self._buffer[0] != 0xFF:
                self._buffer.clear()
        else:
            del self._buffer[:start]
        self._at = 2
        self._in_scan = False

    def _next(self) -> bytes | None:
        buf = self._buffer
        if not buf.startswith(SOI):
            self._restart(0)
            if not buf.startswith(SOI):
                return None
        while not self._in_scan:
            at = self._at
            if at + 4 > len(buf):
                self._wait()
                return None
            if buf[at] != 0xFF:  # not a segment: this was no JPEG
                self.dropped += 1
                self._restart(2)
                return self._next() if buf.startswith(SOI) else None
            marker = buf[at + 1]
            if marker == 0xFF:
                self._at += 1
            elif marker in _STANDALONE:
                if marker == 0xD9:  # EOI before any scan: an empty picture
                    self.dropped += 1
                    self._restart(at + 2)
                    return self._next() if buf.startswith(SOI) else None
                self._at += 2
            else:
                self._at += 2 + int.from_bytes(buf[at + 2 : at + 4], "big")
                if marker == 0xDA:
                    self._in_scan = True
        end = buf.find(EOI, self._at)
        # in the scan's data an FF is always followed by 00 or a restart marker: a new SOI means the
        # frame was cut short (the camera restarted mid-frame), and the new frame starts there
        cut = buf.find(SOI, self._at, end if end >= 0 else len(buf))
        if cut >= 0:
            self.dropped += 1
            del buf[:cut]
            self._at = 2
            self._in_scan = False
            return self._next()
        if end < 0:
            self._at = max(self._at, len(buf) - 1)  # the next find starts where this one stopped
            self._wait()
            return None
        frame = bytes(buf[: end + 2])
        del buf[: end + 2]
        self._at = 2
        self._in_scan = False
        return frame

    def _wait(self) -> None:
        """Not a whole frame yet: keep what we have, unless it has grown past any frame."""
        if len(self._buffer) > self.max_frame:
            self.dropped += 1
            self._restart(2)


class FrameSplitter:
    """Raw or multipart, decided by the stream's first bytes; :meth:`feed` returns whole JPEGs."""

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self.max_frame = max_frame_bytes
        self._head = bytearray()
        self._raw: RawJpegSplitter | None = None
        self._multipart: MultipartReader | None = None
        self.kind = "unknown"

    @property
    def dropped(self) -> int:
        if self._raw is not None:
            return self._raw.dropped
        if self._multipart is not None:
            return self._multipart.errors
        return 0

    def feed(self, data: bytes) -> list[bytes]:
        if self._raw is not None:
            return self._raw.feed(data)
        if self._multipart is not None:
            return [item.jpeg for item in self._multipart.feed(data) if isinstance(item, Frame) and item.jpeg.startswith(SOI)]
        self._head += data
        head = bytes(self._head).lstrip(b"\r\n")
        if head.startswith(b"--"):
            line_end = head.find(b"\n")
            if line_end < 0:
                if len(head) > 200:
                    self._choose_raw()
                return self._start(b"") if self._raw else []
            boundary = head[2:line_end].strip().decode("latin-1")
            self._multipart = MultipartReader(boundary, max_frame_bytes=self.max_frame)
            self.kind = "multipart"
            return self._start(head)
        if len(head) >= 2 or (head and head[:1] != b"-"):
            self._choose_raw()
            return self._start(head)
        return []

    def _choose_raw(self) -> None:
        self._raw = RawJpegSplitter(self.max_frame)
        self.kind = "raw"

    def _start(self, head: bytes) -> list[bytes]:
        self._head.clear()
        return self.feed(head) if head else []
