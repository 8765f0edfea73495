"""The app's side of the fleet: the broker's robots in the robot list, and "Stop every robot" with each acknowledgement.

The model directly with a fake clock; then the real widget on a real display
(Xvfb + openbox), fed by the app's broker client from Debian's mosquitto with
robot servers in their own processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import uuid

import mosquitto
import pytest
from guitools import ARTIFACTS, ServerProcess, paint_now, run, wait_until

from teleop.desktop.models.fleet import FleetDirectory, robot_entry
from teleop.desktop.net.discovery import RobotDirectory
from teleop.wire import fleet
from teleop.wire.fleet import EstopAck, RobotState


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def state(name: str, address: str = "ws://10.0.0.5:8765", **fields) -> str:
    return RobotState(name, address=address, **fields).to_json()


def test_a_broker_robot_is_listed_once_its_state_says_where_to_connect():
    model = FleetDirectory(clock=Clock())
    rows = []
    model.seen.connect(rows.append)
    model.message("teleop/rover-1/connection", b"online")
    assert rows == []  # online, but where to connect is not known yet
    model.message("teleop/rover-1/state", state("Rover 1", "wss://10.0.0.5:9000", pilot="ann"))
    (row,) = rows
    assert (row.key, row.name, row.url(), row.pilot, row.via, row.present) == (
        "broker:rover-1",
        "Rover 1",
        "wss://10.0.0.5:9000",
        "ann",
        "broker",
        True,
    )
    model.message("teleop/rover-1/connection", b"offline")
    assert rows[-1].present is False and rows[-1].pilot == "ann"


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("teleop/rover-1/state", b"\xff"),
        ("teleop/rover-1/state", '{"name": "x", "address": "http://evil"}'),
        ("teleop/rover-1/connection", b"maybe"),
        ("teleop/Rover/state", state("x")),
        ("elsewhere/rover/state", state("x")),
        ("teleop/rover-1/readings", b"{}"),
    ],
)
def test_what_a_stranger_publishes_lists_nothing_and_raises_nothing(topic, payload):
    model = FleetDirectory()
    rows = []
    model.seen.connect(rows.append)
    model.message(topic, payload)
    assert rows == []


def test_a_broker_cannot_grow_the_list_without_end():
    model = FleetDirectory()
    for i in range(2000):
        model.message(f"teleop/r{i}/connection", b"online")
    assert len(model.robots) == 500


def test_stop_every_robot_sends_one_stop_per_robot_and_records_each_acknowledgement():
    clock = Clock()
    model = FleetDirectory(clock=clock, nonces=lambda: "n1")
    for name in ("rover-1", "rover-2", "rover-3"):
        model.message(f"teleop/{name}/state", state(name))
    rounds = []
    model.round_changed.connect(lambda r: rounds.append(r.text()))
    stop_round, messages = model.stop_all("lab PC")
    assert [t for t, _ in messages] == [f"teleop/rover-{i}/cmd/estop" for i in (1, 2, 3)]
    assert {fleet.parse_estop(p) for _, p in messages} == {fleet.EstopCommand("lab PC", "n1")}
    clock.now += 0.012
    model.message("teleop/rover-2/cmd/estop/ack", EstopAck("rover-2", "lab PC", "n1", 0.0).to_json())
    model.message("teleop/rover-2/cmd/estop/ack", EstopAck("rover-2", "lab PC", "n1", 0.0, duplicate=True).to_json())  # counted once
    model.message("teleop/rover-1/cmd/estop/ack", EstopAck("rover-1", "x", "old-nonce", 0.0).to_json())  # another round's
    assert stop_round.acks == {"rover-2": pytest.approx(0.012)}
    assert rounds[-1] == "stopped 1 of 3: rover-2 ✓ 12 ms; waiting for rover-1, rover-3"
    clock.now += 0.01
    for name in ("rover-1", "rover-3"):
        model.message(f"teleop/{name}/cmd/estop/ack", EstopAck(name, "lab PC", "n1", 0.0).to_json())
    assert rounds[-1].startswith("stopped 3 of 3") and "waiting" not in rounds[-1]


def test_stop_every_robot_without_a_broker_says_nothing_went_out():
    model = FleetDirectory()
    model.message("teleop/rover-1/state", state("rover-1"))
    stop_round, messages = model.stop_all("me", connected=False)
    assert messages == [] and stop_round.text() == "not sent: the fleet broker was not connected; press again once it is"


def test_a_state_without_a_usable_address_gives_no_row():
    model = FleetDirectory()
    model.message("teleop/rover-1/state", state("rover-1", address=""))
    assert robot_entry(model.robots["rover-1"]) is None


# --------------------------------------------------------------------------- on a real display, with a real broker

needs_broker = pytest.mark.skipif(not mosquitto.available(), reason=mosquitto.MISSING)


@needs_broker
def test_the_robot_list_shows_broker_robots_who_drives_and_every_stop_acknowledged(tmp_path, display, loop, qtbot):
    pytest.importorskip("aiomqtt", reason="needs the mqtt extra")
    from websockets.asyncio.client import connect

    from teleop.desktop.gui.robot_list import RobotsOnNetwork
    from teleop.desktop.net.fleet import FleetClient

    robots = ("lab-rover", "hall-rover")
    users = {name: uuid.uuid4().hex for name in robots} | {mosquitto.DASHBOARD: uuid.uuid4().hex}
    broker = mosquitto.Broker(tmp_path / "broker", users).start()
    servers = {}
    directory = RobotDirectory()
    client = FleetClient(broker.url, directory, username=mosquitto.DASHBOARD, password=users[mosquitto.DASHBOARD])
    widget = None
    try:
        for name in robots:
            config = broker.robot_config(name)
            servers[name] = ServerProcess("sim", extra=["--mqtt", broker.url, "--name", name, "--config", str(config)]).start()
        run(loop, client.start())
        widget = RobotsOnNetwork(directory, fleet=client)
        qtbot.addWidget(widget)
        widget.tree.setMaximumHeight(400)
        widget.resize(900, 260)
        widget.setWindowTitle("teleop: robots")
        widget.show()

        def row(name):
            return next((r for r in widget.rows() if r["name"] == name), None)

        wait_until(loop, lambda: all(row(n) and not row(n)["greyed"] for n in robots), timeout=15, what="both broker robots listed")
        assert row("lab-rover")["via"] == "broker" and row("lab-rover")["driving"] == "nobody"
        assert row("lab-rover")["address"] == f"127.0.0.1:{servers['lab-rover'].port}"

        async def pilot():
            server = servers["lab-rover"]
            ws = await connect(server.url)
            await ws.send(json.dumps({"type": "hello", "role": "pilot", "client": "ann", "token": server.token}))
            return ws

        ws = run(loop, pilot())
        wait_until(loop, lambda: row("lab-rover")["driving"] == "ann", timeout=10, what="who drives shown")
        assert widget.stop_all.isVisible()
        paint_now()
        centre = widget.stop_all.mapToGlobal(widget.stop_all.rect().center())
        display.click(centre.x(), centre.y())  # a real click on the real display
        wait_until(loop, lambda: "  stopped 2 of 2" in widget.stop_result.text(), timeout=10, what="both acknowledgements")
        assert re.match(r"\d\d:\d\d:\d\d  stopped", widget.stop_result.text()), "the round is shown with when it was pressed"
        assert "lab-rover ✓" in widget.stop_result.text() and "hall-rover ✓" in widget.stop_result.text()
        paint_now()
        display.screenshot(ARTIFACTS / "fleet-robot-list.png")

        # choosing a broker robot gives the address it publishes
        chosen = []
        widget.chosen.connect(chosen.append)
        widget._activated(next(widget.tree.topLevelItem(i) for i in range(2) if widget.tree.topLevelItem(i).text(0) == "lab-rover"))
        assert chosen == [servers["lab-rover"].url]

        os.kill(servers["hall-rover"].pid, signal.SIGKILL)
        wait_until(loop, lambda: row("hall-rover")["greyed"], timeout=10, what="a killed robot greyed out")
        paint_now()
        display.screenshot(ARTIFACTS / "fleet-robot-offline.png")
        ws.transport.abort()  # the pilot leaves (it never read a frame: no close handshake to wait for)
    finally:
        if widget is not None:
            widget.close()
        run(loop, client.stop())
        for server in servers.values():
            server.stop()
        broker.stop()


def test_the_fleet_page_in_settings_lists_the_brokers_robots_and_leaving_it_greys_them(tmp_path, display, loop, qtbot):
    """A user who starts the app from the desktop menu has no --fleet: Settings > Fleet is where the broker goes."""
    pytest.importorskip("aiomqtt", reason="needs the mqtt extra")
    from PySide6.QtCore import QSettings
    from test_gui import click, shoot, shown_window

    from teleop.desktop.gui.adapter import QtAdapter
    from teleop.desktop.gui.robot_list import network_robots, stop_fleet
    from teleop.desktop.models.appsettings import AppSettings
    from teleop.desktop.session.teleop_model import TeleopModel

    users = {"lab-rover": uuid.uuid4().hex, mosquitto.DASHBOARD: uuid.uuid4().hex}
    broker = mosquitto.Broker(tmp_path / "broker", users).start()
    robot = ServerProcess("sim", extra=["--mqtt", broker.url, "--name", "lab-rover", "--config", str(broker.robot_config("lab-rover"))])
    robot.start()
    store = QSettings(str(tmp_path / "teleop.ini"), QSettings.Format.IniFormat)
    windows = shown_window(loop, QtAdapter(TeleopModel(AppSettings())), store)
    window = next(windows)
    directory = network_robots()

    def listed() -> bool | None:
        row = directory.get("broker:lab-rover")
        return None if row is None else row.present

    try:
        window.open_settings()
        dialog = window.settings_dialog
        wait_until(loop, dialog.isActiveWindow, what="settings active")
        dialog.tabs.setCurrentWidget(dialog.fleet_page)
        page = dialog.fleet_page
        ok = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
        click(display, page.url)
        display.type(f"mqtt://{mosquitto.DASHBOARD}@127.0.0.1:{broker.port}")
        wait_until(loop, lambda: not ok.isEnabled(), what="a password-in-the-address refused")
        assert "own fields" in page.url_problem.text()
        display.key("ctrl+a")
        display.type(broker.url)
        click(display, page.username)
        display.type(mosquitto.DASHBOARD)
        click(display, page.password)
        display.type(users[mosquitto.DASHBOARD])
        wait_until(loop, ok.isEnabled, what="a good broker accepted")
        paint_now()
        shoot(display, "settings-fleet-page")
        click(display, ok)
        wait_until(loop, lambda: listed() is True, timeout=15, what="the broker's robot listed")
        assert window.model.settings.fleet.url == broker.url
        assert f'"url": "{broker.url}"' in store.value("settings/json"), "saved for the next start"

        window.open_settings()
        dialog = window.settings_dialog
        wait_until(loop, dialog.isActiveWindow, what="settings active again")
        dialog.tabs.setCurrentWidget(dialog.fleet_page)
        click(display, dialog.fleet_page.url)
        display.key("ctrl+a", "BackSpace")
        wait_until(loop, lambda: dialog.fleet_page.url.text() == "", what="address cleared")
        click(display, dialog.buttons.button(dialog.buttons.StandardButton.Ok))
        wait_until(loop, lambda: listed() is False, timeout=10, what="the robot greyed once the app leaves its broker")
    finally:
        run(loop, stop_fleet())
        with contextlib.suppress(StopIteration):
            next(windows)
        robot.stop()
        broker.stop()
