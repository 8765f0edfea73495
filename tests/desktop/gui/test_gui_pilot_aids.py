"""Speed, pad buttons and pad health in the desktop app, on a real display, against the real server.

SDL virtual pads stand in for the pads (tests/sdl_virtual.py); the server runs in its
own process and bridges to a simulated device behind a real pty in this process, whose
received lines are what the robot got (the default mapping: ``B`` = leftx x 1000).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from guitools import ARTIFACTS, ServerProcess, run, wait_until
from PySide6.QtWidgets import QDialogButtonBox
from sdl_virtual import VirtualJoystick
from test_gui import click, has_focus
from test_gui_pads import open_settings, pads_window, plug_and_drive, settle_paint, shoot, show_tab, xbox_mapping  # noqa: F401 (fixtures)

from teleop.desktop.models.actions import Action
from teleop.desktop.models.driving import DriveOff
from teleop.desktop.models.padhealth import Battery, Staleness, StaleSettings
from teleop.desktop.models.profiles import PadProfile
from teleop.desktop.models.speed import SpeedSettings
from teleop_server.device.simulated import PtyDevice, SimulatedDevice

#: the Xbox-like pad's raw button numbers (XBOX_BLUETOOTH_BINDINGS)
XBOX_X, XBOX_Y, XBOX_RIGHTSHOULDER, XBOX_BACK, XBOX_START = 3, 4, 7, 10, 11


@pytest.fixture
def aids_window(pads_window):  # noqa: F811 (the fixture of test_gui_pads)
    return pads_window


@pytest.fixture
def pad_guid(xbox_mapping) -> str:  # noqa: F811
    """The Xbox-like pad's GUID (its mapping line starts with it), to give it a profile before it is plugged in."""
    return xbox_mapping.read_text().splitlines()[1].split(",")[0]


class PtyRobot:
    """The simulated device behind a real pty, on its own thread and asyncio loop.

    Not on the GUI's qasync loop: Qt runs that loop's callbacks outside ``run_until_complete``
    at times (a dialog, a paint), where the device's timeouts find no running loop and it dies.
    """

    def __init__(self, link: str) -> None:
        self.pty = PtyDevice(SimulatedDevice(), link=link)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pty-robot", daemon=True)
        self._thread.start()
        self.path = asyncio.run_coroutine_threadsafe(self.pty.start(), self._loop).result(10)

    @property
    def received_lines(self) -> list[tuple[float, str]]:
        return list(self.pty.received_lines)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.pty.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def robot(window, loop, tmp_path: Path, *config_lines: str) -> tuple[PtyRobot, ServerProcess]:
    """A simulated device on a pty, the server bridging to it (with these config lines), this window its pilot."""
    pty = PtyRobot(str(tmp_path / "ttyROBOT"))
    extra = []
    if config_lines:
        config = tmp_path / "robot.toml"
        config.write_text("\n".join(config_lines) + "\n")
        extra = ["--config", str(config)]
    server = ServerProcess(pty.path, extra=extra)
    run(loop, asyncio.to_thread(server.start), timeout=30)
    run(loop, window.model.connect(server.pilot_url))
    wait_until(loop, lambda: window.model.connection.pilot, what="connected as pilot")
    return pty, server


def unplug_robot(window, loop, pty: PtyRobot, server: ServerProcess) -> None:
    run(loop, window.model.disconnect())
    server.stop()
    pty.stop()


def enable(window, loop, display) -> None:
    """Click Enable driving. The pointer goes elsewhere first: the window sits where the last test's did, and
    ``mousemove --sync`` to where the pointer already is waits until something else moves it."""
    display.xdotool("mousemove", "5", "5")
    click(display, window.enable)
    wait_until(loop, lambda: window.model.drive.enabled, what="driving enabled")


def motor(pty: PtyRobot) -> list[int]:
    """Every leftx value the device was sent, in order."""
    return [int(line[1:]) for _, line in pty.received_lines if line.startswith("B") and line[1:].lstrip("-").isdigit()]


def neutral_after(pty: PtyRobot, value: int) -> bool:
    sent = motor(pty)
    return value in sent and 0 in sent[len(sent) - sent[::-1].index(value) :]


def press(pad: VirtualJoystick, *buttons: int) -> None:
    for button in buttons:
        pad.button(button, True)


def release(pad: VirtualJoystick, *buttons: int) -> None:
    for button in buttons:
        pad.button(button, False)


def test_an_emergency_stop_chord_bound_by_pressing_it_in_settings_stops_the_robot(aids_window, loop, plugged, tmp_path, display):
    window = aids_window
    drive = window.model.drive
    xbox = plug_and_drive(window, loop, plugged)
    spare = plugged(VirtualJoystick(axes=4, buttons=8, hats=1, name="Spare Pad"))
    wait_until(loop, lambda: spare.instance_id in drive.pads, what="the spare pad listed")
    pty, server = robot(window, loop, tmp_path)
    try:
        dialog = open_settings(window, loop, display)
        show_tab(display, loop, dialog, "Buttons")
        page = dialog.actions_page
        assert page.binding_of(Action.ESTOP) == "—"
        click(display, page.press_buttons[Action.ESTOP])
        wait_until(loop, lambda: page.capturing is Action.ESTOP and drive.capturing, what="waiting for the button")
        press(spare, 0, 1)  # the pad that does not drive: never read
        wait_until(loop, lambda: drive.pad_states[spare.instance_id].buttons[:2] == [1, 1], what="the spare pad's buttons read")
        press(xbox, XBOX_BACK)
        wait_until(loop, lambda: "back" in page.press_buttons[Action.ESTOP].text(), what="the held button shown")
        press(xbox, XBOX_START)
        wait_until(loop, lambda: "back+start" in page.press_buttons[Action.ESTOP].text(), what="the chord shown")
        release(xbox, XBOX_BACK, XBOX_START)
        wait_until(loop, lambda: page.binding_of(Action.ESTOP) == "back+start", what="the chord bound")
        assert not drive.capturing and page.capturing is None
        settle_paint(loop)
        shoot(display, "settings-actions-bound")
        assert dialog.grab().save(str(ARTIFACTS / "settings-actions.png"))
        click(display, dialog.buttons.button(QDialogButtonBox.StandardButton.Ok))
        wait_until(loop, lambda: window.settings_dialog is None, what="settings closed with OK")
        assert window.model.settings.pads[xbox.guid].actions == {"back+start": Action.ESTOP}, "kept in the pad's profile"

        enable(window, loop, display)
        xbox.axis(0, 0.6)
        wait_until(loop, lambda: 600 in motor(pty), what="driving with the pad")
        # typing in a field: the chord fires nothing (the barrier: a later stick movement reaches the device)
        click(display, window.connection_bar.address.lineEdit())
        wait_until(loop, lambda: drive.text_focus, what="the address field has the keyboard")
        press(xbox, XBOX_BACK, XBOX_START)
        wait_until(loop, lambda: drive.actions.pressed == {"back", "start"}, what="the chord seen held")
        release(xbox, XBOX_BACK, XBOX_START)
        xbox.axis(0, 0.5)
        wait_until(loop, lambda: 500 in motor(pty), what="the barrier: a later movement at the device")
        assert drive.enabled and not window.model.connection.status.estop, "the chord fired while the pilot was typing"
        window.gamepad_panel.setFocus()
        wait_until(loop, lambda: has_focus(window.gamepad_panel) and not drive.text_focus, what="focus back in the stick area")
        press(xbox, XBOX_BACK, XBOX_START)
        wait_until(loop, lambda: not drive.enabled, what="the chord stopped driving")
        assert drive.off_reason is DriveOff.EMERGENCY_STOP
        wait_until(loop, lambda: neutral_after(pty, 500), what="neutral at the device")
        wait_until(loop, lambda: window.model.connection.status.estop, what="the server holds every client off")
    finally:
        unplug_robot(window, loop, pty, server)


def test_the_pads_speed_scale_and_the_robots_cap_reach_the_device(aids_window, loop, plugged, tmp_path, display, pad_guid):
    window = aids_window
    drive = window.model.drive
    guid = pad_guid
    speed = SpeedSettings(scale=0.4, turbo=1.0)
    window.model.settings.set_profile(PadProfile(guid, "Xbox-like Test Pad", speed=speed, actions={"rightshoulder": Action.TURBO}))
    xbox = plug_and_drive(window, loop, plugged)
    pty, server = robot(window, loop, tmp_path, "[limits]", "max_speed = 0.5")
    try:
        wait_until(loop, lambda: drive.speed.cap == 0.5, what="the robot's cap known to the app")
        assert window.speed_badge.text() == "40% speed"
        enable(window, loop, display)
        xbox.axis(0, 1.0)
        wait_until(loop, lambda: 400 in motor(pty), what="full stick at the profile's scale")
        press(xbox, XBOX_RIGHTSHOULDER)
        wait_until(loop, lambda: 500 in motor(pty), what="turbo, held down to the robot's cap")
        wait_until(loop, lambda: window.speed_badge.text() == "50% capped", what="the badge says the cap holds")
        assert "caps it at 50%" in window.speed_badge.toolTip()
        settle_paint(loop)
        shoot(display, "speed-capped")
        assert max(motor(pty)) == 500, f"past the cap: {motor(pty)}"
        release(xbox, XBOX_RIGHTSHOULDER)
        wait_until(loop, lambda: motor(pty)[-1] == 400, what="turbo let go: back to the scale at once")
        assert window.speed_badge.text() == "40% speed"
    finally:
        unplug_robot(window, loop, pty, server)


def test_a_pad_that_freezes_while_driving_is_no_longer_re_sent_and_the_servers_failsafe_stops_the_robot(
    aids_window, loop, plugged, tmp_path, display
):
    window = aids_window
    drive = window.model.drive
    xbox = plug_and_drive(window, loop, plugged)
    drive.stale.settings = StaleSettings(stale_after=1.5)
    pty, server = robot(window, loop, tmp_path)
    try:
        enable(window, loop, display)
        xbox.axis(0, 0.7)  # and then nothing changes: a Bluetooth link that died with the stick pushed
        wait_until(loop, lambda: 700 in motor(pty), what="driving")
        wait_until(loop, lambda: drive.staleness is Staleness.WARNING and window.pad_warning.isVisible(), what="warned first")
        assert 0 not in motor(pty)[motor(pty).index(700) :], "neutral before the guard stopped re-sending"
        settle_paint(loop)
        shoot(display, "pad-stale-warning")
        wait_until(loop, lambda: drive.staleness is Staleness.STALE, what="no longer re-sent")
        sent_when_stale = drive.sent_count
        wait_until(loop, lambda: neutral_after(pty, 700), what="the server's failsafe set the device neutral")
        wait_until(loop, lambda: window.model.connection.status.failsafe, what="the server says its failsafe tripped")
        assert drive.enabled and drive.sent_count == sent_when_stale, "the app sent nothing: the server's failsafe did it"
        assert drive.timing.output()[0][0] > 0.69, "the app's own output was still the frozen stick"
        assert "failsafe" in window.pad_warning.text()
        settle_paint(loop)
        shoot(display, "pad-stale-failsafe")
        xbox.axis(0, 0.65)  # the pad speaks again
        wait_until(loop, lambda: 650 in motor(pty), what="driving again at once")
        assert drive.staleness is Staleness.FRESH
        wait_until(loop, lambda: not window.pad_warning.isVisible(), what="the warning goes")
    finally:
        unplug_robot(window, loop, pty, server)


def test_a_low_battery_on_the_driving_pad_is_warned_about_with_its_coarse_level(aids_window, loop, plugged, display):
    window = aids_window
    drive = window.model.drive
    xbox = plug_and_drive(window, loop, plugged)
    # SDL's virtual pads report no power level; the app reads what SDL says for a real one
    assert window.adapter.gamepads.battery(xbox.instance_id) is Battery.UNKNOWN
    assert drive.battery is Battery.UNKNOWN and not window.pad_warning.isVisible()
    drive.set_battery(xbox.instance_id, Battery.LOW)
    wait_until(loop, window.pad_warning.isVisible, what="the warning shown")
    assert "battery low (coarse level)" in window.pad_warning.text()
    settle_paint(loop)
    shoot(display, "pad-battery-low")


def test_pad_buttons_take_a_snapshot_of_the_camera_and_ask_the_robot_to_record(aids_window, loop, plugged, tmp_path, pad_guid):
    window = aids_window
    model = window.model
    actions = {"x": Action.SNAPSHOT, "y": Action.RECORD}
    model.settings.set_profile(PadProfile(pad_guid, "Xbox-like Test Pad", actions=actions))
    model.snapshot_dir = tmp_path / "snapshots"
    xbox = plug_and_drive(window, loop, plugged)
    robot_config = tmp_path / "robot.toml"
    robot_config.write_text(f'[snapshot]\nfolder = "{tmp_path / "robot-recordings"}"\n')
    server = ServerProcess("sim", extra=["--camera", "sim", "--config", str(robot_config)]).start()
    try:
        run(loop, model.connect(server.pilot_url))
        wait_until(loop, lambda: model.video.latest is not None, timeout=20, what="a camera picture")
        press(xbox, XBOX_X)  # held until seen: SDL's events between two polls are read as the state they end in
        wait_until(loop, lambda: model.snapshot_dir.is_dir() and any(model.snapshot_dir.iterdir()), what="the snapshot saved")
        release(xbox, XBOX_X)
        (saved,) = model.snapshot_dir.iterdir()
        picture = saved.read_bytes()
        assert picture[:2] == b"\xff\xd8" and picture[-2:] == b"\xff\xd9", "the camera's JPEG, byte for byte"
        assert saved.name.endswith(("-captured.jpg", "-received.jpg"))
        press(xbox, XBOX_Y)
        wait_until(loop, lambda: "asked the robot to record: start" in window.log.toPlainText(), what="recording asked for")
        wait_until(loop, lambda: "recording to " in window.log.toPlainText(), what="the robot says where it records")
        assert any((tmp_path / "robot-recordings").glob("teleop-*")), "the robot's recording file"
        release(xbox, XBOX_Y)
        wait_until(loop, lambda: "y" not in model.drive.actions.pressed, what="y let go")
        press(xbox, XBOX_Y)
        wait_until(loop, lambda: "asked the robot to record: stop" in window.log.toPlainText(), what="the second press stops it")
        wait_until(loop, lambda: "recording stopped by" in window.log.toPlainText(), what="the robot says it stopped")
        assert len(list(model.snapshot_dir.iterdir())) == 1, "one press, one snapshot"
    finally:
        run(loop, model.disconnect())
        server.stop()


def test_waiting_for_a_button_stops_when_the_pad_is_unplugged_and_binds_nothing(aids_window, loop, plugged, display):
    window = aids_window
    drive = window.model.drive
    xbox = plug_and_drive(window, loop, plugged)
    dialog = open_settings(window, loop, display)
    show_tab(display, loop, dialog, "Buttons")
    page = dialog.actions_page
    display.xdotool("mousemove", "5", "5")
    click(display, page.press_buttons[Action.SNAPSHOT])
    wait_until(loop, lambda: drive.capturing, what="waiting for the button")
    xbox.detach()
    wait_until(loop, lambda: not drive.capturing, what="no longer waiting")
    assert "no longer drives" in page.message.text() and page.binding_of(Action.SNAPSHOT) == "—"
    assert page.press_buttons[Action.SNAPSHOT].text() == "Press…"
    display.xdotool("mousemove", "5", "5")
    click(display, page.press_buttons[Action.SNAPSHOT])  # with no pad driving, Press… says why and waits for nothing
    wait_until(loop, lambda: "Only the pad that drives" in page.message.text(), what="told why")
    assert not drive.capturing
    dialog.reject()
