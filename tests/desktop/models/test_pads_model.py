"""Pads in the Qt-free models: hold-to-drive with a fake clock, profiles, several pads, rumble requests."""

from __future__ import annotations

import json

import pytest
from modelkit import connected_model, is_neutral, status

from teleop.desktop.models.appsettings import AppSettings, unreadable_part
from teleop.desktop.models.connection import ConnectionState, Problem
from teleop.desktop.models.drive import DriveController, DriveSettings
from teleop.desktop.models.driving import DriveOff
from teleop.desktop.models.pads import Buzz, GamepadInfo, GamepadState
from teleop.desktop.models.profiles import LayoutChoice, PadProfile, ProfileError, export_profile, import_profile
from teleop.desktop.models.shaping import AxisShape
from teleop.wire.layout import STANDARD_AXES, STANDARD_BUTTONS, Layout
from teleop.wire.protocol import MAX_AXES, MAX_BUTTONS, MAX_HATS, Invalid, encode, parse_client_message

RB = STANDARD_BUTTONS.index("rightshoulder")


def pad_input(leftx: float = 0.0, held: bool = False) -> tuple[list[float], list[int]]:
    axes = [0.0] * len(STANDARD_AXES)
    axes[0] = leftx
    buttons = [0] * len(STANDARD_BUTTONS)
    buttons[RB] = int(held)
    return axes, buttons


# -- hold-to-drive ---------------------------------------------------------------------------


def hold_to_drive() -> DriveController:
    drive = DriveController(DriveSettings(rate_hz=50, default_shape=AxisShape(deadzone=0.0), deadman="rightshoulder"))
    drive.set_input(*pad_input(), [], 0.0, Layout.STANDARD)
    return drive


def test_hold_to_drive_sends_only_neutral_until_the_button_is_held():
    drive = hold_to_drive()
    assert drive.enable(0.0).axes == (0.0,) * 6
    assert drive.set_input(*pad_input(0.8), [], 0.01, Layout.STANDARD) is None, "a stick move without the button is not sent"
    resent = drive.poll(0.03)
    assert resent is not None and resent.axes == (0.0,) * 6, "neutral keeps going out, so the server's failsafe stays quiet"
    held = drive.set_input(*pad_input(0.8, held=True), [], 0.04, Layout.STANDARD)
    assert held is not None and held.axes[0] == 0.8 and held.layout is Layout.STANDARD


def test_letting_go_of_the_hold_to_drive_button_sends_neutral_at_once_even_inside_the_rate_cap():
    drive = hold_to_drive()
    drive.enable(0.0)
    assert drive.set_input(*pad_input(0.8, held=True), [], 0.010, Layout.STANDARD).axes[0] == 0.8
    # released 1 ms later: the 250 Hz cap would hold a stick move back 4 ms, but not this
    released = drive.set_input(*pad_input(0.8, held=False), [], 0.011, Layout.STANDARD)
    assert released is not None and released.t == 0.011
    assert released.axes == (0.0,) * 6 and not any(released.buttons)
    assert drive.poll(0.011 + drive.period).axes == (0.0,) * 6


def test_switching_hold_to_drive_on_while_driving_sends_neutral_at_once():
    model, session, clock, _ = connected_model()
    drive = model.drive
    info, state = known_pad(1)
    drive.pad_added(info, state)
    model.enable_driving()
    state.standard.axes[0] = 0.5
    clock.now += 0.1
    drive.pad_moved(1)
    assert session.sent[-1].axes[0] > 0.4
    drive.edit_profile(1, deadman="rightshoulder")
    assert is_neutral(session.sent[-1]) and session.sent[-1].t == clock.now


def test_hold_to_drive_is_off_by_default():
    assert DriveSettings().deadman == "" and AppSettings().profile("any") is None
    drive = DriveController(DriveSettings(default_shape=AxisShape(deadzone=0.0)))
    drive.enable(0.0)
    assert drive.held is None
    assert drive.set_input([0.5], [0], [], 0.1).axes == (0.5,)


def test_a_raw_pad_holds_to_drive_with_the_same_button_name():
    drive = DriveController(DriveSettings(default_shape=AxisShape(deadzone=0.0), deadman="rightshoulder"))
    drive.enable(0.0)
    assert drive.set_input([0.5], [0, 0, 0, 0, 0, 1], [], 0.1).axes == (0.5,)  # raw button 5 is the right shoulder
    assert drive.set_input([0.5], [0] * 6, [], 0.2).axes == (0.0,)


# -- pads in the drive model ----------------------------------------------------------------


def known_pad(instance_id: int, guid: str = "0300aaaa", name: str = "Pad") -> tuple[GamepadInfo, GamepadState]:
    info = GamepadInfo(instance_id, name, guid, 6, 15, 1, known=True)
    axes, buttons = pad_input()
    state = GamepadState([0.0] * 6, [0] * 15, [(0, 0)], standard=GamepadState(axes, buttons, [], Layout.STANDARD))
    return info, state


def test_a_known_pad_sends_the_standard_layout_unless_its_profile_says_raw():
    model, session, clock, _ = connected_model()
    drive = model.drive
    drive.pad_added(*known_pad(1))
    assert drive.layout is Layout.STANDARD and drive.layout_of(1) is Layout.STANDARD
    model.enable_driving()
    assert session.sent[-1].layout is Layout.STANDARD and len(session.sent[-1].buttons) == len(STANDARD_BUTTONS)
    profile = drive.profile_of(1)
    profile.layout = LayoutChoice.RAW
    drive.set_profile(profile)
    model.enable_driving()  # a layout change stops driving (see below)
    clock.now += 0.1
    drive.tick()
    assert session.sent[-1].layout is Layout.RAW and len(session.sent[-1].buttons) == 15
    assert model.settings.profile("0300aaaa").layout is LayoutChoice.RAW, "stored with the app's settings"


def test_a_pads_profile_applies_its_shaping_and_hold_to_drive_button():
    model, session, clock, _ = connected_model()
    drive = model.drive
    info, state = known_pad(1)
    model.settings.set_profile(
        PadProfile(info.guid, "Pad", shapes={"leftx": AxisShape(deadzone=0.0, invert=True)}, deadman="rightshoulder")
    )
    drive.pad_added(info, state)
    model.enable_driving()
    state.standard.axes[0] = 0.5
    clock.now += 0.1
    drive.pad_moved(1)
    assert is_neutral(session.sent[-1]), "not held: neutral"
    state.standard.buttons[RB] = 1
    clock.now += 0.1
    drive.pad_moved(1)
    assert session.sent[-1].axes[0] == -0.5 and drive.deadman_held is True


def test_unplugging_the_driving_pad_never_switches_to_another():
    model, session, _, _ = connected_model()
    drive = model.drive
    drive.pad_added(*known_pad(1, "0300aaaa", "first"))
    drive.pad_added(*known_pad(2, "0300bbbb", "second"))
    assert drive.selected == 1 and sorted(drive.pads) == [1, 2]
    drive.select(2)
    model.enable_driving()
    drive.pad_removed(2)
    assert not drive.enabled and drive.off_reason is DriveOff.GAMEPAD_UNPLUGGED and is_neutral(session.sent[-1])
    assert drive.selected is None, "the other pad is not picked by itself"
    drive.pad_added(*known_pad(3, "0300cccc", "third"))
    assert drive.selected is None, "nor a new one"
    drive.pad_added(*known_pad(4, "0300bbbb", "second"))
    assert drive.selected == 4, "the driving pad plugged in again is picked up (driving stays off)"
    assert not drive.enabled


def test_once_the_pilot_picks_the_on_screen_sticks_no_pad_plugged_in_later_takes_over():
    model, _, _, _ = connected_model()
    drive = model.drive
    drive.pad_added(*known_pad(1, "0300aaaa", "first"))
    drive.pad_removed(1)
    drive.select(None)
    drive.pad_added(*known_pad(2, "0300aaaa", "first"))
    drive.pad_added(*known_pad(3, "0300bbbb", "another"))
    assert drive.selected is None
    drive.select(3)
    assert drive.selected == 3


def test_picking_another_pad_while_driving_stops_driving_instead_of_handing_over_its_stick():
    """A pad lying on the desk with its stick resting off centre, or in a friend's hands, must not take over mid-drive."""
    model, session, clock, _ = connected_model()
    drive = model.drive
    drive.pad_added(*known_pad(1, "0300aaaa", "driving"))
    other_info, other_state = known_pad(2, "0300bbbb", "on the desk")
    other_state.standard.axes[0] = -0.7
    drive.pad_added(other_info, other_state)
    assert drive.selected == 1 and model.enable_driving()
    clock.now += 0.1
    drive.select(2)
    assert drive.selected == 2, "the pick is taken"
    assert not drive.enabled and drive.off_reason is DriveOff.PAD_CHANGED
    assert is_neutral(session.sent[-1]), "the robot stops at once"
    assert all(c.axes[:1] != (-0.7,) for c in session.sent), "the picked pad's stick reached the robot without a new Enable"
    model.enable_driving()
    assert session.sent[-1].axes[0] == -0.7, "enabled again, the picked pad drives"
    drive.select(None)
    assert not drive.enabled and is_neutral(session.sent[-1]), "the on-screen sticks are a pick like any other"


def test_changing_the_driving_pads_layout_while_driving_stops_driving():
    """Standard to raw renumbers everything (a raw trigger rests at -1): the robot must not jump to the new reading."""
    model, session, clock, _ = connected_model()
    drive = model.drive
    info, state = known_pad(1)
    state.axes[4] = -1.0  # the raw trigger, at rest
    drive.pad_added(info, state)
    assert model.enable_driving() and drive.layout is Layout.STANDARD
    clock.now += 0.1
    drive.edit_profile(1, layout=LayoutChoice.RAW)
    assert drive.layout is Layout.RAW
    assert not drive.enabled and drive.off_reason is DriveOff.LAYOUT_CHANGED and is_neutral(session.sent[-1])
    assert all(c.layout is Layout.STANDARD or is_neutral(c) for c in session.sent), "a raw reading went out before Enable"
    drive.edit_profile(1, deadman="a")
    assert not drive.enabled, "a change that keeps the layout leaves driving as it is"
    model.enable_driving()
    drive.edit_profile(1, deadman="")
    assert drive.enabled


# -- rumble -----------------------------------------------------------------------------------


def rumbling_model():
    model, session, clock, _ = connected_model()
    model.drive.pad_added(*known_pad(1))
    asked: list = []
    model.drive.rumble.connect(asked.append)
    return model, session, clock, asked


def test_the_pad_rumbles_when_failsafe_trips_while_driving():
    model, _, _, asked = rumbling_model()
    model._on_message(status(failsafe=True))
    assert asked == [], "the idle failsafe of a robot nobody drives is no news"
    model._on_message(status(failsafe=False))
    model.enable_driving()
    model._on_message(status(failsafe=True))
    assert [(r.instance_id, r.why) for r in asked] == [(1, Buzz.FAILSAFE.value)] and asked[0].ms > 0


def test_the_pad_rumbles_when_the_emergency_stop_trips_and_when_the_link_drops():
    model, session, _, asked = rumbling_model()
    model.enable_driving()
    model._on_message(status(estop=True))
    assert [r.why for r in asked] == [Buzz.ESTOP.value]
    session.state, session.problem = ConnectionState.RECONNECTING, Problem.LOST
    model._on_state(ConnectionState.RECONNECTING, "lost")
    assert [r.why for r in asked] == [Buzz.ESTOP.value, Buzz.LINK_LOST.value]


def test_rumble_can_be_turned_off():
    model, _, _, asked = rumbling_model()
    settings = model.settings
    settings.rumble = False
    model.apply_settings(settings)
    model.enable_driving()
    model._on_message(status(estop=True))
    assert asked == []
    assert AppSettings.from_json(settings.to_json()).rumble is False


# -- profiles as files and in the settings ----------------------------------------------------


def test_a_profile_survives_the_settings_round_trip_and_a_damaged_one_loses_only_itself():
    settings = AppSettings()
    settings.set_profile(PadProfile("0300aaaa", "Pad", LayoutChoice.RAW, {"axis1": AxisShape(0.2, 0.3, True)}, "button5"))
    data = json.loads(settings.to_json())
    data["pads"]["broken"] = {"guid": "0300bbbb", "layout": "sideways"}
    restored = AppSettings.from_json(json.dumps(data))
    assert restored.pads == settings.pads
    why = unreadable_part(json.dumps(data))
    assert why is not None and "1 pad profile(s) are damaged" in why and "sideways" in why, "the app is told, to keep a copy"
    assert unreadable_part(settings.to_json()) is None and unreadable_part("") is None
    assert "not JSON" in unreadable_part(settings.to_json()[:-3])


def test_a_profile_exported_to_a_file_imports_the_same(tmp_path):
    profile = PadProfile("0300aaaa", "Pad", LayoutChoice.AUTO, {"lefty": AxisShape(0.1, 0.5, True)}, "rightshoulder")
    export_profile(profile, tmp_path / "pad.json")
    assert import_profile(tmp_path / "pad.json") == profile


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "not JSON"),
        (b"\xff\xfe garbage", "not JSON"),
        (b"[1, 2]", 'no "format"'),
        (b'{"format": "teleop-pad-profile", "version": 99, "guid": "a"}', "version 99"),
        (b'{"format": "teleop-pad-profile", "version": 1}', "guid must be"),
        (b'{"format": "teleop-pad-profile", "version": 1, "guid": "ab", "deadman": "leftx"}', "deadman must be a button"),
        (b'{"format": "teleop-pad-profile", "version": 1, "guid": "ab", "shapes": {"wheel": {}}}', "'wheel' is not an axis name"),
        (b'{"format": "teleop-pad-profile", "version": 1, "guid": "ab", "shapes": {"leftx": {"expo": "lots"}}}', "shapes.leftx"),
        (b'{"format": "teleop-pad-profile", "version": 1, "guid": "ab", "layout": "xbox"}', "layout must be 'auto' or 'raw'"),
        (b"{" * 100000, "larger than"),
    ],
)
def test_a_bad_profile_file_is_refused_saying_why(tmp_path, content, expected):
    path = tmp_path / "pad.json"
    path.write_bytes(content)
    with pytest.raises(ProfileError) as info:
        import_profile(path)
    assert expected in str(info.value)


def test_a_missing_profile_file_is_a_profile_error(tmp_path):
    with pytest.raises(ProfileError, match="cannot read"):
        import_profile(tmp_path / "nowhere.json")


def test_importing_onto_a_pad_keeps_other_pads_and_a_failed_import_changes_nothing(tmp_path):
    model, _, _, _ = connected_model()
    drive = model.drive
    drive.pad_added(*known_pad(1, "0300aaaa"))
    drive.set_profile(PadProfile("0300aaaa", "Pad", deadman="a"))
    before = model.settings.to_json()
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ProfileError):
        drive.import_profile(1, tmp_path / "bad.json")
    assert model.settings.to_json() == before
    export_profile(PadProfile("0300ffff", "Friend's pad", shapes={"leftx": AxisShape(0.3)}, deadman="b"), tmp_path / "friend.json")
    imported = drive.import_profile(1, tmp_path / "friend.json")
    assert imported.guid == "0300aaaa" and imported.deadman == "b" and drive.profile.shape("leftx").deadzone == 0.3
    assert set(model.settings.pads) == {"0300aaaa"}


def test_editing_one_setting_of_a_pad_keeps_the_others_and_refuses_a_stick_as_hold_to_drive_button():
    model, _, _, _ = connected_model()
    drive = model.drive
    drive.pad_added(*known_pad(1, "0300aaaa"))
    drive.edit_profile(1, shapes={"leftx": AxisShape(0.2)})
    drive.edit_profile(1, deadman="rightshoulder")
    profile = drive.edit_profile(1, layout=LayoutChoice.RAW)
    assert (profile.shape("leftx").deadzone, profile.deadman, profile.layout) == (0.2, "rightshoulder", LayoutChoice.RAW)
    assert model.settings.profile("0300aaaa") == profile and drive.timing.settings.deadman == "rightshoulder"
    with pytest.raises(ValueError, match="not a button"):
        drive.edit_profile(1, deadman="leftx")
    assert drive.edit_profile(1, deadman="").deadman == "" and drive.deadman_held is None


# -- pads bigger than the wire -----------------------------------------------------------------


def test_a_pad_with_more_inputs_than_the_wire_carries_still_drives():
    """A button box with 100 buttons (or a HOTAS with 40 axes) must not make every control one the server refuses."""
    drive = DriveController(DriveSettings(default_shape=AxisShape(deadzone=0.0)))
    drive.enable(0.0)
    axes = [0.0] * (MAX_AXES + 8)
    axes[0] = 0.5
    buttons = [0] * (MAX_BUTTONS + 36)
    buttons[3] = 1
    sent = drive.set_input(axes, buttons, [(0, 1)] * (MAX_HATS + 2), 0.01)
    assert sent is not None
    received = parse_client_message(encode(sent))
    assert not isinstance(received, Invalid), received
    assert received.axes[0] == 0.5 and received.buttons[3] == 1 and received.hats[0] == (0, 1)
    assert (len(received.axes), len(received.buttons), len(received.hats)) == (MAX_AXES, MAX_BUTTONS, MAX_HATS)
