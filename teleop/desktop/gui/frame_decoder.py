"""JPEG frames decoded and scaled on a worker thread, newest first, so the GUI thread only paints.

The GUI thread runs the asyncio loop that sends the controls; a 640x480 JPEG
takes 1.5-2.5 ms to decode and a camera's full-size frame far longer, time a
stick change would wait. Qt's JPEG reader runs without Python's GIL
(``QImageReader.read`` lets other Python threads run meanwhile), so a plain
thread takes the work off the GUI thread entirely.

One slot, newest wins: a frame submitted while the worker is busy replaces the
one waiting (counted in :attr:`FrameDecoder.dropped`), so a slow decode skips
frames instead of falling behind. The picture comes out at the size it will be
shown (libjpeg skips the detail it would throw away, then Qt scales the rest),
so painting it is a plain copy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import NamedTuple

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QImage, QImageReader, QPainter

from teleop.wire import mjpeg

#: reductions libjpeg(-turbo) makes inside the DCT on its fast (SIMD) path; for any other one Qt asks it
#: for M/8, which runs generic code that costs as much as a full-size decode (measured: 640x480 to fit
#: 378x283 took 1.5 ms either way)
DCT_REDUCTIONS = (8, 4, 2)
#: how much a reduced picture may be enlarged to the size shown rather than decoding one twice as large.
#: 1.0: never; the pilot sees every pixel the camera sent that fits the panel. (1.25 would decode 640x480
#: for a 378x283 panel at 320x240, 0.7 instead of 1.5 ms a frame, but text and thin lines in the picture
#: come out visibly softer: what the robot sees matters more than 2 % of a core.)
MAX_ENLARGEMENT = 1.0
#: a reader quality below 50 makes Qt's JPEG reader use libjpeg's fast integer IDCT and plain chroma
#: upsampling; worth it only when the picture is scaled down afterwards, which averages that detail away
FAST_DECODE_QUALITY = 49


def decode(jpeg: bytes, fit: QSize) -> tuple[QImage, QSize]:
    """The JPEG decoded at the largest size that fits ``fit`` with its shape kept, and its own size.

    A picture shown smaller than sent is decoded at one of its 1/2, 1/4, 1/8 sizes (libjpeg's own
    reduction, inside the DCT): the smallest that is at least as large as shown, or that reaches it
    enlarged by at most :data:`MAX_ENLARGEMENT`; then :func:`resized` scales it to the size shown.
    Qt's own scaled read asks libjpeg for M/8 sizes, which run its generic code and cost as much as a
    full decode. A null image if it is not a JPEG Qt can read. Safe on any thread.
    """
    data = QByteArray(jpeg)
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    reader = QImageReader(buffer, b"jpeg")
    full = reader.size()
    shown = QSize()
    if full.isValid() and fit.isValid() and not fit.isEmpty() and full != fit:
        shown = full.scaled(fit, Qt.AspectRatioMode.KeepAspectRatio)
    if not shown.isEmpty() and shown.width() < full.width():
        reduction = next((n for n in DCT_REDUCTIONS if full.width() // n * MAX_ENLARGEMENT >= shown.width()), 1)
        decoded = QSize(full.width() // reduction, full.height() // reduction)
        if decoded.width() > shown.width():  # scaled down afterwards: the fast decode's lost detail averages out
            reader.setQuality(FAST_DECODE_QUALITY)
        if reduction > 1:
            reader.setScaledSize(decoded)
    image = reader.read()
    buffer.close()
    if not image.isNull() and not shown.isEmpty() and image.size() != shown:
        image = resized(image, shown)
    return image, full if full.isValid() else image.size()


#: rows drawn per call when scaling: Qt's raster engine hands a draw of more than 95 rows to its thread pool
UNSHARED_ROWS = 95


def resized(image: QImage, size: QSize) -> QImage:
    """``image`` scaled to ``size`` by bilinear filtering, in the screen's format (here never below half its
    size, where bilinear filtering would start to skip pixels: libjpeg's reduction took the rest).

    Drawn in bands of :data:`UNSHARED_ROWS` rows (the same pixels as one draw), and not with
    ``QImage.scaled``: Qt splits larger scaling jobs across its thread pool, and waking those threads
    30 times a second cost more CPU than the scaling itself (measured for 640x480 to 378x283: 0.15 ms
    here and 0.29 ms on the pool's threads a frame in one draw, 0.34 ms in bands of 64 rows, all on this thread).
    """
    out = QImage(size, QImage.Format.Format_RGB32)
    painter = QPainter(out)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    whole = QRectF(0, 0, size.width(), size.height())
    for top in range(0, size.height(), UNSHARED_ROWS):
        if top:
            # PySide keeps the GIL through a draw, and a thread waiting for it would wait for the whole
            # scale (0.3 ms a frame in the app): a control to send gets it between bands (16 us each)
            time.sleep(0)
        painter.setClipRect(0, top, size.width(), UNSHARED_ROWS)
        painter.drawImage(whole, image)
    painter.end()
    return out


class Picture(NamedTuple):
    """A decoded frame, as :attr:`FrameDecoder.decoded` brings it to the GUI thread."""

    frame: mjpeg.Frame
    #: null for a frame that would not decode
    image: QImage
    #: the picture's size as sent (``image`` is the size it will be shown)
    full: QSize
    #: the one :meth:`FrameDecoder.submit` was given, so a view can drop a picture from before it was cleared
    generation: int


class FrameDecoder(QObject):
    """Decodes submitted frames on its own thread; :attr:`decoded` brings each :class:`Picture` to the GUI thread.

    One Python object per signal: Qt's typed arguments would each be wrapped anew on the GUI thread.
    """

    decoded = Signal(object)

    def __init__(self, parent: QObject | None = None, decoder: Callable[[bytes, QSize], tuple[QImage, QSize]] = decode) -> None:
        super().__init__(parent)
        #: what turns a JPEG into a picture; called on the worker thread
        self.decode = decoder
        self._lock = threading.Condition()
        self._waiting: tuple[mjpeg.Frame, QSize, int] | None = None
        self._closed = False
        #: frames replaced in the slot before the worker got to them
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="video-decode", daemon=True)
        self._thread.start()

    def submit(self, frame: mjpeg.Frame, fit: QSize, generation: int = 0) -> None:
        """Decode ``frame`` to fit ``fit``; a frame still waiting is dropped for it."""
        with self._lock:
            if self._waiting is not None:
                self.dropped += 1
            self._waiting = (frame, QSize(fit), generation)
            self._lock.notify()

    def discard(self) -> None:
        """Forget the frame waiting, if any (the view was cleared)."""
        with self._lock:
            self._waiting = None

    def close(self) -> None:
        """Stop the worker (after the decode in progress, if any)."""
        with self._lock:
            self._closed = True
            self._waiting = None
            self._lock.notify()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        while True:
            with self._lock:
                while self._waiting is None and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                assert self._waiting is not None
                (frame, fit, generation), self._waiting = self._waiting, None
            try:
                image, full = self.decode(frame.jpeg, fit)
            except Exception:  # a frame that breaks the decoder is a bad frame, not the end of the video
                image, full = QImage(), QSize()
            try:
                self.decoded.emit(Picture(frame, image, full, generation))
            except RuntimeError:  # the view, and this object with it, is gone
                return
