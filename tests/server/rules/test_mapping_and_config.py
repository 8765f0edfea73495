"""Which stick drives which command, and clear errors for a wrong config file."""

import re
import tomllib
from pathlib import Path

import pytest

from teleop.wire.errors import ConfigError
from teleop.wire.protocol import Control
from teleop_server.config import ServerConfig, load_config, parse_config
from teleop_server.rules.mapping import CommandMapper, OutputMap, round_half_away


def test_default_mapping_reproduces_the_seed_bridge():
    mapper = CommandMapper()
    assert mapper.commands(Control(axes=(0.5004,)))["B"] == "B500"
    assert mapper.commands(Control(axes=(-0.2345,)))["B"] == "B-235"  # rounded, not truncated
    assert mapper.commands(Control(axes=(1.0,)))["B"] == "B1000"


def test_buttons_light_the_matching_leds_and_neutral_is_all_off():
    mapper = CommandMapper()
    assert mapper.commands(Control(buttons=(1, 0, 1)))["A"] == "A5"
    assert mapper.neutral() == {"B": "B0", "A": "A0"}


def test_rounding_is_half_away_from_zero():
    assert [round_half_away(v) for v in (0.5, 1.5, -0.5, -2.5, 2.4)] == [1, 2, -1, -3, 2]


def test_servo_output_from_an_axis_is_scaled_and_clamped():
    servo = OutputMap(command="O", channel=0, source="axis1", scale=500, offset=1500, low=1000, high=2000, neutral=1500)
    mapper = CommandMapper((servo,))
    assert mapper.commands(Control(axes=(0.0, 0.5))) == {"O0": "O0 1750"}
    assert mapper.commands(Control(axes=(0.0,))) == {"O0": "O0 1500"}  # missing axis reads as 0
    assert mapper.neutral() == {"O0": "O0 1500"}


def test_hat_source():
    output = OutputMap(command="B", source="hat0.y", scale=100)
    assert output.value(Control(hats=((0, -1),))) == -100


def test_config_file_sets_options_and_mapping(tmp_path):
    path = tmp_path / "robot.toml"
    path.write_text(
        """
[serial]
port = "/dev/ttyACM0"
baud = 9600
[failsafe]
timeout_ms = 300
[[output]]
command = "O"
channel = 1
source = "axis2"
scale = 500
offset = 1500
min = 1000
max = 2000
neutral = 1500
"""
    )
    config = load_config(path)
    assert (config.serial, config.baud, config.failsafe_timeout) == ("/dev/ttyACM0", 9600, 0.3)
    assert [o.key for o in config.outputs] == ["O1"]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"serial": {"baud": "fast"}}, "serial.baud has the wrong type"),
        ({"serail": {}}, "unknown section [serail]"),
        ({"failsafe": {"timeout": 3}}, "unknown key failsafe.timeout"),
        ({"output": [{"command": "X", "source": "axis0"}]}, "command must be 'A', 'B' or 'O'"),
        ({"output": [{"command": "B", "source": "stick0"}]}, "source must be"),
        ({"output": [{"command": "B"}]}, "missing key 'source'"),
        ({"output": [{"command": "B", "source": "axis0", "neutral": 5, "min": 0, "max": 3}]}, "neutral (5)"),
        ({"output": [{"command": "B", "source": "axis0"}, {"command": "B", "source": "axis1"}]}, "same device output"),
    ],
)
def test_config_mistakes_say_what_and_where(document, expected):
    with pytest.raises(ConfigError, match=None) as info:
        parse_config(document, ServerConfig(), "robot.toml")
    assert expected in str(info.value)


def test_unreadable_or_invalid_toml_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[serial\nport=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_the_shipped_example_config_loads_and_matches_the_defaults():
    from pathlib import Path

    from teleop_server.rules.mapping import DEFAULT_OUTPUTS

    config = load_config(Path(__file__).resolve().parents[3] / "packaging" / "pi" / "teleop-server.toml")
    assert config == ServerConfig()
    assert config.outputs == DEFAULT_OUTPUTS


def test_the_shipped_example_config_names_every_key_the_server_reads():
    """docs/server.md says it documents every key: each section and key, set or commented out."""
    from pathlib import Path

    from teleop_server.config import _SECTIONS

    text = (Path(__file__).resolve().parents[3] / "packaging" / "pi" / "teleop-server.toml").read_text()
    missing = [
        f"[{section}] {key}"
        for section, keys in _SECTIONS.items()
        for key in ("", *keys)
        if not re.search(rf"^#?\s*\[{section}\]" if not key else rf"^#?\s*{key}\s*=", text, re.M)
    ]
    assert missing == []


def test_the_docs_bring_your_own_sketch_config_loads_and_writes_its_lines():
    page = (Path(__file__).resolve().parents[3] / "docs" / "server.md").read_text()
    section = page[page.index("### Bring your own sketch") :]
    block = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    config = parse_config(tomllib.loads(block))
    assert config.device == "plain" and config.columns == ("dist",) and config.baud == 9600
    lines = CommandMapper(config.outputs).commands(Control(axes=(0.0, -0.5, 0.0, 1.0)))
    assert lines == {"left": "L128", "right": "R-255"}


@pytest.mark.parametrize(
    ("document", "said"),
    [
        ({"port": 8765}, "port = ... is outside any section; it goes under [server] or [serial]"),
        ({"mqtt": "mqtt://broker.lan"}, "[mqtt] is a section: its keys go on the lines under a line [mqtt]"),
    ],
)
def test_a_key_written_above_every_section_is_named_with_where_it_goes(document, said):
    with pytest.raises(ConfigError, match=re.escape(said)):
        parse_config(document)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--failsafe-ms", "0"], "--failsafe-ms (failsafe.timeout_ms) must be more than 0, got 0"),
        (["--foxglove", "70000"], "--foxglove (foxglove.port) must be a TCP port, 0 to 65535 (0: any free one), got 70000"),
        (["--foxglove", "18767", "--port", "18767"], "--foxglove 18767 is the server's own --port: give Foxglove a port of its own"),
    ],
    ids=["failsafe", "foxglove port", "foxglove on the server's port"],
)
def test_a_bad_flag_is_refused_naming_the_flag_a_user_typed(argv, said):
    """The same check covers the config file, so the key is named too; never only the server's own field name."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "teleop_server", "--serial", "sim", "--no-announce", *argv], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1] == f"teleop-server: error: {said}", result.stderr
