"""The video wire format: what the server writes, the app reads back, whatever the chunking."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from teleop.wire import mjpeg

JPEG_A = b"\xff\xd8" + b"A" * 300 + b"\xff\xd9"
JPEG_B = b"\xff\xd8" + b"--teleopframe inside the picture" + b"\xff\xd9"


def frames_of(events):
    return [e for e in events if isinstance(e, mjpeg.Frame)]


def test_a_frame_written_by_the_server_reads_back_with_its_number_and_capture_time():
    stream = mjpeg.frame_part(JPEG_A, 7, 1763855000.125) + mjpeg.frame_part(JPEG_B, 8, 1763855000.158)
    frames = frames_of(mjpeg.MultipartReader().feed(stream))
    assert [f.jpeg for f in frames] == [JPEG_A, JPEG_B]
    assert [f.seq for f in frames] == [7, 8]
    assert frames[0].capture_time == pytest.approx(1763855000.125)


@given(st.lists(st.integers(min_value=1, max_value=97), min_size=1, max_size=60))
def test_frames_come_out_the_same_however_the_network_cuts_the_bytes(cuts):
    stream = b"".join(mjpeg.frame_part(j, i, 1.5 + i) for i, j in enumerate([JPEG_A, JPEG_B, JPEG_A]))
    reader = mjpeg.MultipartReader()
    out, at = [], 0
    for size in cuts * (len(stream) // sum(cuts) + 1):
        out += reader.feed(stream[at : at + size])
        at += size
        if at >= len(stream):
            break
    assert [f.jpeg for f in frames_of(out)] == [JPEG_A, JPEG_B, JPEG_A]


def test_parts_without_content_length_are_split_at_the_boundary():
    stream = b"".join(b"--cam\r\nContent-Type: image/jpeg\r\n\r\n" + j + b"\r\n" for j in (JPEG_A, JPEG_A))
    stream += b"--cam\r\n"
    frames = frames_of(mjpeg.MultipartReader("cam").feed(stream))
    assert [f.jpeg for f in frames] == [JPEG_A, JPEG_A]
    assert frames[0].seq is None and frames[0].capture_time is None


def test_a_bad_part_costs_one_frame_and_the_stream_goes_on():
    bad = b"--teleopframe\r\nContent-Type: image/jpeg\r\nContent-Length: lots\r\n\r\nxxxx\r\n"
    huge = b"--teleopframe\r\nContent-Length: 999999999\r\n\r\n"
    stream = mjpeg.frame_part(JPEG_A, 1, 1.0) + bad + huge + mjpeg.frame_part(JPEG_B, 2, 2.0)
    out = mjpeg.MultipartReader().feed(stream)
    assert [f.seq for f in frames_of(out)] == [1, 2]
    assert len([e for e in out if isinstance(e, mjpeg.StreamError)]) == 2


def test_garbage_without_boundaries_does_not_grow_the_reader_without_bound():
    reader = mjpeg.MultipartReader(max_frame_bytes=10_000)
    for _ in range(100):
        reader.feed(b"x" * 10_000)
    assert len(reader._buffer) < 100
    assert frames_of(reader.feed(mjpeg.frame_part(JPEG_A, 3, 3.0)))[0].seq == 3


def test_a_part_without_length_that_never_ends_is_dropped_at_the_size_limit():
    reader = mjpeg.MultipartReader(max_frame_bytes=1000)
    out = reader.feed(b"--teleopframe\r\nContent-Type: image/jpeg\r\n\r\n" + b"y" * 5000)
    assert any(isinstance(e, mjpeg.StreamError) for e in out)
    assert frames_of(reader.feed(mjpeg.frame_part(JPEG_A, 4, 4.0)))[0].seq == 4


def test_the_boundary_is_taken_from_the_content_type_with_or_without_quotes():
    assert mjpeg.boundary_of(mjpeg.CONTENT_TYPE) == mjpeg.BOUNDARY
    assert mjpeg.boundary_of('multipart/x-mixed-replace;boundary="ffmpeg"') == "ffmpeg"
    assert mjpeg.boundary_of("image/jpeg") is None


def test_the_response_head_is_a_complete_http_head_naming_the_boundary():
    head = mjpeg.response_head({"X-Robot": "r1"})
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n")
    assert b"boundary=teleopframe" in head and b"X-Robot: r1" in head


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs Debian's ffmpeg")
def test_a_real_encoders_multipart_stream_reads_as_jpeg_frames():
    out = subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-frames:v", "5", "-f", "mpjpeg", "-"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    frames = frames_of(mjpeg.MultipartReader("ffmpeg").feed(out))
    assert len(frames) == 5
    assert all(f.jpeg.startswith(b"\xff\xd8") and f.jpeg.rstrip(b"\r\n").endswith(b"\xff\xd9") for f in frames)
