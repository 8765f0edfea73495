"""What the fault tests share: the pilot process, the figures file, and a real network cut (namespaces + veth)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from guitools import ARTIFACTS

TOKEN = "fault-tests-pilot-token"
PILOT = str(Path(__file__).resolve().parent / "pilot_process.py")


def record_figure(name: str, value_ms: float, bound_ms: float) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open(ARTIFACTS / "fault-figures.jsonl", "a") as f:
        f.write(json.dumps({"fault": name, "measured_ms": round(value_ms, 1), "bound_ms": bound_ms, "at": time.time()}) + "\n")
    print(f"{name}: {value_ms:.1f} ms (bound {bound_ms} ms)")


def neutral_after(device, t0: float) -> float | None:
    return next((t for t, line in list(device.received_lines) if t > t0 and line == "B0"), None)


async def start_pilot(url: str, *prefix: str) -> asyncio.subprocess.Process:
    pilot = await asyncio.create_subprocess_exec(*prefix, sys.executable, PILOT, url, TOKEN, "0.5", stdout=asyncio.subprocess.PIPE)
    assert pilot.stdout is not None
    async with asyncio.timeout(10):
        assert (await pilot.stdout.readline()).strip() == b"driving"
    return pilot


# -- a real network cut: the pilot in its own network namespace, joined by a veth pair -------


class CutCable:
    """Two network namespaces, one for the server and one for the pilot, joined by a veth pair.

    Taking the link down is a pulled cable (or a robot driving out of Wi-Fi
    range): no FIN, no RST, the packets simply stop.
    """

    SERVER_IP, PILOT_IP = "198.18.77.1", "198.18.77.2"  # RFC 2544 benchmarking range: never a real network

    def __init__(self) -> None:
        tag = f"{os.getpid() % 100000}"
        self.server_ns, self.pilot_ns = f"teleop-srv-{tag}", f"teleop-pilot-{tag}"
        self.server_end, self.pilot_end = f"tls{tag}", f"tlp{tag}"

    def __enter__(self) -> CutCable:
        steps = [
            ["netns", "add", self.server_ns],
            ["netns", "add", self.pilot_ns],
            ["-n", self.server_ns, "link", "add", self.server_end, "type", "veth", "peer", "name", self.pilot_end, "netns", self.pilot_ns],
            ["-n", self.server_ns, "addr", "add", f"{self.SERVER_IP}/30", "dev", self.server_end],
            ["-n", self.pilot_ns, "addr", "add", f"{self.PILOT_IP}/30", "dev", self.pilot_end],
            *(["-n", ns, "link", "set", dev, "up"] for ns, dev in ((self.server_ns, self.server_end), (self.pilot_ns, self.pilot_end))),
            *(["-n", ns, "link", "set", "lo", "up"] for ns in (self.server_ns, self.pilot_ns)),
        ]
        for step in steps:
            result = subprocess.run(["ip", *step], capture_output=True, text=True)
            if result.returncode:
                self.__exit__()
                pytest.skip(f"cannot build a test network (needs root and iproute2): ip {' '.join(step)}: {result.stderr.strip()}")
        return self

    def inside(self, ns: str) -> tuple[str, ...]:
        return ("ip", "netns", "exec", ns)

    def cut(self) -> None:
        subprocess.run(["ip", "-n", self.server_ns, "link", "set", self.server_end, "down"], check=True)

    def __exit__(self, *exc) -> None:
        for ns in (self.server_ns, self.pilot_ns):  # deleting a namespace deletes its end of the pair
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
