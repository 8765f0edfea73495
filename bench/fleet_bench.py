"""Fleet figures on a real Mosquitto on loopback: many robot servers on one broker.

    .venv/bin/python bench/fleet_bench.py [--robots 50]

Prints:

* the fleet e-stop from the app (its own broker client, "Stop every robot") to
  neutral on every robot's serial side: p50/p99 and the slowest robot, and the
  acknowledgements as the app sees them;
* how long until a SIGKILLed robot shows offline (its last will);
* the server's added CPU per robot for publishing at the default readings rate
  (the same robot with and without ``--mqtt``);
* the pilot's command latency (control sent to the line on the serial side)
  with the broker up, overloaded (SIGSTOPped: it takes the connection and answers
  nothing) and gone.

Every robot server is ``teleop-server`` in its own process on a simulated device
behind a pty in this process (so every line a device reads is timestamped here).
At most 50 robots; the broker listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import mosquitto  # noqa: E402  (the tests' broker: password file and the documented ACL)
from launcher import ServerProcess  # noqa: E402
from stats import percentiles  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from teleop.desktop.net.discovery import RobotDirectory  # noqa: E402
from teleop.desktop.net.fleet import FleetClient  # noqa: E402
from teleop.wire import fleet  # noqa: E402
from teleop_server.device.simulated import PtyDevice, SimulatedDevice  # noqa: E402

MAX_ROBOTS = 50
HOLD_MS = 30_000  # the pilot's last command holds this long: only the stop puts the outputs back to neutral


class Robot:
    def __init__(self, name: str, device: PtyDevice, server: ServerProcess) -> None:
        self.name, self.device, self.server = name, device, server
        self.ws = None
        self.reader: asyncio.Task | None = None

    async def pilot(self) -> None:
        self.ws = await connect(self.server.url, max_queue=None)
        await self.ws.send(json.dumps({"type": "hello", "role": "pilot", "client": "bench", "token": self.server.token}))
        self.reader = asyncio.create_task(_drain(self.ws))

    async def drive(self, value: int) -> None:
        await self.ws.send(json.dumps({"type": "estop", "engaged": False}))
        await self.ws.send(json.dumps({"type": "control", "axes": [value / 1000], "buttons": []}))


async def start_robot(broker: mosquitto.Broker, name: str, *extra: str, mqtt: bool = True, **config) -> Robot:
    device = PtyDevice(SimulatedDevice(report_ms=50), link=os.path.join(tempfile.mkdtemp(), "tty"))
    await device.start()
    flags = ["--failsafe-ms", str(HOLD_MS), *extra]
    if mqtt:
        flags += ["--mqtt", broker.url, "--name", name, "--config", str(broker.robot_config(name, **config))]
    server = ServerProcess(device.path, extra=flags, quiet=True)
    await asyncio.to_thread(server.start)
    return Robot(name, device, server)


async def wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.005)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def fleet_estop(robots: list[Robot], client: FleetClient, rounds: int) -> None:
    neutral, acks, slowest = [], [], []
    for n in range(rounds):
        value = 200 + n
        for robot in robots:
            await robot.drive(value)
        await wait(lambda v=value: all(r.device.device.display == v for r in robots), 20, "every robot driving")
        marks = {r.name: len(r.device.received_lines) for r in robots}
        t0 = time.monotonic()
        stop_round = client.stop_all("bench")
        times = {}
        while len(times) < len(robots) and time.monotonic() - t0 < 20:
            for r in robots:
                if r.name not in times:
                    hit = next((t for t, line in list(r.device.received_lines)[marks[r.name] :] if line == "B0"), None)
                    if hit is not None:
                        times[r.name] = hit - t0
            await asyncio.sleep(0.002)
        await wait(lambda s=stop_round: not s.waiting, 20, "every acknowledgement")
        missing = [r.name for r in robots if r.name not in times]
        if missing:
            raise RuntimeError(f"no neutral on {missing}")
        neutral += times.values()
        acks += stop_round.acks.values()
        slowest.append(max(times.items(), key=lambda kv: kv[1]))
    print(f"fleet e-stop -> neutral on the serial side ({len(robots)} robots x {rounds} rounds): {percentiles(neutral)}")
    print(f"  slowest robot per round: {', '.join(f'{name} {t * 1000:.0f} ms' for name, t in slowest)}")
    print(f"fleet e-stop -> acknowledgement seen by the app: {percentiles(acks)}")


async def last_will(robots: list[Robot], client: FleetClient, count: int) -> list[Robot]:
    samples = []
    for robot in robots[:count]:
        key = "broker:" + fleet.robot_id(robot.name)
        t0 = time.monotonic()
        os.kill(robot.server.pid, signal.SIGKILL)
        await wait(lambda k=key: (r := client.directory.get(k)) is not None and not r.present, 15, f"{robot.name} offline")
        samples.append(time.monotonic() - t0)
        robot.server.process.wait()
        robot.server.process = None
    print(f"SIGKILLed robot shown offline (last will, as the app sees it): {percentiles(samples)}")
    return robots[count:]


async def cpu_per_robot(broker: mosquitto.Broker, seconds: float, pairs: int) -> None:
    with_mqtt, without = [], []
    for i in range(pairs):
        a = await start_robot(broker, f"cpu-{i}")
        b = await start_robot(broker, f"cpu-plain-{i}", mqtt=False)
        for r in (a, b):
            await r.server.serial_ready()
        await asyncio.sleep(2)
        start = {r: cpu_seconds(r.server.pid) for r in (a, b)}
        await asyncio.sleep(seconds)
        with_mqtt.append((cpu_seconds(a.server.pid) - start[a]) / seconds)
        without.append((cpu_seconds(b.server.pid) - start[b]) / seconds)
        for r in (a, b):
            await asyncio.to_thread(r.server.stop)
            await r.device.stop()
    w, wo = sum(with_mqtt) / pairs, sum(without) / pairs
    print(
        f"server CPU with the device reporting at 20 Hz, {seconds:.0f} s x {pairs}: with --mqtt (readings at 4/s) {w * 100:.2f} % of a core, "
        f"without {wo * 100:.2f} %: added {(w - wo) * 100:.2f} % per robot"
    )


async def pilot_latency(broker: mosquitto.Broker, seconds: float) -> None:
    robot = await start_robot(broker, "pilot-bench", readings_hz=50)
    await robot.server.serial_ready()
    ws = await connect(robot.server.url, max_queue=None)
    await ws.send(json.dumps({"type": "hello", "role": "pilot", "client": "bench", "token": robot.server.token}))
    drain = asyncio.create_task(_drain(ws))
    seq = 0

    async def phase(label: str) -> None:
        nonlocal seq
        sent = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            seq += 1
            value = 100 + seq % 800
            sent.append((time.monotonic(), f"B{value}"))
            await ws.send(json.dumps({"type": "control", "seq": seq, "axes": [value / 1000], "buttons": []}))
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        lines = list(robot.device.received_lines)
        latencies, lost = [], 0
        for t, line in sent:
            hit = next((tl for tl, received in lines if received == line and tl >= t - 0.001), None)
            if hit is None:
                lost += 1
            else:
                latencies.append(hit - t)
        print(f"pilot command -> serial line, broker {label}: {percentiles(latencies)}  lost={lost}")

    await phase("up")
    broker.freeze()
    await phase("overloaded (SIGSTOP)")
    broker.thaw()
    broker.stop()
    await phase("gone")
    broker.start()
    drain.cancel()
    await ws.close()
    await asyncio.to_thread(robot.server.stop)
    await robot.device.stop()


async def _drain(ws) -> None:
    try:
        async for _ in ws:
            pass
    except Exception:
        pass


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--robots", type=int, default=MAX_ROBOTS, help=f"robot servers on the broker (at most {MAX_ROBOTS})")
    parser.add_argument("--rounds", type=int, default=5, help="fleet e-stop rounds")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each CPU and latency measurement")
    args = parser.parse_args()
    if not mosquitto.available():
        sys.exit(mosquitto.MISSING)
    count = max(2, min(args.robots, MAX_ROBOTS))
    names = [f"robot-{i:02d}" for i in range(count)] + [f"cpu-{i}" for i in range(3)] + ["pilot-bench"]
    users = {name: uuid.uuid4().hex for name in names} | {mosquitto.DASHBOARD: uuid.uuid4().hex}
    broker = mosquitto.Broker(Path(tempfile.mkdtemp()) / "broker", users).start()
    print(f"# fleet bench: {count} robots, mosquitto on 127.0.0.1:{broker.port}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    robots: list[Robot] = []
    directory = RobotDirectory()
    client = FleetClient(broker.url, directory, username=mosquitto.DASHBOARD, password=users[mosquitto.DASHBOARD])
    try:
        await client.start()
        for name in names[:count]:
            robots.append(await start_robot(broker, name))
        await wait(lambda: sum(1 for r in directory.robots() if r.present) >= count, 60 + 2 * count, "every robot on the broker")
        for robot in robots:
            await robot.server.serial_ready()
            await robot.pilot()
        await fleet_estop(robots, client, args.rounds)
        robots = await last_will(robots, client, min(5, count))
        for robot in robots:
            await asyncio.to_thread(robot.server.stop)
            await robot.device.stop()
        robots = []
        await cpu_per_robot(broker, args.seconds, 3)
        await pilot_latency(broker, args.seconds)
    finally:
        await client.stop()
        for robot in robots:
            if robot.server.process is not None:
                await asyncio.to_thread(robot.server.stop)
            await robot.device.stop()
        broker.stop()


if __name__ == "__main__":
    asyncio.run(main())
