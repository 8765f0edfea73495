"""JPEG frames decoded and scaled on a worker thread, newest first, so the GUI thread only paints.

The GUI thread runs the asyncio loop that sends the controls; a 640x480 JPEG
takes one to three milliseconds to decode and a camera's full-size frame far
longer, time a stick change would wait. Both JPEG readers used here run without
Python's GIL, so a plain thread takes the work off the GUI thread entirely.

Two readers, the faster first. ``simplejpeg`` is libjpeg-turbo with its SIMD
code, decoding straight into the pixel layout Qt paints (measured: a 640x480
frame to fit 378x283, decode and scale, 1.6 ms of CPU against 2.5 ms with Qt's
reader, whose bundled libjpeg has no SIMD and writes RGB that Qt then widens
to 32 bits). Qt's own reader takes any picture the first refuses or is not
given (sampling factors TurboJPEG's API has no name for, bytes out of place
before the picture's data, a CMYK picture) and every picture where
``simplejpeg`` is not installed: the desktop bundle leaves it out, with the
numpy it needs, to stay small.

One slot, newest wins: a frame submitted while the worker is busy replaces the
one waiting (counted in :attr:`FrameDecoder.dropped`), so a slow decode skips
frames instead of falling behind. The picture comes out at the size it will be
shown (libjpeg skips the detail it would throw away, then Qt scales the rest),
so painting it is a plain copy.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QImage, QImageReader, QPainter

from teleop.wire import mjpeg

try:
    import simplejpeg
except ImportError:  # the desktop bundle, or a platform without its wheel: Qt's reader does it all
    simplejpeg = None

#: reductions libjpeg(-turbo) makes inside the DCT on its fast (SIMD) path; for any other one (M/8) it
#: runs generic code that costs as much as a full-size decode (measured: 640x480 to fit 378x283 took
#: 1.5 ms either way)
DCT_REDUCTIONS = (8, 4, 2)
#: how much a reduced picture may be enlarged to the size shown rather than decoding one twice as large.
#: 1.0: never; the pilot sees every pixel the camera sent that fits the panel. (1.25 would decode 640x480
#: for a 378x283 panel at 320x240, 0.7 instead of 1.5 ms a frame, but text and thin lines in the picture
#: come out visibly softer: what the robot sees matters more than 2 % of a core.)
MAX_ENLARGEMENT = 1.0
#: a reader quality below 50 makes Qt's JPEG reader use libjpeg's fast integer IDCT and plain chroma
#: upsampling; worth it only when the picture is scaled down afterwards, which averages that detail away
FAST_DECODE_QUALITY = 49
#: a frame that says it is larger than this is not decoded: no camera streams one, and even reduced
#: inside the DCT a 65535x65535 JPEG would take gigabytes
MAX_PICTURE_PIXELS = 100_000_000
#: nor one that would be decoded larger than this (128 MB of pixels): shown in a panel, a picture is
#: decoded at most about twice the panel's size each way, so only a view not yet sized could ask for more
MAX_DECODED_PIXELS = 32_000_000
#: the colour spaces ``simplejpeg`` decodes to RGB32 as Qt wants it; for the others (CMYK, YCCK) it leaves
#: the fourth byte of each pixel unset, where Qt's format needs 0xff
TURBO_COLOURS = ("YCbCr", "Gray", "RGB")
#: Qt's ``Format_RGB32`` is one 0xffRRGGBB word per pixel: these bytes in memory
RGB32_ORDER = "BGRX" if sys.byteorder == "little" else "XRGB"


class Sizes(NamedTuple):
    """How a picture of some size is decoded to fit a panel."""

    #: what libjpeg is asked for: the whole picture, or one of its :data:`DCT_REDUCTIONS`
    decoded: QSize
    #: the size it is shown at, its shape kept (empty: as decoded)
    shown: QSize
    #: the decoded picture is scaled down afterwards, so libjpeg's fast IDCT and upsampling lose nothing seen
    fast: bool


def sizes(full: QSize, fit: QSize) -> Sizes:
    """The picture decoded at one of its 1/2, 1/4, 1/8 sizes (libjpeg's own reduction, inside the DCT):
    the smallest that is at least as large as shown, or that reaches it enlarged by at most
    :data:`MAX_ENLARGEMENT`; :func:`resized` then scales it to the size shown."""
    shown = QSize()
    if full.isValid() and fit.isValid() and not fit.isEmpty() and full != fit:
        shown = full.scaled(fit, Qt.AspectRatioMode.KeepAspectRatio)
    if shown.isEmpty() or shown.width() >= full.width():
        return Sizes(QSize(full), shown, False)
    reduction = next((n for n in DCT_REDUCTIONS if full.width() // n * MAX_ENLARGEMENT >= shown.width()), 1)
    decoded = QSize(full.width() // reduction, full.height() // reduction)
    return Sizes(decoded, shown, decoded.width() > shown.width())


def too_large(full: QSize, plan: Sizes) -> bool:
    """Not to be decoded: see :data:`MAX_PICTURE_PIXELS` and :data:`MAX_DECODED_PIXELS`."""
    decoded = plan.decoded
    return full.width() * full.height() > MAX_PICTURE_PIXELS or decoded.width() * decoded.height() > MAX_DECODED_PIXELS


def decode(jpeg: bytes, fit: QSize) -> tuple[QImage, QSize]:
    """The JPEG decoded at the largest size that fits ``fit`` with its shape kept, and its own size.

    A null image if neither reader can make a picture of it, or it is larger than
    :data:`MAX_PICTURE_PIXELS` or would be decoded larger than :data:`MAX_DECODED_PIXELS`.
    Safe on any thread.
    """
    if simplejpeg is not None:
        try:
            return decode_with_turbo(jpeg, fit)
        except ValueError:  # not a JPEG TurboJPEG's API decodes (or none at all): Qt's reader may still read it
            pass
    return decode_with_qt(jpeg, fit)


def decode_with_turbo(jpeg: bytes, fit: QSize) -> tuple[QImage, QSize]:
    """:func:`decode` with ``simplejpeg``; ValueError for a JPEG it cannot decode, or not to RGB32.

    Damage in the picture's data (a frame cut short, stray bytes inside it) is stepped over, as Qt's
    reader does: the part that decoded is shown.
    """
    assert simplejpeg is not None
    height, width, colours, _ = simplejpeg.decode_jpeg_header(jpeg)
    if colours not in TURBO_COLOURS:
        raise ValueError(f"a {colours} JPEG")
    full = QSize(width, height)
    plan = sizes(full, fit)
    if too_large(full, plan):
        return QImage(), full
    pixels = simplejpeg.decode_jpeg(
        jpeg,
        RGB32_ORDER,
        fastdct=plan.fast,
        fastupsample=plan.fast,
        min_height=plan.decoded.height(),
        min_width=plan.decoded.width(),
        strict=False,
    )
    rows, columns = pixels.shape[:2]
    image = QImage(pixels.data, columns, rows, pixels.strides[0], QImage.Format.Format_RGB32)
    if not plan.shown.isEmpty() and image.size() != plan.shown:
        return resized(image, plan.shown), full
    return image.copy(), full  # a picture of its own: the array under ``image`` goes away with this call


def decode_with_qt(jpeg: bytes, fit: QSize) -> tuple[QImage, QSize]:
    """:func:`decode` with Qt's JPEG reader; a null image for a JPEG it cannot read.

    Qt's own scaled read would ask libjpeg for an M/8 size, which runs its generic code and costs as
    much as a full decode: it is asked for the size :func:`sizes` chose.
    """
    data = QByteArray(jpeg)
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    reader = QImageReader(buffer, b"jpeg")
    full = reader.size()
    plan = sizes(full, fit)
    if full.isValid() and too_large(full, plan):
        return QImage(), full
    if plan.fast:
        reader.setQuality(FAST_DECODE_QUALITY)
    if full.isValid() and plan.decoded != full:
        reader.setScaledSize(plan.decoded)
    image = reader.read()
    buffer.close()
    if not image.isNull() and not plan.shown.isEmpty() and image.size() != plan.shown:
        image = resized(image, plan.shown)
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
