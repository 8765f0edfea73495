"""A speed limit set on the dashboard, in headless Chromium, holds back the desktop pilot at the robot.

Three parties, each on its own: the server in its own process; the desktop app's whole
model (TeleopModel, with its real ClientSession) driving on its own asyncio loop in a
thread, beside the simulated device behind a real pty whose received lines are what
the robot got; and Chromium running the dashboard, driven from the test's thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from guitools import ARTIFACTS
from launcher import ServerProcess

from teleop.desktop.models.appsettings import AppSettings
from teleop.desktop.models.shaping import AxisShape
from teleop.desktop.session.teleop_model import TeleopModel
from teleop_server.device.simulated import PtyDevice, SimulatedDevice


class PilotBeside:
    """The app's model and the pty device on one asyncio loop in a thread (Playwright's sync API owns this thread's)."""

    def __init__(self, link: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="pilot", daemon=True)
        self._thread.start()
        self.pty = PtyDevice(SimulatedDevice(), link=link)
        self.path = self.run(self.pty.start())
        self.model: TeleopModel = self.call(lambda: TeleopModel(AppSettings(axes={0: AxisShape(deadzone=0.0)})))
        self._ticker = self.call(lambda: self.loop.create_task(self._tick()))
        self.server: ServerProcess | None = None

    async def _tick(self) -> None:
        """What the GUI's adapter does: the drive model's re-sends when due."""
        while True:
            if self.model.drive.due():
                self.model.drive.tick()
            await asyncio.sleep(0.005)

    def run(self, coroutine) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(20)

    def call(self, function: Callable[[], Any]) -> Any:
        async def on_loop():
            return function()

        return self.run(on_loop())

    def motor(self) -> list[int]:
        """Every leftx value the device was sent (the default mapping's ``B``, x 1000), in order."""
        return [int(line[1:]) for _, line in list(self.pty.received_lines) if line[:1] == "B" and line[1:].lstrip("-").isdigit()]

    def until(self, predicate: Callable[[], Any], what: str, timeout: float = 10.0) -> None:
        async def wait() -> None:
            async with asyncio.timeout(timeout):
                while not predicate():
                    await asyncio.sleep(0.01)

        try:
            self.run(wait())
        except TimeoutError:
            raise AssertionError(f"{what} not met within {timeout} s") from None

    def stop(self) -> None:
        self.call(self._ticker.cancel)
        self.run(self.model.shutdown())
        self.run(self.pty.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture
def pilot(tmp_path: Path):
    """The app's model beside the pty device, and the server bridging to it (started while the pty answers on its thread)."""
    beside = PilotBeside(str(tmp_path / "ttyROBOT"))
    beside.server = ServerProcess(beside.path).start()
    yield beside
    try:
        beside.run(beside.model.disconnect())
    finally:
        beside.server.stop()
        beside.stop()


def test_a_limit_set_on_the_dashboard_caps_the_desktop_pilots_outputs_at_the_device(pilot, browser):
    server = pilot.server
    model = pilot.model
    pilot.run(model.connect(server.pilot_url))
    pilot.until(lambda: model.connection.pilot, "the app is the pilot")
    assert pilot.call(model.enable_driving)
    pilot.call(lambda: model.drive.set_virtual_axis(0, 1.0))  # full stick on the on-screen sticks
    pilot.until(lambda: 1000 in pilot.motor(), "full stick at the device before any limit")

    page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"http://127.0.0.1:{server.port}/#token={server.token}")
    page.wait_for_selector("#connection[data-state='connected']", timeout=10_000)
    assert page.locator("#speed-cap").text_content() == "none"
    page.locator("#cap-input").fill("30")
    page.locator("#cap-set").click()

    pilot.until(lambda: model.drive.speed.cap == 0.3, "the app told of the limit")
    pilot.until(lambda: pilot.motor()[-1] == 300, "the device held at the limit")
    page.wait_for_selector("#speed-cap.warn", timeout=10_000)  # (the page's CSP forbids eval: no wait_for_function)
    assert page.locator("#speed-cap").text_content() == "30 % of travel"
    sent = pilot.motor()
    after = sent[len(sent) - sent[::-1].index(1000) :]  # everything since the last full-travel command
    assert after and max(after) == 300 and set(after) <= {1000, 300}, f"past the limit after it was set: {after}"
    assert pilot.call(lambda: model.drive.timing.output()[0][0]) == pytest.approx(0.3), "the app scales to the cap itself"
    # the stick still moves within the limit: half stick is half of it
    pilot.call(lambda: model.drive.set_virtual_axis(0, 0.5))
    pilot.until(lambda: pilot.motor()[-1] == 150, "half stick is half the limit")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-speed-limit.png"), full_page=True)
    assert not errors, errors
