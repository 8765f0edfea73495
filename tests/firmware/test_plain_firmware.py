"""A hobbyist's own sketch (firmware/seedlike), built with the AVR toolchain and run in simavr.

The sketch never replies and prints bare numbers; ``teleop-server`` runs in its
own process with its default ``--device auto``; the seed-style joystick client
(``{"Axes": [...]}`` at 10 Hz, no hello) drives it, and what the sketch shows is
read back through simavr. Its printed numbers must reach the desktop app's
client and the dashboard in headless Chromium.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import WsClient, wait_for
from guitools import ServerProcess
from test_firmware import NEEDS, SimulatedBoard, bridge_binary  # noqa: F401 (fixture)
from websockets.asyncio.client import connect

from teleop.desktop.net.client import ClientSession, SessionEvents
from teleop.wire.protocol import Reading, Role

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.firmware


@pytest.fixture(scope="session")
def seedlike_elf(tmp_path_factory) -> Path:
    if not (shutil.which("avr-gcc") and Path("/usr/share/arduino/Arduino.mk").exists()):
        pytest.skip(f"AVR toolchain not installed ({NEEDS})")
    objdir = tmp_path_factory.mktemp("build-seedlike")
    result = subprocess.run(["make", "-C", str(ROOT / "firmware" / "seedlike"), f"OBJDIR={objdir}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return objdir / "seedlike.elf"


@pytest.fixture
def sketch(bridge_binary, seedlike_elf, tmp_path):  # noqa: F811 (fixture)
    board = SimulatedBoard(bridge_binary, seedlike_elf, tmp_path / "ttyHOBBY")
    board.command("adc 3 2500")  # half of 5 V: the sketch prints 511
    yield board
    board.stop()


def shown(board: SimulatedBoard) -> int:
    """The number on the sketch's display (its OCR1A register), read through simavr."""
    board.command("pins")
    while True:
        line = board.process.stdout.readline()
        match = re.search(r"OCR1A=(\d+)", line)
        if match:
            return int(match.group(1))
        assert line, "simavr-bridge exited"


async def test_seed_client_drives_a_hobby_sketch_in_simavr_and_its_numbers_reach_app_and_dashboard(sketch, tmp_path):
    server = await asyncio.to_thread(ServerProcess(str(sketch.link), extra=["--no-auth", "--baud", "9600"]).start)
    try:
        observer = WsClient(await connect(server.url))
        await observer.expect("event", lambda m: "doesn't confirm commands" in m["text"], timeout=15)
        heard: list = []  # what the desktop app's client hands its readings table
        app = ClientSession(server.url, SessionEvents(message=heard.append), role=Role.OBSERVER)
        app.start()
        seed = WsClient(await connect(server.url))
        await asyncio.sleep(0.6)  # a seed client sends nothing in its first half second, so it joins as legacy
        for axis in (0.12, 0.34, 0.567):
            for _ in range(5):  # 10 Hz, as the seed's client
                await seed.send({"Axes": [axis, 0.0, 0.0, 0.0]})
                await asyncio.sleep(0.1)
            value = round(axis * 1000)
            await wait_for(lambda value=value: shown(sketch) == value, timeout=5, what=f"the sketch showing {value}")
        await observer.expect("reading", lambda m: m["values"].get("value") in (510, 511, 512), timeout=5)
        sketch.command("adc 3 4000")  # the sensor moves: 818 on the sketch's scale
        await observer.expect("reading", lambda m: m["values"].get("value") in (817, 818, 819), timeout=5)
        await wait_for(lambda: any(isinstance(m, Reading) and m.values.get("value") in (817, 818, 819) for m in heard))
        await asyncio.to_thread(dashboard_shows_value, server.port, ("817", "818", "819"))
        await app.stop()
    finally:
        await asyncio.to_thread(server.stop)


def dashboard_shows_value(port: int, accepted: tuple[str, ...]) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")
    from conftest import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium not installed")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("#connection[data-state='connected']", timeout=10_000)
            row = page.locator("#readings tbody tr", has_text="value")
            row.wait_for(timeout=5_000)
            value = row.locator("td.num").text_content()
            assert value.strip() in accepted, value
        finally:
            browser.close()
