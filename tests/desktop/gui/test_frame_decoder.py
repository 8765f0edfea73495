"""The video's JPEG decoding: the size a frame comes out at, what either reader does with a bad one, the GIL, the slot.

Both readers are checked the same way: ``simplejpeg`` (libjpeg-turbo with its
SIMD code), which the app uses when it is installed, and Qt's own, which takes
what the first refuses and everything where it is missing (the desktop bundle).
"""

from __future__ import annotations

import io
import os
import threading
import time

import pytest
from PIL import Image
from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QImage, qAlpha

from teleop.desktop.gui import frame_decoder
from teleop.desktop.gui.frame_decoder import FrameDecoder, decode, decode_with_qt, decode_with_turbo, sizes
from teleop.wire import mjpeg

READERS = [pytest.param(decode_with_turbo, id="simplejpeg"), pytest.param(decode_with_qt, id="qt")]
RED, BLUE = (200, 30, 30), (30, 30, 200)


def jpeg(picture: Image.Image, **options) -> bytes:
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=90, **options)
    return out.getvalue()


def red_and_blue(width: int = 640, height: int = 480) -> Image.Image:
    """Left half red, right half blue."""
    picture = Image.new("RGB", (width, height), RED)
    picture.paste(BLUE, (width // 2, 0, width, height))
    return picture


def colour(image: QImage, x: int, y: int) -> tuple[int, int, int]:
    pixel = QColor(image.pixel(x, y))
    return pixel.red(), pixel.green(), pixel.blue()


def near(seen: tuple[int, int, int], wanted: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 12 for a, b in zip(seen, wanted, strict=True))


def test_the_fast_jpeg_reader_is_installed_with_the_app():
    assert frame_decoder.simplejpeg is not None, "pip install -e '.[desktop]' installs simplejpeg; without it video costs more"


def test_a_picture_is_decoded_whole_or_reduced_inside_the_dct_never_enlarged_after():
    # shown smaller than sent, but larger than half: the whole picture, fast IDCT (the scaling averages it)
    assert sizes(QSize(640, 480), QSize(378, 283)) == (QSize(640, 480), QSize(377, 283), True)
    # a quarter of a large frame is still larger than shown: decoded at that quarter
    assert sizes(QSize(1280, 960), QSize(300, 300)) == (QSize(320, 240), QSize(300, 225), True)
    # exactly a reduction: decoded at it, nothing left to scale, full quality
    assert sizes(QSize(1280, 960), QSize(320, 240)) == (QSize(320, 240), QSize(320, 240), False)
    # a camera's full-size frame in a small panel: the largest reduction there is
    assert sizes(QSize(6000, 4500), QSize(378, 283)) == (QSize(750, 562), QSize(377, 283), True)
    # shown larger than sent: decoded whole, enlarged by the scale, not by libjpeg
    assert sizes(QSize(640, 480), QSize(800, 700)) == (QSize(640, 480), QSize(800, 600), False)
    # no panel size yet: as sent
    assert sizes(QSize(640, 480), QSize()) == (QSize(640, 480), QSize(), False)


@pytest.mark.parametrize("read", READERS)
def test_a_frame_comes_out_at_the_size_shown_with_its_colours(qapp, read):
    image, full = read(jpeg(red_and_blue()), QSize(378, 283))
    assert full == QSize(640, 480)
    assert image.size() == QSize(377, 283)
    assert image.format() == QImage.Format.Format_RGB32
    assert near(colour(image, 40, 140), RED) and near(colour(image, 340, 140), BLUE)


@pytest.mark.parametrize("read", READERS)
def test_a_large_frame_reduced_inside_the_dct_keeps_its_colours_and_shape(qapp, read):
    image, full = read(jpeg(red_and_blue(1280, 960), progressive=True), QSize(320, 240))
    assert (full, image.size()) == (QSize(1280, 960), QSize(320, 240))
    assert near(colour(image, 20, 120), RED) and near(colour(image, 300, 120), BLUE)


@pytest.mark.parametrize("read", READERS)
def test_a_frame_cut_short_shows_the_part_that_arrived(qapp, read):
    whole = jpeg(red_and_blue())
    image, full = read(whole[: len(whole) * 6 // 10], QSize(378, 283))
    assert full == QSize(640, 480) and image.size() == QSize(377, 283)
    assert near(colour(image, 40, 10), RED)


@pytest.mark.parametrize("bad", [b"", b"not a jpeg at all", b"\xff\xd8\xff\xd9", jpeg(red_and_blue())[:80]])
def test_bytes_that_are_no_picture_give_a_null_image_not_an_exception(qapp, bad):
    image, _ = decode(bad, QSize(378, 283))
    assert image.isNull()


def test_a_jpeg_the_fast_reader_refuses_is_read_by_qts(qapp):
    """Sampling factors libjpeg decodes but TurboJPEG's API cannot name (luma 1x2, one chroma 2x1)."""
    data = bytearray(jpeg(Image.new("RGB", (64, 48), RED), subsampling=0))
    frame = data.index(b"\xff\xc0")  # SOF0: marker, length, precision, height, width, count, then id, HV, table
    data[frame + 11], data[frame + 14] = 0x12, 0x21
    with pytest.raises(ValueError):
        decode_with_turbo(bytes(data), QSize(64, 48))
    image, full = decode(bytes(data), QSize(64, 48))
    assert not image.isNull() and image.size() == full == QSize(64, 48)


def test_a_cmyk_frame_is_left_to_qts_reader_and_comes_out_opaque(qapp):
    """simplejpeg decodes CMYK to the right colours but leaves each pixel's fourth byte unset, which
    Qt's RGB32 needs at 0xff (else it shows through where the window is translucent)."""
    cmyk = jpeg(red_and_blue().convert("CMYK"))
    with pytest.raises(ValueError):
        decode_with_turbo(cmyk, QSize(378, 283))
    image, _ = decode(cmyk, QSize(378, 283))
    assert near(colour(image, 40, 140), RED) and near(colour(image, 340, 140), BLUE)
    assert all(qAlpha(image.pixel(x, y)) == 255 for x in range(0, image.width(), 7) for y in range(0, image.height(), 7))


@pytest.mark.parametrize("read", READERS)
def test_a_frame_claiming_a_giant_size_is_refused_before_any_decoding(qapp, read):
    """65000x65000 in the header: even at 1/8 that is 264 MB of pixels, for a frame of a few kilobytes."""
    data = bytearray(jpeg(red_and_blue()))
    frame = data.index(b"\xff\xc0")
    data[frame + 5 : frame + 9] = (65000).to_bytes(2, "big") * 2
    image, full = read(bytes(data), QSize(378, 283))
    assert full == QSize(65000, 65000) and image.isNull()


def test_a_large_frame_is_not_decoded_whole_for_a_view_not_yet_sized(qapp):
    """9000x9000 is under the header limit, but with no panel size to reduce it for it would be decoded
    whole: 324 MB of pixels."""
    data = bytearray(jpeg(red_and_blue()))
    frame = data.index(b"\xff\xc0")
    data[frame + 5 : frame + 9] = (9000).to_bytes(2, "big") * 2
    image, full = decode(bytes(data), QSize())
    assert full == QSize(9000, 9000) and image.isNull()


@pytest.fixture(scope="module")
def long_decode() -> bytes:
    """4000x3000 progressive noise: a decode of a few hundred milliseconds even reduced."""
    size = (4000, 3000)
    return jpeg(Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)), progressive=True)


@pytest.mark.parametrize("read", READERS)
def test_python_threads_run_while_a_frame_decodes(qapp, read, long_decode):
    """The GUI thread sends controls while the decoding thread decodes: neither reader may hold the GIL.

    Ordering, not timing: this thread does 30 ms of Python once the decode has started; a reader
    that kept the GIL would let it finish only after the decode.
    """
    started, ended = threading.Event(), []

    def decoding() -> None:
        started.set()
        image, _ = read(long_decode, QSize(378, 283))
        ended.append((time.monotonic(), image.isNull()))

    worker = threading.Thread(target=decoding)
    worker.start()
    started.wait()
    until = time.monotonic() + 0.03
    while time.monotonic() < until:
        pass
    done = time.monotonic()
    worker.join()
    [(finished, null)] = ended
    assert not null
    assert done < finished, "Python waited for the JPEG decode"


def test_a_frame_submitted_while_one_decodes_replaces_the_one_waiting(qapp):
    entered, release, seen = threading.Event(), threading.Event(), []
    last = threading.Event()

    def slow(data: bytes, fit: QSize) -> tuple[QImage, QSize]:
        seen.append(data)
        if data == b"first":
            entered.set()
            release.wait(10)
        if data == b"third":
            last.set()
        return QImage(), QSize()

    decoder = FrameDecoder(decoder=slow)
    try:
        decoder.submit(mjpeg.Frame(b"first"), QSize(10, 10))
        assert entered.wait(10)
        decoder.submit(mjpeg.Frame(b"second"), QSize(10, 10))
        decoder.submit(mjpeg.Frame(b"third"), QSize(10, 10))
        release.set()
        assert last.wait(10)
    finally:
        decoder.close()
    assert seen == [b"first", b"third"] and decoder.dropped == 1
