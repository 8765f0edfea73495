"""The video panel on a real display (Xvfb, xcb, openbox) against ``teleop-server --camera ...`` in its own process.

Pixels are read back from the X server (what is on the screen, not what the
widget would draw), keys are typed with xdotool and the menu is clicked.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
from pathlib import Path

import pytest
import test_gui
from guitools import ServerProcess, run, wait_until
from PySide6.QtGui import QColor, QGuiApplication, QImage
from PySide6.QtWidgets import QApplication, QWidget
from test_gui import connect, shoot, stop_server

from teleop.desktop.gui.adapter import QtAdapter
from teleop.desktop.gui.main_window import SHOW_VIDEO_KEY, MainWindow
from teleop.desktop.gui.video_panel import BACKGROUND
from teleop.desktop.models.appsettings import AppSettings
from teleop.desktop.net.video import VideoState
from teleop.desktop.session.teleop_model import TeleopModel

# the app's window on the test display, as the other GUI tests have it
window, settings_store = test_gui.window, test_gui.settings_store

LIVE_LINE = re.compile(r"(\d+) ms old(?: \(±\d+\))? · (\d+) fps · 640x480")


def on_screen(loop, widget: QWidget) -> QImage:
    """The widget's pixels as the X server has them.

    Grabbed inside the event loop: Qt handles events while grabbing, and the
    app's asyncio tasks must run with their loop running.
    """

    async def grab() -> QImage:
        await asyncio.sleep(0.05)  # the newest paint flushed to the X server
        origin = widget.mapToGlobal(widget.rect().topLeft())
        return QGuiApplication.primaryScreen().grabWindow(0, origin.x(), origin.y(), widget.width(), widget.height()).toImage()

    return run(loop, grab())


def samples(image: QImage, step: int = 12) -> list[tuple[int, int, int]]:
    return [QColor(image.pixel(x, y)).getRgb()[:3] for y in range(0, image.height(), step) for x in range(0, image.width(), step)]


def picture_share(image: QImage) -> float:
    """How much of the image is not the panel's empty background."""
    background = BACKGROUND.getRgb()[:3]
    pixels = samples(image)
    return sum(1 for p in pixels if max(abs(a - b) for a, b in zip(p, background, strict=True)) > 24) / len(pixels)


def colours(image: QImage) -> int:
    return len({(r // 32, g // 32, b // 32) for r, g, b in samples(image)})


def painted_more(loop, view, frames: int) -> None:
    start = view.frames_painted
    wait_until(loop, lambda: view.frames_painted >= start + frames, what=f"{frames} more frames painted")


def wait_live(loop, window, timeout: float = 10.0) -> None:
    video = window.model.video
    try:
        wait_until(loop, lambda: video.state is VideoState.LIVE, timeout=timeout, what="video live")
    except AssertionError:
        raise AssertionError(f"video not live within {timeout} s: {video.state}: {video.message!r}") from None


def live_line(view) -> tuple[int, int]:
    match = LIVE_LINE.fullmatch(view.overlay_text)
    assert match, f"not the live line: {view.overlay_text!r}"
    return int(match.group(1)), int(match.group(2))


def test_the_panel_shows_the_robots_camera_with_its_age_and_frame_rate(window, loop, display):
    server = ServerProcess("sim", extra=["--camera", "sim"]).start()
    try:
        connect(window, loop, server.pilot_url)
        view = window.video_panel.view
        wait_live(loop, window)
        painted_more(loop, view, 30)
        first = on_screen(loop, view)
        painted_more(loop, view, 5)
        second = on_screen(loop, view)
        assert picture_share(first) > 0.5 and colours(first) >= 6, "the panel does not show a picture"
        assert samples(first) != samples(second), "the picture on screen does not change between frames"
        age, fps = live_line(view)
        assert 0 <= age < 500, view.overlay_text  # same machine: the age is the real delay, a few ms when idle
        assert 10 <= fps <= 35, view.overlay_text  # 30 frames/s sent; a loaded test machine paints fewer
        shoot(display, "video-live")
    finally:
        stop_server(window, loop, server)


LIBFAKETIME = next(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"), None)


@pytest.mark.skipif(LIBFAKETIME is None, reason="needs libfaketime (apt-get install faketime)")
def test_a_robot_whose_clock_is_minutes_off_still_shows_the_true_age(window, loop, display):
    """The robot's clock runs 300 s ahead (libfaketime): the age comes out right because the offset is measured."""
    # preloaded by env, which execs the server: the signals that stop it reach it, not a wrapper
    fake = ["env", f"LD_PRELOAD={LIBFAKETIME}", "FAKETIME=+300s", "FAKETIME_DONT_FAKE_MONOTONIC=1"]
    server = ServerProcess("sim", extra=["--camera", "sim"], prefix=fake).start()
    try:
        connect(window, loop, server.pilot_url)
        view = window.video_panel.view
        clock = window.model.session.clock
        wait_until(loop, lambda: clock.offset is not None, what="the clock offset measured")
        assert clock.offset == pytest.approx(300, abs=0.1)
        wait_live(loop, window)
        painted_more(loop, view, 20)
        age, _ = live_line(view)
        assert 0 <= age < 500, view.overlay_text
    finally:
        stop_server(window, loop, server)


def test_a_robot_without_a_camera_is_said_plainly(window, loop, display):
    server = ServerProcess("sim").start()
    try:
        connect(window, loop, server.pilot_url)
        view = window.video_panel.view
        wait_until(loop, lambda: view.overlay_text == "No camera on this robot", what="no camera said")
        assert window.model.video.stream is None, "nothing to download from a robot without a camera"
        image = on_screen(loop, view)
        assert picture_share(image) < 0.1, "a picture is shown although there is no camera"
        shoot(display, "video-no-camera")
    finally:
        stop_server(window, loop, server)


def camera_processes(server: ServerProcess) -> list[int]:
    """The server's child processes (the camera command)."""
    children = []
    for task in Path(f"/proc/{server.pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return children


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs ffmpeg")
def test_losing_the_camera_is_said_plainly_and_the_video_comes_back(window, loop, display, tmp_path):
    unplugged = tmp_path / "unplugged"
    ffmpeg = "exec ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc=size=640x480:rate=30 -q:v 5 -f mjpeg -"
    script = f"if [ -e {unplugged} ]; then echo 'camera unplugged' >&2; exit 1; fi; {ffmpeg}"
    server = ServerProcess("sim", extra=["--camera", f"cmd:sh -c {script!r}"]).start()
    try:
        connect(window, loop, server.pilot_url)
        view = window.video_panel.view
        wait_live(loop, window, 20)
        painted_more(loop, view, 10)
        unplugged.touch()
        wait_until(loop, lambda: camera_processes(server), what="the camera process")
        for pid in camera_processes(server):
            os.kill(pid, signal.SIGKILL)
        wait_until(loop, lambda: "camera unplugged" in view.overlay_text, what="the loss said in the panel")
        assert view.overlay_text.startswith("Camera lost: "), view.overlay_text
        image = on_screen(loop, view)
        assert picture_share(image) > 0.3, "the last picture is kept (dimmed) under the message"
        shoot(display, "video-camera-lost")
        unplugged.unlink()
        wait_live(loop, window, 20)
        painted_more(loop, view, 10)
        live_line(view)
    finally:
        stop_server(window, loop, server)


def test_the_video_hides_with_its_key_and_its_menu_and_stays_as_left(window, loop, display, settings_store):
    server = ServerProcess("sim", extra=["--camera", "sim"]).start()
    try:
        connect(window, loop, server.pilot_url)
        video = window.model.video
        wait_live(loop, window)
        display.key("ctrl+shift+v")
        wait_until(loop, window.video_panel.isHidden, what="panel hidden by its key")
        assert video.stream is None, "a hidden panel still downloads video"
        assert settings_store.value(SHOW_VIDEO_KEY, type=bool) is False
        shoot(display, "video-hidden")

        menu_bar = window.menuBar()
        view_menu = next(a for a in menu_bar.actions() if a.text() == "&View")
        where = menu_bar.mapToGlobal(menu_bar.actionGeometry(view_menu).center())
        display.click(where.x(), where.y())
        menu = wait_until(loop, QApplication.activePopupWidget, what="View menu open")
        item = menu.mapToGlobal(menu.actionGeometry(window.show_video).center())
        display.click(item.x(), item.y())
        wait_until(loop, lambda: window.video_panel.isVisible() and video.state is VideoState.LIVE, what="panel back and live")
        assert settings_store.value(SHOW_VIDEO_KEY, type=bool) is True

        display.key("ctrl+shift+v")
        wait_until(loop, window.video_panel.isHidden, what="hidden again")
        again = MainWindow(QtAdapter(TeleopModel(AppSettings())), settings_store)
        try:
            assert again.video_panel.isHidden() and not again.show_video.isChecked() and not again.model.video.wanted
        finally:
            run(loop, again.adapter.shutdown())  # its pad wait too: it would go on reading for a deleted window
            again.close()
            again.deleteLater()
    finally:
        stop_server(window, loop, server)
