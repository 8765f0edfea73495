"""The desktop app on a real display: Xvfb, the real xcb plugin, openbox, keys typed with xdotool into whatever has the focus.

A real server process records every line it writes to the (simulated) device;
what must not reach the robot is checked there, after an ordering barrier (a
later legitimate command that did arrive), never after a fixed sleep.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import wait_for
from guitools import ARTIFACTS, ROOT, ServerProcess, paint_now, run, wait_until
from PySide6.QtCore import QEvent, QObject, QSettings
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QApplication, QWidget

from teleop.desktop.gui.adapter import QtAdapter
from teleop.desktop.gui.main_window import MainWindow
from teleop.desktop.gui.settings_dialog import SettingsDialog
from teleop.desktop.models.appsettings import AppSettings
from teleop.desktop.models.driving import DriveOff
from teleop.desktop.models.shaping import AxisShape
from teleop.desktop.session.teleop_model import TeleopModel
from teleop.wire.protocol import Role
from teleop_server.rules.serial_protocol import REPORT_UNITS

NEUTRAL = {"B0", "A0"}  # the default mapping's outputs at rest


def commands(record: Path) -> list[str]:
    """Every output command the server wrote to the device, in order (not its keepalives and queries)."""
    if not record.exists():
        return []
    lines = [json.loads(line) for line in record.read_text().splitlines() if line.strip()]
    return [r["line"] for r in lines if r["kind"] == "command" and r["line"][:1] in ("A", "B", "O")]


def neutral_after(record: Path, line: str) -> bool:
    """The device got a neutral B0 after the last ``line``."""
    sent = commands(record)
    return line in sent and "B0" in sent[len(sent) - sent[::-1].index(line) :]


def has_focus(widget: QWidget) -> bool:
    focus = QApplication.focusWidget()
    return focus is widget or (focus is not None and focus.focusProxy() is widget) or widget.focusProxy() is focus


@pytest.fixture
def settings_store(tmp_path):
    return QSettings(str(tmp_path / "teleop.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, loop, settings_store):
    yield from shown_window(loop, QtAdapter(TeleopModel(AppSettings(axes={0: AxisShape(deadzone=0.0)}))), settings_store)


def shown_window(loop, adapter: QtAdapter, store):
    """A main window shown and active on the display, then shut down (a fixture's body: ``yield from``)."""
    window = MainWindow(adapter, store)  # not qtbot.addWidget: it would delete the window before shutdown
    window.show()
    window.raise_()
    window.activateWindow()
    wait_until(loop, window.isActiveWindow, what="main window active")
    yield window
    run(loop, adapter.shutdown())
    window.close()
    window.deleteLater()


@pytest.fixture
def server(window, loop):
    process = ServerProcess("sim").start()
    yield process
    stop_server(window, loop, process)


@pytest.fixture
def joystick(window, loop):
    """A pad plugged in, and picked by the window to drive: a pad picked later (a test that enables driving first)
    would switch driving off, as it must."""
    from sdl_virtual import VirtualJoystick

    stick = VirtualJoystick(axes=4, buttons=8, hats=1).attach()
    wait_until(loop, lambda: window.model.drive.selected is not None, what="the plugged-in pad picked to drive")
    yield stick
    stick.detach()


def stop_server(window, loop, server: ServerProcess) -> None:
    """Disconnect first: a server stopping waits for each client's close handshake, which an idle test never answers."""
    run(loop, window.model.disconnect())
    server.stop()


def connect(window, loop, url):
    run(loop, window.model.connect(url))
    wait_until(loop, lambda: window.model.connection.connected, what="connected")


def click(display, widget: QWidget) -> None:
    centre = widget.mapToGlobal(widget.rect().center())
    display.click(centre.x(), centre.y())


def settle(loop, seconds: float = 0.05) -> None:
    run(loop, asyncio.sleep(seconds))


def drive_with_recording(window, loop, tmp_path, display=None) -> tuple[ServerProcess, Path]:
    """A server recording every device command, this window connected to it as pilot with driving enabled."""
    record = tmp_path / "drive.jsonl"
    server = ServerProcess("sim", extra=["--record", str(record)]).start()
    connect(window, loop, server.pilot_url)
    wait_until(loop, lambda: window.model.connection.pilot, what="pilot")
    if display is not None:
        click(display, window.enable)
    else:
        window.enable.click()
    wait_until(loop, lambda: window.model.drive.enabled, what="driving enabled")
    return server, record


def shoot(display, name: str) -> None:
    paint_now()
    display.screenshot(ARTIFACTS / f"xcb-{name}.png")


# -- safety: the stop key, drive keys and focus ---------------------------------------------------


def test_space_stops_the_robot_wherever_the_focus_is(window, loop, joystick, tmp_path, display):
    model = window.model
    server, record = drive_with_recording(window, loop, tmp_path, display)
    try:
        places = {
            "address field": window.connection_bar.address,
            "log": window.log,
            "stick area": window.gamepad_panel,
        }
        for i, (where, widget) in enumerate(places.items()):
            value = 0.3 + 0.1 * i
            if not model.drive.enabled:
                click(display, window.enable)
                wait_until(loop, lambda: model.drive.enabled, what=f"re-enabled before {where}")
            joystick.axis(0, value)
            wait_until(loop, lambda value=value: f"B{round(value * 1000)}" in commands(record), what=f"driving before {where}")
            click(display, widget)
            wait_until(loop, lambda widget=widget: has_focus(widget), what=f"focus in {where}")
            before = window.connection_bar.address.currentText()
            display.key("space")
            wait_until(loop, lambda: not model.drive.enabled, what=f"Space stopped with the focus in the {where}")
            assert model.drive.off_reason is DriveOff.EMERGENCY_STOP
            line = f"B{round(value * 1000)}"
            wait_until(loop, lambda line=line: neutral_after(record, line), what=f"neutral at the device after Space in the {where}")
            assert window.connection_bar.address.currentText() == before, "Space must not be typed into the address"
            if where == "address field":
                shoot(display, "stopped-from-address-field")
        # Esc stops too
        click(display, window.enable)
        wait_until(loop, lambda: model.drive.enabled, what="enabled again")
        click(display, window.connection_bar.address.lineEdit())
        display.key("Escape")
        wait_until(loop, lambda: not model.drive.enabled, what="Esc stopped")
    finally:
        stop_server(window, loop, server)


def test_ctrl_shift_d_switches_driving_off_and_says_so_in_words(window, loop, tmp_path, display):
    model = window.model
    server, _ = drive_with_recording(window, loop, tmp_path, display)
    try:
        window.gamepad_panel.setFocus()
        display.key("ctrl+shift+d")
        wait_until(loop, lambda: not model.drive.enabled, what="driving off")
        assert model.drive.off_reason is DriveOff.BY_USER
        assert "driving off: switched off" in window.log.toPlainText()
        assert "False" not in window.drive_state.full_text() and "False" not in window.log.toPlainText()
    finally:
        stop_server(window, loop, server)


def test_space_stops_the_robot_while_a_menu_or_a_drop_down_list_is_open(window, loop, joystick, tmp_path, display):
    """A menu and a combo box's list are windows of their own with the keyboard focus while open."""
    model = window.model
    server, record = drive_with_recording(window, loop, tmp_path, display)
    try:
        joystick.axis(0, 0.7)
        wait_until(loop, lambda: "B700" in commands(record), what="driving")
        display.key("alt+d")
        wait_until(loop, lambda: QApplication.activePopupWidget() is not None, what="the Drive menu open")
        shoot(display, "drive-menu-open-while-driving")
        display.key("space")
        wait_until(loop, lambda: not model.drive.enabled, what="Space with the Drive menu open stopped")
        assert model.drive.off_reason is DriveOff.EMERGENCY_STOP
        wait_until(loop, lambda: neutral_after(record, "B700"), what="neutral at the device")
        display.key("Escape")
        wait_until(loop, lambda: QApplication.activePopupWidget() is None, what="the menu closed")

        click(display, window.enable)
        wait_until(loop, lambda: model.drive.enabled, what="enabled again")
        joystick.axis(0, -0.7)
        wait_until(loop, lambda: "B-700" in commands(record), what="driving again")
        address = window.connection_bar.address
        if address.count() == 0:
            address.addItem("robot.local:8765")  # a recent robot, so the list has something to drop down
        before = address.currentText()
        click(display, address.lineEdit())
        wait_until(loop, lambda: has_focus(address), what="focus in the address field")
        display.key("F4")
        wait_until(loop, lambda: QApplication.activePopupWidget() is not None, what="the address list open")
        shoot(display, "address-list-open-while-driving")
        display.key("space")
        wait_until(loop, lambda: not model.drive.enabled, what="Space with the address list open stopped")
        wait_until(loop, lambda: neutral_after(record, "B-700"), what="neutral at the device again")
        display.key("Escape")
        assert address.currentText() == before
    finally:
        stop_server(window, loop, server)


def test_space_and_the_red_button_stop_while_the_settings_dialog_is_open(window, loop, joystick, tmp_path, display):
    model = window.model
    server, record = drive_with_recording(window, loop, tmp_path, display)
    try:
        joystick.axis(0, 0.6)
        wait_until(loop, lambda: "B600" in commands(record), what="driving")
        display.key("ctrl+comma")
        wait_until(loop, lambda: window.settings_dialog is not None and window.settings_dialog.isActiveWindow(), what="settings open")
        dialog = window.settings_dialog
        click(display, dialog.token)
        wait_until(loop, lambda: QApplication.focusWidget() is dialog.token, what="focus in the token field")
        shoot(display, "settings-open-while-driving")
        display.key("space")
        wait_until(loop, lambda: not model.drive.enabled, what="Space in the settings dialog stopped")
        wait_until(loop, lambda: neutral_after(record, "B600"), what="neutral at the device")
        assert " " not in dialog.token.text()
        # the main window's red button is still in reach: the dialog is not modal
        model.enable_driving()
        joystick.axis(0, -0.4)
        wait_until(loop, lambda: "B-400" in commands(record), what="driving again")
        click(display, window.estop)
        wait_until(loop, lambda: not model.drive.enabled, what="the red button stopped with the dialog open")
        assert window.settings_dialog is dialog and dialog.isVisible()
        wait_until(loop, lambda: neutral_after(record, "B-400"), what="neutral after the red button")
    finally:
        stop_server(window, loop, server)


def test_typing_an_address_while_driving_sends_no_command(window, loop, tmp_path, display):
    model = window.model
    server, record = drive_with_recording(window, loop, tmp_path, display)
    try:
        assert model.drive.selected is None, "keyboard driving needs no gamepad in use"
        field = window.connection_bar.address.lineEdit()
        click(display, field)
        wait_until(loop, lambda: has_focus(window.connection_bar.address), what="focus in the address field")
        display.key("ctrl+a")
        display.type("raspberrypi.local:8765")
        display.key("Left", "Right")  # (Up and Down pick a recent server in this combo box, as they should)
        display.type("sad")
        wait_until(loop, lambda: field.text() == "raspberrypi.local:8765sad", what="everything typed arrived in the field: " + field.text())
        shoot(display, "typed-address-while-driving")
        # the barrier: focus in the stick area, one real drive key, and its command at the device
        window.gamepad_panel.setFocus()
        wait_until(loop, lambda: has_focus(window.gamepad_panel), what="focus in the stick area")
        display.key("Right")
        wait_until(loop, lambda: "B1000" in commands(record), what="the drive key's command at the device")
        sent = commands(record)
        before_barrier = sent[: sent.index("B1000")]
        assert set(before_barrier) <= NEUTRAL, f"typing in the address field drove the robot: {before_barrier}"
        assert model.drive.enabled
    finally:
        stop_server(window, loop, server)


def test_the_minus_and_plus_keys_set_the_speed_the_keys_drive_at_but_not_from_a_text_field(window, loop, tmp_path, display):
    model = window.model
    server, record = drive_with_recording(window, loop, tmp_path, display)
    try:
        field = window.connection_bar.address.lineEdit()
        click(display, field)
        wait_until(loop, lambda: has_focus(window.connection_bar.address), what="focus in the address field")
        display.key("End")
        display.type("-")
        wait_until(loop, lambda: field.text().endswith("-"), what="the minus typed into the address")
        assert model.drive.speed.fraction == 1.0, "a minus typed into the address changed the speed"
        window.gamepad_panel.setFocus()
        wait_until(loop, lambda: has_focus(window.gamepad_panel), what="focus in the stick area")
        display.key("minus", "minus", "minus", "plus")
        wait_until(loop, lambda: window.speed_badge.figure.text() == "80%", what="80 % on the speed badge")
        display.key_down("Right")
        wait_until(loop, lambda: "B800" in commands(record), what="full right at 80 % at the device")
        display.key_up("Right")
        shoot(display, "keyboard-speed-80")
        assert "B1000" not in commands(record)
    finally:
        stop_server(window, loop, server)


class AutoRepeatCounter(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.repeats = 0

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.KeyPress and event.isAutoRepeat():
            self.repeats += 1
        return False


def test_holding_a_drive_key_never_sends_a_neutral_pulse(window, loop, tmp_path, display):
    model = window.model
    server, record = drive_with_recording(window, loop, tmp_path, display)
    counter = AutoRepeatCounter()
    QApplication.instance().installEventFilter(counter)
    try:
        window.gamepad_panel.setFocus()
        wait_until(loop, lambda: has_focus(window.gamepad_panel), what="focus in the stick area")
        start = len(commands(record))
        display.key_down("Right")
        wait_until(loop, lambda: counter.repeats >= 10, timeout=5, what="the X server auto-repeating the held key")
        display.key_up("Right")
        # the barrier: the release's neutral; before it, only full right since the press
        wait_until(loop, lambda: neutral_after(record, "B1000"), what="neutral after the release")
        sent = commands(record)[start:]
        held = [c for c in sent[: len(sent) - sent[::-1].index("B1000")] if c.startswith("B")]
        assert held and set(held) == {"B1000"}, f"auto-repeat produced pulses while the key was held: {held}"
        assert model.drive.enabled
    finally:
        QApplication.instance().removeEventFilter(counter)
        stop_server(window, loop, server)


def test_an_observer_cannot_enable_driving_and_is_offered_take_control(window, loop, tmp_path, display):
    from websockets.asyncio.client import connect as ws_connect

    model = window.model
    record = tmp_path / "drive.jsonl"
    server = ServerProcess("sim", extra=["--record", str(record)]).start()
    try:
        run(loop, model.connect(f"{server.url}/#token=not-the-right-token"))
        wait_until(loop, lambda: model.connection.connected and model.connection.refused, what="refused as pilot")
        assert model.connection.role is Role.OBSERVER
        wait_until(loop, lambda: not window.enable.isEnabled(), what="Enable greyed out")
        assert window.take.isVisible(), "Take control is offered"
        assert "Watching" in window.drive_state.full_text() and "token" in window.drive_state.full_text()
        click(display, window.enable)
        window.gamepad_panel.setFocus()
        display.key("ctrl+d", "Right")
        shoot(display, "observer-cannot-enable")
        assert not model.drive.enabled and not window.enable.isChecked()
        assert "ENABLED" not in window.enable.text()

        async def real_pilot_drives():  # the barrier: a legitimate pilot's command reaches the device
            async with ws_connect(server.url) as pilot:
                await pilot.send(json.dumps({"type": "hello", "role": "pilot", "client": "real pilot", "token": server.token}))
                await pilot.recv()
                await pilot.send(
                    json.dumps({"type": "control", "seq": 1, "t": time.monotonic(), "axes": [0.123], "buttons": [], "hats": []})
                )
                for _ in range(200):
                    if "B123" in commands(record):
                        return
                    await asyncio.sleep(0.01)

        run(loop, real_pilot_drives())
        sent = commands(record)
        assert "B123" in sent
        assert set(sent[: sent.index("B123")]) <= NEUTRAL, f"the observer's input reached the device: {sent}"
    finally:
        stop_server(window, loop, server)


def launch_app(display, tmp_path, *args: str, own_group: bool = False) -> subprocess.Popen:
    """``teleop`` as a user starts it, in its own process on the test display; its log on stdout.

    ``own_group``: in a process group of its own, as a terminal runs a command (Ctrl+C reaches the whole group)."""
    return subprocess.Popen(
        [sys.executable, "-m", "teleop.desktop.app", *args, "--settings-file", str(tmp_path / "t.ini"), "-v"],
        cwd=ROOT,
        env=dict(display.env, SDL_VIDEODRIVER="dummy", PYTHONUNBUFFERED="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        process_group=0 if own_group else None,
    )


def test_sigterm_closes_the_app_cleanly_and_stops_its_demo_server(tmp_path, display):
    app = launch_app(display, tmp_path, "--demo")
    try:
        children: list[int] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not children:
            children = [int(c) for c in Path(f"/proc/{app.pid}/task/{app.pid}/children").read_text().split()]
            time.sleep(0.1)
        assert children, "the demo server did not start"
        log = ""
        for line in app.stdout:  # wait until it is connected and showing its window
            log += line
            if "connection connected" in line:
                break
        display.screenshot(ARTIFACTS / "xcb-demo-before-sigterm.png")
        app.send_signal(signal.SIGTERM)
        output, _ = app.communicate(timeout=15)
        log += output
        assert app.returncode == 0, log
        assert "SIGTERM received" in log
        for pid in children:
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text(), "demo server left running"
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()


def test_sigterm_while_driving_sends_neutral_before_exiting(tmp_path, display):
    record = tmp_path / "drive.jsonl"
    server = ServerProcess("sim", extra=["--record", str(record)]).start()
    app = launch_app(display, tmp_path, "--connect", server.pilot_url)
    try:
        for line in app.stdout:
            if "connection connected" in line:
                break
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "B1000" not in commands(record):
            display.key("ctrl+d")  # Drive > Enable driving, then hold right in the stick area (it has the focus at start)
            display.key_down("Right")
            time.sleep(0.3)
        assert "B1000" in commands(record), "could not drive the app"
        app.send_signal(signal.SIGTERM)
        output, _ = app.communicate(timeout=15)
        display.key_up("Right")
        assert app.returncode == 0, output
        sent = [c for c in commands(record) if c.startswith("B")]
        assert sent[-1] == "B0", f"the last command before the app exited is not neutral: {sent[-5:]}"
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
        server.stop()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl+c in its terminal", "the session ending"])
def test_stopping_the_app_and_its_demo_server_together_while_driving_exits_cleanly(stop, tmp_path, display):
    """Ctrl+C in a terminal, or a desktop session ending, signals the app and its demo server at once: the
    server may be closing the connection as the app sends its last neutral. The app still exits at once.
    (That race is pinned down in test_client_session; this is the whole path, as a user meets it.)"""
    app = launch_app(display, tmp_path, "--demo", own_group=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(app.stdout), daemon=True)  # the whole log, as it comes
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("connection connected" in line for line in lines):
            time.sleep(0.1)
        display.key("ctrl+d")  # Drive > Enable driving
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any("driving enabled" in line for line in lines):
            time.sleep(0.05)
        assert any("driving enabled" in line for line in lines), "".join(lines)
        display.key_down("Right")
        time.sleep(0.3)
        os.killpg(app.pid, stop)
        app.wait(timeout=15)
        display.key_up("Right")
        reader.join(5)
        log = "".join(lines)
        assert app.returncode == 0, log
        assert f"{stop.name} received" in log and "Traceback" not in log, log
    finally:
        if app.poll() is None:
            os.killpg(app.pid, signal.SIGKILL)
            app.wait()


# -- the window tells the truth -------------------------------------------------------------------


def test_after_a_server_restart_stale_readings_are_marked_and_the_plot_shows_a_gap(window, loop, display):
    model = window.model
    server = ServerProcess("sim").start()
    try:
        connect(window, loop, server.pilot_url)
        panel = window.readings_panel
        wait_until(loop, lambda: panel.plot.point_count("A0") > 10, what="A0 plotted")
        server.process.kill()
        server.process.wait()
        wait_until(loop, lambda: model.readings.stale, what="readings marked stale")
        assert "STALE" in panel.title()
        assert "(stale)" in window.link_state.full_text()
        assert (
            "Lost the connection" in window.connection_bar.state.full_text()
            or "No teleop server" in window.connection_bar.state.full_text()
        )
        shoot(display, "stale-after-server-stopped")
        server = run(loop, asyncio.to_thread(server.restarted))
        wait_until(loop, lambda: model.connection.connected and not model.readings.stale, timeout=10, what="fresh readings again")
        wait_until(loop, lambda: "STALE" not in panel.title(), what="stale mark removed")
        count = model.readings.store.count
        wait_until(loop, lambda: model.readings.store.count > count + 10, what="new readings")
        wait_until(loop, lambda: panel.plot.gaps("A0") >= 1, what="a gap in the plotted line")
        settle(loop, 0.3)
        shoot(display, "plot-gap-after-restart")
    finally:
        stop_server(window, loop, server)


def test_another_server_starts_the_readings_afresh(window, loop):
    first = ServerProcess("sim").start()
    second = ServerProcess("sim").start()
    try:
        connect(window, loop, first.pilot_url)
        wait_until(loop, lambda: window.model.readings.store.count > 5, what="readings from the first server")
        connect(window, loop, second.pilot_url)
        assert window.model.readings.store.count < 5, "the first server's readings were kept"
        assert window.readings_panel.plot.point_count("A0") < 5
    finally:
        run(loop, window.model.disconnect())
        first.stop()
        second.stop()


def test_a_long_refusal_does_not_widen_the_window(window, loop, server, display):
    window.resize(800, 700)
    run(loop, window.model.connect(f"{server.url}/#token=not-the-right-token"))
    wait_until(loop, lambda: window.model.connection.refused, what="refused")
    settle(loop, 0.2)
    assert len(window.connection_bar.state.full_text()) > 80, "a long message, to prove the point"
    assert window.width() <= 820, window.width()
    assert window.minimumSizeHint().width() < 800
    shoot(display, "wrong-token-narrow-window")


@pytest.mark.parametrize("driving", [False, True], ids=["ready", "driving"])
def test_the_drive_rows_texts_are_shown_whole_at_the_windows_usual_size(driving, window, loop, server, display):
    """What to do next beside the buttons and the robot's state at the right, neither cut short."""
    window.resize(1180, 760)
    connect(window, loop, server.pilot_url)
    wait_until(loop, lambda: window.model.connection.pilot and window.link_state.full_text(), what="pilot, the robot's state shown")
    if driving:
        window.enable.click()
        wait_until(loop, lambda: window.model.drive.enabled, what="enabled")
    settle(loop, 0.2)
    shoot(display, f"drive-row-{'driving' if driving else 'ready'}")
    for label in (window.drive_state, window.link_state):
        assert label.text() == label.full_text(), f"cut: {label.text()!r}"


def test_watching_a_browser_pilot_the_drive_rows_texts_are_shown_whole_at_the_windows_usual_size(window, loop, server, display):
    """Who drives, and what to do about it, with the speed badge showing and the robot stopped: neither cut short."""
    from websockets.asyncio.client import connect as ws_connect

    window.resize(1180, 760)
    connect(window, loop, server.pilot_url)
    wait_until(loop, lambda: window.model.connection.pilot, what="pilot")
    for _ in range(3):
        window.model.drive.step_speed(-1)  # the badge beside Enable shows 70 %

    async def a_browser_pilot_takes_over():
        browser = await ws_connect(server.url)
        hello = {"type": "hello", "role": "observer", "client": "browser pilot", "token": server.token, "input": "keyboard"}
        await browser.send(json.dumps(hello))
        await browser.send(json.dumps({"type": "request_control", "takeover": True, "token": server.token}))
        await browser.send(json.dumps({"type": "estop", "engaged": True}))
        return browser

    browser = run(loop, a_browser_pilot_takes_over())
    try:
        wait_until(
            loop,
            lambda: "E-STOP" in window.link_state.full_text() and "browser pilot drives (keyboard)" in window.drive_state.full_text(),
            what="the stop, and who drives with what, shown",
        )
        settle(loop, 0.2)
        shoot(display, "drive-row-watching")
        for label in (window.drive_state, window.link_state):
            assert label.text() == label.full_text(), f"cut: {label.text()!r}"
    finally:
        browser.transport.abort()  # it read nothing: a closing handshake would wait behind its full queue


def test_the_drive_menu_offers_only_what_can_be_done_now(window, loop, server):
    connect(window, loop, server.pilot_url)
    wait_until(loop, lambda: window.model.connection.pilot, what="pilot")
    assert not window.take_action.isEnabled(), "already the pilot"
    assert not window.disable_action.isEnabled(), "not driving"
    window.enable.click()
    wait_until(loop, lambda: window.model.drive.enabled, what="enabled")
    assert window.disable_action.isEnabled()
    window.disable_action.trigger()
    assert not window.model.drive.enabled and not window.disable_action.isEnabled()


def test_the_enable_buttons_bold_text_fits_it_in_a_small_window(window, loop, server, display):
    window.resize(800, 600)
    connect(window, loop, server.pilot_url)
    wait_until(loop, lambda: window.model.connection.pilot, what="pilot")
    window.enable.click()
    wait_until(loop, lambda: window.model.drive.enabled, what="enabled")
    settle(loop, 0.2)
    shoot(display, "enable-button-800x600")
    font = window.enable.font()
    assert font.bold(), "the style makes it bold"
    assert QFontMetrics(font).horizontalAdvance(window.enable.text()) + 2 * 18 <= window.enable.width(), window.enable.width()


def test_the_demo_server_is_driven_again_after_disconnect_and_never_saved(window, loop, server, display, settings_store):
    """teleop --demo: its bundled server has a port and token of this run only. Disconnect, then Connect, must
    make the user its pilot again, and a later plain start must not offer that dead address."""
    saved = (window.model.settings.host, window.model.settings.port, list(window.model.settings.recent))
    window.model.demo_url = server.pilot_url  # what teleop --demo sets
    connect(window, loop, server.pilot_url)
    wait_until(loop, lambda: window.model.connection.pilot, what="pilot of the demo server")
    bar = window.connection_bar
    click(display, bar.connect_button)  # Disconnect
    wait_until(loop, lambda: not window.model.connection.connected, what="disconnected")
    click(display, bar.connect_button)  # Connect, with the demo server's address still in the box
    wait_until(loop, lambda: window.model.connection.pilot, what="pilot again")
    assert (window.model.settings.host, window.model.settings.port, list(window.model.settings.recent)) == saved
    window.close()
    assert f":{server.port}" not in str(settings_store.value("settings/json")), "the demo server saved"


def test_the_status_bar_hint_goes_once_connected(window, loop, server):
    assert "Connect" in window.statusBar().currentMessage()
    connect(window, loop, server.pilot_url)
    assert window.statusBar().currentMessage() == ""
    assert not window.connection_bar.state.full_text().lower().startswith("connected: connected")


def test_the_red_button_does_not_move_when_driving_is_enabled(window, loop, server):
    connect(window, loop, server.pilot_url)
    wait_until(loop, lambda: window.model.connection.pilot, what="pilot")
    where = window.estop.geometry()
    window.enable.click()
    wait_until(loop, lambda: window.model.drive.enabled, what="enabled")
    paint_now()
    assert window.estop.geometry() == where


def test_settings_take_host_colon_port_typed_key_by_key(window, loop, display):
    window.open_settings()
    dialog = window.settings_dialog
    wait_until(loop, dialog.isActiveWindow, what="settings active")
    click(display, dialog.host)
    display.key("ctrl+a")
    display.type("raspberrypi.local:99999")
    wait_until(loop, lambda: "99999" in dialog.host.currentText(), what="typed")
    assert dialog.host.currentText() == "raspberrypi.local:99999", "the colon was eaten"
    ok = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    assert not ok.isEnabled() and "65535" in dialog.host_problem.text()
    display.key("BackSpace", "BackSpace", "BackSpace", "BackSpace", "BackSpace")
    display.type("9001")
    wait_until(loop, ok.isEnabled, what="a good host:port accepted")
    settings = dialog.collect()
    assert (settings.host, settings.port) == ("raspberrypi.local", 9001)


def test_settings_ok_keeps_the_robot_the_window_is_connected_to_in_the_address_box(window, loop, server, display):
    """As in the demo: connected to a server that is not the saved address, Settings -> OK must not show the saved one."""
    connect(window, loop, server.pilot_url)
    shown = window.model.connection.server
    assert shown.endswith(f":{server.port}") and (window.model.settings.host, window.model.settings.port) != ("127.0.0.1", server.port)
    window.open_settings()
    dialog = window.settings_dialog
    wait_until(loop, dialog.isActiveWindow, what="settings active")
    saved = f"{window.model.settings.host}:{window.model.settings.port}"
    assert dialog.connection.elsewhere.isVisible() and shown in dialog.connection.elsewhere.text(), (
        "the tab says these fields are not that robot"
    )
    display.key("Return")
    wait_until(loop, lambda: window.settings_dialog is None, what="settings closed by OK")
    assert window.model.connection.connected
    assert window.connection_bar.address.currentText() == shown
    assert f"settings saved; robot at start {saved}; connected now to {shown}" in window.log.toPlainText()


def test_enter_in_the_address_box_goes_to_the_robot_typed_and_never_just_disconnects(window, loop, server, display):
    from teleop.desktop.net import client

    other = ServerProcess("sim").start()
    try:
        connect(window, loop, server.pilot_url)
        session = window.model.session
        field = window.connection_bar.address.lineEdit()
        click(display, field)
        wait_until(loop, lambda: has_focus(window.connection_bar.address), what="focus in the address field")
        display.key("End", "Return")  # Enter on the robot this window is connected to
        display.type("z")  # the barrier: typed after the Enter, so handled after it
        wait_until(loop, lambda: field.text().endswith("z"), what="the key after Enter arrived")
        scheduled = list(client._background)  # whatever the Enter started (a disconnect) is among these
        if scheduled:
            run(loop, asyncio.wait(scheduled, timeout=5))
        assert window.model.session is session and window.model.connection.connected, "Enter on the connected robot disconnected"
        display.key("ctrl+a")
        display.type(other.pilot_url)
        wait_until(loop, lambda: field.text() == other.pilot_url, what="the other robot's address typed")

        async def enter_and_wait() -> None:
            # in one run of the loop: the connection the key starts must never step while the loop is between runs
            # (qasync's last pass after a run calls what is ready with no running loop, which the session dies of)
            await asyncio.to_thread(display.display.key, "Return")
            await wait_for(
                lambda: window.model.connection.connected and window.model.connection.server.endswith(f":{other.port}"),
                10,
                what="connected to the robot typed",
            )

        run(loop, enter_and_wait(), timeout=20)
        wait_until(loop, lambda: window.model.connection.pilot, what="pilot there, with the token typed")
    finally:
        stop_server(window, loop, other)


def test_calibrate_needs_a_gamepad(window, loop):
    dialog = window.open_settings()
    assert not dialog.calibrate_button.isEnabled()
    assert "gamepad" in dialog.calibrate_button.toolTip()


# -- driving and readings end to end -----------------------------------------------------------


def test_virtual_joystick_is_detected_and_its_axes_are_read(window, loop, joystick):
    drive = window.model.drive
    wait_until(loop, lambda: drive.selected is not None, what="joystick picked")
    joystick.axis(0, 0.5)
    joystick.button(3, True)
    joystick.hat(0, (0, 1))
    wait_until(loop, lambda: abs(drive.current_input().axes[0] - 0.5) < 0.01, what="axis read")
    state = drive.current_input()
    assert state.buttons[3] == 1 and state.hats[0] == (0, 1)
    assert window.gamepad_panel.pads.list.count() == 2


def test_stick_move_reaches_the_server_as_a_command_only_once_enabled(window, loop, joystick, tmp_path, display):
    record = tmp_path / "drive.jsonl"
    server = ServerProcess("sim", extra=["--record", str(record)]).start()
    try:
        model = window.model
        connect(window, loop, server.pilot_url)
        wait_until(loop, lambda: model.connection.pilot, what="pilot")
        joystick.axis(0, 0.25)
        wait_until(loop, lambda: abs(model.drive.current_input().axes[0] - 0.25) < 0.01, what="stick read")
        click(display, window.enable)
        wait_until(loop, lambda: "B250" in commands(record), what="the held stick sent once enabled")
        sent = commands(record)
        assert set(sent[: sent.index("B250")]) <= NEUTRAL, "nothing but neutral before Enable"
        joystick.axis(0, -0.5)
        wait_until(loop, lambda: "B-500" in commands(record), what="B-500 written to the device")
    finally:
        stop_server(window, loop, server)


def test_readings_appear_in_the_table_and_the_plot(window, loop, server):
    connect(window, loop, server.pilot_url)
    panel = window.readings_panel
    wait_until(loop, lambda: "A0" in panel.rows and panel.table.item(panel.rows["A0"], 1).text() != "", what="A0 in table")
    wait_until(loop, lambda: panel.plot.point_count("A0") > 3, what="A0 plotted")
    # units come from the protocol table, through the server's welcome: the app keeps no list of its own
    assert panel.table.item(panel.rows["A0"], 2).text() == REPORT_UNITS["A0"]
    assert panel.table.item(panel.rows["O0"], 2).text() == REPORT_UNITS["O0"]


def test_unplugging_the_gamepad_sends_neutral_and_disables(window, loop, tmp_path):
    from sdl_virtual import VirtualJoystick

    stick = VirtualJoystick().attach()
    server = None
    try:
        drive = window.model.drive
        wait_until(loop, lambda: drive.selected is not None, what="joystick")
        server, record = drive_with_recording(window, loop, tmp_path)
        stick.axis(0, 0.6)
        wait_until(loop, lambda: "B600" in commands(record), what="B600")
        stick.detach()
        wait_until(loop, lambda: drive.selected is None, what="unplug seen")
        assert not drive.enabled and drive.off_reason is DriveOff.GAMEPAD_UNPLUGGED
        wait_until(loop, lambda: neutral_after(record, "B600"), what="neutral after unplug")
        stick = VirtualJoystick().attach()  # replug: a new instance id, picked up again
        wait_until(loop, lambda: drive.selected is not None, what="replug seen")
    finally:
        stick.detach()
        if server is not None:
            stop_server(window, loop, server)


def test_gui_reconnects_after_a_server_crash_and_the_device_gets_no_stale_command(window, loop, joystick, tmp_path):
    """The server is killed mid-drive and started again: the GUI is back as pilot within 3 s of the
    server listening, and nothing it sent before the crash reaches the device afterwards."""
    from faultkit import record_figure

    model = window.model
    server, record = drive_with_recording(window, loop, tmp_path)
    try:
        joystick.axis(0, 0.6)
        wait_until(loop, lambda: "B600" in commands(record), what="B600")
        server.process.kill()  # a crash: no goodbye to the client
        server.process.wait()
        wait_until(loop, lambda: not model.connection.connected, what="disconnect seen")
        assert not model.drive.enabled and model.drive.off_reason is DriveOff.LINK_LOST
        joystick.axis(0, -0.3)  # the stick moves while the server is down
        before = len(commands(record))
        # in a thread, so the GUI's retry timers keep running on Qt's loop meanwhile, as for a user
        server = run(loop, asyncio.to_thread(server.restarted))
        listening = time.monotonic()  # start() returns within 50 ms of the port accepting
        wait_until(loop, lambda: model.connection.pilot, timeout=5, what="back as pilot")
        back = time.monotonic() - listening
        window.enable.click()
        wait_until(loop, lambda: "B-300" in commands(record), what="B-300 after the restart")
        after = commands(record)[before:]
        assert "B600" not in after, f"a stale command reached the device after the restart: {after}"
        record_figure("server restart -> GUI back as pilot", back * 1000, 3000)
        assert back < 3.0
    finally:
        stop_server(window, loop, server)


def test_an_observers_emergency_stop_disables_the_gui_until_it_re_enables(window, loop, joystick, tmp_path):
    from websockets.asyncio.client import connect as ws_connect

    model = window.model
    server, record = drive_with_recording(window, loop, tmp_path)
    try:
        joystick.axis(0, 0.4)
        wait_until(loop, lambda: "B400" in commands(record), what="B400")

        async def observer_presses_estop():
            async with ws_connect(server.url) as observer:
                await observer.send(json.dumps({"type": "hello", "role": "observer", "client": "dashboard"}))
                await observer.recv()
                await observer.send(json.dumps({"type": "estop", "engaged": True}))
                for _ in range(100):
                    if model.connection.status.estop:
                        return
                    await asyncio.sleep(0.01)

        run(loop, observer_presses_estop())
        wait_until(loop, lambda: not model.drive.enabled, what="driving disabled by the e-stop")
        assert model.drive.off_reason is DriveOff.STOPPED_ELSEWHERE
        assert "E-STOP" in window.link_state.full_text()
        assert "emergency stop by dashboard" in window.log.toPlainText()
        window.enable.click()  # the pilot re-enables: clears the e-stop and drives again
        joystick.axis(0, -0.2)
        wait_until(loop, lambda: "B-200" in commands(record), what="driving again after re-enable")
        wait_until(loop, lambda: not model.connection.status.estop, what="e-stop cleared")
    finally:
        stop_server(window, loop, server)


def test_connected_again_after_a_disconnect_the_drive_row_says_ready_not_not_connected(window, loop, server):
    connect(window, loop, server.pilot_url)
    wait_until(loop, lambda: window.model.connection.pilot, what="pilot")
    window.enable.click()
    wait_until(loop, lambda: window.model.drive.enabled, what="driving")
    run(loop, window.model.disconnect())
    wait_until(loop, lambda: "not connected" in window.drive_state.full_text(), what="the drive row says why")
    assert "driving off: not connected to a robot" in window.log.toPlainText(), "the log says when driving went off"
    connect(window, loop, server.pilot_url)
    wait_until(loop, lambda: window.model.connection.pilot, what="pilot again")
    assert window.drive_state.full_text() == "Ready: enable driving to send commands"


def test_wrong_token_is_shown_plainly_in_the_window(window, loop, server):
    run(loop, window.model.connect(f"{server.url}/#token=not-the-right-token"))
    wait_until(loop, lambda: "watching only" in window.connection_bar.state.full_text(), what="refusal shown")
    text = window.connection_bar.state.full_text()
    assert "wrong" in text and "settings" in text.lower()
    assert window.model.connection.role is Role.OBSERVER


def test_gui_drives_over_tls_when_it_trusts_the_robots_certificate_file(window, loop, certificate):
    cert, key = certificate
    model = window.model
    server = ServerProcess("sim", extra=["--certfile", str(cert), "--keyfile", str(key)]).start()
    try:
        run(loop, model.connect(f"wss://127.0.0.1:{server.port}/#token={server.token}"))
        wait_until(loop, lambda: "not trusted" in window.connection_bar.state.full_text(), what="untrusted certificate explained")
        assert "certificate file" in window.connection_bar.state.full_text()
        model.settings.cafile = str(cert)
        run(loop, model.connect(f"wss://127.0.0.1:{server.port}/#token={server.token}"))
        wait_until(loop, lambda: model.connection.pilot, what="pilot over wss")
    finally:
        stop_server(window, loop, server)


def test_settings_persist_and_only_their_owner_can_read_the_tokens(window, loop, settings_store):
    window.model.settings.host = "robot.local"
    window.model.settings.token = "secret-pilot-token"
    window.close()
    restored = AppSettings.from_json(settings_store.value("settings/json", "", type=str))
    assert restored.host == "robot.local" and restored.token == "secret-pilot-token"
    assert os.stat(settings_store.fileName()).st_mode & 0o777 == 0o600


def test_the_settings_file_is_private_from_its_first_write(tmp_path):
    from teleop.desktop.gui.main_window import protect_settings_file, save_settings

    path = tmp_path / "fresh" / "teleop.conf"
    store = QSettings(str(path), QSettings.Format.IniFormat)
    protect_settings_file(store)  # what the app does before loading
    store.setValue("settings/json", AppSettings(token="secret").to_json())
    store.sync()  # QSettings' own write, before save_settings' chmod could help
    assert os.stat(path).st_mode & 0o777 == 0o600
    save_settings(store, AppSettings(token="secret"))
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_settings_dialog_refuses_a_bad_address_before_saving(window, loop):
    dialog = SettingsDialog(window.model.settings, window.model.drive, [], window)
    dialog.host.setCurrentText("http://robot:8765/")
    ok = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    assert not ok.isEnabled()
    assert "without ws://" in dialog.host_problem.text()
    dialog.host.setCurrentText("robot..local")
    assert not ok.isEnabled()
    dialog.host.setCurrentText("raspberrypi.local")
    assert ok.isEnabled()
    dialog.rate.setValue(100)
    settings = dialog.collect()
    assert settings.host == "raspberrypi.local" and settings.rate_hz == 100
    assert settings.recent[0] == "raspberrypi.local:8765"
    dialog.deleteLater()


def test_pasting_the_address_the_server_printed_fills_port_tls_and_token(window, loop):
    dialog = SettingsDialog(window.model.settings, window.model.drive, [], window)
    dialog.host.setCurrentText("wss://192.168.1.20:9001/#token=pasted-pilot-token-123")
    assert dialog.host.currentText() == "192.168.1.20"
    assert dialog.port.value() == 9001
    assert dialog.tls.isChecked()
    assert dialog.token.text() == "pasted-pilot-token-123"
    settings = dialog.collect()
    assert settings.tokens["192.168.1.20:9001"] == "pasted-pilot-token-123"
    dialog.deleteLater()


def test_csv_export_writes_what_was_shown(window, loop, server, tmp_path):
    connect(window, loop, server.pilot_url)
    wait_until(loop, lambda: window.model.readings.store.count > 5, what="readings")
    path = tmp_path / "out.csv"
    window.export_csv(str(path))
    header = path.read_text().splitlines()[0].split(",")
    assert header[0] == "time" and "A0" in header


def test_about_box_names_the_versions(window):
    text = window.about_text()
    assert "PySide6" in text and "SDL" in text and "Python" in text


def test_screenshots_of_the_main_window_and_settings_dialog(window, loop, server, joystick, display):
    connect(window, loop, server.pilot_url)
    wait_until(loop, lambda: window.model.readings.store.count > 60, what="readings")
    window.enable.click()
    joystick.axis(0, 0.6)
    joystick.axis(1, -0.3)
    joystick.button(1, True)
    settle(loop, 0.4)
    shoot(display, "main-window-driving")
    assert window.grab().save(str(ARTIFACTS / "main-window.png"))
    dialog = window.open_settings()
    wait_until(loop, dialog.isVisible, what="settings shown")
    settle(loop, 0.2)
    shoot(display, "settings-dialog")
    assert window.model.connection.status.device == "ready"


class PtyFakeDevice:
    """The test plays the Arduino on a raw pty: answers every line OK, records them, writes what we ask."""

    def __init__(self, link) -> None:
        import threading
        import tty

        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        os.symlink(os.ttyname(self.slave), link)
        self.lines: list[str] = []
        self.running = True
        os.write(self.master, b"READY fake-uno 0.0.1\n")
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        import select

        buffer = b""
        while self.running:
            if not select.select([self.master], [], [], 0.05)[0]:
                continue
            try:
                buffer += os.read(self.master, 1024)
            except OSError:
                return
            *complete, buffer = buffer.split(b"\n")
            for line in complete:
                self.lines.append(line.decode())
                os.write(self.master, b"OK\n")

    def write(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def close(self) -> None:
        self.running = False
        self.thread.join(1)
        os.close(self.master)
        os.close(self.slave)


def test_gui_against_a_pty_device_commands_out_and_readings_in(window, loop, joystick, tmp_path):
    device = PtyFakeDevice(tmp_path / "ttyFAKE")
    server = ServerProcess(str(tmp_path / "ttyFAKE")).start()
    try:
        model = window.model
        connect(window, loop, server.pilot_url)
        wait_until(loop, lambda: model.connection.status.device == "ready", what="device ready")
        window.enable.click()
        joystick.axis(0, -0.75)
        wait_until(loop, lambda: "B-750" in device.lines, what="B-750 on the serial line")
        for i in range(5):
            device.write(f"probe:{40 + i} A0:{100 * i}")
        panel = window.readings_panel
        wait_until(loop, lambda: "probe" in panel.rows and panel.table.item(panel.rows["probe"], 1).text() == "44", what="probe in table")
        model.settings.plot.append("probe")
        panel.sync_curves()
        wait_until(loop, lambda: 44 in panel.plot.values("probe"), what="probe plotted")
    finally:
        stop_server(window, loop, server)
        device.close()


def test_without_a_display_the_app_says_so_plainly(tmp_path):
    """Over ssh or in a container, Qt's own message blames missing xcb libraries and aborts."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run(
        [sys.executable, "-m", "teleop.desktop.app", "--demo", "--settings-file", str(tmp_path / "t.ini")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "no display to open the window on" in result.stderr and "xcb" not in result.stderr, result.stderr
