"""The browser dashboard: served by the bridge, tested over plain HTTP and in headless Chromium."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import recorded_commands
from guitools import ARTIFACTS, ServerProcess


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def server(recording_server):
    return recording_server


def test_dashboard_files_have_the_right_types_and_caching(server):
    base = f"http://127.0.0.1:{server.port}"
    status, headers, body = fetch(base + "/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "no-cache" and b"teleop dashboard" in body
    assert headers["X-Content-Type-Options"] == "nosniff" and "default-src 'self'" in headers["Content-Security-Policy"]
    assert fetch(base + "/app.js")[1]["Content-Type"].startswith("text/javascript")
    assert fetch(base + "/style.css")[1]["Content-Type"].startswith("text/css")
    status, headers, _ = fetch(base + "/vendor/uPlot.iife.min.js")
    assert status == 200 and "immutable" in headers["Cache-Control"]
    etag = fetch(base + "/app.js")[1]["ETag"]
    assert fetch(base + "/app.js", {"If-None-Match": etag})[0] == 304


@pytest.mark.parametrize(
    "path",
    [
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/vendor/../../server/bridge.py",
        "/server/bridge.py",
        "/..%2fpyproject.toml",
        "/nope",
    ],
)
def test_paths_outside_the_dashboard_are_refused(server, path):
    status, _, body = fetch(f"http://127.0.0.1:{server.port}{path}")
    assert status == 404 and b"root:" not in body and b"import" not in body


#: A URL that leaves the robot: with a scheme (http:, https:, ...) or protocol-relative (//host).
EXTERNAL_URL = re.compile(r"(?:\b[a-z][a-z0-9+.-]*:)?//[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]|\bhttps?://", re.IGNORECASE)
#: Where a page names something to load: HTML attributes, CSS url() and @import, JS import/fetch.
RESOURCE_REF = re.compile(
    r"""(?:\b(?:src|href|srcset|action|poster|data)\s*=\s*["']?|url\(\s*["']?|@import\s+["']|\bimport\s*\(?\s*["']|\bfetch\(\s*["'`])([^"'`)\s>]+)""",
    re.IGNORECASE,
)


def external_resources(text: str) -> list[str]:
    """Every URL in ``text`` that would be loaded from somewhere other than the serving robot."""
    found = [ref for ref in RESOURCE_REF.findall(text) if ":" in ref.split("/", 1)[0] or ref.startswith("//")]
    found += [m.group(0) for m in EXTERNAL_URL.finditer(text)]
    return found


def test_the_external_resource_check_catches_what_it_is_for():
    page = (Path(__file__).resolve().parents[3] / "server" / "dashboard" / "index.html").read_text()
    for injected in (
        '<script src="https://cdn.example/lib.js"></script>',
        "<script src=//cdn.example/lib.js></script>",
        '<link rel="stylesheet" href="http://fonts.example/css">',
        "<style>@import 'https://fonts.example/a.css';</style>",
        '<div style="background: url(https://img.example/x.png)"></div>',
    ):
        assert external_resources(page.replace("</body>", injected + "</body>")), injected
    assert external_resources('fetch("https://api.example/v1")')
    assert not external_resources('const ws = new WebSocket(`${scheme}://${location.host}/`); location.protocol === "https:"')


def test_the_page_needs_nothing_from_the_internet():
    root = Path(__file__).resolve().parents[3] / "server" / "dashboard"
    for name in ("index.html", "app.js", "style.css", "vendor/uPlot.min.css"):
        assert external_resources((root / name).read_text()) == [], name


def test_dashboard_shows_live_readings_plots_them_and_its_estop_stops_the_robot(server, browser):
    page = browser.new_context(
        viewport={"width": 1280, "height": 860}, bypass_csp=True
    ).new_page()  # our CSP forbids eval, which page.wait_for_function uses
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"http://127.0.0.1:{server.port}/")
    page.wait_for_selector("#connection[data-state='connected']", timeout=10_000)
    page.wait_for_function("document.querySelector('#device-state').textContent.startsWith('ready')", timeout=10_000)
    first = page.locator("#readings tbody tr", has_text="A0").locator("td.num").text_content()
    page.wait_for_function(
        f"[...document.querySelectorAll('#readings td.num')].some(td => td.previousSibling.textContent === 'A0' && td.textContent !== '{first}')",
        timeout=5000,
    )
    page.wait_for_selector("#plot canvas", timeout=5000)
    page.wait_for_function("state.plot && state.plot.data[0].length > 10 && state.plot.data[1].some(v => v !== null)", timeout=5000)

    # a pilot drives; the dashboard's emergency stop puts the device at neutral and holds it there
    from launcher import sync_client  # sync: Playwright's sync API already runs a loop here

    def until(predicate, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "condition not met in time"
            time.sleep(0.01)

    with sync_client(server.url) as pilot:
        pilot.send(json.dumps({"type": "hello", "role": "pilot", "client": "driver", "token": server.token}))
        for _ in range(10):
            pilot.send(json.dumps({"type": "control", "axes": [0.7]}))
            time.sleep(0.02)
        until(lambda: "B700" in recorded_commands(server.record))
        page.locator("#estop").click()
        until(lambda: "B0" in recorded_commands(server.record)[recorded_commands(server.record).index("B700") :])
        pilot.send(json.dumps({"type": "control", "axes": [0.5]}))
        time.sleep(0.3)
        assert "B500" not in recorded_commands(server.record), "control must be ignored while the e-stop is engaged"
    page.wait_for_selector("#estop-state:not([hidden])", timeout=5000)
    assert page.locator("#failsafe").text_content() == "E-STOP"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "dashboard-desktop.png"), full_page=True)
    assert not errors, errors
    elsewhere = [url for url in requested if not url.startswith((f"http://127.0.0.1:{server.port}/", f"ws://127.0.0.1:{server.port}/"))]
    assert requested and not elsewhere, f"the page loaded from elsewhere: {elsewhere}"


def test_dashboard_fits_a_phone_screen(server, browser):
    page = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, bypass_csp=True).new_page()
    page.goto(f"http://127.0.0.1:{server.port}/")
    page.wait_for_selector("#connection[data-state='connected']", timeout=10_000)
    page.wait_for_selector("#plot canvas", timeout=10_000)
    page.wait_for_timeout(1500)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px on a phone"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=False)


def test_dashboard_needs_the_token_in_its_address_only_when_observers_need_it(browser, tmp_path):
    server = ServerProcess("sim", extra=["--observers", "token"]).start()
    try:
        page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.wait_for_selector("#connection[data-state='refused']", timeout=10_000)
        assert "#token=" in page.locator("#connection").text_content()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-refused.png"))
        page.goto(f"http://127.0.0.1:{server.port}/#token={server.token}")
        page.reload()
        page.wait_for_selector("#connection[data-state='connected']", timeout=10_000)
    finally:
        server.stop()
