"""Finding the robot without its IP: the server announces itself (mDNS/DNS-SD), the app lists what it hears.

The end-to-end tests put the server and the app's discovery code in two
network namespaces joined by a veth pair, so the multicast is real and never
leaves the test's own network. The model and the TXT schema get direct tests
with a fake clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import wait_for
from faultkit import CutCable
from guitools import ARTIFACTS, ROOT
from hypothesis import given
from hypothesis import strategies as st

from teleop.common.events import Event
from teleop.desktop.net.discovery import SETTLE_S, WATCH_INTERVAL_S, RobotDirectory
from teleop.wire.errors import ConfigError
from teleop.wire.mdns import SERVICE_TYPE, Robot, robot_from_service, txt_record
from teleop_server.cli import build_parser, config_from_args
from teleop_server.config import parse_config
from teleop_server.device.simulated import PtyDevice, SimulatedDevice
from teleop_server.net.announce import ADDRESS_POLL_S, Announcement, Announcer, announced_addresses, service_host
from teleop_server.net.name_contest import FRESH_S

WATCH = str(Path(__file__).resolve().parents[2] / "discovery_watch.py")
NAMESPACES = pytest.mark.skipif(
    shutil.which("ip") is None or os.geteuid() != 0, reason="network namespaces (real multicast between two hosts) need root and iproute2"
)


# -- the TXT schema and the model, directly ---------------------------------------------


def robot(name: str = "rover", address: str = "10.0.0.5", **fields) -> Robot:
    txt = txt_record(server="0.1.0", tls=False, token=True, camera=False, device="uno")
    found = robot_from_service(f"{name}.{SERVICE_TYPE}", 8765, [address], {k.encode(): v.encode() for k, v in txt.items()})
    assert found is not None
    return Robot(**{**found.__dict__, **fields})


def test_what_the_server_announces_is_what_the_app_shows():
    txt = txt_record(server="0.1.0", tls=True, token=False, camera=False, device="teleop-sim")
    found = robot_from_service(
        f"lab rover.{SERVICE_TYPE}", 8766, ["fe80::1", "192.168.1.9"], {k.encode(): v.encode() for k, v in txt.items()}
    )
    assert found is not None
    assert (found.name, found.address, found.tls, found.token, found.camera, found.device, found.protocol) == (
        "lab rover",
        "192.168.1.9:8766",
        True,
        False,
        False,
        "teleop-sim",
        1,
    )
    assert found.url() == "wss://192.168.1.9:8766"


def test_a_service_without_address_or_port_is_not_listed():
    assert robot_from_service(f"x.{SERVICE_TYPE}", 8765, [], {}) is None
    assert robot_from_service(f"x.{SERVICE_TYPE}", None, ["10.0.0.1"], {}) is None


@given(st.dictionaries(st.binary(max_size=20), st.one_of(st.none(), st.binary(max_size=300)), max_size=8), st.text(max_size=80))
def test_any_txt_record_a_stranger_sends_gives_a_robot_or_none_never_an_error(properties, name):
    found = robot_from_service(name, 8765, ["10.0.0.1"], properties)
    assert found is None or (found.name.isprintable() and len(found.device) <= 100)


def test_a_txt_without_the_token_key_is_assumed_to_need_one():
    found = robot_from_service(f"x.{SERVICE_TYPE}", 8765, ["10.0.0.1"], {b"proto": b"1"})
    assert found is not None and found.token and not found.tls


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def recording(directory: RobotDirectory) -> list[tuple[str, str, bool]]:
    seen: list[tuple[str, str, bool]] = []
    for kind in ("appeared", "updated", "gone", "removed"):
        getattr(directory.events, kind).connect(lambda r, kind=kind: seen.append((kind, r.name, r.present)))
    return seen


def test_robots_appear_update_grey_out_and_are_forgotten_later():
    clock = Clock()
    directory = RobotDirectory(forget_after=60, clock=clock)
    events = recording(directory)
    directory.seen(robot())
    directory.seen(robot())  # the same answer again: nothing to tell
    directory.seen(robot(device="mega"))
    clock.now += 5
    directory.lost(robot().key)
    assert [r.present for r in directory.robots()] == [False]
    assert directory.robots()[0].last_seen == 1005.0
    clock.now += 59
    directory.prune()
    assert len(directory.robots()) == 1  # still listed, greyed
    clock.now += 2
    directory.prune()
    assert directory.robots() == []
    assert events == [("appeared", "rover", True), ("updated", "rover", True), ("gone", "rover", False), ("removed", "rover", False)]


def test_a_broken_robot_list_view_does_not_stop_discovery(caplog):
    """The directory's events are the one event primitive: a listener that raises is logged, the rest still hear."""
    directory = RobotDirectory(clock=Clock())

    def broken(robot: Robot) -> None:
        raise RuntimeError("a bug in the robot list")

    directory.events.appeared.connect(broken)
    events = recording(directory)
    with caplog.at_level(logging.ERROR):
        directory.seen(robot())
    assert events == [("appeared", "rover", True)] and "a bug in the robot list" in caplog.text
    assert isinstance(directory.events.appeared, Event)


def test_the_robot_the_app_is_connected_to_stays_listed_while_gone():
    clock = Clock()
    directory = RobotDirectory(forget_after=60, clock=clock)
    directory.seen(robot("a", "10.0.0.5"))
    directory.seen(robot("b", "10.0.0.6"))
    directory.set_connected("10.0.0.5:8765")
    directory.lost(robot("a").key)
    directory.lost(robot("b").key)
    clock.now += 3600
    directory.prune()
    assert [(r.name, r.present) for r in directory.robots()] == [("a", False)]
    directory.set_connected(None)
    assert directory.robots() == []


def test_a_robot_that_comes_back_reappears_and_present_robots_are_listed_first():
    directory = RobotDirectory(clock=Clock())
    events = recording(directory)
    directory.seen(robot("a"))
    directory.seen(robot("z", "10.0.0.9"))
    directory.lost(robot("a").key)
    assert [r.name for r in directory.robots()] == ["z", "a"]
    directory.seen(robot("a"))
    assert events[-1] == ("appeared", "a", True)
    assert [r.name for r in directory.robots()] == ["a", "z"]


def test_announce_options_come_from_the_command_line_and_the_config_file():
    assert config_from_args(build_parser().parse_args(["--no-announce"])).announce is False
    assert config_from_args(build_parser().parse_args([])).announce is True
    config = parse_config({"announce": {"name": "lab rover", "enabled": True}})
    assert (config.announce, config.announce_name) == (True, "lab rover")
    with pytest.raises(ConfigError, match=r"announce\.name"):
        parse_config({"announce": {"name": "x" * 64}})
    with pytest.raises(ConfigError, match=r"announce\.colour"):
        parse_config({"announce": {"colour": "red"}})


def test_the_service_points_at_a_host_name_of_its_own_never_avahis():
    host = service_host()
    assert host.endswith("-teleop-" + host.split("-teleop-")[-1]) and host.endswith(".local.")
    assert host != f"{os.uname().nodename.split('.')[0]}.local."


def test_a_server_listening_on_loopback_announces_nothing():
    assert announced_addresses("127.0.0.1") == []
    assert announced_addresses("198.18.0.1") == ["198.18.0.1"]


async def test_a_failure_to_announce_is_one_warning_line_and_the_server_goes_on(caplog):
    polls = 0

    def unusable_interface(_host: str) -> list[str]:
        nonlocal polls
        polls += 1
        return ["203.0.113.77"]  # no interface has it: python-zeroconf cannot bind

    announcer = Announcer(Announcement("rover", 8765, tls=False, token=True), addresses=unusable_interface, poll_interval=0.02)
    with caplog.at_level(logging.DEBUG, logger="teleop.server.announce"):
        announcer.start()
        await wait_for(lambda: polls >= 5, what="five attempts")  # the barrier: it tried again and again
        await announcer.stop()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "cannot announce" in warnings[0].getMessage() and warnings[0].exc_info is None


def test_the_robot_the_app_is_connected_to_is_kept_while_gone_and_forgotten_after_disconnect(qtbot, loop):
    """The wiring: the address box tells the list which robot the app is connected to."""
    from guitools import ServerProcess, run, wait_until

    from teleop.desktop.gui.robot_list import RobotAddressBox
    from teleop.desktop.models.appsettings import AppSettings
    from teleop.desktop.session.teleop_model import TeleopModel

    clock = Clock()
    directory = RobotDirectory(forget_after=60, clock=clock)
    model = TeleopModel(AppSettings())
    box = RobotAddressBox(model.connection, directory)
    qtbot.addWidget(box)
    server = ServerProcess("sim").start()  # on loopback: it announces nothing; the list is fed by hand
    try:
        directory.seen(robot("bench", "127.0.0.1", port=server.port))
        run(loop, model.connect(server.pilot_url))
        wait_until(loop, lambda: model.connection.connected, what="connected")
        directory.lost(robot("bench").key)
        clock.now += 3600
        directory.prune()
        assert [(r.name, r.present) for r in directory.robots()] == [("bench", False)]
        run(loop, model.disconnect())
        wait_until(loop, lambda: directory.robots() == [], what="forgotten after disconnect")
    finally:
        run(loop, model.shutdown())
        server.stop()


# -- end to end: two hosts, real multicast -----------------------------------------------


class JsonLines:
    """A child process whose stdout is JSON lines, collected as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.items: list[tuple[float, dict]] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            with contextlib.suppress(ValueError):
                self.items.append((time.monotonic(), json.loads(line)))

    async def wait(self, predicate, timeout: float = 10.0, what: str = "line") -> tuple[float, dict]:
        return await wait_for(lambda: next(((t, i) for t, i in self.items if predicate(i)), None), timeout, what=what)

    async def send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text.encode() + b"\n")
        await self.process.stdin.drain()

    async def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), 5)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        self._reader.cancel()


class RobotServer:
    """teleop-server in the cable's server namespace, as a user runs it, on the sim device."""

    def __init__(self, net: CutCable, tmp_path: Path, name: str, *extra: str, port: int = 8765) -> None:
        self.net, self.tmp_path, self.name, self.extra, self.port = net, tmp_path, name, extra, port
        self.process: asyncio.subprocess.Process | None = None
        self.log = tmp_path / f"server-{name}-{port}-{time.monotonic_ns()}.log"

    async def start(self) -> float:
        """Start it; return the moment it said it is listening."""
        config = self.tmp_path / f"{self.name}.toml"
        config.write_text(f'[announce]\nname = "{self.name}"\n')
        token = self.tmp_path / "pilot-token"
        token.write_text("discovery-tests-pilot-token")
        self.process = await asyncio.create_subprocess_exec(
            *self.net.inside(self.net.server_ns),
            *(sys.executable, "-m", "teleop_server", "--serial", "sim", "--port", str(self.port), "--config", str(config)),
            *("--token-file", str(token), *self.extra),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=open(self.log, "wb"),  # noqa: SIM115 - the child owns it
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        assert self.process.stdout is not None
        async with asyncio.timeout(15):
            while b"listening on" not in (line := await self.process.stdout.readline()):
                assert line, f"teleop-server exited: {self.log.read_text()}"
        self.banner = line.decode()
        return time.monotonic()

    async def stop(self) -> float:
        """SIGTERM, as systemd stops it; return the moment it was sent."""
        assert self.process is not None
        sent = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self.process.wait(), 10)
        return sent

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


async def start_watcher(net: CutCable, *args: str, env: dict[str, str] | None = None, expect_ok: bool = True) -> JsonLines:
    process = await asyncio.create_subprocess_exec(
        *net.inside(net.pilot_ns),
        *(sys.executable, WATCH, *args),
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})),
    )
    watcher = JsonLines(process)
    _, ready = await watcher.wait(lambda i: i["event"] == "ready", timeout=30, what="discovery started")
    assert ready["ok"] == expect_ok, ready["problem"]
    return watcher


def listed(item: dict, name: str, **fields) -> bool:
    return any(r["name"] == name and all(r[k] == v for k, v in fields.items()) for r in item.get("robots", []))


def record_figure(name: str, seconds: float, bound: float) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open(ARTIFACTS / "discovery-figures.jsonl", "a") as f:
        f.write(json.dumps({"what": name, "measured_s": round(seconds, 3), "bound_s": bound, "at": time.time()}) + "\n")
    print(f"{name}: {seconds:.3f} s (bound {bound} s)")


@NAMESPACES
async def test_the_app_lists_the_robot_within_2s_updates_it_after_a_restart_and_greys_it_when_it_stops(tmp_path):
    with CutCable() as net:
        watcher = await start_watcher(net)
        servers: list[RobotServer] = []
        try:
            server = RobotServer(net, tmp_path, "lab rover")
            servers.append(server)
            up = await server.start()
            assert ".local:8765" in server.banner  # the name to type when there is no list
            seen_at, _ = await watcher.wait(lambda i: listed(i, "lab rover", present=True), what="robot listed")
            record_figure("server listening -> robot listed in the app", seen_at - up, 2.0)
            assert seen_at - up < 2.0
            _, item = await watcher.wait(lambda i: listed(i, "lab rover", device="teleop-sim"), timeout=2, what="device name in TXT")
            entry = next(r for r in item["robots"] if r["name"] == "lab rover")
            assert (entry["addresses"], entry["port"], entry["token"], entry["tls"], entry["protocol"]) == (
                [net.SERVER_IP],
                8765,
                True,
                False,
                1,
            )

            stopped = await server.stop()
            grey_at, _ = await watcher.wait(lambda i: i["event"] == "gone" and listed(i, "lab rover", present=False), what="greyed")
            record_figure("server stopped -> robot greyed out", grey_at - stopped, 2.0)
            assert grey_at - stopped < 2.0

            # the same robot back, now without a token: its entry updates in place
            server = RobotServer(net, tmp_path, "lab rover", "--no-auth")
            servers.append(server)
            up = await server.start()
            seen_at, item = await watcher.wait(lambda i: listed(i, "lab rover", present=True, token=False), what="updated TXT")
            assert seen_at - up < 2.0
            assert [r["name"] for r in item["robots"]] == ["lab rover"]
            await server.stop()

            # restarted under another name: a new entry; the old one stays, greyed
            server = RobotServer(net, tmp_path, "lab rover mk2")
            servers.append(server)
            up = await server.start()
            seen_at, item = await watcher.wait(lambda i: listed(i, "lab rover mk2", present=True), what="renamed robot")
            assert seen_at - up < 2.0
            assert listed(item, "lab rover", present=False)
            await server.stop()
            await watcher.wait(lambda i: listed(i, "lab rover mk2", present=False), timeout=2, what="renamed robot greyed")
        finally:
            for server in servers:
                await server.kill()
            await watcher.close()


@NAMESPACES
async def test_two_robots_with_the_same_name_are_both_listed(tmp_path):
    """Every Pi starts out called raspberrypi: the second one to start takes another name."""
    with CutCable() as net:
        watcher = await start_watcher(net)
        first = RobotServer(net, tmp_path, "raspberrypi", port=8765)
        second = RobotServer(net, tmp_path, "raspberrypi", port=8766)
        try:
            await first.start()
            await watcher.wait(lambda i: listed(i, "raspberrypi", present=True), what="first robot")
            await second.start()
            _, item = await watcher.wait(lambda i: len([r for r in i.get("robots", []) if r["present"]]) == 2, what="both robots")
            names = sorted(r["name"] for r in item["robots"])
            ports = sorted(r["port"] for r in item["robots"])
            assert names[0] == "raspberrypi" and names[1].startswith("raspberrypi") and names[1] != "raspberrypi", names
            assert ports == [8765, 8766]
        finally:
            await first.kill()
            await second.kill()
            await watcher.close()


@NAMESPACES
async def test_two_robots_that_took_one_name_are_told_apart_when_the_first_answers_late(tmp_path):
    """Probing misses a robot that answers late (frozen here, as a busy Pi or one whose Wi-Fi dozes): both
    end up announcing raspberrypi. Once it answers, the newcomer must move, so the app lists both robots, and
    the robot that was there first keeps its name: a pilot may be driving it. Its port sorts after the
    newcomer's, so a rule by sort order alone would move it."""
    with CutCable() as net:
        watcher = await start_watcher(net)
        first = RobotServer(net, tmp_path, "raspberrypi", port=8766)
        newcomer = RobotServer(net, tmp_path, "raspberrypi", port=8765)
        try:
            started = await first.start()
            await watcher.wait(lambda i: listed(i, "raspberrypi", present=True), what="first robot")
            await asyncio.sleep(started + FRESH_S + 1 - time.monotonic())  # it has held the name a while
            assert first.process is not None
            first.process.send_signal(signal.SIGSTOP)  # it hears nothing and answers nothing
            await newcomer.start()
            await wait_for(lambda: "mDNS: announced 'raspberrypi._teleop._tcp" in newcomer.log.read_text(), 15, what="the newcomer's name")
            first.process.send_signal(signal.SIGCONT)

            def by_port(item: dict) -> dict[int, str]:
                return {r["port"]: r["name"] for r in item.get("robots", []) if r["present"]}

            await watcher.wait(lambda i: by_port(i) == {8766: "raspberrypi", 8765: "raspberrypi-2"}, timeout=30, what="both robots, apart")
            assert "also called 'raspberrypi' (" in newcomer.log.read_text()  # the owner is told why the name changed
            # the barrier: the first robot saw the contest end (the newcomer's claim gone), and it never moved
            await wait_for(lambda: "no other robot announces 'raspberrypi' any more" in first.log.read_text(), 30, what="contest over")
            assert "also announces 'raspberrypi'" in first.log.read_text()
            assert "also called" not in first.log.read_text()
        finally:
            for server in (first, newcomer):
                if server.process is not None and server.process.returncode is None:
                    server.process.send_signal(signal.SIGCONT)
            await first.kill()
            await newcomer.kill()
            await watcher.close()


@NAMESPACES
async def test_a_server_started_with_no_announce_is_never_listed(tmp_path):
    with CutCable() as net:
        watcher = await start_watcher(net)
        quiet = RobotServer(net, tmp_path, "quiet rover", "--no-announce", port=8766)
        loud = RobotServer(net, tmp_path, "loud rover", port=8765)
        try:
            await quiet.start()
            await loud.start()
            # the barrier: the announcing server, started after the quiet one, is listed ...
            await watcher.wait(lambda i: listed(i, "loud rover", present=True), what="announcing robot listed")
            await watcher.wait(lambda i: listed(i, "loud rover", device="teleop-sim"), timeout=3, what="its TXT update")
            # ... and the quiet one never was
            assert not any(r["name"] == "quiet rover" for _, i in watcher.items for r in i.get("robots", []))
        finally:
            await quiet.kill()
            await loud.kill()
            await watcher.close()


async def hold_mdns_port(net: CutCable, ns: str) -> asyncio.subprocess.Process:
    """UDP 5353 bound without SO_REUSEADDR, as avahi-daemon does with disallow-other-stacks=yes."""
    holder = await asyncio.create_subprocess_exec(
        *net.inside(ns),
        sys.executable,
        "-c",
        "import socket,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('0.0.0.0',5353)); print('held',flush=True); time.sleep(60)",
        stdout=asyncio.subprocess.PIPE,
    )
    assert holder.stdout is not None
    assert (await holder.stdout.readline()).strip() == b"held"
    return holder


@NAMESPACES
async def test_an_app_that_cannot_browse_says_why_and_keeps_running(tmp_path):
    with CutCable() as net:
        holder = await hold_mdns_port(net, net.pilot_ns)
        try:
            watcher = await start_watcher(net, expect_ok=False)
            _, ready = await watcher.wait(lambda i: i["event"] == "ready")
            assert ready["problem"].startswith("cannot look for robots on this network")
            assert watcher.process.returncode is None
            await watcher.close()
        finally:
            holder.kill()
            await holder.wait()


@NAMESPACES
async def test_a_busy_mdns_port_is_one_warning_line_and_the_server_still_serves(tmp_path):
    with CutCable() as net:
        holder = await hold_mdns_port(net, net.server_ns)
        server = RobotServer(net, tmp_path, "blocked rover")
        try:
            await server.start()
            await wait_for(lambda: "cannot announce" in server.log.read_text(), timeout=10, what="the warning")
            # still serving: the dashboard answers from the other namespace
            fetch = await asyncio.create_subprocess_exec(
                *net.inside(net.pilot_ns),
                *(sys.executable, "-c", f"import urllib.request; print(urllib.request.urlopen('http://{net.SERVER_IP}:8765/').status)"),
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await asyncio.wait_for(fetch.communicate(), 15)
            assert out.strip() == b"200"
            await server.stop()
            text = server.log.read_text()
            assert text.count("cannot announce") == 1 and "Traceback" not in text, text
            assert server.process.returncode == 0
        finally:
            await server.kill()
            holder.kill()
            await holder.wait()


@NAMESPACES
async def test_plugging_in_another_device_updates_the_device_name_the_app_shows(tmp_path):
    first = PtyDevice(SimulatedDevice(name="uno-one"), link=str(tmp_path / "ttyROBOT"))
    await first.start()
    with CutCable() as net:
        watcher = await start_watcher(net)
        server = RobotServer(net, tmp_path, "lab rover", "--serial", first.path)
        try:
            await server.start()
            _, item = await watcher.wait(lambda i: listed(i, "lab rover", present=True, device="uno-one"), what="first device")
            key = item["key"]
            await first.unplug()
            second = PtyDevice(SimulatedDevice(name="mega-two"), link=str(tmp_path / "ttyROBOT"))
            await second.start()  # the same path, another board
            try:
                _, item = await watcher.wait(lambda i: listed(i, "lab rover", device="mega-two"), timeout=15, what="TXT update")
                assert item["event"] == "updated" and item["key"] == key  # in place, never gone in between
                assert not any(i["event"] == "gone" for _, i in watcher.items)
            finally:
                await second.stop()
        finally:
            await server.kill()
            await watcher.close()


@NAMESPACES
async def test_a_new_address_on_the_robot_is_announced_again(tmp_path):
    with CutCable() as net:
        watcher = await start_watcher(net)
        server = RobotServer(net, tmp_path, "lab rover")
        try:
            await server.start()
            await watcher.wait(lambda i: listed(i, "lab rover", present=True, addresses=[net.SERVER_IP]), what="listed")
            # DHCP hands out a second address (the robot joined another subnet): within a poll, clients learn it
            subprocess.run(["ip", "-n", net.server_ns, "addr", "add", "198.18.78.1/24", "dev", net.server_end], check=True)
            changed = time.monotonic()
            seen_at, _ = await watcher.wait(
                lambda i: listed(i, "lab rover", present=True, addresses=[net.SERVER_IP, "198.18.78.1"]), timeout=15, what="new address"
            )
            record_figure("address added on the robot -> app has it", seen_at - changed, ADDRESS_POLL_S + 2)
        finally:
            await server.kill()
            await watcher.close()


@NAMESPACES
async def test_the_app_finds_robots_on_a_network_it_joins_after_starting_and_greys_them_when_it_leaves(tmp_path):
    with CutCable() as net:
        pilot_address = ["ip", "-n", net.pilot_ns, "addr"]
        subprocess.run([*pilot_address, "flush", "dev", net.pilot_end], check=True)  # the PC is on no network yet
        watcher = await start_watcher(net)
        server = RobotServer(net, tmp_path, "hotspot rover")
        try:
            await server.start()
            subprocess.run([*pilot_address, "add", f"{net.PILOT_IP}/30", "dev", net.pilot_end], check=True)  # joins the robot's hotspot
            joined = time.monotonic()
            seen_at, _ = await watcher.wait(lambda i: listed(i, "hotspot rover", present=True), timeout=15, what="robot listed")
            record_figure("PC joins the robot's network -> robot listed", seen_at - joined, WATCH_INTERVAL_S + 2)
            subprocess.run([*pilot_address, "flush", "dev", net.pilot_end], check=True)  # and leaves it (no goodbye can reach it)
            left = time.monotonic()
            grey_at, _ = await watcher.wait(lambda i: listed(i, "hotspot rover", present=False), timeout=15, what="robot greyed")
            record_figure("PC leaves the network -> robot greyed out", grey_at - left, WATCH_INTERVAL_S + SETTLE_S + 1)
            assert server.process is not None and server.process.returncode is None  # the robot never stopped
        finally:
            await server.kill()
            await watcher.close()


# -- on a real display: what the user sees --------------------------------------------------


@pytest.fixture
def display():
    """Xvfb with openbox, as a desktop has (the one helper the GUI tests use too). Skips without them."""
    from xdisplay import XDisplay, missing_tools

    if missing_tools():
        pytest.skip(f"needs {' '.join(missing_tools())}")
    with XDisplay(size="1280x720") as shown:
        yield shown


def row(item: dict, name: str) -> dict | None:
    return next((r for r in item.get("rows", []) if r["name"] == name), None)


@NAMESPACES
async def test_the_settings_dialog_and_the_address_box_list_the_robot_and_enter_fills_its_address(tmp_path, display):
    with CutCable() as net:
        env = {"DISPLAY": display.name, "QT_QPA_PLATFORM": "xcb", "XDG_RUNTIME_DIR": str(tmp_path)}
        watcher = await start_watcher(net, "--gui", str(tmp_path / "teleop.ini"), env=env)
        server = RobotServer(net, tmp_path, "lab rover")
        try:
            up = await server.start()
            seen_at, item = await watcher.wait(lambda i: (r := row(i, "lab rover")) and not r["greyed"], what="row in Settings")
            assert seen_at - up < 2.0
            assert row(item, "lab rover") == {
                "name": "lab rover",
                "address": f"{net.SERVER_IP}:8765",
                "needs": "token",
                "driving": "",
                "via": "mDNS",
                "last_seen": "now",
                "greyed": False,
            }
            display.screenshot(ARTIFACTS / "discovery-settings-dialog.png")

            await watcher.send("popup")
            _, popup = await watcher.wait(lambda i: i["event"] == "popup", what="drop-down shown")
            assert [r["name"] for r in popup["rows"]] == ["lab rover"]
            assert popup["recent"][:2] == ["192.168.1.40:8765", "rover.local:8765"]
            display.screenshot(ARTIFACTS / "discovery-address-dropdown.png")
            display.key("Return")  # to whatever has focus
            _, chosen = await watcher.wait(lambda i: i["event"] == "chosen", what="robot chosen")
            assert chosen["url"] == chosen["text"] == f"ws://{net.SERVER_IP}:8765"

            await server.stop()
            _, item = await watcher.wait(lambda i: (r := row(i, "lab rover")) and r["greyed"], what="row greyed out")
            await watcher.send("popup")
            _, popup = await watcher.wait(lambda i: i["event"] == "popup" and i["rows"] and i["rows"][0]["greyed"], what="greyed drop-down")
            assert popup["rows"][0]["last_seen"].endswith("s ago")
            display.screenshot(ARTIFACTS / "discovery-greyed-out.png")
        finally:
            await server.kill()
            await watcher.close()
