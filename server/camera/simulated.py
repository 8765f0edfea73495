"""The ``sim`` camera: a generated test picture, so the demo and the tests show video with no hardware.

A moving pattern (colour bars sliding sideways and a bouncing square) with
the frame number and the capture time written on it, so a viewer can see
both that frames arrive and how old they are. The pattern is drawn once, two
pictures wide; each frame is a crop of it at a moving offset with a small
text box and the square pasted on, then one JPEG encode by Pillow
(libjpeg-turbo). The encode is nearly all the cost: about 1-2 ms for 640x480
on a desktop core, so 30 frames/s take a few per cent of one core. It runs
in a worker thread (Pillow releases the GIL while encoding), never on the
event loop.
"""

from __future__ import annotations

import io
import time

from PIL import Image, ImageDraw, ImageFont

BARS = [(235, 235, 235), (235, 235, 16), (16, 235, 235), (16, 235, 16), (235, 16, 235), (235, 16, 16), (16, 16, 235), (40, 40, 40)]


class TestPicture:
    """Renders frame ``n`` of the test picture as a JPEG."""

    def __init__(self, width: int, height: int, quality: int = 80) -> None:
        self.width = width
        self.height = height
        self.quality = quality
        strip = Image.new("RGB", (width * 2, height))
        draw = ImageDraw.Draw(strip)
        bar = max(1, width // len(BARS))
        for i in range(2 * len(BARS) + 2):
            draw.rectangle((i * bar, 0, (i + 1) * bar - 1, height), fill=BARS[i % len(BARS)])
        for y in range(0, height, max(8, height // 12)):  # a grid, so motion is visible on every bar
            draw.line((0, y, width * 2, y), fill=(0, 0, 0))
        self.strip = strip
        self.bar = bar * len(BARS)  # the pattern repeats every this many pixels
        size = max(12, height // 16)
        try:
            self.font = ImageFont.load_default(size=size)
        except TypeError:  # Pillow < 10.1: a fixed bitmap font
            self.font = ImageFont.load_default()
        self.box_height = size * 2 + 12
        self.square = max(8, height // 8)

    def render(self, n: int, capture_time: float | None = None) -> bytes:
        """Frame ``n`` with its number and ``capture_time`` (default: now) written on it."""
        shown = time.time() if capture_time is None else capture_time
        offset = (n * 4) % self.bar
        frame = self.strip.crop((offset, 0, offset + self.width, self.height))
        draw = ImageDraw.Draw(frame)
        span = max(1, self.width - self.square)
        x = n * 6 % (2 * span)
        x = x if x < span else 2 * span - x
        y = self.height // 2 - self.square // 2
        draw.rectangle((x, y, x + self.square, y + self.square), fill=(255, 255, 255), outline=(0, 0, 0), width=3)
        draw.rectangle((0, 0, self.width, self.box_height), fill=(0, 0, 0))
        clock = time.strftime("%H:%M:%S", time.localtime(shown)) + f".{int(shown * 1000) % 1000:03d}"
        draw.text((8, 4), f"teleop sim camera  frame {n}", fill=(255, 255, 255), font=self.font)
        draw.text((8, 4 + self.box_height // 2), f"captured {clock}", fill=(255, 255, 0), font=self.font)
        out = io.BytesIO()
        frame.save(out, "JPEG", quality=self.quality)
        return out.getvalue()
