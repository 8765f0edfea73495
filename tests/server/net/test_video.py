"""The camera at /video.mjpg: served from a real encoder, under the readings' rules, never in the pilot's way.

Every test runs ``teleop-server`` in its own process (tests/launcher.py) with
a ``cmd:`` camera fed by Debian's ffmpeg, and reads the stream the way the
app does, with :class:`teleop.wire.mjpeg.MultipartReader`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import ssl
import sys
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from teleop.wire.mjpeg import BOUNDARY, VIDEO_PATH, Frame, MultipartReader, boundary_of
from teleop_server.rules.jpegstream import jpeg_size
from tests.launcher import ServerProcess

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="Debian's ffmpeg is not installed (apt install ffmpeg)")

FFMPEG_640 = "cmd:ffmpeg -loglevel error -re -f lavfi -i testsrc=size=640x480:rate=30 -f mjpeg -q:v 5 -"


class HttpStream:
    """A raw HTTP/1.1 GET on a socket of its own; the body is fed to a MultipartReader as it arrives."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, status: int, headers: dict[str, str]) -> None:
        self.reader = reader
        self.writer = writer
        self.status = status
        self.headers = headers
        self.parts = MultipartReader(boundary_of(headers.get("content-type", "")) or BOUNDARY)
        self.frames: list[Frame] = []

    async def read_frames(self, count: int, timeout: float = 10.0) -> list[Frame]:
        """Read until ``count`` more frames have arrived; they are returned and kept in :attr:`frames`."""
        start = len(self.frames)
        async with asyncio.timeout(timeout):
            while len(self.frames) < start + count:
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionError("the server closed the stream")
                for item in self.parts.feed(data):
                    assert isinstance(item, Frame), item
                    item_time = time.time()
                    self.frames.append(item)
                    self.arrived = item_time
        return self.frames[start:]

    async def body(self) -> bytes:
        async with asyncio.timeout(5):
            return await self.reader.read()

    def close(self) -> None:
        self.writer.close()


async def get(
    port: int,
    path: str = VIDEO_PATH,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    rcvbuf: int | None = None,
    tls: ssl.SSLContext | None = None,
) -> HttpStream:
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 22, ssl=tls, server_hostname="127.0.0.1" if tls else None)
    headers = {"Host": f"127.0.0.1:{port}", **(headers or {})}
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    writer.write("\r\n".join(lines).encode())
    async with asyncio.timeout(5):
        head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        if name:
            parsed[name.strip().lower()] = value.strip()
    return HttpStream(reader, writer, int(status_line.split()[1]), parsed)


async def observer(server: ServerProcess):
    ws = await connect(server.url)
    await ws.send(json.dumps({"type": "hello", "role": "observer", "client": "test", "token": server.token}))
    return ws


async def next_camera(ws, want: str, timeout: float = 10.0) -> dict:
    """Read status messages (and the welcome) until the camera is in state ``want``; also collect events on the way."""
    async with asyncio.timeout(timeout):
        async for frame in ws:
            message = json.loads(frame)
            status = message.get("status") if message["type"] == "welcome" else message if message["type"] == "status" else None
            if status and status.get("camera") and status["camera"]["state"] == want:
                return status["camera"]
    raise AssertionError("connection closed")


@pytest.fixture
def camera_server(servers):
    def start(camera: str = FFMPEG_640, extra: list[str] | None = None) -> ServerProcess:
        return servers(["--no-announce", "--camera", camera, *(extra or [])])

    return start


async def test_ffmpeg_mjpeg_from_a_cmd_source_is_served_at_the_video_path(camera_server):
    server = camera_server()
    ws = await observer(server)
    camera = await next_camera(ws, "live")
    assert camera["path"] == VIDEO_PATH and camera["source"] == "cmd"
    assert (camera["width"], camera["height"]) == (640, 480)
    stream = await get(server.port)
    assert stream.status == 200
    assert boundary_of(stream.headers["content-type"]) == BOUNDARY
    frames = await stream.read_frames(15)
    assert all(jpeg_size(f.jpeg) == (640, 480) for f in frames)
    seqs = [f.seq for f in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "frames come in order, each once"
    # the capture time is the server's clock at capture: on one machine, a moment ago
    assert all(f.capture_time is not None and 0 <= stream.arrived - f.capture_time < 5 for f in frames[-1:])
    stream.close()
    await ws.close()


async def test_multipart_from_a_cmd_source_is_served_too(camera_server):
    server = camera_server("cmd:ffmpeg -loglevel error -re -f lavfi -i testsrc=size=320x240:rate=30 -f mpjpeg -")
    stream = await get(server.port)
    frames = await stream.read_frames(5)
    assert all(jpeg_size(f.jpeg) == (320, 240) for f in frames)
    stream.close()


async def test_video_follows_the_token_host_and_origin_rules(camera_server):
    server = camera_server(extra=["--observers", "token"])
    port = server.port
    missing = await get(port)
    assert missing.status == 401 and "Bearer" in missing.headers.get("www-authenticate", "")
    assert b"needs the token" in await missing.body()
    wrong = await get(port, headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status == 403 and b"wrong token" in await wrong.body()
    wrong_query = await get(port, f"{VIDEO_PATH}?token=nope")
    assert wrong_query.status == 403
    by_header = await get(port, headers={"Authorization": f"Bearer {server.token}"})
    assert by_header.status == 200
    await by_header.read_frames(2)
    by_query = await get(port, f"{VIDEO_PATH}?token={server.token}")
    assert by_query.status == 200
    await by_query.read_frames(2)
    # DNS rebinding: a name that is not this robot's, even with the token
    rebinding = await get(port, f"{VIDEO_PATH}?token={server.token}", headers={"Host": "evil.example"})
    assert rebinding.status == 403 and b"not a name of this robot" in await rebinding.body()
    # a page elsewhere reading the stream with fetch() sends its Origin
    foreign = await get(port, f"{VIDEO_PATH}?token={server.token}", headers={"Origin": "http://evil.example"})
    assert foreign.status == 403 and b"may not read it" in await foreign.body()
    own = await get(port, f"{VIDEO_PATH}?token={server.token}", headers={"Origin": f"http://127.0.0.1:{port}"})
    assert own.status == 200
    head = await get(port, f"{VIDEO_PATH}?token={server.token}", method="HEAD")
    assert head.status == 200 and head.headers["content-type"].startswith("multipart/x-mixed-replace")
    assert await head.body() == b"", "HEAD gets the headers only"
    post = await get(port, f"{VIDEO_PATH}?token={server.token}", method="POST")
    assert post.status == 405 and post.headers["allow"] == "GET, HEAD"
    # the WebSocket on the same port is untouched by all this
    ws = await observer(server)
    assert (await next_camera(ws, "live"))["path"] == VIDEO_PATH
    for stream in (by_header, by_query, own):
        stream.close()
    await ws.close()


async def test_viewers_take_seats_like_clients_and_a_request_that_never_ends_is_closed(camera_server):
    server = camera_server(extra=["--max-per-address", "2"])
    first, second = await get(server.port), await get(server.port)
    assert (first.status, second.status) == (200, 200)
    third = await get(server.port)
    assert third.status == 503 and b"no room for another viewer" in await third.body()
    # the pilot-token holder always gets in
    trusted = await get(server.port, f"{VIDEO_PATH}?token={server.token}")
    assert trusted.status == 200
    # a request for the video that never finishes its headers is closed, not held open
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /video.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    async with asyncio.timeout(15):
        assert await reader.read() == b""
    for stream in (first, second, trusted):
        stream.close()
    writer.close()


async def test_video_and_the_websocket_share_the_tls_port(camera_server, certificate):
    cert, key = certificate
    server = camera_server(extra=["--certfile", str(cert), "--keyfile", str(key)])
    context = ssl.create_default_context(cafile=str(cert))
    stream = await get(server.port, tls=context)
    assert stream.status == 200
    frames = await stream.read_frames(5)
    assert jpeg_size(frames[-1].jpeg) == (640, 480)
    async with connect(f"wss://127.0.0.1:{server.port}", ssl=context) as ws:
        await ws.send(json.dumps({"type": "hello", "role": "observer", "client": "test"}))
        assert (await next_camera(ws, "live"))["path"] == VIDEO_PATH
    stream.close()


async def test_a_camera_process_that_dies_is_reported_and_restarted(camera_server):
    # the camera program stops after 20 frames every time: a camera that keeps dying
    server = camera_server("cmd:ffmpeg -loglevel error -re -f lavfi -i testsrc=size=320x240:rate=30 -frames:v 20 -f mjpeg -")
    ws = await observer(server)
    await next_camera(ws, "live")
    events: list[str] = []
    async with asyncio.timeout(10):
        async for frame in ws:
            message = json.loads(frame)
            if message["type"] == "event":
                events.append(message["text"])
            if message["type"] == "status" and message["camera"]["state"] == "lost":
                lost = message["camera"]
                break
    assert "exited (code 0)" in lost["detail"], lost
    assert (await next_camera(ws, "live"))["state"] == "live", "restarted"
    assert any(text.startswith("camera lost: the camera program exited") for text in events), events
    # a viewer stays connected through the restarts and gets frames from the new process
    stream = await get(server.port)
    frames = await stream.read_frames(45, timeout=20)
    assert frames[-1].seq - frames[0].seq >= 44
    stream.close()
    await ws.close()


async def test_a_missing_camera_program_is_reported_in_plain_words_and_the_robot_still_drives(camera_server):
    server = camera_server("cmd:no-such-camera-program --mjpeg")
    ws = await observer(server)
    camera = await next_camera(ws, "lost")
    assert "'no-such-camera-program' not found" in camera["detail"]
    await ws.close()
    async with connect(server.url) as pilot:
        await pilot.send(json.dumps({"type": "hello", "role": "pilot", "client": "test", "token": server.token}))
        welcome = json.loads(await pilot.recv())
        assert welcome["role"] == "pilot" and welcome["status"]["camera"]["state"] in ("lost", "starting")
    stream = await get(server.port)
    assert stream.status == 200, "the stream is there; frames come when the camera does"
    stream.close()


BIG_FRAME_WRITER = """
import sys, time
frame = open(sys.argv[1], "rb").read()
out = sys.stdout.buffer
while True:
    out.write(frame)
    out.flush()
    time.sleep(1 / 30)
"""


def big_jpeg(folder: Path) -> Path:
    """A 1920x1080 picture of noise at top quality: about a megabyte per frame."""
    path = folder / "noise.jpg"
    import subprocess

    subprocess.run(
        [
            "ffmpeg",
            "-y",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "nullsrc=s=1920x1080,geq=random(1)*255:128:128",
            "-frames:v",
            "1",
            "-q:v",
            "1",
            str(path),
        ],
        check=True,
    )
    return path


def open_files(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def test_a_viewer_that_stops_reading_holds_at_most_a_frame_and_delays_nobody(camera_server, tmp_path):
    jpeg = big_jpeg(tmp_path)
    frame_bytes = jpeg.stat().st_size
    assert frame_bytes > 500_000
    writer = tmp_path / "writer.py"
    writer.write_text(BIG_FRAME_WRITER)
    config = tmp_path / "camera.toml"
    config.write_text("[camera]\nviewer_timeout_ms = 3000\n")
    server = camera_server(f"cmd:{sys.executable} {writer} {jpeg}", ["--config", str(config)])
    good = await get(server.port)
    await good.read_frames(10)  # warmed up: the server has allocated what a frame needs
    before = rss_bytes(server.pid)
    stuck = await get(server.port, rcvbuf=4096)  # reads its headers, then nothing
    pilot = await connect(server.url)
    await pilot.send(json.dumps({"type": "hello", "role": "pilot", "client": "test", "token": server.token}))
    assert json.loads(await pilot.recv())["role"] == "pilot"
    files_with_stuck = open_files(server.pid)
    # 90 frames (over 100 MB) go past the stuck viewer; if the server queued them for it, its memory would grow by as much
    peak = before
    pongs = 0
    for n in range(90):
        await good.read_frames(1)
        if n % 6 == 0:  # the app pings once a second; the server answers up to 20 a second
            await pilot.send(json.dumps({"type": "ping", "id": n, "t": time.time()}))
            async with asyncio.timeout(5):
                while json.loads(await pilot.recv())["type"] != "pong":
                    pass
            pongs += 1
        peak = max(peak, rss_bytes(server.pid))
    growth = peak - before
    assert growth < 4 * frame_bytes + 8_000_000, (
        f"server memory grew by {growth / 1e6:.1f} MB with one stuck viewer ({frame_bytes / 1e6:.1f} MB frames)"
    )
    # and the stuck viewer is dropped once it has taken nothing for viewer_timeout_ms: the server closes its socket
    async with asyncio.timeout(15):
        while open_files(server.pid) >= files_with_stuck:
            await asyncio.sleep(0.05)
    assert pongs == 15
    good.close()
    stuck.close()
    await pilot.close()
    assert "took nothing for 3 s; disconnecting it" in server.stop()


# -- the dashboard, in headless Chromium (test_dashboard's fixture) ----------------------------------


def test_dashboard_shows_the_camera_with_frame_age_and_rate_on_a_phone(camera_server, browser):
    from guitools import ARTIFACTS

    server = camera_server(FFMPEG_640, ["--observers", "token"])
    page = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True).new_page()
    page.goto(f"http://127.0.0.1:{server.port}/#token={server.token}")
    page.wait_for_function("() => Number(document.getElementById('video').dataset.frames) > 30", timeout=20_000)
    # the picture is ffmpeg's test pattern, not a blank canvas: many different colours across it
    colours = page.evaluate(
        """() => {
            const c = document.getElementById('video');
            const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            const seen = new Set();
            for (let i = 0; i < data.length; i += 4 * 997) seen.add((data[i] >> 4) + '-' + (data[i + 1] >> 4) + '-' + (data[i + 2] >> 4));
            return [c.width, c.height, seen.size];
        }"""
    )
    assert colours[:2] == [640, 480] and colours[2] > 20, colours
    page.wait_for_function("() => /age \\d+ ms · \\d+ fps/.test(document.getElementById('video-line').textContent)", timeout=10_000)
    line = page.text_content("#video-line")
    assert page.is_hidden("#video-message"), page.text_content("#video-message")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px on a phone"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-video-phone.png"))
    fps = int(line.split(" fps")[0].split()[-1])
    assert fps >= 5, line


def test_dashboard_says_plainly_when_the_robot_has_no_camera_or_lost_it(camera_server, browser):
    server = ServerProcess(extra=["--no-announce"]).start()
    try:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.wait_for_function("() => document.getElementById('video-message').textContent.includes('no camera')", timeout=10_000)
    finally:
        server.stop()
    lost = camera_server("cmd:no-such-camera-program")
    page.goto(f"http://127.0.0.1:{lost.port}/")
    page.wait_for_function("() => document.getElementById('video-message').textContent.includes('Camera lost')", timeout=10_000)
    assert "not found" in page.text_content("#video-message")
