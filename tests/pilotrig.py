"""The pilot page against the real server and a device on a pty: shared by tests/test_pilot_page.py and bench/pilot_bench.py.

The simulated firmware runs behind a real pty on an asyncio loop in a thread of
the test's process (Playwright's sync API owns the main thread); ``teleop-server``
runs in its own process on that pty, so what the page sends reaches the device
through the whole chain, and :meth:`DeviceThread.lines` is what arrived.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from launcher import ServerProcess

from teleop_server.device.simulated import PtyDevice, SimulatedDevice


class DeviceThread:
    """The simulated firmware behind a pty, on its own loop in a thread."""

    def __init__(self, link: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="pty-device", daemon=True)
        self._thread.start()
        self.device = PtyDevice(SimulatedDevice(report_ms=50), link=str(link))
        self.path = self.run(self.device.start())

    def run(self, coro, timeout: float = 15.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def lines(self, prefix: str = "") -> list[tuple[float, str]]:
        """(monotonic time, line) of every line the device received so far, starting with ``prefix``."""

        async def copy() -> list[tuple[float, str]]:
            return [(t, line) for t, line in self.device.received_lines if line.startswith(prefix)]

        return self.run(copy())

    def stop(self) -> None:
        self.run(self.device.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


class Rig:
    """A device on a pty and ``teleop-server`` on it; ``extra`` are more server options."""

    def __init__(self, folder: Path, extra: list[str] | None = None) -> None:
        self.device: DeviceThread | None = DeviceThread(folder / "ttyROBOT")
        self.server = ServerProcess(self.device.path, extra=extra).start()
        self.device.run(self.server.serial_ready())

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def pilot_url(self, token: str | None = "yes") -> str:
        token = self.server.token if token == "yes" else token
        return f"{self.base}/pilot" + (f"#token={token}" if token else "")

    def drive_lines(self) -> list[str]:
        """The B lines (the default mapping's leftx, times 1000) that reached the device, in order."""
        return [line for _, line in self.device.lines("B")]

    def stop(self) -> str:
        """Stop both; the server's log (again: "" once stopped)."""
        output = self.server.stop()
        if self.device is not None:
            self.device.stop()
            self.device = None
        return output


def until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition", page=None) -> Any:
    """Poll ``predicate``; with ``page``, wait through Playwright so its events (frames sent, received) are delivered."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        if page is not None:
            page.wait_for_timeout(10)
        else:
            time.sleep(0.01)


def sent_frames(page) -> list[dict]:
    """Every JSON frame the page sends on its WebSockets, as they go (filled in by Playwright's events)."""
    import json

    frames: list[dict] = []

    def on_socket(ws) -> None:
        def sent(payload) -> None:
            try:
                frames.append(json.loads(payload))
            except (TypeError, ValueError):
                pass

        ws.on("framesent", sent)

    page.on("websocket", on_socket)
    return frames


def take_control_and_enable(page) -> None:
    """Press Take control and Enable, as a user would, and wait until the page says it drives."""
    shows(page, "#connection[data-state='connected']")
    shows(page, "#take:not([disabled])")
    page.click("#take")
    shows(page, "#enable:not([disabled])")
    page.click("#enable")
    shows(page, "body[data-role='driving']")


def shows(page, selector: str, timeout_ms: int = 10_000) -> None:
    """Wait for ``selector``; if it never comes, fail with what the page told its user instead."""
    try:
        page.wait_for_selector(selector, timeout=timeout_ms)
    except Exception as error:  # playwright's TimeoutError: its message says only what was awaited
        raise AssertionError(f"waiting for {selector}: the page shows {page_state(page)}") from error


def page_state(page) -> dict[str, str | None]:
    """What the pilot page tells its user: for a test's failure message."""
    return page.evaluate(
        """() => ({
            connection: document.getElementById("connection").textContent,
            role: document.getElementById("role").textContent,
            notice: document.getElementById("notice").hidden ? null : document.getElementById("notice").textContent,
            body: document.body.dataset.role || null,
        })"""
    )


def stick_centre(page, which: str = "left") -> tuple[float, float, float]:
    """The centre of a touch stick and the distance a full deflection takes (pilot.js: 0.38 of its width)."""
    box = page.locator(f"#stick-{which}").bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["width"] * 0.38


class Finger:
    """One finger on a touch screen, through Chromium's own touch input (CDP Input.dispatchTouchEvent)."""

    def __init__(self, page) -> None:
        self.cdp = page.context.new_cdp_session(page)

    def _touch(self, kind: str, x: float | None = None, y: float | None = None) -> None:
        points = [] if x is None else [{"x": x, "y": y, "id": 1}]
        self.cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    def down(self, x: float, y: float) -> None:
        self._touch("touchStart", x, y)

    def move(self, x: float, y: float) -> None:
        self._touch("touchMove", x, y)

    def up(self) -> None:
        self._touch("touchEnd")

    def cancel(self) -> None:
        self._touch("touchCancel")
