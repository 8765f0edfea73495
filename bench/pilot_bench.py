"""The pilot page's latency: a key or touch in the page to the command line on the device's side of the pty,
and how long after the tab is hidden neutral reaches the device.

Headless Debian Chromium through Playwright on loopback, ``teleop-server`` in its own process, the
simulated firmware behind a real pty in this process; the page sends at its default rate
(PilotCore.SEND_HZ, 50 Hz). An event's time is taken just before Playwright dispatches it, so
each figure includes Chromium's input handling and the DevTools round trip. The device's clock is
this process's monotonic clock (the pty's loop), so both ends are measured on one clock.

Where the time goes: the page (an init script of this bench, not the product) notes when each
input event was made (its ``timeStamp``, set when Chromium took the DevTools command), when the
page's listener ran, and when it handed the control to ``WebSocket.send``, on the wall clock
(``performance.timeOrigin + performance.now()``), which this process reads too. Each sample is cut
into: DevTools (this process to Chromium), browser input (the event made to the listener running:
Chromium's input pipeline, which lines touch moves up with the next frame), page (listener to
send: the page's own code) and server (send to the line on the device: WebSocket, teleop-server,
the pty).

    .venv/bin/python bench/pilot_bench.py [--rounds 100]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench")]

from conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from pilotrig import Finger, Rig, stick_centre, take_control_and_enable  # noqa: E402
from stats import percentiles  # noqa: E402

#: Bench instrumentation in the page: input events and control sends, on the wall clock (milliseconds).
TRACE = """
window.benchTrace = [];
const wall = () => performance.timeOrigin + performance.now();
for (const type of ["keydown", "keyup", "pointerrawupdate", "pointermove", "pointerup"]) {
    window.addEventListener(type, (e) => benchTrace.push([type, performance.timeOrigin + e.timeStamp, wall()]), true);
}
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
    if (data.includes('"control"')) benchTrace.push(["send", JSON.parse(data).axes[0], wall()]);
    return send.call(this, data);
};
"""

STAGES = ("DevTools", "browser input", "page", "server")


class Stages:
    """Each sample cut into :data:`STAGES` from the page's trace; samples the trace cannot place are counted apart."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {name: [] for name in STAGES}
        self.unplaced = 0
        self.kinds: dict[str, int] = {}

    def add(self, page, t0_wall: float, arrived_wall: float, events: tuple[str, ...], value: float) -> None:
        trace = page.evaluate("benchTrace.splice(0)")
        start = t0_wall * 1000
        event = next((e for e in trace if e[0] in events and e[2] >= start), None)
        sent = next((e for e in trace if e[0] == "send" and e[1] == value and event and e[2] >= event[2]), None)
        if event is None or sent is None:
            self.unplaced += 1
            return
        self.kinds[event[0]] = self.kinds.get(event[0], 0) + 1
        made, handled, handed = event[1] / 1000, event[2] / 1000, sent[2] / 1000
        for name, span in zip(STAGES, (made - t0_wall, handled - made, handed - handled, arrived_wall - handed), strict=True):
            self.samples[name].append(max(0.0, span))

    def report(self, what: str) -> None:
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.kinds.items()))
        print(f"  where the time goes ({what}: {kinds}{f'; {self.unplaced} samples not placed' if self.unplaced else ''}):")
        for name in STAGES:
            print(f"    {name:14} {percentiles(self.samples[name])}")


class Lost(Exception):
    """A line that never reached the device: counted and reported, not a crash of the whole run."""


def arrival(rig: Rig, value: str, after: float, timeout: float = 5.0) -> float:
    """When the first line ``value`` reached the device after ``after`` (monotonic seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hit = next((t for t, line in rig.device.lines("B") if t >= after and line == value), None)
        if hit is not None:
            return hit
        time.sleep(0.002)
    raise Lost(f"{value} did not reach the device within {timeout} s")


def load() -> str:
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="pilot-bench-"))
    rig = Rig(folder)
    keys, touches, hides = [], [], []
    key_stages, move_stages, lift_stages = Stages(), Stages(), Stages()
    to_wall = time.time() - time.monotonic()  # the device's monotonic times onto the page's wall clock
    lost: list[str] = []
    print(f"{os.cpu_count()} CPUs, {load()} at the start", flush=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            desk_context = browser.new_context(viewport={"width": 1280, "height": 800})
            desk_context.add_init_script(TRACE)
            desk = desk_context.new_page()
            desk.goto(rig.pilot_url())
            take_control_and_enable(desk)
            for _ in range(args.rounds):
                for press, line, value, events in ((desk.keyboard.down, "B1000", 1, ("keydown",)), (desk.keyboard.up, "B0", 0, ("keyup",))):
                    time.sleep(random.uniform(0.02, 0.06))  # a different phase of the send timer each round
                    t0 = time.monotonic()
                    press("ArrowRight")
                    try:
                        arrived = arrival(rig, line, t0)
                    except Lost as exc:
                        lost.append(f"key: {exc}")
                        continue
                    keys.append(arrived - t0)
                    key_stages.add(desk, t0 + to_wall, arrived + to_wall, events, value)
            for _ in range(max(10, args.rounds // 5)):
                desk.keyboard.down("ArrowLeft")
                try:
                    arrival(rig, "B-1000", time.monotonic() - 1)
                except Lost as exc:
                    lost.append(f"before hiding: {exc}")
                    desk.keyboard.up("ArrowLeft")
                    continue
                time.sleep(0.1)
                t0 = time.monotonic()
                desk.evaluate("""() => {
                    Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
                    document.dispatchEvent(new Event("visibilitychange"));
                }""")
                try:
                    hides.append(arrival(rig, "B0", t0) - t0)
                except Lost as exc:
                    lost.append(f"hidden: {exc}")
                desk.keyboard.up("ArrowLeft")
                desk.evaluate("""() => {
                    Object.defineProperty(document, "visibilityState", { value: "visible", configurable: true });
                    document.dispatchEvent(new Event("visibilitychange"));
                }""")
            desk.close()
            phone_context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
            phone_context.add_init_script(TRACE)
            phone = phone_context.new_page()
            phone.goto(rig.pilot_url())
            take_control_and_enable(phone)
            x, y, reach = stick_centre(phone)
            finger = Finger(phone)
            for _ in range(args.rounds):
                time.sleep(random.uniform(0.02, 0.06))
                finger.down(x, y)
                t0 = time.monotonic()
                finger.move(x + reach * 2, y)
                try:
                    arrived = arrival(rig, "B1000", t0)
                except Lost as exc:
                    lost.append(f"touch move: {exc}; the page says {phone.locator('#role').text_content()!r}")
                    finger.up()
                    continue
                touches.append(arrived - t0)
                move_stages.add(phone, t0 + to_wall, arrived + to_wall, ("pointerrawupdate", "pointermove"), 1)
                time.sleep(random.uniform(0.02, 0.06))
                t0 = time.monotonic()
                finger.up()
                try:
                    arrived = arrival(rig, "B0", t0)
                except Lost as exc:
                    lost.append(f"touch lift: {exc}")
                    continue
                touches.append(arrived - t0)
                lift_stages.add(phone, t0 + to_wall, arrived + to_wall, ("pointerup",), 0)
            browser.close()
    finally:
        rig.stop()
    print(f"key down/up in the page -> line on the device:   {percentiles(keys)}")
    key_stages.report("key down/up")
    print(f"touch move/lift in the page -> line on the device: {percentiles(touches)}")
    move_stages.report("touch move")
    lift_stages.report("touch lift")
    print(f"tab hidden -> neutral on the device:              {percentiles(hides)}")
    print("send period at the default rate: 20 ms (50 Hz); a change goes out at once")
    print(f"{load()} at the end")
    for line in lost:
        print(f"lost: {line}")


if __name__ == "__main__":
    main()
