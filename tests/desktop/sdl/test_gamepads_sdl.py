"""Real SDL pads without hardware (SDL's virtual joysticks) through teleop.desktop.sdl.gamepad into the models.

End to end where the server matters: the real teleop-server in its own process on
its simulated device, recording every command it writes, and the app's models and
gamepad layer in this process (no window: Qt plays no part in reading pads).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pygame
import pytest
from conftest import recorded_commands, wait_for
from modelkit import connected_model, is_neutral
from sdl_virtual import XBOX_BLUETOOTH_BINDINGS, VirtualJoystick, xbox_like

from teleop.desktop.models.actions import Action
from teleop.desktop.models.appsettings import AppSettings
from teleop.desktop.models.profiles import LayoutChoice, PadProfile
from teleop.desktop.models.shaping import AxisShape
from teleop.desktop.sdl.gamepad import GamepadManager
from teleop.desktop.session.teleop_model import TeleopModel
from teleop.wire.layout import Layout
from teleop.wire.protocol import Role


def device_commands(record: Path) -> list[str]:
    """The output commands the server wrote to the device, in order."""
    return [line for line in recorded_commands(record) if line[:1] in ("A", "B")]


def pump_until(pads: GamepadManager, predicate, what: str, timeout: float = 5.0) -> None:
    """Synchronous: pump SDL's events into the models until ``predicate`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        pads.pump()
        time.sleep(0.002)


@contextlib.asynccontextmanager
async def pumping(pads: GamepadManager):
    """The GUI's fast timer, without the GUI: pump the pads every millisecond."""

    async def loop() -> None:
        while True:
            pads.pump()
            await asyncio.sleep(0.001)

    task = asyncio.create_task(loop())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
def server(recording_server):
    return recording_server


@pytest.fixture
def config_dir(tmp_path, monkeypatch) -> Path:
    """The app's config folder (where a user's gamecontrollerdb.txt goes), in the test's own directory."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    folder = tmp_path / "config" / "teleop"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def manager():
    made: list[GamepadManager] = []

    def make(**options) -> GamepadManager:
        made.append(GamepadManager(**options))
        return made[-1]

    yield make
    for pads in made:
        pads.close()


def plug_xbox_like(plugged, config_dir: Path) -> VirtualJoystick:
    """The Xbox-like pad, known to SDL through a line in the user's gamecontrollerdb.txt."""
    pad = plugged(xbox_like())
    pad.axis(4, -1.0)  # its triggers rest fully out, as a real pad's do
    pad.axis(5, -1.0)
    (config_dir / "gamecontrollerdb.txt").write_text(f"# my pads\n{pad.mapping(XBOX_BLUETOOTH_BINDINGS)}\n")
    return pad


# (make the pad, its raw button numbers for y and start, the layout it should send)
PADS = {
    "xbox-like pad known through the user's mapping line": (plug_xbox_like, 4, 11, Layout.STANDARD),
    "raw-only pad SDL does not know": (lambda plugged, _: plugged(VirtualJoystick(name="Generic USB Gamepad")), 3, 7, Layout.RAW),
}


@pytest.mark.parametrize("kind", list(PADS))
async def test_a_pad_drives_the_default_mapping_on_the_real_server(kind, server, plugged, config_dir, manager):
    make, y_button, start_button, layout = PADS[kind]
    pad = make(plugged, config_dir)
    pads = manager()
    assert pads.mapping_problems == []
    model = TeleopModel(AppSettings(axes={0: AxisShape(deadzone=0.0)}))
    pads.attach(model)
    sent = []
    async with pumping(pads):
        await wait_for(lambda: model.drive.selected == pad.instance_id, what="pad picked")
        assert model.drive.layout is layout and model.drive.pads[pad.instance_id].known is (layout is Layout.STANDARD)
        await model.connect(server.pilot_url)
        try:
            await wait_for(lambda: model.connection.pilot, what="pilot")
            await asyncio.to_thread(asyncio.run, server.serial_ready())
            original = model.session.send_control
            model.session.send_control = lambda control: (sent.append(control), original(control))
            assert model.enable_driving()
            pad.axis(0, 0.5)
            await wait_for(lambda: "B500" in device_commands(server.record), what="left stick x = 0.5 written as B500")
            pad.button(y_button, True)
            await wait_for(lambda: "A8" in device_commands(server.record), what="y lights LED 3")
            pad.button(start_button, True)
            await wait_for(lambda: "A136" in device_commands(server.record), what="y and start light LEDs 3 and 7")
            lines = device_commands(server.record)
            # the Xbox-like pad's raw button 4 is y, not the left shoulder (LED 4) a raw reading would say
            assert "A16" not in lines[: lines.index("A136")]
            assert sent and {c.layout for c in sent} == {layout}
        finally:
            await model.shutdown()


def test_a_profile_comes_back_when_the_pad_is_plugged_in_again(plugged, manager):
    model, session, clock, _ = connected_model()
    pads = manager(mappings=[])
    pads.attach(model)
    pad = plugged(VirtualJoystick(name="Profiled Pad"))
    pump_until(pads, lambda: model.drive.selected == pad.instance_id, "pad picked")
    guid = model.drive.pads[pad.instance_id].guid
    model.drive.set_profile(PadProfile(guid, "Profiled Pad", LayoutChoice.AUTO, {"leftx": AxisShape(0.0, invert=True)}, "button5"))
    pad.detach()
    pump_until(pads, lambda: model.drive.selected is None, "unplug seen")
    saved = AppSettings.from_json(model.settings.to_json())  # what the app writes to disk and reads at start

    model.apply_settings(saved)
    again = plugged(VirtualJoystick(name="Profiled Pad"))
    pump_until(pads, lambda: model.drive.selected == again.instance_id, "the same pad picked up again")
    assert again.instance_id != pad.instance_id and model.drive.profile.deadman == "button5"
    model.enable_driving()
    again.axis(0, 0.5)
    again.button(5, True)
    clock.now += 0.1
    pump_until(pads, lambda: session.sent and session.sent[-1].axes[:1] == (-0.5,), "inverted by the profile, sent while held")


def test_hold_to_drive_sends_neutral_within_one_poll_of_release(plugged, config_dir, manager):
    pad = plug_xbox_like(plugged, config_dir)
    model, session, clock, _ = connected_model()
    pads = manager()
    pads.attach(model)
    pump_until(pads, lambda: model.drive.selected == pad.instance_id, "pad picked")
    guid = model.drive.pads[pad.instance_id].guid
    model.drive.set_profile(PadProfile(guid, "Xbox-like", shapes={"leftx": AxisShape(0.0)}, deadman="rightshoulder"))
    model.enable_driving()
    pad.axis(0, 0.5)
    clock.now += 0.1
    pump_until(pads, lambda: model.drive.pad_states[pad.instance_id].axes[0] > 0.4, "stick read")
    assert is_neutral(session.sent[-1]), "the stick is not sent while the button is not held"
    pad.button(7, True)  # the right shoulder on this pad's raw numbering
    clock.now += 0.1
    pump_until(pads, lambda: session.sent[-1].axes[:1] == (0.5,), "held: the stick goes out")
    before = len(session.sent)
    pad.button(7, False)
    pads.pump()  # one poll, at the same instant: no time has passed for the rate cap either
    assert len(session.sent) == before + 1 and is_neutral(session.sent[-1])
    assert model.drive.deadman_held is False and model.drive.enabled, "still enabled: holding the button again drives"


async def test_the_pad_rumbles_when_the_servers_failsafe_trips(server, plugged, config_dir, manager):
    pad = plug_xbox_like(plugged, config_dir)
    pads = manager()
    model = TeleopModel(AppSettings())
    pads.attach(model)
    async with pumping(pads) as task:
        await wait_for(lambda: model.drive.selected == pad.instance_id, what="pad picked")
        await model.connect(server.pilot_url)
        try:
            await wait_for(lambda: model.connection.pilot, what="pilot")
            await asyncio.to_thread(asyncio.run, server.serial_ready())
            assert model.enable_driving()
            await wait_for(lambda: not model.connection.status.failsafe, what="driving: the failsafe lets go")
            assert pad.rumbles == []
            task.cancel()  # the pilot's app stalls: nothing is sent any more, the server's failsafe trips
            await wait_for(lambda: model.connection.status.failsafe, what="failsafe reported")
            await wait_for(pad.rumbled.is_set, what="the pad's motors asked to rumble")
            assert max(max(r) for r in pad.rumbles) > 0
        finally:
            await model.shutdown()


def test_two_pads_are_listed_and_unplugging_the_driving_one_never_switches(plugged, manager):
    model, session, _, _ = connected_model()
    pads = manager(mappings=[])
    pads.attach(model)
    first = plugged(VirtualJoystick(name="Left-hand Pad"))
    second = plugged(VirtualJoystick(name="Right-hand Pad", axes=6, buttons=12))
    pump_until(pads, lambda: len(model.drive.pads) == 2, "both listed")
    listed = {i.instance_id: (i.name, i.known, i.axes) for i in model.drive.pads.values()}
    assert listed == {first.instance_id: ("Left-hand Pad", False, 4), second.instance_id: ("Right-hand Pad", False, 6)}
    assert len({i.guid for i in model.drive.pads.values()}) == 2
    model.drive.select(second.instance_id)
    model.enable_driving()
    second.detach()
    pump_until(pads, lambda: second.instance_id not in model.drive.pads, "unplug seen")
    assert not model.drive.enabled and is_neutral(session.sent[-1])
    third = plugged(VirtualJoystick(name="Spare Pad"))
    pump_until(pads, lambda: third.instance_id in model.drive.pads, "a later pad listed")  # the ordering barrier
    assert model.drive.selected is None, "neither the other pad nor a new one was picked by itself"


def test_a_bad_line_in_the_users_mapping_file_is_reported_and_the_rest_still_load(plugged, config_dir, manager):
    pad = plugged(xbox_like())
    (config_dir / "gamecontrollerdb.txt").write_text(
        "not a mapping\n"
        f"{pad.guid},Broken,a:q9\n"
        f"{pad.mapping(XBOX_BLUETOOTH_BINDINGS)}\n"
        "03000000000000000000000000000000,Someone else's pad,a:b0,platform:Windows\n"
    )
    pads = manager()
    assert pads.mappings_added == 1
    assert [p.split(": ", 1)[0].rsplit(", ", 1)[1] for p in pads.mapping_problems] == ["line 1", "line 2"]
    model, _, _, log = connected_model()
    pads.attach(model)
    assert any("gamecontrollerdb.txt, line 2" in line.text for line in log)
    pump_until(pads, lambda: pad.instance_id in model.drive.pads, "pad listed")
    assert model.drive.pads[pad.instance_id].known and model.drive.layout_of(pad.instance_id) is Layout.STANDARD


def test_the_sdl_library_teleop_loads_is_the_one_pygame_runs_on():
    """Mapping lines and the virtual pads go through ctypes: it must be pygame's own SDL, not another copy."""
    import ctypes

    import pygame

    from teleop.desktop.sdl.gamepad import sdl_library

    class Version(ctypes.Structure):
        _fields_ = [("major", ctypes.c_uint8), ("minor", ctypes.c_uint8), ("patch", ctypes.c_uint8)]

    version = Version()
    sdl_library().SDL_GetVersion(ctypes.byref(version))
    assert (version.major, version.minor, version.patch) == tuple(pygame.get_sdl_version())


def test_a_pad_plugged_in_while_another_is_unplugged_between_two_polls_is_still_found(plugged, manager):
    """SDL numbers devices by position: the new pad's "added" index is stale once the other pad has gone."""
    pads = manager(mappings=[])
    leaving = plugged(VirtualJoystick(name="Leaving Pad"))
    pump_until(pads, lambda: leaving.instance_id in pads.infos, "the first pad seen")
    arriving = plugged(VirtualJoystick(name="Arriving Pad", axes=6))
    leaving.detach()
    late = plugged(VirtualJoystick(name="Late Pad", axes=2))
    pump_until(pads, lambda: late.instance_id in pads.infos, "a pad plugged in afterwards seen")  # the barrier
    assert leaving.instance_id not in pads.infos
    assert arriving.instance_id in pads.infos, "the pad plugged in meanwhile was never opened"
    assert pads.infos[arriving.instance_id].axes == 6


class DrainingPad:
    """An opened SDL joystick whose power level reads as given: SDL's virtual pads report none."""

    def __init__(self, stick, level: str) -> None:
        self._stick, self.level = stick, level

    def get_power_level(self) -> str:
        return self.level

    def __getattr__(self, name: str):
        return getattr(self._stick, name)


def test_a_pads_power_level_is_read_from_sdl_into_the_model(plugged, manager):
    from teleop.desktop.models.padhealth import Battery

    model, _, _, _ = connected_model()
    pads = manager(mappings=[])
    pads.attach(model)
    pad = plugged(VirtualJoystick(name="Wireless Pad"))
    pump_until(pads, lambda: pad.instance_id in model.drive.pads, "the pad listed")
    assert model.drive.batteries[pad.instance_id] is Battery.UNKNOWN, "read when plugged in: a virtual pad reports nothing"
    pads._sticks[pad.instance_id] = DrainingPad(pads._sticks[pad.instance_id], "low")
    pads.pump()
    assert model.drive.batteries[pad.instance_id] is Battery.UNKNOWN, "not read again before its time: an SDL call per pad"
    pads._battery_due = 0.0
    pads.pump()
    assert model.drive.batteries[pad.instance_id] is Battery.LOW
    assert model.drive.selected == pad.instance_id and model.drive.battery is Battery.LOW


def _tap_button(pad: VirtualJoystick, raw: int) -> None:
    pad.button(raw, True)
    pygame.event.pump()  # SDL reads the pad: the press is queued...
    pad.button(raw, False)
    pygame.event.pump()  # ...and the release behind it, before the app reads either


def _tap_up(pad: VirtualJoystick) -> None:
    pad.hat(0, (0, 1))
    pygame.event.pump()
    pad.hat(0, (0, 0))
    pygame.event.pump()


# (the pad, the control bound to the e-stop, how it is tapped)
TAPS = {
    "a raw pad's button": (
        lambda plugged, _: plugged(VirtualJoystick(name="Generic USB Gamepad")),
        "button2",
        lambda pad: _tap_button(pad, 2),
    ),
    "a known pad's named button": (plug_xbox_like, "b", lambda pad: _tap_button(pad, 1)),
    "a raw pad's d-pad (a hat)": (lambda plugged, _: plugged(VirtualJoystick(name="Generic USB Gamepad")), "dpup", _tap_up),
    "a known pad's d-pad": (plug_xbox_like, "dpup", _tap_up),
}


@pytest.mark.parametrize("role", [Role.PILOT, Role.OBSERVER])
@pytest.mark.parametrize("tap", list(TAPS))
def test_an_estop_tapped_on_the_pad_between_two_reads_is_never_missed(tap, role, plugged, config_dir, manager):
    """A press and its release can both wait in SDL's queue (the GUI was painting, or reads the pads only
    every 40 ms while not driving): the action map must still see the press."""
    make, control, tap_it = TAPS[tap]
    pad = make(plugged, config_dir)
    model, session, _, _ = connected_model(role)
    pads = manager()
    pads.attach(model)
    pump_until(pads, lambda: model.drive.selected == pad.instance_id, "pad picked")
    guid = model.drive.pads[pad.instance_id].guid
    model.drive.set_profile(PadProfile(guid, "tap", actions={control: Action.ESTOP}))
    pads.pump()
    if role is Role.PILOT:
        assert model.enable_driving()
    assert session.estops == []

    tap_it(pad)
    pads.pump()  # one read: the press and the release arrive together

    assert session.estops == [True], "the tap reached the action map"
    assert not model.drive.enabled, "an e-stop stops driving"


def test_a_read_asked_for_inside_a_read_never_leaves_an_older_value_behind(plugged, manager):
    """Enable bound to a pad button: the tap enables driving in the middle of a read, and the app reads the
    pads again at once (what moved meanwhile goes out with the enable). The inner read must not be
    overwritten by the older events the outer one had still to apply."""
    pad = plugged(VirtualJoystick(name="Generic USB Gamepad"))
    model, session, clock, _ = connected_model()
    pads = manager()
    pads.attach(model)
    pump_until(pads, lambda: model.drive.selected == pad.instance_id, "pad picked")
    guid = model.drive.pads[pad.instance_id].guid
    model.drive.set_profile(PadProfile(guid, "enable", actions={"button2": Action.ENABLE}))
    pads.pump()

    enabled: list[bool] = []

    def pilot_lets_go_and_the_app_reads_again(drive) -> None:
        if drive.enabled and not enabled:
            enabled.append(True)
            pad.axis(0, 0.0)  # the stick is back in the centre by the time the app reads again
            pygame.event.pump()
            pads.pump()  # what the GUI's adapter does when driving is enabled

    model.drive.changed.connect(pilot_lets_go_and_the_app_reads_again)
    for step in (lambda: pad.button(2, True), lambda: pad.axis(0, 0.9), lambda: pad.button(2, False), lambda: pad.axis(0, 0.5)):
        step()
        pygame.event.pump()
    pads.pump()

    assert model.drive.enabled
    assert model.drive.pad_states[pad.instance_id].axes[0] == 0.0, "the newest value, as SDL has it"
    clock.now = model.drive.deadline()  # all of it in one instant: the rate cap holds the newest back till then
    pads.pump()
    assert is_neutral(session.sent[-1]) or session.sent[-1].axes[0] == 0.0


def test_a_known_pads_control_bound_twice_reads_as_sdl_has_it(plugged, config_dir, manager):
    """A mapping can bind one control to two inputs (a split axis: +leftx on one button, -leftx on another):
    SDL combines them, while its events, one per input, would say the axis is centred."""
    pad = plugged(xbox_like())
    (config_dir / "gamecontrollerdb.txt").write_text(f"{pad.mapping('a:b2,+leftx:b0,-leftx:b1')}\n")
    model, _, _, _ = connected_model()
    pads = manager()
    pads.attach(model)
    pump_until(pads, lambda: model.drive.selected == pad.instance_id, "pad picked")
    for raw, pressed in ((0, True), (1, True), (1, False)):
        pad.button(raw, pressed)
        pygame.event.pump()
    pads.pump()
    assert model.drive.pad_states[pad.instance_id].standard.axes[0] == pytest.approx(1.0, abs=0.01), "still held to the right"
