"""The controls never wait for the video, and the GUI thread does not poll the pads while driving.

On a real display (Xvfb, xcb, openbox) with an SDL virtual pad and the server in
its own process. A deliberately huge JPEG (a camera's full-size progressive
frame, about a second to decode) is fed to the video panel; a stick change made
while it decodes must be handed to the socket before the decode ends. That is
an ordering barrier, not a timing bound: were the decode on the thread that
sends the controls (or holding Python's lock), the control could only go out
after it.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import threading
import time

import pytest
import test_gui_pads
from guitools import ServerProcess, run, wait_until
from test_gui import connect, shown_window, stop_server
from test_gui_pads import plug_and_drive
from websockets.asyncio.client import connect as ws_connect

from teleop.desktop.gui.adapter import IDLE_BATTERY_POLL_MS, QtAdapter
from teleop.desktop.models.appsettings import AppSettings
from teleop.desktop.models.connection import ConnectionState, ServerStatus
from teleop.desktop.models.padpace import HANDLED_S, RESTING_S, WATCHING_S
from teleop.desktop.models.shaping import AxisShape
from teleop.desktop.net.client import SessionEvents
from teleop.desktop.sdl.gamepad import GamepadManager
from teleop.desktop.sdl.padsource import PadSource, WaitMode, sdl_source
from teleop.desktop.session.teleop_model import TeleopModel
from teleop.wire import mjpeg
from teleop.wire.protocol import Role

RESTING_MS, WATCHING_MS = round(RESTING_S * 1000), round(WATCHING_S * 1000)
#: the paces the pads are read at while not driving
PACES_MS = (RESTING_MS, WATCHING_MS)

# the window with SDL pads, as the pad tests have it
pads_window, xbox_mapping = test_gui_pads.pads_window, test_gui_pads.xbox_mapping


@pytest.fixture(scope="session")
def huge_jpeg() -> bytes:
    """6000x4500 progressive noise: 20+ MB that take libjpeg about a second even scaled down to the panel."""
    from PIL import Image

    size = (6000, 4500)
    picture = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=95, progressive=True)
    return out.getvalue()


def sent_controls(window) -> list[tuple[float, bool, object]]:
    """Every control handed to the socket from now on: (when, whether the decode was under way then, the control)."""
    session = window.model.session
    log: list[tuple[float, bool, object]] = []
    before = session.events
    session.events = SessionEvents(
        before.state,
        before.message,
        before.legacy_text,
        before.rtt,
        lambda control: (log.append((time.monotonic(), decoding.is_set(), control)), before.control_sent(control)),
    )
    return log


decoding = threading.Event()


def test_a_stick_change_is_sent_while_a_huge_frame_is_being_decoded(pads_window, loop, plugged, huge_jpeg):
    window = pads_window
    drive = window.model.drive
    pad = plug_and_drive(window, loop, plugged)
    server = ServerProcess("sim").start()
    decoder = window.video_panel.view.decoder
    finished: list[float] = []
    real = decoder.decode

    def timed(jpeg, fit):
        """The real decode, with the stick moved as it starts (on the decoding thread, whichever that is)."""
        decoding.set()
        pad.axis(0, 0.7)
        try:
            return real(jpeg, fit)
        finally:
            finished.append(time.monotonic())
            decoding.clear()

    decoder.decode = timed
    try:
        connect(window, loop, server.pilot_url)
        wait_until(loop, lambda: window.model.connection.pilot, what="pilot")
        assert window.model.enable_driving()
        wait_until(loop, lambda: drive.enabled, what="driving")
        sent = sent_controls(window)
        decoder.submit(mjpeg.Frame(huge_jpeg), window.video_panel.view.size())
        wait_until(loop, lambda: finished, timeout=30, what="the huge frame decoded")

        def moved() -> list[tuple[float, bool]]:
            return [(at, during) for at, during, control in sent if control.axes and abs(control.axes[0] - 0.7) < 0.01]

        wait_until(loop, moved, what="the stick change sent")
        at, during = moved()[0]
        assert during and at < finished[0], "the stick change waited for the video decode"
    finally:
        decoder.decode = real
        stop_server(window, loop, server)


def test_while_driving_the_gui_thread_runs_no_pad_poll_and_the_stick_still_goes_out(pads_window, loop, plugged):
    window = pads_window
    adapter, drive = window.adapter, window.model.drive
    pad = plug_and_drive(window, loop, plugged)
    server = ServerProcess("sim").start()
    try:
        connect(window, loop, server.pilot_url)
        wait_until(loop, lambda: window.model.connection.pilot, what="pilot")
        assert adapter.poll_interval_ms in PACES_MS, "not driving: the pads are read at a pace"
        assert window.model.enable_driving()
        wait_until(loop, lambda: drive.enabled, what="driving")
        assert adapter.poll_interval_ms == 0 and adapter.pad_wait is WaitMode.SDL_LOOP, "driving: SDL wakes the GUI, no timer polls"
        sent = sent_controls(window)
        for value in (0.3, -0.6, 0.9):
            pad.axis(0, value)
            wait_until(loop, lambda v=value: any(c.axes and abs(c.axes[0] - v) < 0.01 for _, _, c in sent), what=f"{value} sent")
        count = len(sent)
        wait_until(loop, lambda: len(sent) >= count + 3, what="the periodic re-send goes on with the stick still")
        drive.disable()
        wait_until(loop, lambda: adapter.pad_wait is None, what="the SDL thread stopped")
        assert adapter.poll_interval_ms in PACES_MS
    finally:
        stop_server(window, loop, server)


def test_not_driving_with_no_pad_the_pads_are_not_polled_and_a_pad_plugged_in_is_still_seen(pads_window, loop, plugged):
    """No pad: nothing to read at a pace; the hotplug look on the GUI's loop (no 1 kHz loop) sees a pad come. A
    virtual pad has no file to wait on, so it brings the paced poll back, until it goes."""
    window = pads_window
    adapter = window.adapter
    assert not window.model.drive.enabled and not adapter.gamepads.infos
    assert adapter.pad_wait is WaitMode.FILES and adapter.pad_files.files == {}
    assert adapter.poll_interval_ms == IDLE_BATTERY_POLL_MS, "with no pad moving, only the batteries are read on a timer"
    pad = plug_and_drive(window, loop, plugged)
    wait_until(
        loop, lambda: adapter.poll_interval_ms in PACES_MS and adapter.pad_wait is None, what="the paced poll for a pad with no file"
    )
    pad.detach()
    wait_until(loop, lambda: not adapter.gamepads.infos, what="the pad gone")
    assert adapter.pad_wait is WaitMode.FILES and adapter.poll_interval_ms == IDLE_BATTERY_POLL_MS


class PipeFile:
    """A pipe standing in for a pad's device file: written when the test moves the stick, as the kernel makes a
    pad's evdev file readable, and read empty whenever the app reads the pads, as SDL's pump reads that file."""

    def __init__(self) -> None:
        self.read_end, self.write_end = os.pipe()
        os.set_blocking(self.read_end, False)
        self.reads = 0

    def source(self) -> PadSource:
        sdl = sdl_source()
        assert sdl is not None
        path = "/dev/input/event-test"
        return PadSource(files=lambda: {self.read_end: path}, mode=lambda files: WaitMode.FILES, sdl_wait=sdl.sdl_wait)

    def read_by(self, pads: GamepadManager) -> GamepadManager:
        poll = pads.poll

        def read(*args, **kwargs):
            try:
                os.read(self.read_end, 4096)
                self.reads += 1
            except BlockingIOError:
                pass
            return poll(*args, **kwargs)

        pads.poll = read  # type: ignore[method-assign]
        return pads

    def close(self) -> None:
        os.close(self.read_end)
        os.close(self.write_end)


@pytest.fixture
def pad_file():
    file = PipeFile()
    yield file
    file.close()


@pytest.fixture
def file_pads_window(qtbot, loop, tmp_path, xbox_mapping, pad_file):
    """The window with its pads read as from a device file, re-sending once a second: a change that goes out
    sooner went out because the file was readable."""
    from PySide6.QtCore import QSettings

    store = QSettings(str(tmp_path / "teleop.ini"), QSettings.Format.IniFormat)
    model = TeleopModel(AppSettings(rate_hz=1, axes={0: AxisShape(deadzone=0.0)}))
    adapter = QtAdapter(model, gamepads=pad_file.read_by(GamepadManager(mappings=[xbox_mapping])), pads=pad_file.source())
    yield from shown_window(loop, adapter, store)


def test_a_pad_read_from_a_file_drives_on_the_guis_own_loop_with_no_thread(file_pads_window, loop, plugged, pad_file):
    """Each stick change is read when the pad's file is readable, on the GUI's loop (Qt's socket notifier), and
    goes out in that same read: no pad thread runs, no timer polls."""
    window = file_pads_window
    adapter, drive, watch = window.adapter, window.model.drive, window.adapter.pad_files
    pad = plug_and_drive(window, loop, plugged)
    server = ServerProcess("sim").start()
    try:
        connect(window, loop, server.pilot_url)
        wait_until(loop, lambda: window.model.connection.pilot, what="pilot")
        assert adapter.pad_wait is WaitMode.FILES and adapter.poll_interval_ms == IDLE_BATTERY_POLL_MS
        assert window.model.enable_driving()
        wait_until(loop, lambda: drive.enabled, what="driving")
        assert adapter.pad_wait is WaitMode.FILES and adapter.poll_interval_ms == 0 and not adapter.wakeup.running
        watch.tick_s = 3600.0  # SDL's hotplug pump an hour apart: only the file being readable wakes the GUI
        reads = watch.reads
        wait_until(loop, lambda: watch.reads > reads, what="the last tick at the old pace")
        sent = sent_controls(window)
        woken: list[object] = []  # the controls sent inside a read of the file watch
        real_read = watch._read

        def read() -> bool:
            before = len(sent)
            found = real_read()
            woken.extend(control for _, _, control in sent[before:])
            return found

        watch._read = read
        for value in (0.3, -0.6, 0.9, 0.1):
            # a change sooner than the rate cap allows goes out on the deadline timer, and so does one read by the
            # timer's re-send just before the file is: wait for the cap's spacing and a re-send well away
            last = sent[-1][0] if sent else time.monotonic()

            def clear(t: float = last) -> bool:
                now = time.monotonic()
                return now > t + 2 * drive.timing.min_interval and drive.deadline() - now > 0.2

            wait_until(loop, clear, what="the cap's spacing, and no re-send due soon")
            reads = pad_file.reads
            pad.axis(0, value)
            os.write(pad_file.write_end, b"\0")
            wait_until(loop, lambda r=reads: pad_file.reads > r, what=f"the file read for {value}")
            wait_until(
                loop, lambda v=value: any(c.axes and abs(c.axes[0] - v) < 0.01 for c in woken), what=f"{value} sent in the file's read"
            )
        drive.disable()
        wait_until(loop, lambda: not drive.enabled, what="driving off")
        assert adapter.pad_wait is WaitMode.FILES and adapter.poll_interval_ms == IDLE_BATTERY_POLL_MS
    finally:
        stop_server(window, loop, server)


#: how long the reads are counted at each pace (s)
WINDOW_S = 2.0
#: reads in that window: well over the resting pace's 20 (a file left readable is rechecked sooner now and then),
#: well under the watching pace's 50
BETWEEN_PACES = round(WINDOW_S / RESTING_S + WINDOW_S / WATCHING_S) // 2


def report_every_4_ms(pad_file: PipeFile, stop: threading.Event) -> None:
    """The pad's file made readable 250 times a second, as a DualShock 4's is at rest."""
    while not stop.wait(0.004):
        os.write(pad_file.write_end, b"\0")


def test_not_driving_a_pad_that_reports_without_end_is_read_at_rest_and_sooner_while_another_client_drives(
    file_pads_window, loop, plugged, pad_file
):
    """A pad like a DualShock 4 makes its file readable 250 times a second whether or not anything changed. Put
    down and not driving, it is read every 100 ms; once another client drives the robot, every 40 ms, since a
    press of this app's stop button may be what stops it."""
    window = file_pads_window
    watch, connection = window.adapter.pad_files, window.model.connection
    plug_and_drive(window, loop, plugged)
    read_at: list[float] = []  # the file watch's reads (the 5 s battery look reads the pads too, on a timer)
    real_read = watch._read

    def read() -> bool:
        read_at.append(time.monotonic())
        return real_read()

    watch._read = read
    stop = threading.Event()
    server = ServerProcess("sim").start()
    try:
        connect(window, loop, server.pilot_url)
        wait_until(loop, lambda: connection.pilot, what="pilot")
        reporting = threading.Thread(target=report_every_4_ms, args=(pad_file, stop), daemon=True)
        reporting.start()
        wait_until(loop, lambda: watch.pace_s == RESTING_S, timeout=HANDLED_S + 5, what="the resting pace once the pad is put down")
        begun = len(read_at)
        run(loop, asyncio.sleep(WINDOW_S))
        resting = len(read_at) - begun
        assert 0.5 * WINDOW_S / RESTING_S <= resting <= BETWEEN_PACES, read_at[begun:]

        async def another_pilot_takes_over() -> None:
            async with ws_connect(server.url, max_queue=None) as pilot:  # unread messages never hold up its close
                hello = {"type": "hello", "role": "pilot", "client": "browser pilot", "token": server.token, "takeover": True}
                await pilot.send(json.dumps(hello))
                await pilot.recv()
                for _ in range(500):  # the barrier: the app has heard it is watching another pilot
                    if connection.another_drives:
                        break
                    await asyncio.sleep(0.01)
                assert watch.pace_s == WATCHING_S
                begun = len(read_at)
                await asyncio.sleep(WINDOW_S)
                assert len(read_at) - begun > BETWEEN_PACES, read_at[begun:]

        run(loop, another_pilot_takes_over())
    finally:
        stop.set()
        stop_server(window, loop, server)


def test_a_file_wait_that_breaks_hands_the_pads_to_the_timer(qtbot, loop, xbox_mapping, caplog):
    """The process's files cannot be listed any more: the file wait ends, says so, and the pads are read on a timer
    at the resting pace instead of not at all (while driving, SDL's own wait would take them)."""
    broken = [False]

    def files() -> dict[int, str]:
        if broken[0]:
            raise OSError("the process's files cannot be listed")
        return {}

    sdl = sdl_source()
    assert sdl is not None
    source = PadSource(files=files, mode=lambda files: WaitMode.FILES, sdl_wait=sdl.sdl_wait)
    adapter = QtAdapter(TeleopModel(AppSettings()), gamepads=GamepadManager(mappings=[xbox_mapping]), pads=source)
    try:
        assert adapter.pad_wait is WaitMode.FILES and adapter.poll_interval_ms == IDLE_BATTERY_POLL_MS
        broken[0] = True
        assert not adapter.pad_files.start()  # lists the files again, as after a hotplug
        assert adapter.pad_wait is None and adapter.poll_interval_ms == RESTING_MS
        assert "watching the gamepads' files failed" in caplog.text
        assert "gamepads are read without waiting on their files from now on" in caplog.text
    finally:
        run(loop, adapter.shutdown())


def test_a_pad_read_on_the_timer_is_read_at_once_when_another_client_becomes_the_pilot(qtbot, loop, xbox_mapping):
    """A pad with no file (another system, a virtual pad) is read on a timer while not driving. When another
    client becomes the pilot the timer's pace shortens, and the pads are read then: a timer started afresh would
    leave them unread up to a whole rest more."""
    sdl = sdl_source()
    assert sdl is not None
    source = PadSource(files=dict, mode=lambda files: WaitMode.SDL_LOOP, sdl_wait=sdl.sdl_wait)
    model = TeleopModel(AppSettings())
    gamepads = GamepadManager(mappings=[xbox_mapping])
    adapter = QtAdapter(model, gamepads=gamepads, pads=source)
    reads: list[float] = []
    real_poll = gamepads.poll

    def poll(*args, **kwargs):
        reads.append(time.monotonic())
        return real_poll(*args, **kwargs)

    gamepads.poll = poll  # type: ignore[method-assign]
    try:
        assert adapter.pad_wait is None and adapter.poll_interval_ms == RESTING_MS
        connection = model.connection
        connection.state, connection.role = ConnectionState.CONNECTED, Role.OBSERVER
        connection.status = ServerStatus(pilot="browser pilot", has_pilot=True)
        before = len(reads)
        connection.changed.emit(connection)
        assert adapter.poll_interval_ms == WATCHING_MS
        assert len(reads) == before + 1, "read when the pace shortened"
        connection.status = ServerStatus()
        connection.changed.emit(connection)
        assert adapter.poll_interval_ms == RESTING_MS and len(reads) == before + 1, "a longer pace reads nothing more"
    finally:
        run(loop, adapter.shutdown())
