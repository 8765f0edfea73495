"""The video's sans-I/O parts: JPEG splitting, the request sniff, tokens, sources and the shared backoff."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request

from teleop.common.backoff import Backoff
from teleop.wire.errors import ConfigError
from teleop_server.net.video import is_video_request, offered_token, parse_head
from teleop_server.rules.camerasource import CameraSettings, command, plain_failure
from teleop_server.rules.jpegstream import FrameSplitter, RawJpegSplitter, jpeg_size


@pytest.fixture(scope="module")
def ffmpeg_stream():
    if shutil.which("ffmpeg") is None:
        pytest.skip("Debian's ffmpeg is not installed")

    def make(muxer: str, frames: int = 12) -> bytes:
        source = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=30"]
        argv = ["ffmpeg", "-loglevel", "error", *source, "-frames:v", str(frames), "-f", muxer, "-"]
        return subprocess.run(argv, capture_output=True, check=True).stdout

    return make


@pytest.mark.parametrize("muxer", ["mjpeg", "mpjpeg"])
@pytest.mark.parametrize("chunk", [1, 5, 4096, 1 << 20])
def test_ffmpeg_streams_split_into_whole_jpegs_however_the_pipe_cuts_them(ffmpeg_stream, muxer, chunk):
    data = ffmpeg_stream(muxer)
    splitter = FrameSplitter()
    frames = []
    for at in range(0, len(data), chunk):
        frames += splitter.feed(data[at : at + chunk])
    assert len(frames) == 12 and splitter.dropped == 0
    assert all(f.startswith(b"\xff\xd8") and f.endswith(b"\xff\xd9") and jpeg_size(f) == (160, 120) for f in frames)


def test_garbage_and_a_frame_cut_short_cost_one_frame_not_the_stream(ffmpeg_stream):
    data = ffmpeg_stream("mjpeg", 3)
    splitter = RawJpegSplitter()
    first_end = data.index(b"\xff\xd9") + 2
    frames = splitter.feed(b"noise before" + data[: first_end // 2] + data)  # a camera restarted mid-frame
    assert len(frames) == 3 and splitter.dropped == 1
    assert all(jpeg_size(f) == (160, 120) for f in frames)


def test_a_frame_that_never_ends_is_dropped_within_the_memory_bound(ffmpeg_stream):
    splitter = RawJpegSplitter(max_frame_bytes=50_000)
    header = ffmpeg_stream("mjpeg", 1)[:-2]  # no EOI
    for _ in range(100):
        splitter.feed(header + b"\x00" * 2000)
        assert len(splitter._buffer) <= 50_000 + 4096
    assert splitter.dropped > 0
    assert len(splitter.feed(ffmpeg_stream("mjpeg", 2))) == 2, "it recovers at the next picture"


def test_only_get_and_head_of_the_video_path_are_taken_from_websockets():
    assert is_video_request(b"GET /video.mjpg HTTP/1.1\r\n") is True
    assert is_video_request(b"HEAD /video.mjpg?token=x HTTP/1.1\r\n") is True
    assert is_video_request(b"GET /vid") is None, "too early to tell"
    assert is_video_request(b"G") is None
    assert is_video_request(b"GET / HTTP/1.1\r\n") is False
    assert is_video_request(b"GET /video.mjpgx HTTP/1.1\r\n") is False
    assert is_video_request(b"POST /video.mjpg HTTP/1.1\r\n") is False, "websockets answers 405"
    assert is_video_request(b"\x16\x03\x01") is False


def test_the_token_comes_from_the_bearer_header_or_the_query():
    def request(path: str, **headers: str) -> Request:
        return Request(path, Headers(headers))

    assert offered_token(request("/video.mjpg", Authorization="Bearer abc")) == "abc"
    assert offered_token(request("/video.mjpg?token=q1")) == "q1"
    assert offered_token(request("/video.mjpg?token=q1", Authorization="Bearer h1")) == "h1"
    assert offered_token(request("/video.mjpg", Authorization="Basic abc")) is None
    assert offered_token(request("/video.mjpg")) is None


def test_malformed_request_heads_are_refused_not_raised():
    assert parse_head(b"GET /video.mjpg HTTP/1.1\r\nHost: a\r\n X: folded") is None
    assert parse_head(b"GET /video.mjpg\r\n") is None
    assert parse_head(b"\xff\xfe") is None
    ok = parse_head(b"GET /video.mjpg HTTP/1.1\r\nHost: robot\r\n")
    assert ok is not None and ok.headers["Host"] == "robot" and ok.method == "GET"


def test_each_source_becomes_the_program_that_captures_it():
    assert command(CameraSettings("sim")) is None
    webcam = command(CameraSettings("/dev/video0", 1280, 720, 15))
    assert webcam[:1] == ["ffmpeg"] and webcam[webcam.index("-c:v") : webcam.index("-c:v") + 2] == ["-c:v", "copy"]
    assert "1280x720" in webcam and "mjpeg" in webcam
    pi = command(CameraSettings("rpicam", 640, 480, 30, 70))
    assert pi[0] == "rpicam-vid" and "--codec" in pi and pi[pi.index("--codec") + 1] == "mjpeg" and pi[-2:] == ["-o", "-"]
    assert command(CameraSettings("cmd:ffmpeg -i 'a b' -f mjpeg -")) == ["ffmpeg", "-i", "a b", "-f", "mjpeg", "-"]
    for bad in ("webcam", "cmd:", "cmd:'unclosed"):
        with pytest.raises(ConfigError):
            CameraSettings(bad).validate()
    with pytest.raises(ConfigError, match="quality"):
        CameraSettings("sim", quality=0).validate()


def test_camera_failures_are_said_in_words_a_user_can_act_on():
    webcam = CameraSettings("/dev/video0")
    assert "busy" in plain_failure(webcam, ["[video4linux2] ioctl(VIDIOC_STREAMON): Device or resource busy"], 1)
    assert "is it plugged in" in plain_failure(webcam, ["/dev/video0: No such file or directory"], 1)
    assert "ribbon cable" in plain_failure(CameraSettings("rpicam"), ["ERROR: *** no cameras available ***"], 255)
    assert plain_failure(CameraSettings("cmd:x"), [], 0) == "the camera program exited (code 0)"


def test_the_backoff_starts_quick_and_settles_at_its_last_delay():
    backoff = Backoff((0.1, 0.5, 2.0))
    assert [backoff.failed() for _ in range(5)] == [0.1, 0.5, 2.0, 2.0, 2.0]
    backoff.succeeded()
    assert backoff.failed() == 0.1 and backoff.settled == 2.0
