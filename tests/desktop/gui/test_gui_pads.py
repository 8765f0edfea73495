"""Several gamepads in the desktop app, on a real display: the pad list, unplugging the driving pad, hold-to-drive.

SDL virtual devices stand in for the pads (tests/sdl_virtual.py): a raw-only pad
SDL does not know, and an Xbox-like pad made known to SDL through a
``gamecontrollerdb.txt`` line, as a user would add one. The server runs in its
own process and records every line it writes to the (simulated) device; what
must not reach the robot is checked there after an ordering barrier.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from guitools import ARTIFACTS, ServerProcess, paint_now, run, wait_until
from PySide6.QtWidgets import QDialogButtonBox
from sdl_virtual import XBOX_BLUETOOTH_BINDINGS, VirtualJoystick, xbox_like
from test_gui import click, commands, connect, neutral_after, shown_window, stop_server

from teleop.desktop.gui.adapter import QtAdapter
from teleop.desktop.gui.pad_list import PadList
from teleop.desktop.models.appsettings import AppSettings
from teleop.desktop.models.driving import DriveOff
from teleop.desktop.models.profiles import PadProfile
from teleop.desktop.models.shaping import AxisShape
from teleop.desktop.sdl.gamepad import GamepadManager
from teleop.desktop.session.teleop_model import TeleopModel
from teleop.wire.layout import RAW_BUTTONS, STANDARD_AXES, Layout
from teleop.wire.protocol import MAX_BUTTONS

#: where the Xbox-like pad has its shoulders, by raw button number (XBOX_BLUETOOTH_BINDINGS)
XBOX_LEFTSHOULDER = 6


@pytest.fixture
def xbox_mapping(tmp_path) -> Path:
    """A gamecontrollerdb.txt line for the Xbox-like virtual pad: SDL knows it once the app loads this file."""
    probe = xbox_like().attach()
    line = probe.mapping(XBOX_BLUETOOTH_BINDINGS)
    probe.detach()
    path = tmp_path / "gamecontrollerdb.txt"
    path.write_text(f"# a user's own mapping\n{line}\n")
    return path


@pytest.fixture
def pads_window(qtbot, loop, tmp_path, xbox_mapping):
    from PySide6.QtCore import QSettings

    store = QSettings(str(tmp_path / "teleop.ini"), QSettings.Format.IniFormat)
    model = TeleopModel(AppSettings(axes={0: AxisShape(deadzone=0.0)}))
    yield from shown_window(loop, QtAdapter(model, gamepads=GamepadManager(mappings=[xbox_mapping])), store)


def plug_and_drive(window, loop, plugged, pad: VirtualJoystick | None = None, what: str = "the pad drives") -> VirtualJoystick:
    """Plug in ``pad`` (the Xbox-like one unless given) and wait until the window drives with it."""
    pad = plugged(pad or xbox_like())
    wait_until(loop, lambda: window.model.drive.selected == pad.instance_id, what=what)
    return pad


def row_of(pad_list: PadList, instance_id: int | None) -> int:
    from PySide6.QtCore import Qt

    for row in range(pad_list.list.count()):
        if pad_list.list.item(row).data(Qt.ItemDataRole.UserRole) == instance_id:
            return row
    raise AssertionError(f"pad #{instance_id} is not in the list")


def click_row(display, pad_list: PadList, instance_id: int | None) -> None:
    widget = pad_list.list
    rect = widget.visualItemRect(widget.item(row_of(pad_list, instance_id)))
    point = widget.viewport().mapToGlobal(rect.center())
    display.click(point.x(), point.y())


def row_text(pad_list: PadList, instance_id: int | None) -> str:
    return pad_list.list.item(row_of(pad_list, instance_id)).text()


def settle_paint(loop) -> None:
    """Let Qt paint what changed before a screenshot (a picture, not an assertion, depends on it)."""
    import asyncio

    run(loop, asyncio.sleep(0.1))


def shoot(display, name: str) -> Path:
    paint_now()
    return display.screenshot(ARTIFACTS / f"xcb-pads-{name}.png")


def start_recording_server(window, loop, tmp_path) -> tuple[ServerProcess, Path]:
    record = tmp_path / "drive.jsonl"
    server = ServerProcess("sim", extra=["--record", str(record)]).start()
    connect(window, loop, server.pilot_url)
    wait_until(loop, lambda: window.model.connection.pilot, what="pilot")
    return server, record


def enable(window, loop, display) -> None:
    click(display, window.enable)
    wait_until(loop, lambda: window.model.drive.enabled, what="driving enabled")


# -- the pad list ---------------------------------------------------------------------------------


def test_every_pad_is_listed_with_its_layout_and_clicking_one_makes_it_drive(pads_window, loop, plugged, tmp_path, display):
    window = pads_window
    drive = window.model.drive
    raw = plug_and_drive(
        window,
        loop,
        plugged,
        VirtualJoystick(axes=4, buttons=8, hats=1, name="Raw Test Stick"),
        what="the first pad drives (nothing drove before)",
    )
    xbox = plugged(xbox_like())
    panel = window.gamepad_panel
    wait_until(loop, lambda: xbox.instance_id in drive.pads, what="the second pad listed")
    assert drive.selected == raw.instance_id, "plugging in a second pad must not change the driving pad"
    assert "standard layout" in row_text(panel.pads, xbox.instance_id) and "Xbox-like Test Pad" in row_text(panel.pads, xbox.instance_id)
    assert "raw" in row_text(panel.pads, raw.instance_id) and "Raw Test Stick" in row_text(panel.pads, raw.instance_id)
    assert row_text(panel.pads, raw.instance_id).startswith("▶"), "the driving pad is marked"
    assert panel.raw_view.isVisible() and not panel.pad_view.isVisible(), "a raw pad is shown as numbered axes"

    server, record = start_recording_server(window, loop, tmp_path)
    try:
        enable(window, loop, display)
        click_row(display, panel.pads, xbox.instance_id)
        wait_until(loop, lambda: drive.selected == xbox.instance_id, what="the clicked pad drives")
        assert not drive.enabled and drive.off_reason is DriveOff.PAD_CHANGED, "a pick while driving stops driving"
        wait_until(loop, lambda: "another pad picked" in window.drive_state.full_text(), what="the window says why driving stopped")
        enable(window, loop, display)
        assert drive.layout is Layout.STANDARD
        wait_until(loop, lambda: panel.pad_view.isVisible() and not panel.raw_view.isVisible(), what="the standard pad drawn")
        assert "Driving pad: Xbox-like Test Pad (standard layout)" in panel.pads.state.text()
        assert row_text(panel.pads, xbox.instance_id).startswith("▶") and not row_text(panel.pads, raw.instance_id).startswith("▶")
        raw.axis(0, -0.7)  # the pad that no longer drives moves first...
        xbox.axis(0, 0.4)  # ...then the driving one: its command is the barrier
        xbox.button(0, True)  # "a", lit on the drawn pad
        wait_until(loop, lambda: "B400" in commands(record), what="the clicked pad's stick at the device")
        assert "B-700" not in commands(record), "the pad that was not picked reached the robot"
        wait_until(loop, lambda: panel.pad_view.raw.get("leftx", 0) > 0.39 and panel.pad_view.pressed("a"), what="the drawn pad follows")
        shoot(display, "picked-standard-pad")
    finally:
        stop_server(window, loop, server)


def test_unplugging_the_driving_pad_stops_driving_and_no_other_pad_takes_over(pads_window, loop, plugged, tmp_path, display):
    window = pads_window
    drive = window.model.drive
    panel = window.gamepad_panel
    xbox = plug_and_drive(window, loop, plugged, what="the Xbox-like pad drives")
    other = plugged(VirtualJoystick(axes=4, buttons=8, hats=1, name="Spare Pad"))
    wait_until(loop, lambda: other.instance_id in drive.pads, what="the spare pad listed")
    server, record = start_recording_server(window, loop, tmp_path)
    try:
        enable(window, loop, display)
        xbox.axis(0, 0.6)
        wait_until(loop, lambda: "B600" in commands(record), what="driving with the Xbox-like pad")
        xbox.detach()
        wait_until(loop, lambda: not drive.enabled, what="driving stopped by the unplug")
        assert drive.off_reason is DriveOff.GAMEPAD_UNPLUGGED
        wait_until(loop, lambda: neutral_after(record, "B600"), what="neutral at the device after the unplug")
        wait_until(loop, lambda: "was unplugged" in panel.pads.state.text(), what="the window says the driving pad went")
        assert "Xbox-like Test Pad" in panel.pads.state.text()
        assert "gamepad unplugged" in window.drive_state.full_text()
        assert not any(panel.pads.list.item(r).text().startswith("▶") for r in range(panel.pads.list.count())), "nothing marked driving"
        shoot(display, "driving-pad-unplugged")
        # the barrier: a third pad plugged in afterwards is listed; by then nothing has picked the spare pad
        third = plugged(VirtualJoystick(axes=2, buttons=4, hats=0, name="Late Pad"))
        wait_until(loop, lambda: third.instance_id in drive.pads and row_of(panel.pads, third.instance_id) >= 0, what="a later pad listed")
        assert drive.selected is None, "another pad took over by itself"
        assert not drive.enabled
        other.axis(0, -0.5)
        wait_until(loop, lambda: abs(drive.pad_states[other.instance_id].axes[0] + 0.5) < 0.01, what="the spare pad's stick read")
        assert "B-500" not in commands(record)
        click_row(display, panel.pads, None)  # the pilot takes note by picking the on-screen sticks
        wait_until(loop, lambda: "on-screen sticks" in panel.pads.state.text(), what="the on-screen sticks acknowledged")
        assert drive.selected is None and not drive.enabled
        # the pilot picks the spare pad: it drives once enabled again
        click_row(display, panel.pads, other.instance_id)
        wait_until(loop, lambda: drive.selected == other.instance_id, what="the spare pad picked")
        assert "was unplugged" not in panel.pads.state.text()
        enable(window, loop, display)
        wait_until(loop, lambda: "B-500" in commands(record), what="the picked spare pad drives")
    finally:
        stop_server(window, loop, server)


# -- the settings dialog ---------------------------------------------------------------------------


def open_settings(window, loop, display):
    window.gamepad_panel.setFocus()
    display.key("ctrl+comma")
    wait_until(loop, lambda: window.settings_dialog is not None and window.settings_dialog.isActiveWindow(), what="settings open")
    return window.settings_dialog


def show_tab(display, loop, dialog, title: str) -> None:
    bar = dialog.tabs.tabBar()
    index = next(i for i in range(dialog.tabs.count()) if dialog.tabs.tabText(i) == title)
    point = bar.mapToGlobal(bar.tabRect(index).center())
    display.click(point.x(), point.y())
    wait_until(loop, lambda: dialog.tabs.currentIndex() == index, what=f"the {title} tab shown")


def test_hold_to_drive_chosen_in_settings_sends_only_while_held_and_neutral_on_release(pads_window, loop, plugged, tmp_path, display):
    window = pads_window
    drive = window.model.drive
    xbox = plug_and_drive(window, loop, plugged)
    server, record = start_recording_server(window, loop, tmp_path)
    try:
        dialog = open_settings(window, loop, display)
        show_tab(display, loop, dialog, "Gamepad")
        assert not dialog.hold.isChecked(), "hold-to-drive is off by default"
        click(display, dialog.hold)
        wait_until(loop, dialog.hold.isChecked, what="hold-to-drive ticked")
        click(display, dialog.hold_button)  # opens the list of the pad's buttons, by name
        wait_until(loop, lambda: dialog.hold_button.view().isVisible(), what="the button list open")
        display.type("leftsh")
        display.key("Return")
        wait_until(loop, lambda: dialog.hold_button.currentText() == "leftshoulder", what="leftshoulder picked")
        shoot(display, "settings-hold-to-drive")
        click(display, dialog.buttons.button(QDialogButtonBox.StandardButton.Ok))
        wait_until(loop, lambda: window.settings_dialog is None, what="settings closed with OK")
        assert window.model.settings.pads[xbox.guid].deadman == "leftshoulder"
        assert drive.deadman_held is False

        enable(window, loop, display)
        xbox.axis(0, 0.6)  # the stick pushed, the button not held: the robot must not move
        wait_until(loop, lambda: abs(drive.current_input().axes[0] - 0.6) < 0.01, what="stick read")
        wait_until(loop, lambda: "not held" in window.gamepad_panel.pads.state.text(), what="the window says it is not held")
        assert "while you hold leftshoulder" in window.drive_state.full_text()
        view = window.gamepad_panel.pad_view
        wait_until(loop, lambda: view.raw.get("leftx", 0) > 0.59, what="the drawn stick pushed")
        assert view.sent is not None and view.sent["leftx"] == 0.0, "shown as sent: neutral, since the button is not held"
        settle_paint(loop)
        shoot(display, "hold-to-drive-not-held")
        xbox.button(XBOX_LEFTSHOULDER, True)
        wait_until(loop, lambda: "B600" in commands(record), what="driving while leftshoulder is held")
        sticks = [c for c in commands(record) if c.startswith("B")]  # the stick's output (A carries the held button)
        assert set(sticks[: sticks.index("B600")]) == {"B0"}, f"the stick drove before the button was held: {sticks}"
        xbox.button(XBOX_LEFTSHOULDER, False)
        wait_until(loop, lambda: neutral_after(record, "B600"), what="neutral at the device on release")
        assert drive.enabled, "letting go stops the robot, not driving"
        xbox.axis(0, 0.3)  # moved while let go: nothing; the barrier is holding again
        xbox.button(XBOX_LEFTSHOULDER, True)
        wait_until(loop, lambda: "B300" in commands(record), what="driving again when held again")
        sticks = [c for c in commands(record) if c.startswith("B")]
        after_release = sticks[len(sticks) - sticks[::-1].index("B600") :]
        assert set(after_release[: after_release.index("B300")]) == {"B0"}, f"moved while let go: {after_release}"
    finally:
        stop_server(window, loop, server)


def test_axis_rows_are_named_after_the_pads_controls(pads_window, loop, plugged):
    window = pads_window
    drive = window.model.drive
    xbox = plugged(xbox_like())
    raw = plugged(VirtualJoystick(axes=3, buttons=6, hats=0, name="Three Axis Stick"))
    wait_until(loop, lambda: drive.selected == xbox.instance_id and raw.instance_id in drive.pads, what="both pads")
    dialog = window.open_settings()
    assert dialog.axis_names == list(STANDARD_AXES)
    assert "Xbox-like Test Pad" in dialog.axes_title.text()
    assert [dialog.hold_button.itemText(i) for i in range(4)] == ["a", "b", "x", "y"]
    dialog.layout_choice.setCurrentIndex(dialog.layout_choice.findData("raw"))  # the pilot prefers raw numbers for this pad
    assert dialog.axis_names == ["axis0", "axis1", "axis2", "axis3", "axis4", "axis5"]
    assert dialog.hold_button.itemText(0) == "button0"
    dialog.accept()
    wait_until(loop, lambda: window.settings_dialog is None, what="closed")
    assert drive.layout is Layout.RAW, "the layout chosen for this pad is used"
    panel = window.gamepad_panel
    wait_until(loop, lambda: panel.raw_view.isVisible() and not panel.pad_view.isVisible(), what="the pad shown raw now")
    assert "raw" in row_text(panel.pads, xbox.instance_id)
    dialog = window.open_settings()
    assert dialog.axis_names[:2] == ["axis0", "axis1"], "the choice is kept in the pad's profile"
    dialog.reject()
    wait_until(loop, lambda: window.settings_dialog is None, what="closed")
    drive.select(raw.instance_id)
    dialog = window.open_settings()
    assert dialog.axis_names == ["axis0", "axis1", "axis2"]
    assert dialog.hold_button.itemText(5) == "button5"
    assert "does not know this pad" in dialog.pad_about.text()
    dialog.reject()


def test_a_pad_profile_is_kept_with_the_pad_exported_and_imported(pads_window, loop, plugged, tmp_path):
    window = pads_window
    drive = window.model.drive
    xbox = plug_and_drive(window, loop, plugged)
    dialog = window.open_settings()
    row = dialog.axis_names.index("lefty")
    dialog.axis_widgets[row][0].setValue(0.2)  # deadzone
    dialog.axis_widgets[row][2].setChecked(True)  # invert
    dialog.hold.setChecked(True)
    dialog.hold_button.setCurrentText("rightshoulder")
    exported = tmp_path / "xbox.teleop-pad.json"
    assert dialog.export_profile(str(exported))
    assert "Saved" in dialog.profile_message.text()
    dialog.accept()
    stored = window.model.settings.pads[xbox.guid]
    assert stored.deadman == "rightshoulder" and stored.shapes["lefty"].invert and stored.shapes["lefty"].deadzone == 0.2

    # bad files: a clear message, and nothing in the dialog or the settings changes
    not_json = tmp_path / "notes.txt"
    not_json.write_text("my robot notes")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"format": "teleop-pad-profile", "version": 1, "guid": "abc", "deadman": "jump"}))
    dialog = window.open_settings()
    for path, words in ((not_json, "not a teleop pad profile"), (wrong, "deadman"), (tmp_path / "missing.json", "cannot read")):
        assert not dialog.import_profile(str(path))
        assert "Nothing imported" in dialog.profile_message.text() and words in dialog.profile_message.text(), dialog.profile_message.text()
        assert dialog.collect_profile() == stored
    dialog.reject()
    assert window.model.settings.pads[xbox.guid] == stored

    # a friend's profile for the same model of pad: imported for this pad
    friend = PadProfile("0300aaaabbbbcccc0000000000000000", "Friend's pad", shapes={"leftx": AxisShape(expo=0.5)}, deadman="a")
    from teleop.desktop.models.profiles import export_profile

    export_profile(friend, tmp_path / "friend.json")
    dialog = window.open_settings()
    assert dialog.import_profile(str(tmp_path / "friend.json"))
    assert "Friend's pad" in dialog.profile_message.text()
    assert dialog.hold.isChecked() and dialog.hold_button.currentText() == "a"
    assert dialog.axis_widgets[dialog.axis_names.index("leftx")][1].value() == 0.5
    dialog.accept()
    mine = window.model.settings.pads[xbox.guid]
    assert (mine.guid, mine.deadman, mine.shapes["leftx"].expo) == (xbox.guid, "a", 0.5)
    assert drive.timing.settings.deadman == "a", "the imported profile drives at once"


def test_the_profile_comes_back_when_the_pad_is_plugged_in_again(pads_window, loop, plugged):
    window = pads_window
    drive = window.model.drive
    xbox = plug_and_drive(window, loop, plugged)
    dialog = window.open_settings()
    dialog.hold.setChecked(True)
    dialog.hold_button.setCurrentText("rightshoulder")
    dialog.accept()
    xbox.detach()
    wait_until(loop, lambda: drive.selected is None, what="unplugged")
    plug_and_drive(window, loop, plugged, what="the same pad plugged in again drives again")
    assert drive.timing.settings.deadman == "rightshoulder"
    assert drive.deadman_held is False
    dialog = window.open_settings()
    assert dialog.hold.isChecked() and dialog.hold_button.currentText() == "rightshoulder"
    dialog.reject()


def test_a_raw_pads_hold_to_drive_button_is_numbered(pads_window, loop, plugged):
    window = pads_window
    drive = window.model.drive
    raw = plug_and_drive(
        window, loop, plugged, VirtualJoystick(axes=4, buttons=8, hats=1, name="Raw Test Stick"), what="the raw pad drives"
    )
    dialog = window.open_settings()
    dialog.hold.setChecked(True)
    assert dialog.hold_button.currentText() == f"button{RAW_BUTTONS['rightshoulder']}", "the usual right shoulder by default"
    dialog.accept()
    assert drive.deadman_held is False
    raw.button(RAW_BUTTONS["rightshoulder"], True)
    wait_until(loop, lambda: drive.deadman_held is True, what="held")


def test_screenshot_of_the_gamepad_settings_for_the_readme(pads_window, loop, plugged, display):
    """docs/settings-gamepad.png is this picture, copied by hand when the dialog changes."""
    window = pads_window
    drive = window.model.drive
    xbox = plugged(xbox_like())
    for trigger in (4, 5):
        xbox.axis(trigger, -1.0)  # a real trigger rests fully out
    wait_until(loop, lambda: drive.selected == xbox.instance_id, what="the pad drives")
    dialog = open_settings(window, loop, display)
    show_tab(display, loop, dialog, "Gamepad")
    click(display, dialog.hold)
    wait_until(loop, dialog.hold.isChecked, what="hold-to-drive ticked")
    shoot(display, "settings-gamepad-tab")
    paint_now()
    assert dialog.grab().save(str(ARTIFACTS / "settings-gamepad.png"))
    show_tab(display, loop, dialog, "Axes")
    shoot(display, "settings-axes-named")
    xbox.axis(0, 0.5)
    xbox.axis(1, -0.4)
    xbox.axis(5, 0.2)
    xbox.button(4, True)  # y, in the Bluetooth numbering
    wait_until(loop, lambda: window.gamepad_panel.pad_view.pressed("y"), what="the drawn pad follows")
    assert window.gamepad_panel.grab().save(str(ARTIFACTS / "gamepad-panel-standard.png"))
    dialog.reject()


def test_rumble_on_an_emergency_stop_can_be_turned_off_in_settings(pads_window, loop, plugged, tmp_path, display):
    window = pads_window
    model = window.model
    xbox = plug_and_drive(window, loop, plugged)
    server, _record = start_recording_server(window, loop, tmp_path)
    try:
        enable(window, loop, display)
        click(display, window.estop)
        wait_until(loop, xbox.rumbled.is_set, what="the pad rumbled on the emergency stop")
        wait_until(loop, lambda: model.connection.status.estop, what="the server's e-stop")
        dialog = open_settings(window, loop, display)
        show_tab(display, loop, dialog, "Gamepad")
        assert dialog.rumble.isChecked(), "rumble is on by default"
        click(display, dialog.rumble)
        wait_until(loop, lambda: not dialog.rumble.isChecked(), what="rumble unticked")
        click(display, dialog.buttons.button(QDialogButtonBox.StandardButton.Ok))
        wait_until(loop, lambda: window.settings_dialog is None, what="settings closed with OK")
        assert model.settings.rumble is False
        enable(window, loop, display)  # lifts the e-stop
        wait_until(loop, lambda: not model.connection.status.estop, what="e-stop lifted")
        felt = len([r for r in xbox.rumbles if any(r)])
        click(display, window.estop)
        wait_until(loop, lambda: model.connection.status.estop, what="the second e-stop reached the app")  # the barrier
        assert len([r for r in xbox.rumbles if any(r)]) == felt, "the pad rumbled with rumble turned off"
    finally:
        stop_server(window, loop, server)


def test_a_pad_profile_changed_by_the_model_is_saved_at_once(pads_window, loop, plugged):
    window = pads_window
    drive = window.model.drive
    xbox = plug_and_drive(window, loop, plugged)
    drive.edit_profile(xbox.instance_id, deadman="b")
    saved = AppSettings.from_json(window.store.value("settings/json", "", type=str))
    assert saved.pads[xbox.guid].deadman == "b"


def test_a_damaged_settings_file_is_copied_aside_before_the_app_writes_over_it(tmp_path, display):
    """Pad profiles, tokens and recent servers must not vanish because the stored settings are unreadable."""
    import os
    import signal

    from PySide6.QtCore import QSettings
    from test_gui import launch_app

    from teleop.desktop.gui.main_window import SETTINGS_KEY

    whole = AppSettings(token="my-token", pads={"0300aaaa": PadProfile("0300aaaa", "My Pad", deadman="rightshoulder")}).to_json()
    damaged = whole[: len(whole) // 2]  # cut short, as a full disk or a bad edit leaves it
    store = QSettings(str(tmp_path / "t.ini"), QSettings.Format.IniFormat)
    store.setValue(SETTINGS_KEY, damaged)
    store.sync()
    app = launch_app(display, tmp_path, "--demo")
    try:
        log = ""
        for line in app.stdout:  # up and running (its stop signals handled) once connected
            log += line
            if "connection connected" in line:
                break
        assert "settings could not be read in full" in log, log
        app.send_signal(signal.SIGTERM)
        output, _ = app.communicate(timeout=15)
        assert app.returncode == 0, log + output
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
    copies = sorted(tmp_path.glob("t.ini.unreadable-*"))
    assert len(copies) == 1 and copies[0].name in log, log
    assert copies[0].read_text(encoding="utf-8") == damaged, "the copy is what was stored, byte for byte"
    assert os.stat(copies[0]).st_mode & 0o077 == 0, "the copy holds pilot tokens: its owner's only"
    store.sync()
    assert AppSettings.from_json(store.value(SETTINGS_KEY, "", type=str)).to_json() != damaged, "the app saved fresh settings on close"


def test_a_pad_with_many_axes_does_not_stretch_the_window_past_the_screen(pads_window, loop, plugged, display):
    """A 40-axis HOTAS or button box: its axis bars scroll inside the stick area, the window stays on screen."""
    window = pads_window
    screen = window.screen().availableGeometry()
    big = plug_and_drive(
        window, loop, plugged, VirtualJoystick(axes=40, buttons=100, hats=2, name="Big Button Box"), what="the big pad drives"
    )
    big.axis(39, 0.5)
    panel = window.gamepad_panel
    wait_until(loop, lambda: panel.bars and len(panel.bars) >= 32 and panel.bars[-1].raw > 0.4, what="its last axis read")
    settle_paint(loop)
    assert window.minimumSizeHint().height() <= screen.height(), "the window cannot fit the screen any more"
    assert window.frameGeometry().bottom() <= screen.bottom(), "the window grew past the screen"
    shoot(display, "forty-axes")


def test_settings_ok_keeps_a_hold_to_drive_button_the_list_does_not_offer(pads_window, loop, plugged):
    """An imported profile holding to drive with a back paddle: OK in Settings must not swap it for the right shoulder."""
    window = pads_window
    drive = window.model.drive
    xbox = plug_and_drive(window, loop, plugged)
    drive.edit_profile(xbox.instance_id, deadman="paddle1")
    dialog = window.open_settings()
    assert dialog.hold.isChecked() and dialog.hold_button.currentText() == "paddle1"
    dialog.accept()
    assert drive.profile.deadman == "paddle1" and drive.timing.settings.deadman == "paddle1"


def test_a_raw_pad_with_more_buttons_than_the_wire_offers_only_buttons_that_are_sent(pads_window, loop, plugged):
    window = pads_window
    plug_and_drive(window, loop, plugged, VirtualJoystick(axes=2, buttons=100, hats=0, name="Hundred Buttons"), what="the box drives")
    dialog = window.open_settings()
    names = [dialog.hold_button.itemText(i) for i in range(dialog.hold_button.count())]
    dialog.reject()
    assert names[0] == "button0" and names[-1] == f"button{MAX_BUTTONS - 1}", "a button past the wire could never be seen held"


def test_a_pad_without_buttons_cannot_tick_hold_to_drive(pads_window, loop, plugged):
    """Ticked with no button to pick, hold-to-drive would be saved as off while the box said on."""
    window = pads_window
    plug_and_drive(window, loop, plugged, VirtualJoystick(axes=3, buttons=0, hats=0, name="Rudder Pedals"), what="the pedals drive")
    dialog = window.open_settings()
    assert dialog.hold_button.count() == 0
    assert not dialog.hold.isEnabled() and "no buttons" in dialog.hold.toolTip()
    dialog.reject()
