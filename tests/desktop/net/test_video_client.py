"""The app's video client without Qt: clock offset, newest-wins, plain-words states, real streams over loopback."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from conftest import wait_for
from launcher import ServerProcess
from mjpeg_source import MjpegServer, ffmpeg_pictures
from ports import steady_port

from teleop.desktop.models.appsettings import AppSettings
from teleop.desktop.models.clock import ClockOffset
from teleop.desktop.net.video import ChunkedDecoder, RateMeter, VideoEvents, VideoState, VideoStream, describe, video_url
from teleop.desktop.session.teleop_model import TeleopModel
from teleop.desktop.session.video_model import VideoModel
from teleop.wire import mjpeg

CAMERA = {"state": "live", "path": mjpeg.VIDEO_PATH, "detail": "", "source": "test", "width": 640, "height": 480, "fps": 30}


# -- the clock offset (sans-I/O, fake clocks) ----------------------------------------------------


def test_the_clock_offset_comes_from_the_quickest_round_trip():
    clock = ClockOffset()
    # the robot's clock is 100 s ahead; the server answers 1 ms after our send each time, but the
    # network delays some answers on the way back, which puts the midpoint (our guess) further off
    for sent, rtt in [(10.0, 0.080), (11.0, 0.004), (12.0, 0.050)]:
        clock.add(sent + 100.0 + 0.001, received_wall=sent + rtt, rtt=rtt)
    assert clock.offset == pytest.approx(100.0 + 0.001 - 0.004 / 2)
    assert clock.uncertainty == pytest.approx(0.002)
    assert clock.to_local(1100.0) == pytest.approx(1000.0 - 0.001 + 0.002)


def test_the_clock_offset_follows_the_recent_round_trips_only():
    clock = ClockOffset(samples=3)
    clock.add(50.0, received_wall=10.001, rtt=0.001)  # quick, but old: offset 40
    for i in range(3):
        clock.add(70.0 + i, received_wall=10.0 + i + 0.005, rtt=0.010)  # the server's clock was stepped: offset 60
    assert clock.offset == pytest.approx(60.0)


def test_an_older_server_without_server_time_gives_no_offset():
    clock = ClockOffset()
    clock.add(0.0, received_wall=5.0, rtt=0.001)
    assert clock.offset is None and clock.to_local(123.0) == 123.0


def test_frame_age_counts_from_the_capture_on_the_robots_clock():
    offset = ClockOffset()
    offset.add(1000.0 + 250.0, received_wall=1000.002, rtt=0.004)  # robot 250 s ahead
    video = VideoModel(wall=lambda: 1000.040)
    video.offset = offset
    frame = mjpeg.Frame(b"jpeg", 1, capture_time=1250.010)  # captured at 1000.010 on our clock
    assert video.age(frame) == pytest.approx(0.030)
    assert video.age(mjpeg.Frame(b"jpeg")) is None  # a camera that stamps nothing has no age


def test_frame_rate_counts_the_last_second():
    meter = RateMeter()
    for i in range(60):
        meter.tick(i / 30)
    assert meter.rate(59 / 30) == pytest.approx(30, rel=0.05)
    assert meter.rate(10.0) == 0.0  # nothing for seconds: not the old rate


# -- plain words ---------------------------------------------------------------------------------


def test_the_video_address_follows_the_robots_websocket_address():
    assert video_url("ws://robot.local:8765/#token=x") == "http://robot.local:8765/video.mjpg"
    assert video_url("wss://[::1]:9000", "/cam.mjpg") == "https://[::1]:9000/cam.mjpg"


def test_states_read_as_plain_words():
    assert describe(VideoState.NO_CAMERA) == "No camera on this robot"
    assert describe(VideoState.LOST, "/dev/video0 unplugged") == "Camera lost: /dev/video0 unplugged"
    assert "token" in describe(VideoState.REFUSED)


def test_a_chunked_body_decodes_however_it_is_cut():
    body = b"5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\n\r\n"
    for cut in range(1, len(body)):
        decoder = ChunkedDecoder()
        assert decoder.feed(body[:cut]) + decoder.feed(body[cut:]) == b"hello world"
        assert decoder.ended
    with pytest.raises(ValueError):
        ChunkedDecoder().feed(b"zz\r\n")


# -- the stream over loopback ---------------------------------------------------------------------


def linked(server: MjpegServer, token: str | None = None, camera: dict | None = CAMERA) -> VideoModel:
    video = VideoModel()
    video.link(server.ws_url, token, None, ClockOffset())
    video.set_connected(True)
    video.set_camera(camera)
    return video


async def test_frames_arrive_with_their_number_and_capture_time():
    async with MjpegServer(fps=60) as server:
        frames: list[mjpeg.Frame] = []
        stream = VideoStream(server.url, VideoEvents(frame=frames.append))
        stream.start()
        try:
            await wait_for(lambda: len(frames) >= 5, what="five frames")
            assert stream.state is VideoState.LIVE
            seqs = [f.seq for f in frames]
            assert seqs == sorted(seqs) and all(f.capture_time for f in frames)
        finally:
            await stream.stop()


async def test_a_slow_viewer_gets_the_newest_frame_and_nothing_queues():
    async with MjpegServer(fps=200) as server:
        video = linked(server)
        arrivals: list[int] = []
        video.arrived.connect(lambda v: arrivals.append(v.stream.received))
        try:
            await wait_for(lambda: video.stream and video.stream.received >= 20, what="20 frames while nobody takes them")
            with video.lock:  # frames come in on the stream's thread: hold them off while the counts are read
                assert len(arrivals) == 1, "arrived fires once until the frame is taken"
                received = video.frames_in
                frame = video.take()
                assert frame is not None and video.take() is None, "one frame slot: taking it empties it"
                # the slot held the newest: every frame handed on after the first replaced the one before
                assert video.replaced == received - 1
            newest = frame.seq
            await wait_for(lambda: len(arrivals) == 2, what="the next frame")
            assert video.take().seq > newest
        finally:
            video.close()


async def test_the_token_is_sent_and_a_wrong_one_is_refused_in_plain_words_and_not_hammered():
    async with MjpegServer(token="right-token-1234") as server:
        wrong = linked(server, token="wrong-token-5678")
        right = None
        try:
            await wait_for(lambda: wrong.state is VideoState.REFUSED, what="refused")
            assert "token" in wrong.message
            assert "Authorization: Bearer wrong-token-5678" in server.requests[0]
            assert server.streams == 0
            right = linked(server, token="right-token-1234")
            await wait_for(lambda: right.state is VideoState.LIVE, what="live with the right token")
            await wait_for(lambda: right.stream.received >= 10, what="ten frames with the right token")
            # the barrier: ten frames later, the refused stream has not asked again (a wrong
            # token retried every 2 s would lock the PC out of the robot)
            assert sum("wrong-token" in r for r in server.requests) == 1, server.requests
        finally:
            wrong.close()
            if right is not None:
                right.close()


async def test_a_dropped_stream_is_reopened_with_backoff_and_said_meanwhile():
    async with MjpegServer(fps=30) as server:
        video = linked(server)
        states: list[VideoState] = []
        video.changed.connect(lambda v: states.append(v.state))
        try:
            await wait_for(lambda: video.state is VideoState.LIVE, what="live")
            server.drop_all()
            await wait_for(lambda: server.streams == 2 and video.state is VideoState.LIVE, what="live again")
            assert VideoState.FAILED in states[states.index(VideoState.LIVE) :], states
        finally:
            video.close()


async def test_a_silent_stream_is_noticed_and_reopened():
    async with MjpegServer(fps=30) as server:
        stream = VideoStream(server.url, stall_timeout=0.3)
        states: list[tuple[VideoState, str]] = []
        stream.events = VideoEvents(state=lambda s, d: states.append((s, d)))
        stream.start()
        try:
            await wait_for(lambda: stream.state is VideoState.LIVE, what="live")
            server.silent = True
            await wait_for(lambda: (VideoState.FAILED, "no picture for 0.3 s") in states, what="stall said")
            server.silent = False
            await wait_for(lambda: stream.state is VideoState.LIVE and server.streams >= 2, what="reopened")
        finally:
            await stream.stop()


async def test_the_robots_camera_state_is_said_and_hiding_the_panel_closes_the_stream():
    async with MjpegServer() as server:
        video = linked(server, camera=None)
        assert video.state is VideoState.NO_CAMERA and video.stream is None
        video.set_camera({"state": "lost", "path": "/video.mjpg", "detail": "/dev/video0 was unplugged"})
        assert video.message == "Camera lost: /dev/video0 was unplugged"
        video.set_camera(CAMERA)
        await wait_for(lambda: video.state is VideoState.LIVE, what="live")
        video.set_wanted(False)
        assert video.stream is None and video.state is VideoState.OFF
        await wait_for(lambda: not server._writers, what="the server sees the stream closed")
        video.set_wanted(True)
        await wait_for(lambda: video.state is VideoState.LIVE, what="live again")
        video.close()
        assert video.stream is None and video.state is VideoState.OFF


async def test_a_robot_that_serves_no_video_is_said_plainly():
    async with MjpegServer() as server:
        video = linked(server, camera={"state": "live", "path": "/nothing.mjpg"})
        try:
            await wait_for(lambda: video.state is VideoState.NO_CAMERA, what="404 said")
            assert "does not serve video" in video.message
        finally:
            video.close()


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs ffmpeg")
async def test_ffmpegs_own_http_stream_plays():
    """ffmpeg's server sends chunked parts under ``application/octet-stream``: the boundary is found in the body."""
    port = steady_port()
    source = "testsrc=size=320x240:rate=30"
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", source]
    command += ["-f", "mpjpeg", "-listen", "1", f"http://127.0.0.1:{port}/video.mjpg"]
    ffmpeg = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    frames: list[mjpeg.Frame] = []
    stream = VideoStream(f"http://127.0.0.1:{port}/video.mjpg", VideoEvents(frame=frames.append))
    try:
        stream.start()  # refused until ffmpeg listens; the backoff retries
        await wait_for(lambda: len(frames) >= 10, timeout=20, what="ten frames from ffmpeg")
        assert all(f.jpeg.startswith(b"\xff\xd8") and f.jpeg.rstrip(b"\r\n").endswith(b"\xff\xd9") for f in frames)
        assert frames[0].capture_time is None  # ffmpeg stamps nothing: no age shown, the picture still is
    finally:
        await stream.stop()
        ffmpeg.terminate()
        ffmpeg.wait(5)


def test_the_test_source_serves_distinct_real_pictures():
    pictures = ffmpeg_pictures(5, "160x120")
    assert len(set(pictures)) == 5 and all(p[:2] == b"\xff\xd8" for p in pictures)


# -- against the real server ----------------------------------------------------------------------


async def test_a_robot_without_a_camera_says_so_and_its_clock_offset_is_measured():
    server = ServerProcess("sim").start()
    model = TeleopModel(AppSettings())
    try:
        await model.connect(server.pilot_url)
        await wait_for(lambda: model.connection.connected, what="connected")
        await wait_for(lambda: model.video.state is VideoState.NO_CAMERA, what="no camera said")
        assert model.video.message == "No camera on this robot" and model.video.stream is None
        await wait_for(lambda: model.session.clock.offset is not None, what="a pong")
        # same machine, same clock: the estimate is zero to within its own error bound
        assert abs(model.session.clock.offset) <= model.session.clock.uncertainty + 0.002
        await model.disconnect()
        assert model.video.state is VideoState.OFF
    finally:
        await model.shutdown()
        server.stop()


# -- against the real server with a camera ----------------------------------------------------------


async def test_the_app_plays_the_robots_camera_over_tls_with_the_certificate_it_trusts(certificate):
    cert, key = certificate
    server = ServerProcess("sim", extra=["--camera", "sim", "--certfile", str(cert), "--keyfile", str(key)], quiet=True).start()
    model = TeleopModel(AppSettings(cafile=str(cert)))
    frames: list[mjpeg.Frame] = []
    model.video.arrived.connect(lambda video: frames.append(video.take()))
    try:
        await model.connect(f"wss://127.0.0.1:{server.port}/#token={server.token}")
        await wait_for(lambda: len(frames) >= 5, timeout=15, what="five frames over https")
        assert model.video.stream.url.startswith("https://127.0.0.1:")
        assert all(f.jpeg.startswith(b"\xff\xd8") and f.capture_time for f in frames)
    finally:
        await model.shutdown()
        server.stop()


async def test_video_follows_the_robots_token_rule_for_watchers():
    """``--observers token``: the app's token opens the video; a stream without it is refused in plain words."""
    server = ServerProcess("sim", extra=["--camera", "sim", "--observers", "token"], quiet=True).start()
    model = TeleopModel(AppSettings())
    try:
        await model.connect(server.pilot_url)
        await wait_for(lambda: model.video.state is VideoState.LIVE, timeout=15, what="live with the token")
        anonymous = VideoStream(f"http://127.0.0.1:{server.port}{mjpeg.VIDEO_PATH}")
        anonymous.start()
        await wait_for(lambda: anonymous.state is VideoState.REFUSED, what="refused without the token")
        assert "token" in anonymous.detail
        await anonymous.stop()
    finally:
        await model.shutdown()
        server.stop()
