#!/usr/bin/env python3
"""Latency figures for the bridge server, measured on loopback with a pty standing in for the Arduino.

Prints, for a ``teleop-server`` process bridging to a simulated device on a pty:

1. command latency: pilot's WebSocket send -> line read on the serial side, at 100 Hz (the pilot is
   bench/wsload.py in its own process, stamping each control just before its send system call);
2. reading latency: report line written by the device -> message received, to 50 clients at 50 Hz;
3. a stuck observer: a client process frozen with SIGSTOP (its socket still open, reading
   nothing) while 1. and 2. run again; how long until the server drops it.
4. staleness under overload: the device drains only 960 bytes/s (a 9600-baud line) while the
   pilot sends at 500 Hz; how old each command is when the device reads it.
5. fan-out cost curve: readings at 50 Hz to 1, 10, 50, 100 and 200 observers (held by several
   client processes, so the harness is not the bottleneck); the server's CPU time from
   /proc/<pid>/stat per reading, and a straight-line fit: fixed cost per reading + cost per
   client-message.
6. 200 observers x 50 Hz with a pilot driving at 100 Hz meanwhile: reading and command latency.

Targets (issue 2): command p99 <= 2 ms; readings p99 <= 5 ms; staleness <= 20 ms.
Targets (issue 12): <= 10 us server CPU per client-message, <= 100 us fixed per reading; at
200 clients x 50 Hz reading p99 <= 5 ms and pilot command p99 <= 2 ms.
All clocks are CLOCK_MONOTONIC, shared by every process on the machine.

    .venv/bin/python bench/server_bench.py [--seconds 10] [--only fanout]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from launcher import ServerProcess  # noqa: E402  (the one server launcher, shared with the tests)
from ports import steady_port  # noqa: E402
from stats import percentiles  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from teleop_server.device.simulated import PtyDevice, SimulatedDevice  # noqa: E402


async def start_server(serial_path: str, port: int, *extra: str) -> ServerProcess:
    """``teleop-server`` without authentication and with a lenient failsafe, its device link ready, on a core of its own."""
    server = ServerProcess(serial_path, port, ["--failsafe-ms", "1000", "--no-auth", *extra], quiet=True)
    await asyncio.to_thread(server.start)  # the pty device answers meanwhile, on this loop
    await server.serial_ready()
    if PLACEMENT["pin"]:
        give_a_core(server.pid)
    return server


#: Whether the server gets a core to itself (``--shared-cores`` turns it off), and what the bench says about it.
PLACEMENT = {"pin": True, "said": "server and harness share every core"}
#: The cores this bench may use, as it started (it narrows its own set once the server has one).
ALL_CPUS = sorted(os.sched_getaffinity(0))


def give_a_core(server_pid: int) -> None:
    """Pin the server to the last core and this process (device, pilot, and the clients it starts) to the others.

    The clients stand for phones and laptops on other machines, and the device
    for an Arduino: on the robot none of them takes the server's CPU. On a
    shared two-core machine they would, and a reading's fan-out to 200
    clients would be interrupted by the very clients it is writing to.
    """
    cpus = ALL_CPUS
    if len(cpus) < 2:
        PLACEMENT["said"] = "one core: server and harness share it"
        return
    server_cpu, others = cpus[-1], set(cpus[:-1])
    os.sched_setaffinity(0, others)
    for task in os.listdir(f"/proc/{server_pid}/task"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(task), {server_cpu})
    PLACEMENT["said"] = f"server pinned to CPU {server_cpu}; device, pilot and clients on CPU {','.join(map(str, sorted(others)))}"


async def drive(
    device: PtyDevice, port: int, seconds: float, hz: float, settle: float = 0.2
) -> tuple[dict[str, float], list[tuple[float, str]]]:
    """A pilot in its own process (bench/wsload.py pilot) sends controls at ``hz``; return when each was sent
    (keyed by the line the device will read) and the lines the device read meanwhile."""
    start_index = len(device.received_lines)
    pilot = await asyncio.create_subprocess_exec(
        sys.executable, str(WSLOAD), "pilot", str(port), str(seconds), str(hz), stdout=asyncio.subprocess.PIPE, cwd=ROOT
    )
    out, _ = await pilot.communicate()
    await asyncio.sleep(settle)  # the last controls on their way to the device
    return json.loads(out), list(device.received_lines)[start_index:]


async def command_latency(device: PtyDevice, port: int, seconds: float) -> list[float]:
    """Pilot's send -> the device reads the line, at 100 Hz."""
    sent, received = await drive(device, port, seconds, 100)
    return [t - sent[line] for t, line in received if line in sent and t >= sent[line]]


#: Observers for the fan-out runs: raw sockets on one epoll per process, so the harness takes as little
#: of the two cores as it can. bench/wsload.c when a C compiler is at hand (a few us per message),
#: else bench/wsload.py (the same job in Python, about 30 us per message); :func:`harness` picks.
WSLOAD = ROOT / "bench" / "wsload.py"
HARNESS: list[str] = [sys.executable, str(WSLOAD)]


def harness(build_dir: str) -> str:
    """Compile bench/wsload.c into ``build_dir`` and use it; say which harness the figures come from."""
    global HARNESS
    binary = os.path.join(build_dir, "wsload")
    for cc in ("cc", "gcc", "clang"):
        with contextlib.suppress(OSError):
            built = subprocess.run([cc, "-O2", "-o", binary, str(ROOT / "bench" / "wsload.c")], capture_output=True)
            if built.returncode == 0:
                HARNESS = [binary]
                return f"bench/wsload.c (built with {cc})"
    return "bench/wsload.py (no C compiler found: the harness takes more CPU and the tails are longer)"


#: Observers held by one client process: 100 clients x 50 Hz is 5,000 messages/s, a few per cent of a core
#: with wsload; fewer processes are fewer wakeups competing with the server on each reading.
CLIENTS_PER_PROCESS = 100


def cpu_seconds(pid: int) -> float:
    """CPU time of process ``pid`` so far, all its threads, from /proc/<pid>/task/*/schedstat (nanoseconds;
    /proc/<pid>/stat counts in 10 ms ticks, too coarse for 1 client)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/schedstat") as f:
            total += int(f.read().split()[0])
    return total / 1e9


async def reading_latency(
    device: PtyDevice, port: int, clients: int, seconds: float, *, server_pid: int | None = None, pilot: bool = False
) -> tuple[list[float], int, float, int, list[float], float]:
    """Readings at 50 Hz to ``clients`` observers in several processes.

    Returns latency samples, readings missing, server CPU seconds while readings flowed (0 if
    no ``server_pid``), readings sent, (if ``pilot``) the command latencies of a pilot
    driving at 100 Hz meanwhile, and the client processes' CPU seconds while readings flowed.
    """
    sizes = [CLIENTS_PER_PROCESS] * (clients // CLIENTS_PER_PROCESS) + (
        [clients % CLIENTS_PER_PROCESS] if clients % CLIENTS_PER_PROCESS else []
    )
    already = await client_count(port)
    procs = [
        await asyncio.create_subprocess_exec(
            *HARNESS, str(port), str(n), str(seconds + 4), stdout=asyncio.subprocess.PIPE, cwd=ROOT, preexec_fn=lambda: os.nice(10)
        )
        for n in sizes
    ]  # niced: when the device or the pilot wakes, it goes first, as it would on a machine of its own
    deadline = time.monotonic() + 10
    while await client_count(port) < already + clients and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)
    written: dict[int, float] = {}
    driving = asyncio.create_task(command_latency(device, port, seconds)) if pilot else None
    cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
    harness_before = sum(cpu_seconds(proc.pid) for proc in procs)
    start = time.monotonic()
    for seq in range(1, int(seconds * 50) + 1):
        written[seq] = time.monotonic()
        device.emit(f"bench:{seq}")
        await asyncio.sleep(max(0.0, start + seq * 0.02 - time.monotonic()))
    await asyncio.sleep(0.05)  # the last reading's fan-out
    cpu = cpu_seconds(server_pid) - cpu_before if server_pid else 0.0
    harness = sum(cpu_seconds(proc.pid) for proc in procs) - harness_before
    commands = await driving if driving else []
    outs = [await proc.communicate() for proc in procs]
    # the next measurement starts once the server has seen these clients go, not while it closes 200 sockets
    deadline = time.monotonic() + 10
    while await client_count(port) > already and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    per_client = [json.loads(line) for out, _ in outs for line in out.splitlines()]
    samples = [t - written[seq] for received in per_client for seq, t in received if seq in written]
    missing = clients * len(written) - len(samples)
    return samples, missing, cpu, len(written), commands, harness


STUCK_SCRIPT = r"""
import asyncio, json, socket, sys
from websockets.asyncio.client import connect
async def main(port):
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)  # a phone on bad Wi-Fi: tiny window
    sock.connect(("127.0.0.1", port))
    async with connect(f"ws://127.0.0.1:{port}", sock=sock) as ws:
        await ws.send(json.dumps({"type": "hello", "role": "observer", "client": "stuck"}))
        await ws.recv()
        print("connected", flush=True)
        await asyncio.sleep(3600)
asyncio.run(main(int(sys.argv[1])))
"""


async def client_count(port: int) -> int:
    async with connect(f"ws://127.0.0.1:{port}") as ws:
        await ws.send(json.dumps({"type": "hello", "role": "observer", "client": "counter"}))
        welcome = json.loads(await ws.recv())
        return welcome["status"]["clients"] - 1


async def with_a_stuck_observer(
    device: PtyDevice, port: int, clients: int, seconds: float
) -> tuple[list[float], list[float], float | None]:
    """Freeze one observer, then measure commands and readings as in 1. and 2.; return when it was dropped."""
    stuck = await asyncio.create_subprocess_exec(sys.executable, "-c", STUCK_SCRIPT, str(port), stdout=asyncio.subprocess.PIPE, cwd=ROOT)
    assert stuck.stdout is not None
    await stuck.stdout.readline()
    stuck.send_signal(signal.SIGSTOP)
    frozen = time.monotonic()
    dropped: list[float] = []

    async def watch_drop() -> None:
        while not dropped:
            await asyncio.sleep(0.25)
            if await client_count(port) == 0:
                dropped.append(time.monotonic() - frozen)

    watcher = asyncio.create_task(watch_drop())
    try:
        readings, *_ = await reading_latency(device, port, clients, seconds)
        commands = await command_latency(device, port, seconds)
        while not dropped and time.monotonic() - frozen < 60:
            device.emit("pad:" + "9" * 60)  # keep readings flowing until the stuck client's queue fills
            await asyncio.sleep(0.02)
    finally:
        watcher.cancel()
        stuck.send_signal(signal.SIGCONT)
        stuck.kill()
        await stuck.wait()
    return commands, readings, dropped[0] if dropped else None


async def staleness_under_overload(port_path: str, seconds: float) -> tuple[list[float], int, int]:
    device = PtyDevice(SimulatedDevice(report_ms=0), link=port_path, drain_bytes_per_s=960)
    await device.start()
    port = steady_port()
    server = await start_server(device.path, port)
    try:
        sent, lines = await drive(device, port, seconds, 500, settle=0.5)
        received = [(t, line) for t, line in lines if line.startswith("B")]
        ages = [t - sent[line] for t, line in received if line in sent and t >= sent[line]]
        return ages, len(sent), len(received)
    finally:
        server.stop()
        await device.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measurement (default: %(default)s)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--only", choices=("latency", "fanout"), help="run only sections 1-4 (latency) or 5-6 (fanout)")
    parser.add_argument("--shared-cores", action="store_true", help="do not give the server a core of its own")
    args = parser.parse_args()
    PLACEMENT["pin"] = not args.shared_cores
    tmp = tempfile.mkdtemp(prefix="teleop-bench-")
    print(f"teleop server bench on {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"observers held by {harness(tmp)}")
    print(f"this machine's own wakeup jitter: {await machine_jitter()}\n")
    if args.only != "fanout":
        await latency_sections(args, tmp)
    if args.only != "latency":
        await fanout_sections(args, tmp)


async def fanout_sections(args: argparse.Namespace, tmp: str) -> None:
    device = PtyDevice(SimulatedDevice(report_ms=0), link=os.path.join(tmp, "tty-fanout"))
    await device.start()
    port = steady_port()
    server = await start_server(device.path, port, "--max-clients", "256", "--max-per-address", "256")
    seconds = min(args.seconds, 8.0)
    try:
        print(f"({PLACEMENT['said']})")
        print(f"5. fan-out cost, readings at 50 Hz for {seconds:.0f} s, clients in processes of {CLIENTS_PER_PROCESS}:")
        print("   clients   server CPU/reading   per client-message   reading p50 / p99      missing   harness CPU/reading")
        before = cpu_seconds(server.pid)
        await asyncio.sleep(2)
        idle = (cpu_seconds(server.pid) - before) / 2
        print(f"   (server idle, no readings: {idle * 1e6 / 50:.0f} us of CPU per 20 ms; included below)")
        points: list[tuple[int, float]] = []
        for clients in (1, 10, 50, 100, 200):
            samples, missing, cpu, readings, _, harness = await reading_latency(device, port, clients, seconds, server_pid=server.pid)
            per_reading = cpu / readings
            points.append((clients, per_reading))
            ms = sorted(samples)
            p50, p99 = (ms[int(q * (len(ms) - 1))] * 1000 for q in (0.5, 0.99)) if ms else (math.nan, math.nan)
            print(
                f"   {clients:7d}   {per_reading * 1e6:12.0f} us   {per_reading / clients * 1e6:14.1f} us"
                f"      {p50:5.2f} / {p99:5.2f} ms   {missing:7d}   {harness / readings * 1e6:12.0f} us"
            )
        fixed, per_client = fit_line(points)
        print(
            f"   fit: {fixed * 1e6:.0f} us fixed per reading (target <= 100) + {per_client * 1e6:.1f} us per client-message (target <= 10)\n"
            f"   ({idle * 1e6 / 50:.0f} us of the fixed cost is the idle server's own timers; see bench/reading_path.py for the rest)"
        )
        samples, missing, _, _, commands, _ = await reading_latency(device, port, 200, args.seconds, pilot=True)
        print(
            "6. 200 observers x 50 Hz, a pilot driving at 100 Hz meanwhile:\n"
            f"   reading latency:  {percentiles(samples)}   missing={missing}   (target p99 <= 5 ms)\n"
            f"   command latency:  {percentiles(commands)}   (target p99 <= 2 ms)"
        )
    finally:
        server.stop()
        await device.stop()


JITTER_PROBE = """
import json, sys, time
period, count = 0.01, int(float(sys.argv[1]) * 100)
late, due = [], time.monotonic()
for _ in range(count):
    due += period
    time.sleep(max(0.0, due - time.monotonic()))
    late.append(time.monotonic() - due)
print(json.dumps(late))
"""


async def machine_jitter(seconds: float = 5.0) -> str:
    """How late a process that sleeps 10 ms at a time wakes on this machine with nothing else to do.

    The floor under every latency tail here: the pilot's command crosses three
    processes (pilot, server, device), each woken once. On a virtual machine
    the hypervisor's own scheduling shows up in this figure.
    """
    probe = await asyncio.create_subprocess_exec(sys.executable, "-c", JITTER_PROBE, str(seconds), stdout=asyncio.subprocess.PIPE)
    out, _ = await probe.communicate()
    late = sorted(json.loads(out))
    over = sum(1 for x in late if x > 0.001) / len(late) * 100
    p50, p99 = (late[int(q * (len(late) - 1))] * 1000 for q in (0.5, 0.99))
    return f"a process woken every 10 ms for {seconds:.0f} s is late by p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {late[-1] * 1000:.2f} ms; {over:.1f} % of wakeups over 1 ms"


def fit_line(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares ``y = a + b x``; returns ``(a, b)``."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
    return mean_y - slope * mean_x, slope


async def latency_sections(args: argparse.Namespace, tmp: str) -> None:

    device = PtyDevice(SimulatedDevice(report_ms=0), link=os.path.join(tmp, "tty"))
    await device.start()
    port = steady_port()
    # every bench client comes from 127.0.0.1, and they all connect at once
    server = await start_server(device.path, port, "--max-per-address", str(max(16, args.clients + 4)))
    try:
        print(f"({PLACEMENT['said']})")
        samples = await command_latency(device, port, args.seconds)
        print(f"1. command latency, pilot send -> serial line, 100 Hz:   {percentiles(samples)}   (target p99 <= 2 ms)")
        samples, missing, *_ = await reading_latency(device, port, args.clients, args.seconds)
        print(
            f"2. reading latency, device line -> {args.clients} clients, 50 Hz: {percentiles(samples)}   missing={missing}   (target p99 <= 5 ms)"
        )
        commands, readings, dropped_after = await with_a_stuck_observer(device, port, args.clients, args.seconds)
        drop = f"dropped after {dropped_after:.1f} s" if dropped_after is not None else "NOT dropped within 60 s"
        print(
            "3. with one observer frozen (SIGSTOP, 2 KiB receive window):\n"
            f"   command latency:  {percentiles(commands)}   (target p99 <= 2 ms)\n"
            f"   reading latency to the {args.clients} others: {percentiles(readings)}   (target p99 <= 5 ms)\n"
            f"   the stuck client: {drop}"
        )
    finally:
        server.stop()
        await device.stop()

    ages, sent, received = await staleness_under_overload(os.path.join(tmp, "slow"), min(args.seconds, 5.0))
    print(
        f"4. overload, 960 B/s line, pilot at 500 Hz: sent {sent}, device read {received} (the rest superseded)\n"
        f"   age of each command when the device read it:   {percentiles(ages)}   (target <= 20 ms)"
    )


if __name__ == "__main__":
    asyncio.run(main())
