"""The video panel: the robot's camera beside the readings, with how old the picture is.

Frames are decoded and scaled off the GUI thread (:mod:`teleop.desktop.gui.frame_decoder`),
only the newest one: frames that arrive while one is being decoded replace each
other unseen, so a busy window skips frames instead of falling behind, and a
stick change never waits behind a JPEG. The GUI thread only copies the finished
picture to the screen, and repaints only what changed: the picture's rectangle
for a new frame, the line over it when only the age moves on.

The line over the picture says the frame's age, from its capture on the robot
to now on this PC's clock (the robot's clock offset removed, see
:mod:`teleop.desktop.models.clock`), and the frames per second painted. Its words are
renewed four times a second, not with every frame (a number that changes 30 times a
second cannot be read), and drawn once each time: laying out text cost more than
copying the whole picture. Without a picture the panel says why, in plain words.
"""

from __future__ import annotations

import time
from collections import deque
from itertools import islice

from PySide6.QtCore import QRect, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import QGroupBox, QSizePolicy, QVBoxLayout, QWidget

from teleop.desktop.gui.binding import bind
from teleop.desktop.gui.frame_decoder import FrameDecoder, Picture
from teleop.desktop.net.video import RateMeter, VideoState
from teleop.desktop.session.video_model import VideoModel
from teleop.wire import mjpeg

#: while a picture is up, the line's words are renewed this often, new frames or none (a stalled stream's age grows)
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


class VideoView(QWidget):
    """Paints the newest frame with its aspect ratio kept, the age and fps line over it, or the plain message."""

    def __init__(self, video: VideoModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.video = video
        self.setObjectName("videoView")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 120)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # every pixel is painted: Qt need not clear first
        #: decodes off this thread; ``_generation`` moves on when the picture is cleared, so a late one is dropped
        self.decoder = FrameDecoder(self)
        self.decoder.decoded.connect(self._decoded, Qt.ConnectionType.QueuedConnection)
        decoder = self.decoder
        self.destroyed.connect(lambda *_: decoder.close())
        self._generation = 0
        #: the line as painted: its words, and those words drawn on their translucent strip (None: draw again)
        self._line_text = ""
        self._line_image: QImage | None = None
        #: the size to decode for, read by the stream's thread (a widget's own geometry belongs to the GUI thread)
        self._fit = QSize(self.size())
        self._image: QImage | None = None
        #: the picture's size as sent (the image may be decoded smaller)
        self._source_size = QSize()
        self._shown: mjpeg.Frame | None = None
        #: where the picture and the line go, worked out when the picture's or the view's size changes
        self._target = QRect()
        self._line = QRect()
        #: decoded, not painted yet: the next paint counts it and its latency
        self._new_frame: mjpeg.Frame | None = None
        self.painted = RateMeter()
        #: seconds from capture (on our clock) to the end of the paint that showed the frame, newest last
        self.latencies: deque[float] = deque(maxlen=KEEP_LATENCIES)
        self.frames_painted = 0
        self.bad_frames = 0
        self._age_timer = QTimer(self)
        self._age_timer.setInterval(AGE_REFRESH_MS)
        self._age_timer.timeout.connect(self._age_moved)
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
        recent = sorted(islice(reversed(self.latencies), SMOOTH_FRAMES))
        age = recent[len(recent) // 2] if recent else now_age
        # the clock offset is known to within half the best round trip: a fresh frame can come out a
        # little below zero, which means "as fresh as can be measured"
        text = f"{max(0.0, age) * 1000:.0f} ms old"
        uncertainty = self.video.offset.uncertainty or 0.0
        return f"{text} (±{uncertainty * 1000:.0f})" if uncertainty > UNCERTAIN_AFTER else text

    def _arrived(self, video: VideoModel) -> None:
        """On the stream's thread: the frame goes straight to the decoder, the GUI thread hears of it decoded."""
        frame = video.take()
        if frame is not None:
            self.decoder.submit(frame, self._fit, self._generation)  # an older frame still waiting is dropped

    def _decoded(self, picture: Picture) -> None:
        """A picture is ready (on the GUI thread): keep it and paint it now, only where it goes.

        Painted at once (``repaint``, not ``update``): a frame is what this view is for, and posting
        an update request first costs one more pass through the event loop per frame.
        """
        frame, image, full, generation = picture
        if generation != self._generation:
            return  # decoded for a picture since cleared
        if image.isNull():
            self.bad_frames += 1
            return
        first = self._image is None
        before = self._target
        self._image, self._shown, self._new_frame = image, frame, frame
        if first or full != self._source_size or image.size() != before.size():
            self._source_size = full
            self._place()
        if first:
            self._renew_line()
        if self._target == before:
            self.repaint(before)
        else:
            self.update()

    def _age_moved(self) -> None:
        self._renew_line()

    def _renew_line(self) -> None:
        """The line's words as they are now; its strip is repainted if they changed."""
        text = self.overlay_text
        if text != self._line_text:
            self._line_text, self._line_image = text, None
            self.update(self._line)

    def _changed(self, video: VideoModel) -> None:
        if video.state in (VideoState.OFF, VideoState.NO_CAMERA):
            self._image = self._shown = self._new_frame = None  # another robot's last picture must not linger
            self._generation += 1
            self.decoder.discard()
            self._place()
        if video.state is VideoState.LIVE:
            self._age_timer.start()
        else:
            self._age_timer.stop()
        self._renew_line()
        self.update()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit = QSize(self.size())
        self._place()
        if self._shown is not None:  # the picture again at the new size (until then, the old one is scaled)
            self.decoder.submit(self._shown, self.size(), self._generation)

    def _place(self) -> None:
        """Where the picture goes (as large as fits, its shape kept, centred) and the line along the bottom."""
        area = self.rect()
        height = self.fontMetrics().height() + 8
        self._line = QRect(area.left(), area.bottom() - height, area.width(), height + 1)
        if self._image is None:
            self._target = QRect()
            return
        source = self._source_size if self._source_size.isValid() else self._image.size()
        size = source.scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
        target = QRect(0, 0, size.width(), size.height())
        target.moveCenter(area.center())
        self._target = target

    def paintEvent(self, event: QPaintEvent) -> None:
        frame, self._new_frame = self._new_frame, None
        painter = QPainter(self)
        area, exposed = self.rect(), event.rect()
        live = self.video.state is VideoState.LIVE
        if self._image is None:
            painter.fillRect(exposed, BACKGROUND)
        else:
            target = self._target
            if not target.contains(exposed):  # the picture covers the rest: no pixel is painted twice
                for band in _around(area, target):
                    if band.intersects(exposed):
                        painter.fillRect(band.intersected(exposed), BACKGROUND)
            scaled = target.size() != self._image.size()  # only until the picture sized for this view comes
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scaled)
            if scaled:
                painter.drawImage(QRectF(target), self._image)
            else:
                painter.drawImage(target.topLeft(), self._image)
            if not live:
                painter.fillRect(target, QColor(0, 0, 0, 150))  # the last picture, dimmed: not what the robot sees now
        if live and self._image is not None:
            line = self._line
            if line.intersects(exposed) and self._line_text:
                painter.drawImage(line.topLeft(), self._line_strip(line.size()))
        else:
            self._draw_text(painter, area)
        painter.end()
        if frame is not None:
            self.frames_painted += 1
            self.painted.tick(time.monotonic())
            captured = self.video.capture_on_our_clock(frame)
            if captured is not None:
                self.latencies.append(time.time() - captured)

    def _line_strip(self, size: QSize) -> QImage:
        """The line's words on their translucent strip, drawn once per change of words or size."""
        strip = self._line_image
        if strip is None or strip.size() != size:
            strip = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
            strip.fill(QColor(0, 0, 0, 140))
            painter = QPainter(strip)
            painter.setFont(self.font())
            painter.setPen(QColor(235, 235, 235))
            box = QRect(8, 0, size.width() - 16, size.height())
            painter.drawText(box, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, self._line_text)
            painter.end()
            self._line_image = strip
        return strip

    def _draw_text(self, painter: QPainter, area: QRect) -> None:
        """The plain message in a box in the middle (no picture, or not live)."""
        text = self.overlay_text
        if not text:
            return
        metrics = painter.fontMetrics()
        flags = int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap)
        room = area.adjusted(24, 24, -24, -24)
        box = metrics.boundingRect(room, flags, text).adjusted(-10, -6, 10, 6)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 170))
        painter.drawRoundedRect(box, 6, 6)
        painter.setPen(QColor(235, 235, 235))
        painter.drawText(room, flags, text)


def _around(area: QRect, inner: QRect) -> list[QRect]:
    """The bands of ``area`` that ``inner`` (inside it) leaves uncovered: above, below, left and right of it."""
    above = QRect(area.left(), area.top(), area.width(), inner.top() - area.top())
    below = QRect(area.left(), inner.bottom() + 1, area.width(), area.bottom() - inner.bottom())
    left = QRect(area.left(), inner.top(), inner.left() - area.left(), inner.height())
    right = QRect(inner.right() + 1, inner.top(), area.right() - inner.right(), inner.height())
    return [band for band in (above, below, left, right) if not band.isEmpty()]


class VideoPanel(QGroupBox):
    """The "Video" box beside the readings; hiding it (View > Video) closes the stream."""

    def __init__(self, video: VideoModel, parent: QWidget | None = None) -> None:
        super().__init__("Video", parent)
        self.video = video
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.view = VideoView(video)
        layout.addWidget(self.view)
