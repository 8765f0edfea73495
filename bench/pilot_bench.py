"""The pilot page's latency: a key or touch in the page to the command line on the device's side of the pty,
and how long after the tab is hidden neutral reaches the device.

Headless Debian Chromium through Playwright on loopback, ``teleop-server`` in its own process, the
simulated firmware behind a real pty in this process; the page sends at its default rate
(PilotCore.SEND_HZ, 50 Hz). An event's time is taken just before Playwright dispatches it, so
each figure includes Chromium's input handling and the DevTools round trip. The device's clock is
this process's monotonic clock (the pty's loop), so both ends are measured on one clock.

    .venv/bin/python bench/pilot_bench.py [--rounds 100]
"""

from __future__ import annotations

import argparse
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


def arrival(rig: Rig, value: str, after: float, timeout: float = 5.0) -> float:
    """When the first line ``value`` reached the device after ``after`` (monotonic seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hit = next((t for t, line in rig.device.lines("B") if t >= after and line == value), None)
        if hit is not None:
            return hit
        time.sleep(0.002)
    raise RuntimeError(f"{value} did not reach the device")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="pilot-bench-"))
    rig = Rig(folder)
    keys, touches, hides = [], [], []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            desk = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            desk.goto(rig.pilot_url())
            take_control_and_enable(desk)
            for _ in range(args.rounds):
                time.sleep(random.uniform(0.02, 0.06))  # a different phase of the send timer each round
                t0 = time.monotonic()
                desk.keyboard.down("ArrowRight")
                keys.append(arrival(rig, "B1000", t0) - t0)
                time.sleep(random.uniform(0.02, 0.06))
                t0 = time.monotonic()
                desk.keyboard.up("ArrowRight")
                keys.append(arrival(rig, "B0", t0) - t0)
            for _ in range(max(10, args.rounds // 5)):
                desk.keyboard.down("ArrowLeft")
                arrival(rig, "B-1000", time.monotonic() - 1)
                time.sleep(0.1)
                t0 = time.monotonic()
                desk.evaluate("""() => {
                    Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
                    document.dispatchEvent(new Event("visibilitychange"));
                }""")
                hides.append(arrival(rig, "B0", t0) - t0)
                desk.keyboard.up("ArrowLeft")
                desk.evaluate("""() => {
                    Object.defineProperty(document, "visibilityState", { value: "visible", configurable: true });
                    document.dispatchEvent(new Event("visibilitychange"));
                }""")
            desk.close()
            phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True).new_page()
            phone.goto(rig.pilot_url())
            take_control_and_enable(phone)
            x, y, reach = stick_centre(phone)
            finger = Finger(phone)
            for _ in range(args.rounds):
                time.sleep(random.uniform(0.02, 0.06))
                finger.down(x, y)
                t0 = time.monotonic()
                finger.move(x + reach * 2, y)
                touches.append(arrival(rig, "B1000", t0) - t0)
                time.sleep(random.uniform(0.02, 0.06))
                t0 = time.monotonic()
                finger.up()
                touches.append(arrival(rig, "B0", t0) - t0)
            browser.close()
    finally:
        rig.stop()
    print(f"key down/up in the page -> line on the device:   {percentiles(keys)}")
    print(f"touch move/lift in the page -> line on the device: {percentiles(touches)}")
    print(f"tab hidden -> neutral on the device:              {percentiles(hides)}")
    print("send period at the default rate: 20 ms (50 Hz); a change goes out at once")


if __name__ == "__main__":
    main()
