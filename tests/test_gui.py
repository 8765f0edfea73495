"""The desktop app: real widgets (offscreen Qt), a real SDL joystick, a real server process."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from guitools import ARTIFACTS, ServerProcess, run, wait_until
from PySide6.QtCore import QSettings, Qt

from teleop.appsettings import AppSettings, AxisSettings
from teleop.gui.controller import TeleopController
from teleop.gui.main_window import MainWindow
from teleop.gui.settings_dialog import SettingsDialog


@pytest.fixture
def settings_store(tmp_path):
    return QSettings(str(tmp_path / "teleop.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, loop, settings_store):
    controller = TeleopController(AppSettings(axes={0: AxisSettings(deadzone=0.0)}))
    window = MainWindow(controller, settings_store)  # not qtbot.addWidget: it would delete the window before shutdown
    window.show()
    yield window
    run(loop, controller.shutdown())
    window.close()
    window.deleteLater()


@pytest.fixture
def server():
    process = ServerProcess("sim").start()
    yield process
    process.stop()


@pytest.fixture
def joystick(loop):
    from sdl_virtual import VirtualJoystick

    stick = VirtualJoystick(axes=4, buttons=8, hats=1).attach()
    yield stick
    stick.detach()


def connect(window, loop, url):
    run(loop, window.controller.connect_to_server(url))
    wait_until(loop, lambda: window.controller.session.connected, what="connected")


def drive_with_recording(window, loop, tmp_path):
    """A server recording every device command, this window connected to it as pilot with driving enabled."""
    record = tmp_path / "drive.jsonl"
    server = ServerProcess("sim", extra=["--record", str(record)]).start()
    connect(window, loop, server.pilot_url)
    wait_until(loop, lambda: window.controller.role.value == "pilot", what="pilot")
    window.enable.click()
    return server, record


def test_virtual_joystick_is_detected_and_its_axes_are_read(window, loop, joystick):
    controller = window.controller
    wait_until(loop, lambda: controller.selected is not None, what="joystick picked")
    joystick.axis(0, 0.5)
    joystick.button(3, True)
    joystick.hat(0, (0, 1))
    wait_until(loop, lambda: abs(controller.current_input()[0][0] - 0.5) < 0.01, what="axis read")
    _axes, buttons, hats = controller.current_input()
    assert buttons[3] == 1 and hats[0] == (0, 1)
    assert window.gamepad_panel.picker.count() == 2


def test_stick_move_reaches_the_server_as_a_command(window, loop, joystick, tmp_path):
    record = tmp_path / "drive.jsonl"
    server = ServerProcess("sim", extra=["--record", str(record)]).start()
    try:
        controller = window.controller
        connect(window, loop, server.pilot_url)
        wait_until(loop, lambda: controller.role.value == "pilot", what="pilot")
        assert controller.drive.enabled is False
        joystick.axis(0, 0.25)
        run(loop, __import__("asyncio").sleep(0.1))
        assert '"B250"' not in record.read_text(), "nothing may be sent before Enable"
        window.enable.click()
        assert controller.drive.enabled
        joystick.axis(0, -0.5)
        wait_until(loop, lambda: '"line":"B-500"' in record.read_text(), what="B-500 written to the device")
    finally:
        server.stop()


def test_readings_appear_in_the_table_and_the_plot(window, loop, server):
    connect(window, loop, server.pilot_url)
    panel = window.readings_panel
    wait_until(loop, lambda: "A0" in panel.rows and panel.table.item(panel.rows["A0"], 1).text() != "", what="A0 in table")
    wait_until(loop, lambda: len(panel.plot.data.get("A0", ([], []))[0]) > 3, what="A0 plotted")


def test_emergency_stop_sends_neutral_and_disables(window, loop, joystick, tmp_path, qtbot):
    server, record = drive_with_recording(window, loop, tmp_path)
    try:
        controller = window.controller
        joystick.axis(0, 0.8)
        wait_until(loop, lambda: '"line":"B800"' in record.read_text(), what="B800")
        qtbot.keyClick(window, Qt.Key.Key_Space)
        assert controller.drive.enabled is False
        assert not window.enable.isChecked()
        wait_until(
            loop,
            lambda: record.read_text().rstrip().endswith('"line":"A0"}') or '"line":"B0"' in record.read_text().split("B800")[-1],
            what="neutral",
        )
        wait_until(loop, lambda: controller.estop_engaged, what="server reports e-stop")
        joystick.axis(0, 0.3)
        run(loop, __import__("asyncio").sleep(0.2))
        assert '"B300"' not in record.read_text()
    finally:
        server.stop()


def test_unplugging_the_gamepad_sends_neutral_and_disables(window, loop, tmp_path):
    from sdl_virtual import VirtualJoystick

    record = tmp_path / "drive.jsonl"
    server = ServerProcess("sim", extra=["--record", str(record)]).start()
    stick = VirtualJoystick().attach()
    try:
        controller = window.controller
        wait_until(loop, lambda: controller.selected is not None, what="joystick")
        connect(window, loop, server.pilot_url)
        wait_until(loop, lambda: controller.role.value == "pilot", what="pilot")
        window.enable.click()
        stick.axis(0, 0.6)
        wait_until(loop, lambda: '"line":"B600"' in record.read_text(), what="B600")
        stick.detach()
        wait_until(loop, lambda: controller.selected is None, what="unplug seen")
        assert controller.drive.enabled is False
        wait_until(loop, lambda: '"line":"B0"' in record.read_text().split('"B600"')[-1], what="neutral after unplug")
        # replug: a new instance id, picked up again
        stick = VirtualJoystick().attach()
        wait_until(loop, lambda: controller.selected is not None, what="replug seen")
    finally:
        stick.detach()
        server.stop()


def test_gui_reconnects_after_a_server_crash_and_the_device_gets_no_stale_command(window, loop, joystick, tmp_path):
    """The server is killed mid-drive and started again: the GUI is back as pilot within 3 s of the
    server listening, and nothing it sent before the crash reaches the device afterwards."""
    from test_faults import record_figure

    server, record = drive_with_recording(window, loop, tmp_path)
    try:
        controller = window.controller
        joystick.axis(0, 0.6)
        wait_until(loop, lambda: '"line":"B600"' in record.read_text(), what="B600")
        server.process.kill()  # a crash: no goodbye to the client
        server.process.wait()
        wait_until(loop, lambda: not controller.session.connected, what="disconnect seen")
        assert "reconnecting" in window.connection_bar.state.text()
        assert not controller.drive.enabled, "driving switches off when the link drops"
        joystick.axis(0, -0.3)  # the stick moves while the server is down
        before = len(record.read_text().splitlines())
        # in a thread, so the GUI's retry timers keep running on Qt's loop meanwhile, as for a user
        server = run(loop, asyncio.to_thread(server.restarted))
        listening = time.monotonic()  # start() returns within 50 ms of the port accepting
        wait_until(loop, lambda: controller.session.connected and controller.role.value == "pilot", timeout=5, what="back as pilot")
        back = time.monotonic() - listening
        window.enable.click()
        wait_until(loop, lambda: '"line":"B-300"' in record.read_text(), what="B-300 after the restart")
        after = [json.loads(line) for line in record.read_text().splitlines()[before:]]
        commands = [r["line"] for r in after if r["kind"] == "command"]
        assert "B600" not in commands, f"a stale command reached the device after the restart: {commands}"
        record_figure("server restart -> GUI back as pilot", back * 1000, 3000)
        assert back < 3.0
    finally:
        server.stop()


def test_keyboard_drives_the_virtual_stick_when_no_gamepad_is_used(window, loop, qtbot):
    controller = window.controller
    assert controller.selected is None
    qtbot.keyPress(window, Qt.Key.Key_Right)
    assert controller.virtual_axes[0] == 1.0
    qtbot.keyRelease(window, Qt.Key.Key_Right)
    assert controller.virtual_axes[0] == 0.0


def test_settings_dialog_refuses_a_bad_address_before_saving(window, loop, qtbot):
    dialog = SettingsDialog(window.controller, window)
    qtbot.addWidget(dialog)
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


def test_pasting_the_address_the_server_printed_fills_port_tls_and_token(window, loop, qtbot):
    dialog = SettingsDialog(window.controller, window)
    qtbot.addWidget(dialog)
    dialog.host.setCurrentText("wss://192.168.1.20:9001/#token=pasted-pilot-token-123")
    assert dialog.host.currentText() == "192.168.1.20"
    assert dialog.port.value() == 9001
    assert dialog.tls.isChecked()
    assert dialog.token.text() == "pasted-pilot-token-123"
    settings = dialog.collect()
    assert settings.tokens["192.168.1.20:9001"] == "pasted-pilot-token-123"


def test_wrong_token_is_shown_plainly_in_the_window(window, loop, server):
    from PySide6.QtWidgets import QApplication

    controller = window.controller
    run(loop, controller.connect_to_server(f"{server.url}/#token=not-the-right-token"))
    wait_until(loop, lambda: "may not drive" in window.connection_bar.state.text(), what="refusal shown")
    text = window.connection_bar.state.text()
    assert "wrong" in text and "settings" in text
    assert controller.role.value == "observer"
    QApplication.processEvents()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(ARTIFACTS / "main-window-wrong-token.png"))


def test_gui_drives_over_tls_when_it_trusts_the_robots_certificate_file(window, loop, certificate):
    cert, key = certificate
    server = ServerProcess("sim", extra=["--certfile", str(cert), "--keyfile", str(key)]).start()
    try:
        controller = window.controller
        run(loop, controller.connect_to_server(f"wss://127.0.0.1:{server.port}/#token={server.token}"))
        wait_until(
            loop,
            lambda: "not trusted" in window.connection_bar.state.text(),
            what="untrusted certificate explained: " + window.connection_bar.state.text(),
        )
        assert "certificate file" in window.connection_bar.state.text()
        controller.settings.cafile = str(cert)
        run(loop, controller.connect_to_server(f"wss://127.0.0.1:{server.port}/#token={server.token}"))
        wait_until(loop, lambda: controller.session.connected and controller.role.value == "pilot", what="pilot over wss")
    finally:
        server.stop()


def test_settings_persist_in_qsettings(window, loop, settings_store):
    window.controller.settings.host = "robot.local"
    window.close()
    restored = AppSettings.from_json(settings_store.value("settings/json", "", type=str))
    assert restored.host == "robot.local"


def test_csv_export_writes_what_was_shown(window, loop, server, tmp_path):
    connect(window, loop, server.pilot_url)
    wait_until(loop, lambda: window.controller.readings.count > 5, what="readings")
    path = tmp_path / "out.csv"
    window.export_csv(str(path))
    header = path.read_text().splitlines()[0].split(",")
    assert header[0] == "time" and "A0" in header


def test_about_box_names_the_versions(window):
    text = window.about_text()
    assert "PySide6" in text and "SDL" in text and "Python" in text


def test_screenshots_of_the_main_window_and_settings_dialog(window, loop, server, joystick, qtbot):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    connect(window, loop, server.pilot_url)
    wait_until(loop, lambda: window.controller.readings.count > 30, what="readings")
    window.enable.click()
    joystick.axis(0, 0.6)
    joystick.axis(1, -0.3)
    joystick.button(1, True)
    run(loop, __import__("asyncio").sleep(0.3))
    assert window.grab().save(str(ARTIFACTS / "main-window.png"))
    dialog = SettingsDialog(window.controller, window)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.grab().save(str(ARTIFACTS / "settings-dialog.png"))
    status = json.dumps(window.controller.status)
    assert "ready" in status


def test_an_observers_emergency_stop_disables_the_gui_until_it_re_enables(window, loop, joystick, tmp_path):
    import asyncio

    from websockets.asyncio.client import connect as ws_connect

    server, record = drive_with_recording(window, loop, tmp_path)
    try:
        controller = window.controller
        joystick.axis(0, 0.4)
        wait_until(loop, lambda: '"line":"B400"' in record.read_text(), what="B400")

        async def observer_presses_estop():
            async with ws_connect(server.url) as observer:
                await observer.send(json.dumps({"type": "hello", "role": "observer", "client": "dashboard"}))
                await observer.recv()
                await observer.send(json.dumps({"type": "estop", "engaged": True}))
                await asyncio.sleep(0.2)

        run(loop, observer_presses_estop())
        wait_until(loop, lambda: not controller.drive.enabled, what="driving disabled by the e-stop")
        assert "E-STOP" in window.link_state.text()
        assert "emergency stop by dashboard" in window.log.toPlainText()
        window.enable.click()  # the pilot re-enables: clears the e-stop and drives again
        joystick.axis(0, -0.2)
        wait_until(loop, lambda: '"line":"B-200"' in record.read_text(), what="driving again after re-enable")
        assert not controller.estop_engaged
    finally:
        server.stop()


class PtyFakeDevice:
    """The test plays the Arduino on a raw pty: answers every line OK, records them, writes what we ask."""

    def __init__(self, link) -> None:
        import os
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
        import os
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
        import os

        os.write(self.master, line.encode() + b"\n")

    def close(self) -> None:
        import os

        self.running = False
        self.thread.join(1)
        os.close(self.master)
        os.close(self.slave)


def test_gui_against_a_pty_device_commands_out_and_readings_in(window, loop, joystick, tmp_path):
    device = PtyFakeDevice(tmp_path / "ttyFAKE")
    server = ServerProcess(str(tmp_path / "ttyFAKE")).start()
    try:
        controller = window.controller
        connect(window, loop, server.pilot_url)
        wait_until(loop, lambda: (controller.status.get("serial") or {}).get("state") == "ready", what="device ready")
        window.enable.click()
        joystick.axis(0, -0.75)
        wait_until(loop, lambda: "B-750" in device.lines, what="B-750 on the serial line")
        for i in range(5):
            device.write(f"probe:{40 + i} A0:{100 * i}")
            run(loop, __import__("asyncio").sleep(0.05))
        panel = window.readings_panel
        wait_until(loop, lambda: "probe" in panel.rows and panel.table.item(panel.rows["probe"], 1).text() == "44", what="probe in table")
        controller.settings.plot.append("probe")
        panel.sync_curves()
        wait_until(loop, lambda: 44 in panel.plot.data.get("probe", ([], []))[1], what="probe plotted")
    finally:
        server.stop()
        device.close()
