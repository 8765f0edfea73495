#!/usr/bin/env python3
"""Soak: the whole loop running for a set time, reporting messages, errors, latency and memory growth.

    the GUI's models (teleop.desktop.session.teleop_model.TeleopModel: the code behind the window, minus Qt)
      -> teleop-server (its own process, authentication on)
      -> simulated firmware on a pty (SimulatedDevice behind PtyDevice, in this process)

The pilot moves a virtual stick in a sine at the GUI's default 50 Hz send
rate; the device reports at 20 Hz and also emits a timestamped ``soak`` report
every 20 ms so reading latency can be measured with one clock (CLOCK_MONOTONIC
is shared by the processes). Every ``--interval`` seconds one line of figures;
at the end a summary. Target (issue 7): no errors, memory growth under 10% over
an hour (first vs last tenth of the run, so start-up allocations do not count).

    .venv/bin/python bench/soak.py --seconds 3600
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from rig import start_rig  # noqa: E402
from stats import percentiles, rss_kib  # noqa: E402

from teleop.desktop.models.appsettings import AppSettings  # noqa: E402
from teleop.desktop.models.connection import ConnectionModel, ConnectionState, LogLevel, LogLine  # noqa: E402
from teleop.desktop.models.readings import ReadingsStore  # noqa: E402
from teleop.desktop.models.shaping import AxisShape  # noqa: E402
from teleop.desktop.net.client import SessionEvents  # noqa: E402
from teleop.desktop.session.teleop_model import TeleopModel  # noqa: E402
from teleop.wire import protocol  # noqa: E402
from teleop_server.device.simulated import PtyDevice  # noqa: E402

STALE_MATCH = 2.0  # seconds


class Soak:
    def __init__(self, device: PtyDevice, readings: ReadingsStore) -> None:
        self.device = device
        self.readings = readings  # the model's store (for its size in the report)
        self._last_state = ConnectionState.DISCONNECTED
        self.received = 0
        self.errors: list[str] = []
        self.reconnects = 0
        self.sent: dict[str, float] = {}  # device line -> when the control was handed to the socket
        self.command_latency: list[float] = []
        self.reading_latency: list[float] = []
        self.emitted: dict[int, float] = {}
        self.unmatched = 0
        self.failsafe_trips = 0

    # the model's events
    def on_connection(self, connection: ConnectionModel) -> None:
        if connection.state is ConnectionState.RECONNECTING and self._last_state is not ConnectionState.RECONNECTING:
            self.reconnects += 1
            self.errors.append(f"connection: {connection.message}")
        self._last_state = connection.state

    def on_log(self, line: LogLine) -> None:
        if line.level is LogLevel.ERROR:
            self.errors.append(line.text)

    # listening beside the model on the session (it keeps its own callbacks)
    def on_message(self, message: protocol.ServerMessage) -> None:
        self.received += 1
        if isinstance(message, protocol.Reading):
            mark = message.values.get("soak")
            if mark is not None and int(mark) in self.emitted:
                self.reading_latency.append(time.monotonic() - self.emitted.pop(int(mark)))
        elif isinstance(message, protocol.Event) and message.text.startswith("failsafe:"):
            self.failsafe_trips += 1

    def on_control_sent(self, control: protocol.Control) -> None:
        if not control.axes:
            return
        line = f"B{round(control.axes[0] * 1000)}"
        # the newest send of a value: near the sine's peaks a value comes back within a few
        # hundred ms, and matching the device's line to an older, superseded send would count
        # that gap as latency (lines are collected every 20 ms, so a resend cannot overtake)
        self.sent[line] = time.monotonic()

    def collect_commands(self) -> None:
        # consume the device's log as it grows: copying a 100 000-line deque every 20 ms would
        # slow this process (and the simulated device in it) more and more as the hour goes on
        lines = self.device.received_lines
        while lines:
            t, line = lines.popleft()
            sent = self.sent.pop(line, None)
            if sent is None or t < sent:
                continue
            if t - sent > STALE_MATCH:
                # not this send's line: the same value written later for another reason
                # (the failsafe's neutral, a resend after a trip); a real stall shows as a failsafe trip
                self.unmatched += 1
            else:
                self.command_latency.append(t - sent)
        if len(self.sent) > 10_000:  # commands superseded before reaching the device (latest wins)
            self.sent.clear()


async def run(seconds: float, interval: float) -> int:
    rig = await start_rig()
    device, server = rig.device, rig.server
    model = TeleopModel(AppSettings(rate_hz=50, axes={0: AxisShape(deadzone=0.0)}))
    soak = Soak(device, model.readings.store)
    model.connection.changed.connect(soak.on_connection)
    model.log.connect(soak.on_log)
    drive = model.drive
    try:
        await model.connect(f"{rig.url}/#token={rig.token}")
        session = model.session
        inner = session.events

        def message(m: protocol.ServerMessage) -> None:
            inner.message(m)
            soak.on_message(m)

        session.events = SessionEvents(inner.state, message, inner.legacy_text, inner.rtt, soak.on_control_sent)
        deadline = time.monotonic() + 10
        while not model.connection.pilot:
            if time.monotonic() > deadline:
                print(f"could not become pilot: {model.connection.message}")
                return 1
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        soak.errors.clear()
        soak.reconnects = 0
        start = time.monotonic()
        server_rss: list[int] = []
        client_rss: list[int] = []
        if not model.enable_driving():
            print(f"could not enable driving: {drive.blocked}")
            return 1
        next_report = start + interval
        mark = 0
        window_cmd, window_read = 0, 0
        while (now := time.monotonic()) < start + seconds:
            # the pilot: a slow sine on axis 0, a button toggling every second (the on-screen stick's
            # way in); then what the Qt adapter's timer does: the periodic re-send when it is due
            drive.set_virtual_axis(0, math.sin((now - start) * 0.7))
            drive.set_virtual_button(0, bool(int(now - start) % 2))
            if time.monotonic() >= drive.deadline():
                drive.tick()
            mark += 1
            soak.emitted[mark] = time.monotonic()
            device.emit(f"soak:{mark}")
            if len(soak.emitted) > 1000:
                soak.emitted.clear()
            soak.collect_commands()
            if now >= next_report:
                server_rss.append(rss_kib(server.pid))
                client_rss.append(rss_kib(os.getpid()))
                cmd = soak.command_latency[window_cmd:]
                read = soak.reading_latency[window_read:]
                window_cmd, window_read = len(soak.command_latency), len(soak.reading_latency)
                print(
                    f"[{now - start:7.0f} s] sent {session.sent_controls} received {soak.received} errors {len(soak.errors)} "
                    f"failsafe {soak.failsafe_trips} "
                    f"| command {percentiles(cmd)} | reading {percentiles(read)} "
                    f"| RSS server {server_rss[-1] / 1024:.1f} MiB, GUI core {client_rss[-1] / 1024:.1f} MiB "
                    f"(its CSV buffer: {len(soak.readings._rows)} rows)",
                    flush=True,
                )
                next_report += interval
            await asyncio.sleep(0.02)
        soak.collect_commands()
        alive = server.running
    finally:
        await model.shutdown()
        await rig.stop()

    def growth(samples: list[int]) -> float:
        if len(samples) < 2:
            return 0.0
        tenth = max(1, len(samples) // 10)
        first, last = sum(samples[:tenth]) / tenth, sum(samples[-tenth:]) / tenth
        return 100 * (last - first) / first

    print(f"\nsoak summary: {seconds:.0f} s of the full loop (the GUI models -> server process -> simulated firmware on a pty)")
    print(f"  controls sent {session.sent_controls}, server messages received {soak.received}")
    print(f"  errors {len(soak.errors)}, reconnects {soak.reconnects}" + (f": {soak.errors[:3]}" if soak.errors else ""))
    print(f"  failsafe trips while driving {soak.failsafe_trips} (each means 250 ms without a control reaching the server)")
    print(f"  command latency (send -> device reads the line): {percentiles(soak.command_latency)}")
    print(f"  reading latency (device writes -> GUI core has it): {percentiles(soak.reading_latency)}")
    if server_rss:
        print(
            f"  server RSS {server_rss[0] / 1024:.1f} -> {server_rss[-1] / 1024:.1f} MiB "
            f"(growth first->last tenth {growth(server_rss):+.1f}%, target < 10%)"
        )
        print(
            f"  GUI core RSS {client_rss[0] / 1024:.1f} -> {client_rss[-1] / 1024:.1f} MiB (growth first->last tenth {growth(client_rss):+.1f}%; "
            f"includes the CSV export buffer filling towards its {soak.readings._rows.max_rows} rows)"
        )
    print(f"  server alive at the end: {alive}")
    return 0 if alive and not soak.errors and not soak.failsafe_trips and growth(server_rss) < 10 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3600.0)
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between progress lines")
    args = parser.parse_args()
    return asyncio.run(run(args.seconds, min(args.interval, args.seconds)))


if __name__ == "__main__":
    sys.exit(main())
