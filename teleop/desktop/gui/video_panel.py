"""The video panel: the robot's camera beside the readings, with how old the picture is.

Frames are decoded in the GUI thread, at paint time, and only the newest one:
frames that arrive between two paints replace each other unseen, so a busy
window skips frames instead of falling behind. (A worker thread would not take
the work off this thread: PySide6 keeps the GIL while Qt decodes, in
``QImage.fromData`` as in ``QImageReader.read``, so the GUI thread would wait
for it just the same. A 640x480 JPEG decodes in about 1.5-2 ms.)

The line over the picture says the frame's age, from its capture on the robot
to now on this PC's clock (the robot's clock offset removed, see
:mod:`teleop.desktop.models.clock`), and the frames per second painted. Without a picture
the panel says why, in plain words.
"""

from __future__ import annotations

import time
from collections import deque

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRect, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QImage, QImageReader, QPainter, QPaintEvent
from PySide6.QtWidgets import QGroupBox, QSizePolicy, QVBoxLayout, QWidget

from teleop.desktop.gui.binding import bind
from teleop.desktop.net.video import RateMeter, VideoState
from teleop.desktop.session.video_model import VideoModel
from teleop.wire import mjpeg

#: while a picture is up, its age is redrawn this often even with no new frame (a stalled stream's age grows)
AGE_REFRESH_MS = 250
BACKGROUND = QColor(24, 26, 30)
#: no new frame for this long: the line says how old the picture on screen is, not the usual delay
STILL_AFTER = 0.5
#: the clock offset is shown with its error bound when that is larger than this (a slow Wi-Fi link)
UNCERTAIN_AFTER = 0.010
#: the age shown is the median delay of this many frames (half a second at 30 frames/s)
SMOOTH_FRAMES = 15
#: capture -> painted latencies kept for the bench (about 5 minutes at 30 frames/s)
KEEP_LATENCIES = 10_000


def decode(jpeg: bytes, fit: QSize) -> tuple[QImage, QSize]:
    """The JPEG decoded at the size it will be shown (never larger than it is), and its own size.

    Decoding straight to the shown size lets libjpeg skip detail it would
    throw away (half, quarter... size in the DCT) and saves a scaling pass at
    paint time: at 640x480 shown about 380 px wide, 1.8 ms a frame instead of 2.4.
    """
    data = QByteArray(jpeg)
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    reader = QImageReader(buffer, b"jpeg")
    full = reader.size()
    if full.isValid() and fit.isValid() and (full.width() > fit.width() or full.height() > fit.height()):
        reader.setScaledSize(full.scaled(fit, Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    return image, full if full.isValid() else image.size()


class VideoView(QWidget):
    """Paints the newest frame with its aspect ratio kept, the age and fps line over it, or the plain message."""

    def __init__(self, video: VideoModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.video = video
        self.setObjectName("videoView")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 120)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # every pixel is painted: Qt need not clear first
        self._pending: mjpeg.Frame | None = None
        self._image: QImage | None = None
        #: the picture's size as sent (the image may be decoded smaller)
        self._source_size = QSize()
        self._shown: mjpeg.Frame | None = None
        self.painted = RateMeter()
        #: seconds from capture (on our clock) to the end of the paint that showed the frame, newest last
        self.latencies: deque[float] = deque(maxlen=KEEP_LATENCIES)
        self.frames_painted = 0
        self.bad_frames = 0
        self._age_timer = QTimer(self)
        self._age_timer.setInterval(AGE_REFRESH_MS)
        self._age_timer.timeout.connect(self.update)
        bind(video.arrived, self, self._arrived)
        bind(video.changed, self, self._changed)

    def sizeHint(self) -> QSize:
        return QSize(480, 360)

    @property
    def overlay_text(self) -> str:
        """What the line over the picture says (or the message shown instead of one)."""
        video = self.video
        if self._image is None or video.state is not VideoState.LIVE:
            return video.message
        fps = self.painted.rate(time.monotonic())
        return f"{self._age_text()} · {fps:.0f} fps · {self._source_size.width()}x{self._source_size.height()}"

    def _age_text(self) -> str:
        """The picture's delay as painted (median of the last few frames, steadier than each one's),
        or, if no new frame has come for a while, how old the picture on screen is now."""
        captured = self.video.capture_on_our_clock(self._shown) if self._shown is not None else None
        if captured is None:
            return "age unknown"
        now_age = time.time() - captured
        if now_age > STILL_AFTER:
            return f"picture {now_age:.1f} s old"
        recent = sorted(list(self.latencies)[-SMOOTH_FRAMES:])
        age = recent[len(recent) // 2] if recent else now_age
        # the clock offset is known to within half the best round trip: a fresh frame can come out a
        # little below zero, which means "as fresh as can be measured"
        text = f"{max(0.0, age) * 1000:.0f} ms old"
        uncertainty = self.video.offset.uncertainty or 0.0
        return f"{text} (±{uncertainty * 1000:.0f})" if uncertainty > UNCERTAIN_AFTER else text

    def _arrived(self, video: VideoModel) -> None:
        frame = video.take()
        if frame is not None:
            self._pending = frame  # an older pending frame, never painted, is dropped here
            self.update()

    def _changed(self, video: VideoModel) -> None:
        if video.state in (VideoState.OFF, VideoState.NO_CAMERA):
            self._image = self._shown = self._pending = None  # another robot's last picture must not linger
        if video.state is VideoState.LIVE:
            self._age_timer.start()
        else:
            self._age_timer.stop()
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        frame, self._pending = self._pending, None
        new = False
        if frame is not None:
            image, size = decode(frame.jpeg, self.size())
            if image.isNull():
                self.bad_frames += 1
            else:
                self._image, self._source_size, self._shown, new = image, size, frame, True
        painter = QPainter(self)
        area = self.rect()
        painter.fillRect(area, BACKGROUND)
        live = self.video.state is VideoState.LIVE
        if self._image is not None:
            size = self._image.size().scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(area.center())
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, size != self._image.size())
            painter.drawImage(QRectF(target), self._image)
            if not live:
                painter.fillRect(target, QColor(0, 0, 0, 150))  # the last picture, dimmed: not what the robot sees now
        self._draw_text(painter, area, live and self._image is not None)
        painter.end()
        if new:
            self.frames_painted += 1
            self.painted.tick(time.monotonic())
            captured = self.video.capture_on_our_clock(frame)
            if captured is not None:
                self.latencies.append(time.time() - captured)

    def _draw_text(self, painter: QPainter, area: QRect, line_only: bool) -> None:
        text = self.overlay_text
        if not text:
            return
        metrics = painter.fontMetrics()
        if line_only:  # a strip along the bottom, over the picture
            box = QRect(area.left(), area.bottom() - metrics.height() - 8, area.width(), metrics.height() + 8)
            painter.fillRect(box, QColor(0, 0, 0, 140))
            painter.setPen(QColor(235, 235, 235))
            painter.drawText(box.adjusted(8, 0, -8, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)
            return
        flags = int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap)
        room = area.adjusted(24, 24, -24, -24)
        box = metrics.boundingRect(room, flags, text).adjusted(-10, -6, 10, 6)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 170))
        painter.drawRoundedRect(box, 6, 6)
        painter.setPen(QColor(235, 235, 235))
        painter.drawText(room, flags, text)


class VideoPanel(QGroupBox):
    """The "Video" box beside the readings; hiding it (View > Video) closes the stream."""

    def __init__(self, video: VideoModel, parent: QWidget | None = None) -> None:
        super().__init__("Video", parent)
        self.video = video
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.view = VideoView(video)
        layout.addWidget(self.view)
