"""Settings validation and persistence, readings history and CSV export (no Qt)."""

import csv

import pytest

from teleop.desktop.models.appsettings import AppSettings, check_host, check_port, server_url
from teleop.desktop.models.readings import ReadingsStore
from teleop.desktop.models.shaping import AxisCalibration, AxisShape


def test_addresses_users_type_are_accepted():
    for host in ("192.168.1.9", "raspberrypi.local", "robot", "::1", "fe80::1", "127.0.0.1"):
        assert check_host(host) is None, host


def test_bad_addresses_say_why():
    assert "without ws://" in check_host("ws://robot:8765")
    assert "Port field" in check_host("robot:8765")
    assert "not a valid IPv4" in check_host("192.168.1.300")
    assert "enter the robot's address" in check_host("  ")
    assert "not a valid host name" in check_host("my robot")
    assert check_port(0) and check_port(70000) and not check_port(8765)


def test_server_url_brackets_ipv6():
    assert server_url("::1", 8765) == "ws://[::1]:8765"
    assert server_url("robot", 9000, tls=True) == "wss://robot:9000"


def test_settings_round_trip_and_survive_garbage():
    settings = AppSettings(host="robot", port=9000, rate_hz=100, axes={1: AxisShape(0.1, 0.3, True, AxisCalibration(-0.9, 0.05, 0.95))})
    settings.remember_server()
    restored = AppSettings.from_json(settings.to_json())
    assert restored == settings
    assert AppSettings.from_json("{broken") == AppSettings()
    assert AppSettings.from_json('{"port": "x", "rate_hz": 9999, "axes": {"a": 1}}') == AppSettings()


def test_recent_servers_are_most_recent_first_without_duplicates():
    settings = AppSettings()
    for host in ("a", "b", "a"):
        settings.host = host
        settings.remember_server()
    assert settings.recent == ["a:8765", "b:8765"]


def test_readings_history_and_csv_export(tmp_path):
    store = ReadingsStore(history_seconds=10)
    assert store.add(100.0, {"A0": 1, "D2": 0}) == ["A0", "D2"]
    store.add(105.0, {"A0": 2})
    store.add(112.0, {"A0": 3})
    xs, ys = store.series("A0", 112.0)
    assert ys == [2.0, 3.0] and xs == [-7.0, 0.0]
    path = tmp_path / "readings.csv"
    assert store.export_csv(path) == 3
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["time", "A0", "D2"]
    assert rows[1] == ["100.000000", "1", "0"] and rows[2] == ["105.000000", "2", ""]


def test_plot_ticks_are_round_numbers_covering_the_range():
    from teleop.desktop.gui.plot import nice_ticks

    assert nice_ticks(0, 1000) == [0, 200, 400, 600, 800, 1000]
    assert nice_ticks(-30, 0, 6) == [-30, -25, -20, -15, -10, -5, 0]
    assert nice_ticks(5, 5) == []


def test_an_hour_of_readings_keeps_memory_bounded_and_exports_what_was_kept(tmp_path):
    """The CSV buffer holds max_rows rows by column (8 bytes a value) and the plot only its window."""
    store = ReadingsStore(history_seconds=10, max_rows=1000)
    for i in range(5000):
        store.add(i * 0.05, {"A0": i % 1024, "disp": 0.5 * i} if i % 2 else {"A0": i % 1024})
    assert 1000 <= len(store._rows) <= 1000 + 1000 // 8
    assert len(store._series["A0"]) <= 10 / 0.05 + 1
    path = tmp_path / "hour.csv"
    rows = store.export_csv(path)
    lines = list(csv.reader(path.open()))
    assert len(lines) == rows + 1
    assert lines[-1] == [f"{4999 * 0.05:.6f}", str(4999 % 1024), str(0.5 * 4999)]
    assert lines[-2][2] == "", "a value a message did not carry stays empty"


def test_one_axis_shape_bounds_the_deadzone_wherever_it_comes_from():
    """The dialog's range, a stored file and the shaping itself agree: AxisShape.DEADZONE_MAX."""
    stored = AppSettings.from_json('{"axes": {"0": {"deadzone": 0.97, "expo": 7}}}')
    assert stored.axes[0].deadzone == AxisShape.DEADZONE_MAX and stored.axes[0].expo == AxisShape.EXPO_MAX
    wild = AxisShape(deadzone=0.97)
    assert wild.apply(0.9) == AxisShape(deadzone=AxisShape.DEADZONE_MAX).apply(0.9) > 0, "a stick past the bound still moves"


def test_a_gap_breaks_the_plotted_line_and_another_server_starts_afresh():
    store = ReadingsStore()
    store.add(1.0, {"A0": 1})
    store.break_lines()
    store.break_lines()  # one gap marker, however often the link drops before data comes back
    store.add(2.0, {"A0": 2})
    _, ys = store.series("A0", 2.0)
    assert ys[0] == 1.0 and ys[2] == 2.0 and ys[1] != ys[1] and len(ys) == 3
    assert [v for _, v in store.since("A0", 1.0)][1:] == [2.0] and store.since("A0", 2.0) == []
    store.clear()
    assert store.count == 0 and store.latest == {} and store.series("A0", 2.0) == ([], [])


def test_the_fleet_broker_is_saved_and_a_damaged_one_falls_back_to_none():
    from teleop.desktop.models.appsettings import BrokerSettings

    settings = AppSettings()
    settings.fleet = BrokerSettings("mqtts://broker.lan:8883", "fleet.dashboard", "s3cret", "/etc/ca.pem")
    assert AppSettings.from_json(settings.to_json()).fleet == settings.fleet
    assert AppSettings.from_json('{"fleet": "mqtt://x"}').fleet == BrokerSettings()
    assert AppSettings.from_json('{"fleet": {"url": 5, "username": "ann"}}').fleet == BrokerSettings(username="ann")


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("", None),
        ("mqtt://broker.lan:1883", None),
        ("mqtts://broker.lan", None),
        ("broker.lan:1883", "mqtt://HOST:PORT"),
        ("http://broker.lan", "mqtt://HOST:PORT"),
        ("mqtt://ann:pw@broker.lan", "own fields"),
        ("mqtt://broker.lan:99999", "mqtt://HOST:PORT"),
    ],
)
def test_the_fleet_pages_broker_address_is_checked_as_it_is_typed(typed, problem):
    from teleop.desktop.models.settings_draft import broker_url_problem

    said = broker_url_problem(typed)
    assert (said is None) if problem is None else (problem in said)
