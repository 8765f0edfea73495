"""The fleet on a real broker: Debian's mosquitto with the password and ACL files docs/fleet.md gives.

Robot servers run in their own processes on simulated devices behind ptys (what
reaches the serial side is what a real Arduino would get); the dashboard is a
real MQTT client, and the command-line clients are mosquitto's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import time
import uuid

import mosquitto
import pytest
from conftest import wait_for

from teleop.wire import fleet
from teleop_server.device.simulated import SimulatedDevice
from teleop_server.rules.mapping import CommandMapper

aiomqtt = pytest.importorskip("aiomqtt", reason="the fleet tests need the mqtt extra (pip install 'teleop-robot[mqtt]')")
pytestmark = pytest.mark.skipif(not mosquitto.available(), reason=mosquitto.MISSING)

ROBOTS = ("rover-1", "rover-2", "rover-3")
NEUTRAL = set(CommandMapper().neutral().values())


@pytest.fixture
def broker(tmp_path):
    users = {name: uuid.uuid4().hex for name in ROBOTS}
    users[mosquitto.DASHBOARD] = uuid.uuid4().hex
    broker = mosquitto.Broker(tmp_path / "broker", users).start()
    yield broker
    broker.stop()


class Dashboard:
    """A real MQTT client as the dashboard user: everything under teleop/ (and discovery) it hears, in order."""

    def __init__(self, broker: mosquitto.Broker) -> None:
        self.broker = broker
        self.heard: list[tuple[str, str, bool]] = []
        self.client: aiomqtt.Client | None = None
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> Dashboard:
        self.client = aiomqtt.Client(
            "127.0.0.1", self.broker.port, username=mosquitto.DASHBOARD, password=self.broker.users[mosquitto.DASHBOARD]
        )
        await self.client.__aenter__()
        await self.client.subscribe("teleop/#", qos=1)
        await self.client.subscribe("homeassistant/#", qos=1)
        self._task = asyncio.create_task(self._listen())
        return self

    async def _listen(self) -> None:
        assert self.client is not None
        async for message in self.client.messages:
            payload = message.payload.decode() if isinstance(message.payload, bytes) else str(message.payload)
            self.heard.append((str(message.topic), payload, message.retain))

    async def __aexit__(self, *exc) -> None:
        if self._task:
            self._task.cancel()
        with contextlib.suppress(Exception):
            await self.client.__aexit__(None, None, None)

    def on(self, topic: str, since: int = 0) -> list[str]:
        return [payload for t, payload, _ in self.heard[since:] if t == topic]

    def latest(self, robot: str, kind: str) -> str | None:
        found = self.on(fleet.topic(robot, kind))
        return found[-1] if found else None

    def state(self, robot: str) -> fleet.RobotState | None:
        return fleet.parse_state(self.latest(robot, fleet.STATE))

    async def estop(self, robot: str, nonce: str, who: str = "test dashboard") -> None:
        assert self.client is not None
        await self.client.publish(fleet.topic(robot, fleet.ESTOP), fleet.EstopCommand(who, nonce).to_json(), qos=1)

    def ack(self, robot: str, nonce: str) -> fleet.EstopAck | None:
        for payload in self.on(fleet.topic(robot, fleet.ESTOP_ACK)):
            ack = fleet.parse_ack(payload)
            if ack is not None and ack.nonce == nonce:
                return ack
        return None


async def start_robot(broker, make_device, make_server, robot: str, *extra: str, **mqtt):
    device = await make_device(SimulatedDevice(report_ms=50))
    server = await make_server(device, "--mqtt", broker.url, "--name", robot, "--config", str(broker.robot_config(robot, **mqtt)))
    return device, server


def test_anonymous_clients_and_wrong_passwords_are_refused(broker):
    anonymous = subprocess.run(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", "teleop/#", "-C", "1", "-W", "3"], capture_output=True, text=True
    )
    assert anonymous.returncode != 0 and "not authorised" in (anonymous.stderr + anonymous.stdout).lower()
    wrong = subprocess.run(
        [
            "mosquitto_sub",
            "-h",
            "127.0.0.1",
            "-p",
            str(broker.port),
            "-u",
            "rover-1",
            "-P",
            "guess",
            "-t",
            "teleop/#",
            "-C",
            "1",
            "-W",
            "3",
        ],
        capture_output=True,
        text=True,
    )
    assert wrong.returncode != 0 and "not authorised" in (wrong.stderr + wrong.stdout).lower()


async def test_robots_publish_presence_state_and_readings(broker, make_device, make_server):
    async with Dashboard(broker) as dashboard:
        _, server = await start_robot(broker, make_device, make_server, "Rover 1")  # published as rover-1
        await wait_for(lambda: dashboard.latest("rover-1", fleet.CONNECTION) == fleet.ONLINE, timeout=10, what="rover-1 online")
        await wait_for(lambda: (s := dashboard.state("rover-1")) and s.device == "ready", timeout=10, what="state with the device ready")
        state = dashboard.state("rover-1")
        assert state.name == "Rover 1" and state.address == f"ws://127.0.0.1:{server.port}" and state.token
        assert state.pilot is None and state.firmware.startswith("teleop-sim")
        await wait_for(lambda: len(dashboard.on(fleet.topic("rover-1", fleet.READINGS))) >= 3, timeout=10, what="readings")
        readings = [json.loads(p) for p in dashboard.on(fleet.topic("rover-1", fleet.READINGS))]
        assert all(r["values"] for r in readings)
        span = readings[-1]["t"] - readings[0]["t"]
        assert span >= (len(readings) - 1) / 4 * 0.8  # at most the default 4 a second, though the device reports 20
        assert server.token not in json.dumps(dashboard.heard)  # nothing secret on the broker
    # a newcomer gets presence and state at once: they are retained
    async with Dashboard(broker) as late:
        await wait_for(lambda: late.state("rover-1") is not None and late.latest("rover-1", fleet.CONNECTION) == fleet.ONLINE, timeout=5)
        assert all(retained for topic, _, retained in late.heard if topic.endswith(("/state", "/connection")))


async def test_a_robot_on_the_fleet_stops_on_sigterm_and_says_offline_itself(broker, make_device, make_server):
    """``systemctl stop`` and ^C send SIGTERM/SIGINT. The robot says ``offline`` and exits; it used to publish its
    last state as it stopped and, when the broker's acknowledgement landed with the stop (most times), its link
    never ended and the server never exited. Three stops in a row: the race is likely in at least one."""
    async with Dashboard(broker) as dashboard:
        for _ in range(3):
            since = len(dashboard.heard)
            _, server = await start_robot(broker, make_device, make_server, "rover-1")
            await wait_for(
                lambda s=since: fleet.ONLINE in dashboard.on(fleet.topic("rover-1", fleet.CONNECTION), s), timeout=10, what="online"
            )
            await wait_for(lambda s=since: dashboard.on(fleet.topic("rover-1", fleet.STATE), s), timeout=10, what="its state")
            await asyncio.to_thread(server.stop)  # fails the test if the server is still running 5 s after SIGTERM
            await wait_for(lambda: dashboard.latest("rover-1", fleet.CONNECTION) == fleet.OFFLINE, timeout=10, what="offline")


async def test_a_robot_cannot_write_another_robots_topics_or_stop_it(broker, make_device, make_server):
    async with Dashboard(broker) as dashboard:
        _, _ = await start_robot(broker, make_device, make_server, "rover-2")
        await wait_for(lambda: dashboard.state("rover-2") is not None, timeout=10, what="rover-2 state")
        async with aiomqtt.Client("127.0.0.1", broker.port, username="rover-1", password=broker.users["rover-1"]) as impostor:
            forged = fleet.RobotState("rover-2", address="ws://evil:1").to_json()
            await impostor.publish("teleop/rover-2/state", forged, qos=1, retain=True)
            await impostor.publish("teleop/rover-2/connection", fleet.OFFLINE, qos=1, retain=True)
            await impostor.publish("teleop/rover-2/cmd/estop", fleet.EstopCommand("impostor", "forged").to_json(), qos=1)
            await impostor.publish("teleop/rover-1/events", fleet.event_payload("info", "barrier", 0), qos=1)  # its own: allowed
        await wait_for(lambda: dashboard.on("teleop/rover-1/events"), timeout=5, what="the impostor's own topic (the barrier)")
        await dashboard.estop("rover-2", "real")
        await wait_for(lambda: dashboard.ack("rover-2", "real"), timeout=10, what="the dashboard's stop acknowledged")
        assert dashboard.ack("rover-2", "forged") is None
        assert forged not in dashboard.on("teleop/rover-2/state")
        assert fleet.OFFLINE not in dashboard.on("teleop/rover-2/connection")
        # a robot cannot pose as the dashboard and stop the others either, nor read their readings
        assert dashboard.state("rover-2").address.startswith("ws://127.0.0.1:")


async def _drive(server, stop: asyncio.Event, sent: list[tuple[float, str]], period: float = 0.02) -> None:
    """A pilot on the WebSocket sending a new stick position every ``period``; records when each line was sent."""
    from websockets.asyncio.client import connect

    async with connect(server.url) as ws:
        await ws.send(json.dumps({"type": "hello", "role": "pilot", "client": "pilot", "token": server.token}))
        seq = 0
        while not stop.is_set():
            seq += 1
            value = 100 + seq % 800
            sent.append((time.monotonic(), f"B{value}"))
            await ws.send(json.dumps({"type": "control", "seq": seq, "axes": [value / 1000], "buttons": []}))
            await asyncio.sleep(period)


async def test_a_fleet_estop_reaches_every_robots_serial_side_as_neutral_and_is_acknowledged(broker, make_device, make_server):
    async with Dashboard(broker) as dashboard:
        robots = {name: await start_robot(broker, make_device, make_server, name) for name in ROBOTS}
        for name in ROBOTS:
            await wait_for(lambda n=name: (s := dashboard.state(n)) and s.device == "ready", timeout=15, what=f"{name} ready")
        stop = asyncio.Event()
        sent = {name: [] for name in ROBOTS}
        pilots = [asyncio.create_task(_drive(server, stop, sent[name])) for name, (_, server) in robots.items()]
        try:
            for name, (device, _) in robots.items():  # every robot is driving: its outputs are away from neutral
                await wait_for(lambda d=device: d.device.display >= 100, timeout=10, what=f"{name} driving")
            await wait_for(lambda: all((s := dashboard.state(n)) and s.pilot == "pilot" for n in ROBOTS), timeout=10)
            marks = {name: len(device.received_lines) for name, (device, _) in robots.items()}
            nonce = uuid.uuid4().hex
            for name in ROBOTS:
                await dashboard.estop(name, nonce)
            for name in ROBOTS:
                ack = await wait_for(lambda n=name: dashboard.ack(n, nonce), timeout=10, what=f"{name}'s acknowledgement")
                assert ack.engaged and ack.robot == name and ack.who == "test dashboard" and not ack.duplicate
            stopped = {name: len(device.received_lines) for name, (device, _) in robots.items()}
            await asyncio.sleep(0.3)  # the pilots keep sending meanwhile
            for name, (device, _) in robots.items():
                lines = [line for _, line in list(device.received_lines)[marks[name] :]]
                assert set(lines) >= NEUTRAL, f"{name} got {lines[-5:]}"
                later = [line for _, line in list(device.received_lines)[stopped[name] :]]
                assert all(line in NEUTRAL or line == "H" for line in later), later  # nothing but neutral after the stop
                assert device.device.display == 0
            await wait_for(lambda: all(dashboard.state(n).estop for n in ROBOTS), timeout=10, what="every state says e-stop")
            # the same nonce again (a redelivery) is acknowledged, not acted on twice
            await dashboard.estop("rover-1", nonce)
            await wait_for(lambda: any(fleet.parse_ack(p).duplicate for p in dashboard.on("teleop/rover-1/cmd/estop/ack")), timeout=10)
        finally:
            stop.set()
            await asyncio.gather(*pilots, return_exceptions=True)
        assert not any(retained for topic, _, retained in dashboard.heard if "/cmd/estop" in topic)


async def test_two_robots_left_with_one_name_both_take_the_fleet_stop_and_are_told(broker, make_device, make_server):
    """Every Pi starts as raspberrypi: two robots with one name used to take each other's broker connection
    in turns, so a fleet stop reached one of them. Both must stay connected and stop, and be told why."""
    async with Dashboard(broker) as dashboard:
        first_device, first = await start_robot(broker, make_device, make_server, "rover-1")
        await wait_for(lambda: (s := dashboard.state("rover-1")) and s.device == "ready", timeout=15, what="the first robot ready")
        second_device, second = await start_robot(broker, make_device, make_server, "rover-1")
        await wait_for(lambda: len({fleet.parse_state(p).address for p in dashboard.on("teleop/rover-1/state")}) == 2, timeout=15)
        stops = (len(first_device.received_stops), len(second_device.received_stops))
        nonce = uuid.uuid4().hex
        await dashboard.estop("rover-1", nonce)
        # the barrier: both robots acknowledged this stop (each acknowledges what it did itself)
        await wait_for(
            lambda: (
                len([a for p in dashboard.on(fleet.topic("rover-1", fleet.ESTOP_ACK)) if (a := fleet.parse_ack(p)) and a.nonce == nonce])
                == 2
            ),
            timeout=10,
            what="both robots' acknowledgements",
        )
        await wait_for(lambda: len(first_device.received_stops) > stops[0] and len(second_device.received_stops) > stops[1], timeout=5)
    logs = first.stop() + second.stop()
    assert "lost the MQTT broker" not in logs, "the two robots took each other's broker connection"
    assert "another robot publishes as 'rover-1' on the fleet broker" in logs


async def test_an_old_connections_late_will_does_not_leave_a_running_robot_offline(broker, make_device, make_server):
    """A Pi that lost power and came back before the broker dropped its old connection: that connection's will
    says offline after the new run said online. The robot must say online again."""
    async with Dashboard(broker) as dashboard:
        await start_robot(broker, make_device, make_server, "rover-2")
        await wait_for(lambda: dashboard.latest("rover-2", fleet.CONNECTION) == fleet.ONLINE, timeout=10, what="online")
        old = subprocess.Popen(  # the old connection, as the robot's own user, with the same will
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-u", "rover-2", "-P", broker.users["rover-2"],
             "-i", "rover-2-old-run", "-t", "teleop/rover-2/events", "-l", "-q", "1",
             "--will-topic", "teleop/rover-2/connection", "--will-payload", "offline", "--will-retain", "--will-qos", "1"],
            stdin=subprocess.PIPE,
        )  # fmt: skip
        try:
            assert old.stdin is not None
            old.stdin.write(b"the old run is connected\n")  # the barrier: heard, so its will is registered
            old.stdin.flush()
            await wait_for(lambda: "the old run is connected" in dashboard.on("teleop/rover-2/events"), timeout=10, what="the old run in")
        finally:
            old.kill()  # no DISCONNECT: the broker fires its will
            old.wait()
        await wait_for(lambda: fleet.OFFLINE in dashboard.on("teleop/rover-2/connection"), timeout=10, what="the old run's will")
        mark = next(
            i for i, (topic, payload, _) in enumerate(dashboard.heard) if topic == "teleop/rover-2/connection" and payload == "offline"
        )
        await wait_for(lambda: fleet.ONLINE in dashboard.on("teleop/rover-2/connection", mark + 1), timeout=10, what="online again")
    async with Dashboard(broker) as late:  # and retained so: a dashboard that starts later sees it online
        await wait_for(lambda: late.latest("rover-2", fleet.CONNECTION) == fleet.ONLINE, timeout=5)


async def test_a_killed_robot_shows_offline_through_its_last_will(broker, make_device, make_server):
    async with Dashboard(broker) as dashboard:
        _, server = await start_robot(broker, make_device, make_server, "rover-3")
        await wait_for(lambda: dashboard.latest("rover-3", fleet.CONNECTION) == fleet.ONLINE, timeout=10, what="online")
        mark = len(dashboard.heard)
        killed = time.monotonic()
        os.kill(server.pid, signal.SIGKILL)
        await wait_for(lambda: fleet.OFFLINE in dashboard.on("teleop/rover-3/connection", mark), timeout=10, what="offline by the will")
        assert time.monotonic() - killed < 10
    async with Dashboard(broker) as late:  # retained: a dashboard that starts later sees it offline too
        await wait_for(lambda: late.latest("rover-3", fleet.CONNECTION) == fleet.OFFLINE, timeout=5)


async def _latencies(device, sent: list[tuple[float, str]], start: int, end: int) -> list[float]:
    """Seconds from each control sent (start..end) to its line on the serial side; fails if any never arrived."""
    await asyncio.sleep(0.3)
    out = []
    lines = list(device.received_lines)
    for t_sent, line in sent[start:end]:
        t_line = next((t for t, received in lines if received == line and t >= t_sent - 0.001), None)
        assert t_line is not None, f"{line} sent but never reached the device"
        out.append(t_line - t_sent)
    return out


async def test_stopping_the_broker_mid_drive_leaves_the_pilots_latency_alone_and_the_link_comes_back(broker, make_device, make_server):
    async with Dashboard(broker) as dashboard:
        device, server = await start_robot(broker, make_device, make_server, "rover-1", readings_hz=20)
        await wait_for(lambda: (s := dashboard.state("rover-1")) and s.device == "ready", timeout=10)
    stop, sent = asyncio.Event(), []
    pilot = asyncio.create_task(_drive(server, stop, sent, period=0.05))
    try:
        await wait_for(lambda: len(sent) >= 60, timeout=20)
        before = await _latencies(device, sent, 20, 60)
        broker.stop()
        gone = len(sent)
        await wait_for(lambda: len(sent) >= gone + 60, timeout=20)
        during = await _latencies(device, sent, gone + 10, gone + 60)
        broker.start()  # same port, same users: the robot finds it again by itself
        async with Dashboard(broker) as dashboard:
            await wait_for(lambda: dashboard.latest("rover-1", fleet.CONNECTION) == fleet.ONLINE, timeout=15, what="the link back")
            await wait_for(lambda: dashboard.state("rover-1") and dashboard.state("rover-1").pilot == "pilot", timeout=5)
    finally:
        stop.set()
        await asyncio.gather(pilot, return_exceptions=True)
    p99 = lambda xs: sorted(xs)[int(len(xs) * 0.99) - 1]  # noqa: E731
    print(
        f"command latency p50/p99 ms: broker up {statistics.median(before) * 1e3:.1f}/{p99(before) * 1e3:.1f}, "
        f"broker gone {statistics.median(during) * 1e3:.1f}/{p99(during) * 1e3:.1f}"
    )
    assert p99(during) < p99(before) + 0.1  # a loose bound: a shared machine jitters; a blocked loop would cost seconds
    log = server.stop()
    assert log.count("cannot reach the MQTT broker") + log.count("lost the MQTT broker") <= 2, log  # reported once, not per attempt
    assert "is back" in log


async def test_home_assistant_discovery_is_published_retained_and_matches_the_schema(broker, make_device, make_server):
    from hakit import check_discovery

    async with Dashboard(broker) as dashboard:
        await start_robot(broker, make_device, make_server, "rover-2", discovery=True)
        prefix = "homeassistant/"
        await wait_for(
            lambda: any("reading_" in t for t, _, _ in dashboard.heard if t.startswith(prefix)), timeout=10, what="reading sensors"
        )
        from teleop_server.rules.fleet import Message

        configs = {t: p for t, p, _ in dashboard.heard if t.startswith(prefix)}
        components = {check_discovery(Message(t, p, 1, True))[0] for t, p in configs.items()}
        assert components == {"binary_sensor", "sensor", "button"}
        button = json.loads(configs["homeassistant/button/teleop_rover-2/estop/config"])
        async with aiomqtt.Client("127.0.0.1", broker.port, username=mosquitto.DASHBOARD, password=broker.users[mosquitto.DASHBOARD]) as ha:
            await ha.publish(button["command_topic"], button["payload_press"], qos=1)  # what Home Assistant's button does
        await wait_for(lambda: any(fleet.parse_ack(p).who == "Home Assistant" for p in dashboard.on("teleop/rover-2/cmd/estop/ack")), 10)


async def test_a_broker_refusing_the_password_is_reported_once_and_the_robot_drives_on(broker, make_device, make_server):
    device = await make_device(SimulatedDevice(report_ms=50))
    config = broker.robot_config("rover-1")
    broker.password_file("rover-1").write_text("not the password\n")
    server = await make_server(device, "--mqtt", broker.url, "--name", "rover-1", "--config", str(config))
    await server.serial_ready()
    # the barrier: the broker has refused this robot several times by now
    await wait_for(lambda: broker.log.read_text().count("not authorised") >= 3, timeout=20, what="three refused attempts")
    stop, sent = asyncio.Event(), []
    pilot = asyncio.create_task(_drive(server, stop, sent))
    try:
        await wait_for(lambda: len(sent) >= 20, timeout=10)
        await _latencies(device, sent, 5, 20)  # every command reached the device
    finally:
        stop.set()
        await asyncio.gather(pilot, return_exceptions=True)
    log = server.stop()
    assert log.count("cannot reach the MQTT broker") == 1, log
    assert "not authori" in log.lower()


async def test_a_broker_address_that_resets_every_connection_is_reported_once(make_device, make_server):
    """mqtt:// at a TLS listener (or anything that drops the connection at once): one line, not one a retry."""
    import socket
    import struct
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    attempts = []

    def reset_every_connection() -> None:
        while True:
            try:
                peer, _ = listener.accept()
            except OSError:
                return
            attempts.append(1)
            peer.recv(1024)  # the client's CONNECT
            peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            peer.close()  # a reset, as a TLS listener gives a plain MQTT client

    threading.Thread(target=reset_every_connection, daemon=True).start()
    try:
        device = await make_device(SimulatedDevice(report_ms=50))
        server = await make_server(device, "--mqtt", f"mqtt://127.0.0.1:{listener.getsockname()[1]}", "--name", "rover-1")
        await server.serial_ready()
        # the barrier: a third attempt accepted, so two have failed (about 5 s each: the client only gives up on
        # its CONNACK): the first failure is reported, the one after it is not
        await wait_for(lambda: len(attempts) >= 3, timeout=20, what="three attempts reset")
        log = server.stop()
    finally:
        listener.close()
    assert log.count("cannot reach the MQTT broker") == 1, log
    assert "ERROR" not in log, log


def documented_certificate_recipe() -> str:
    """The openssl commands docs/fleet.md gives for the broker's certificate (the block after its marker)."""
    text = (mosquitto.ROOT / "docs" / "fleet.md").read_text()
    match = re.search(r"<!-- broker-certificate -->\s*```sh\n(.*?)```", text, re.S)
    assert match, "docs/fleet.md has no certificate recipe after <!-- broker-certificate -->"
    return match.group(1)


async def test_the_documented_certificate_recipe_gives_a_tls_broker_that_robots_and_mosquitto_sub_trust(tmp_path, make_device, make_server):
    """The recipe as a user runs it (for localhost instead of broker.lan), mosquitto on TLS only, a robot
    told ``mqtts://`` with the CA as its cafile, and mosquitto's own client as the dashboard."""
    folder = tmp_path / "certs"
    folder.mkdir()
    recipe = documented_certificate_recipe().replace("broker.lan", "localhost").replace("192.168.1.10", "127.0.0.1")
    subprocess.run(["bash", "-euc", recipe], cwd=folder, check=True, capture_output=True)
    users = {"rover-1": uuid.uuid4().hex, mosquitto.DASHBOARD: uuid.uuid4().hex}
    broker = mosquitto.Broker(tmp_path / "broker", users, tls=(folder / "broker.crt", folder / "broker.key")).start()
    try:
        await start_robot(broker, make_device, make_server, "rover-1", cafile=str(folder / "fleet-ca.pem"))
        dashboard = ["-h", "localhost", "-p", str(broker.port), "-u", mosquitto.DASHBOARD, "-P", users[mosquitto.DASHBOARD]]
        topic = fleet.topic("rover-1", fleet.CONNECTION)
        heard = await asyncio.to_thread(
            subprocess.run,
            ["mosquitto_sub", *dashboard, "--cafile", str(folder / "fleet-ca.pem"), "-t", topic, "-C", "1", "-W", "10"],
            capture_output=True,
            text=True,
        )
        assert heard.stdout.strip() == fleet.ONLINE, heard.stderr
        untrusted = await asyncio.to_thread(
            subprocess.run, ["mosquitto_sub", *dashboard, "-t", topic, "-C", "1", "-W", "3"], capture_output=True, text=True
        )
        assert untrusted.returncode != 0, "a client without the CA was let in: the broker is not on TLS"
    finally:
        broker.stop()
