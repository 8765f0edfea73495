"""Named controls: one mapping for every pad. The layout on the wire, named sources in the server's mapping."""

from __future__ import annotations

import asyncio
import json

import pytest

from teleop.wire import layout
from teleop.wire.errors import ConfigError
from teleop.wire.layout import STANDARD_AXES, STANDARD_BUTTONS, Layout
from teleop.wire.protocol import Control, Invalid, encode, parse_client_message
from teleop_server.config import ServerConfig, parse_config
from teleop_server.rules.mapping import CommandMapper, OutputMap


def standard(axes: dict[str, float] | None = None, pressed: tuple[str, ...] = ()) -> Control:
    """A control from a pad SDL knows, built from control names."""
    values = [0.0] * len(STANDARD_AXES)
    for name, value in (axes or {}).items():
        values[STANDARD_AXES.index(name)] = value
    buttons = tuple(int(name in pressed) for name in STANDARD_BUTTONS)
    return Control(axes=tuple(values), buttons=buttons, layout=Layout.STANDARD)


def test_the_default_mapping_drives_the_same_from_a_known_pad_and_a_raw_one():
    mapper = CommandMapper()
    known = mapper.commands(standard({"leftx": 0.5}, pressed=("y", "start")))
    # a raw pad: left stick x on axis 0, y = button 3, start = button 7 (teleop.wire.layout's raw numbering)
    raw = mapper.commands(Control(axes=(0.5, 0.0, 0.0, 0.0), buttons=(0, 0, 0, 1, 0, 0, 0, 1)))
    assert known == raw == {"B": "B500", "A": "A136"}


def test_the_hobby_axes_form_still_drives_the_default_mapping():
    message = parse_client_message('{"Axes": [-0.25, 0.9]}')
    assert isinstance(message, Control) and message.layout is Layout.RAW
    assert CommandMapper().commands(message)["B"] == "B-250"


def test_a_named_source_reads_that_control_whatever_its_number_on_the_wire():
    steer = OutputMap(command="B", source="righty", scale=100)
    assert steer.value(standard({"righty": -0.5, "rightx": 0.9})) == -50
    assert steer.value(Control(axes=(0.0, 0.0, 0.9, -0.5))) == -50  # raw: right stick y is axis 3
    trigger = OutputMap(command="B", source="righttrigger", scale=100)
    assert trigger.value(standard({"righttrigger": 0.75})) == 75


def test_the_dpad_is_four_buttons_by_name_and_hat_0_by_number_in_both_layouts():
    up = OutputMap(command="B", source="dpup", scale=1)
    hat = OutputMap(command="B", source="hat0.y", scale=1)
    assert up.value(standard(pressed=("dpup",))) == 1 and hat.value(standard(pressed=("dpup",))) == 1
    assert up.value(Control(hats=((0, 1),))) == 1 and hat.value(Control(hats=((0, 1),))) == 1
    assert up.value(Control(hats=((0, -1),))) == 0
    assert OutputMap(command="B", source="hat0.x", scale=1).value(standard(pressed=("dpleft",))) == -1


def test_numbered_sources_read_the_numbers_sent_in_either_layout():
    assert OutputMap(command="B", source="axis2", scale=10).value(standard({"rightx": 0.5})) == 5
    assert OutputMap(command="B", source="button9", scale=1).value(standard(pressed=("leftshoulder",))) == 1


def test_a_control_that_a_pad_lacks_reads_as_neutral():
    assert layout.read("paddle1", Layout.RAW, (0.3,), (1,) * 20, ()) == 0.0
    assert layout.read("lefttrigger", Layout.STANDARD, (), (), ()) == 0.0
    assert layout.read("nonsense", Layout.RAW, (1.0,), (1,), ()) == 0.0


def test_the_control_message_says_its_layout_and_absent_means_raw():
    sent = Control(seq=3, axes=(0.5,) * 6, buttons=(0,) * 21, layout=Layout.STANDARD)
    text = encode(sent)
    assert json.loads(text)["layout"] == "standard"
    assert parse_client_message(text) == sent
    assert "layout" not in json.loads(encode(Control(seq=1, axes=(0.1,))))  # raw: what older servers always read
    assert parse_client_message('{"type": "control", "axes": [0.2]}').layout is Layout.RAW


def test_an_unknown_layout_is_refused_with_a_clear_error():
    reply = parse_client_message('{"type": "control", "axes": [0.2], "layout": "xbox"}')
    assert isinstance(reply, Invalid)
    assert "layout must be 'standard' or 'raw'" in reply.message


def test_the_config_file_accepts_control_names_as_sources():
    config = parse_config(
        {"output": [{"command": "O", "channel": 0, "source": "lefty", "scale": -500, "offset": 1500, "min": 1000, "max": 2000}]}
    )
    assert config.outputs[0].source == "lefty"
    assert CommandMapper(config.outputs).commands(standard({"lefty": -1.0})) == {"O0": "O0 2000"}


@pytest.mark.parametrize("source", ["leftstick_x", "LeftX", "axis", "button-1", "hat0.z", "dpup "])
def test_a_misspelt_source_names_the_choices(source):
    with pytest.raises(ConfigError) as info:
        parse_config({"output": [{"command": "B", "source": source}]}, ServerConfig(), "robot.toml")
    assert "source must be a control name (leftx, lefty" in str(info.value) and repr(source) in str(info.value)


def test_the_default_mapping_is_written_with_names():
    assert CommandMapper().outputs[0].source == "leftx"


async def test_the_server_process_drives_a_named_mapping_from_a_known_pad_and_a_raw_one_alike(tmp_path):
    """teleop-server in its own process with a config written with names; a standard-layout control, then a raw one."""
    from launcher import ServerProcess
    from websockets.asyncio.client import connect

    config = tmp_path / "robot.toml"
    config.write_text(
        '[[output]]\ncommand = "O"\nchannel = 0\nsource = "righty"\nscale = -500\noffset = 1500\n'
        '[[output]]\ncommand = "B"\nsource = "dpup"\nscale = 7\n'
    )
    record = tmp_path / "drive.jsonl"
    server = ServerProcess("sim", extra=["--config", str(config), "--record", str(record)]).start()

    def written() -> list[str]:
        entries = [json.loads(line) for line in record.read_text().splitlines() if line.strip()] if record.exists() else []
        return [e["line"] for e in entries if e["kind"] == "command" and e["line"][:1] in ("O", "B")]

    async def until_written(lines: list[str], after: str | None = None) -> None:
        deadline = asyncio.get_running_loop().time() + 5
        while True:
            sent = written()
            tail = sent[sent.index(after) + 1 :] if after in sent else ([] if after else sent)
            if set(lines) <= set(tail):
                return
            assert asyncio.get_running_loop().time() < deadline, f"{lines} not written; last: {sent[-6:]}"
            await asyncio.sleep(0.02)

    try:
        await server.serial_ready()
        async with connect(server.url) as ws:
            await ws.send(json.dumps({"type": "hello", "role": "pilot", "client": "test", "token": server.token}))
            assert json.loads(await ws.recv())["role"] == "pilot"
            known = standard({"righty": -0.5}, pressed=("dpup",))
            await ws.send(encode(Control(seq=1, axes=known.axes, buttons=known.buttons, layout=Layout.STANDARD)))
            await until_written(["O0 1750", "B7"])
            # a raw pad: the right stick's y is axis 3, the d-pad hat 0 (released now)
            await ws.send(json.dumps({"type": "control", "seq": 2, "axes": [0, 0, 0, 0.5], "hats": [[0, 0]]}))
            await until_written(["O0 1250", "B0"], after="B7")
    finally:
        server.stop()
