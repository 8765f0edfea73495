"""The pilot page (/pilot) in headless Chromium, driving the real server with the simulated firmware on a pty.

What reached the device is read on the device's side of the pty. The default
mapping drives ``B`` with the left stick's x times 1000, and ``A`` with the
bitmask of the a/b/x/y/shoulder/back/start buttons (bit 0 = a).
"""

from __future__ import annotations

import pytest
from guitools import ARTIFACTS
from pilotrig import Finger, Rig, sent_frames, shows, stick_centre, take_control_and_enable, until

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True, "bypass_csp": True}
DESKTOP = {"viewport": {"width": 1280, "height": 800}, "bypass_csp": True}
#: phones held sideways: an iPhone 12-15 and a small Android (Galaxy S8), in CSS pixels
LANDSCAPES = [(844, 390), (740, 360)]


@pytest.fixture
def rig(tmp_path):
    rig = Rig(tmp_path)
    yield rig
    rig.stop()


def controls(frames: list[dict]) -> list[dict]:
    return [f for f in frames if f.get("type") == "control"]


def b_values(lines: list[str]) -> list[int]:
    return [int(line[1:]) for line in lines if line[1:].lstrip("-").isdigit()]


def test_the_page_and_its_manifest_are_served_and_the_dashboard_links_to_it(rig, browser):
    page = browser.new_context(**DESKTOP).new_page()
    page.goto(f"{rig.base}/#token={rig.server.token}")
    href = page.locator("#pilot-link").get_attribute("href")
    assert href == f"pilot#token={rig.server.token}", "the dashboard hands its token on to the pilot page, in the fragment"
    response = page.request.get(f"{rig.base}/manifest.webmanifest")
    assert response.ok and response.headers["content-type"] == "application/manifest+json"
    assert response.json()["start_url"] == "/pilot"


def test_a_drag_on_the_touch_stick_drives_the_device_and_letting_go_recentres_it(rig, browser):
    page = browser.new_context(**PHONE).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    frames = sent_frames(page)
    page.goto(rig.pilot_url())
    take_control_and_enable(page)
    x, y, reach = stick_centre(page)
    finger = Finger(page)
    finger.down(x, y)
    finger.move(x + reach * 0.5, y)
    until(lambda: any(450 <= v <= 550 for v in b_values(rig.drive_lines())), what="the drag reached the device as B≈500", page=page)
    finger.move(x + reach * 3, y + 1)  # far outside the stick: still captured, clamped to full
    until(lambda: any(v >= 990 for v in b_values(rig.drive_lines())), what="full deflection", page=page)
    held = len(controls(frames))
    until(lambda: len(controls(frames)) >= held + 10, what="the held finger re-sent at the send rate", page=page)
    finger.up()
    until(lambda: b_values(rig.drive_lines())[-1:] == [0], what="letting go recentred the device", page=page)
    assert all(f.get("input") == "touch" for f in controls(frames) if any(f["axes"]))
    assert page.locator("#stick-left .knob").evaluate("k => k.style.transform") == ""
    assert not errors, errors


def test_a_pointer_cancel_from_the_system_stops(rig, browser):
    page = browser.new_context(**PHONE).new_page()
    page.goto(rig.pilot_url())
    take_control_and_enable(page)
    x, y, reach = stick_centre(page)
    finger = Finger(page)
    finger.down(x, y)
    finger.move(x - reach, y)
    until(lambda: any(v <= -990 for v in b_values(rig.drive_lines())), what="full left reached the device", page=page)
    finger.cancel()  # the OS took the touch (a call, an edge gesture): pointercancel
    until(lambda: b_values(rig.drive_lines())[-1:] == [0], what="the cancelled touch put the device at neutral", page=page)


def test_hiding_the_tab_sends_one_neutral_and_then_nothing(rig, browser):
    """Headless Chromium never hides a tab (every page stays "visible": playwright#2286), so this test sets
    ``document.visibilityState`` to "hidden" in the page and fires the ``visibilitychange`` event the browser
    would. The ordering barrier is the server's own failsafe announcement: it comes only after the server has
    heard no control for its timeout, and every frame the page sent before it has been seen by then."""
    one_neutral_then_nothing(
        rig,
        browser,
        """() => {
            Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
    )


def test_a_frozen_page_sends_one_neutral_and_then_nothing(rig, browser):
    """The browser freezes a hidden page to save power (Page Lifecycle API) and fires ``freeze`` on the document
    first. The real mechanism, CDP ``Page.setWebLifecycleState`` {state: "frozen"}, is accepted by Debian's
    Chromium but neither freezes a visible page nor fires the event (headless pages are always visible, and on
    Xvfb with a window it does not either), so this test fires the ``freeze`` event the browser would, on the
    document. The ordering barrier is the server's failsafe announcement, as for hiding."""
    one_neutral_then_nothing(rig, browser, """() => document.dispatchEvent(new Event("freeze"))""")


def one_neutral_then_nothing(rig, browser, away: str) -> None:
    """Drive right with a key held, run ``away`` in the page, then: exactly one neutral control, and the device at rest."""
    page = browser.new_context(**DESKTOP).new_page()
    frames = sent_frames(page)
    received: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: received.append(str(payload))))
    page.goto(rig.pilot_url())
    take_control_and_enable(page)
    page.keyboard.down("ArrowRight")
    until(lambda: b_values(rig.drive_lines())[-1:] == [1000], what="the key drove the device", page=page)
    seen = len(received)
    # the last control the page sent before it went away, read in the same task as it goes
    before = page.evaluate(f"() => {{ const sent = core.seq; ({away})(); return sent; }}")
    until(
        lambda: any("failsafe: no control from the pilot" in r for r in received[seen:]),
        what="the server's failsafe (the barrier)",
        page=page,
    )
    after = [f for f in controls(frames) if f["seq"] > before]
    assert len(after) == 1 and not any(after[0]["axes"]), f"one neutral, then nothing: {after}"
    lines = rig.drive_lines()
    assert lines[-1] == "B0" and 1000 not in b_values(lines[lines.index("B0", len(lines) - 3) :])
    page.keyboard.up("ArrowRight")


#: Written into the pilot page before its own scripts: every control frame it sends (moving or neutral) and the
#: pagehide and visibilitychange events, in order, to localStorage, where the next page of the origin reads them.
SEND_TRACE = """if (location.pathname === "/pilot") {
    const log = (line) => localStorage.setItem("trace", (localStorage.getItem("trace") || "") + line + "\\n");
    window.addEventListener("pagehide", () => log("pagehide"), true);
    document.addEventListener("visibilitychange", () => log("visibilitychange"), true);
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
        const message = JSON.parse(data);
        if (message.type === "control") log(message.axes.some((v) => v) || message.buttons.some((v) => v) ? "moving" : "neutral");
        return send.call(this, data);
    };
}"""


def test_leaving_the_page_sends_one_neutral_on_pagehide_and_then_nothing(rig, browser):
    """Leaving is real: the test navigates the tab to the dashboard and Chromium fires ``pagehide`` (then
    ``visibilitychange`` and ``unload``) as for any navigation. Playwright drops the WebSocket events of a
    document that is gone, so the page logs what it sends itself (:data:`SEND_TRACE`, an init script that
    wraps ``WebSocket.prototype.send``) to localStorage, read back on the dashboard. The neutral must go out
    in ``pagehide`` itself, before ``visibilitychange``: Safari does not fire the latter on every unload.
    The ordering barrier is the dashboard showing nobody drives: the server has closed the pilot page's
    connection, after which that page can send nothing."""
    context = browser.new_context(**DESKTOP)
    context.add_init_script(SEND_TRACE)
    page = context.new_page()
    page.goto(rig.pilot_url())
    take_control_and_enable(page)
    page.keyboard.down("ArrowRight")
    until(lambda: b_values(rig.drive_lines())[-1:] == [1000], what="the key drove the device", page=page)
    page.evaluate("localStorage.removeItem('trace')")
    page.goto(rig.base + "/")
    page.wait_for_function("document.querySelector('#pilot').textContent === 'nobody'", timeout=10_000)
    trace = page.evaluate("localStorage.getItem('trace')").split()
    left = trace.index("pagehide")
    assert set(trace[:left]) <= {"moving"}, trace
    assert trace[left:] == ["pagehide", "neutral", "visibilitychange"], f"one neutral, sent in pagehide, then nothing: {trace}"
    assert rig.drive_lines()[-1] == "B0"
    page.keyboard.up("ArrowRight")


def test_losing_the_focus_sends_one_neutral_and_the_pad_is_not_read_in_the_background(rig, browser):
    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    frames = sent_frames(page)
    page.goto(rig.pilot_url())
    take_control_and_enable(page)
    # Playwright gives every page the focus; turned off, focus moves as in a real browser
    page.context.new_cdp_session(page).send("Emulation.setFocusEmulationEnabled", {"enabled": False})
    page.bring_to_front()
    page.wait_for_function("document.hasFocus()")
    page.keyboard.down("KeyD")
    until(lambda: b_values(rig.drive_lines())[-1:] == [1000], what="the key drove the device", page=page)
    before = len(controls(frames))
    other = context.new_page()
    other.bring_to_front()  # a real blur of the pilot page
    page.wait_for_function("!document.hasFocus()")
    until(lambda: b_values(rig.drive_lines())[-1:] == [0], what="neutral on blur", page=page)
    until(lambda: page.locator("#role").text_content().startswith("You are pilot; paused"), what="the page says it paused", page=page)
    after = controls(frames)[before:]
    assert after and not any(after[-1]["axes"]) and sum(1 for f in after if not any(f["axes"])) == 1, after
    page.keyboard.up("KeyD")


def test_a_second_tab_of_the_same_browser_only_watches(rig, browser):
    context = browser.new_context(**DESKTOP)
    first = context.new_page()
    first.goto(rig.pilot_url())
    take_control_and_enable(first)
    second = context.new_page()
    frames = sent_frames(second)
    second.goto(rig.pilot_url())
    second.wait_for_selector("#connection[data-state='connected']", timeout=10_000)
    second.wait_for_selector("body[data-role='watcher']", timeout=5000)
    assert second.locator("#take").is_disabled() and second.locator("#enable").is_disabled()
    assert "another tab" in second.locator("#role").text_content()
    dashboard = context.new_page()
    dashboard.goto(rig.base + "/")
    dashboard.wait_for_function("document.querySelector('#pilot').textContent.endsWith('(keyboard)')", timeout=10_000)
    second.keyboard.down("ArrowLeft")
    second.locator("#stick-left").dispatch_event("pointerdown", {"pointerId": 7, "clientX": 0, "clientY": 0, "isPrimary": True})
    first.keyboard.down("ArrowRight")
    until(lambda: b_values(rig.drive_lines())[-1:] == [1000], what="the pilot tab still drives", page=first)
    assert controls(frames) == [] and not any(f.get("type") == "request_control" for f in frames)
    first.keyboard.up("ArrowRight")
    second.keyboard.up("ArrowLeft")
    first.close()
    second.wait_for_selector("body[data-role='observer']", timeout=10_000)  # the pilot tab went: this one may take control


def test_keys_drive_only_while_no_text_field_has_the_focus(rig, browser):
    page = browser.new_context(**DESKTOP).new_page()
    frames = sent_frames(page)
    page.goto(rig.pilot_url())
    take_control_and_enable(page)
    page.click(".settings summary")
    page.fill("#name", "")
    page.click("#name")
    page.keyboard.type("dad-wasd")
    page.keyboard.press("ArrowLeft")
    assert page.locator("#name").input_value() == "dad-wasd"
    assert not any(f["axes"][0] for f in controls(frames)), "keys typed into the name field drove"
    page.click("#role")  # out of the field
    page.keyboard.down("KeyA")
    until(lambda: b_values(rig.drive_lines())[-1:] == [-1000], what="A drives left outside the field, at full speed", page=page)
    shows(page, "#role:has-text('Driving with keyboard')", timeout_ms=2000)  # the page names the input that took over
    page.keyboard.up("KeyA")
    until(lambda: b_values(rig.drive_lines())[-1:] == [0], what="key up recentres", page=page)
    page.keyboard.press("Minus")
    page.keyboard.press("Minus")
    page.keyboard.down("KeyD")
    until(lambda: b_values(rig.drive_lines())[-1:] == [800], what="two minus: D drives right at 80 %", page=page)
    assert "at 80%" in page.locator("#role").text_content()
    page.keyboard.up("KeyD")
    until(lambda: b_values(rig.drive_lines())[-1:] == [0], what="key up recentres", page=page)
    page.keyboard.press("Space")
    page.wait_for_selector("#enable[aria-pressed='false']", timeout=5000)
    until(
        lambda: "E-STOP" in page.locator("#role").text_content().upper() or "EMERGENCY" in page.locator("#role").text_content(), page=page
    )


def test_a_standard_gamepad_drives_with_the_default_mapping(rig, browser):
    """The pad is not a real device: this test replaces ``navigator.getGamepads`` in the page with one that
    returns a pad object the test fills in, shaped as the Gamepad API gives it (``mapping: "standard"``)."""
    context = browser.new_context(**DESKTOP)
    context.add_init_script("""
        window.testPad = { id: "Test Pad (STANDARD GAMEPAD)", index: 0, connected: true, mapping: "standard",
            axes: [0, 0, 0, 0], buttons: Array.from({ length: 17 }, () => ({ pressed: false, value: 0 })) };
        navigator.getGamepads = () => [window.testPad, null, null, null];
    """)
    page = context.new_page()
    frames = sent_frames(page)
    page.goto(rig.pilot_url())
    take_control_and_enable(page)
    page.evaluate("() => { testPad.axes[0] = 0.6; testPad.buttons[0] = { pressed: true, value: 1 }; }")
    until(lambda: b_values(rig.drive_lines())[-1:] == [600], what="the left stick x drove B", page=page)
    until(lambda: any(line == "A1" for _, line in rig.device.lines("A")), what="button a lit bit 0 of A", page=page)
    # the page's sent frames reach this test through the browser's events, which may trail the device
    until(lambda: [f for f in controls(frames) if f["axes"][0] == 0.6], what="the page's frame with the stick at 0.6 seen", page=page)
    moved = [f for f in controls(frames) if f["axes"][0] == 0.6]
    assert moved[-1]["layout"] == "standard" and moved[-1]["input"] == "gamepad" and moved[-1]["buttons"][0] == 1
    assert "Test Pad" in page.locator("#pad").text_content()
    page.evaluate("() => { testPad.axes[0] = 0.02; testPad.buttons[0] = { pressed: false, value: 0 }; }")
    until(lambda: b_values(rig.drive_lines())[-1:] == [0], what="a stick at rest (inside the dead zone) is neutral", page=page)


def test_a_pad_without_the_standard_mapping_is_named_and_warned_about(rig, browser):
    """As above, ``navigator.getGamepads`` is replaced in the page; this pad has no standard mapping."""
    context = browser.new_context(**DESKTOP)
    context.add_init_script("""
        const pad = { id: "Odd Stick 1234", index: 0, connected: true, mapping: "",
            axes: [0.5], buttons: [{ pressed: false, value: 0 }] };
        navigator.getGamepads = () => [pad];
    """)
    page = context.new_page()
    page.goto(rig.pilot_url())
    page.wait_for_selector("#pad.warn", state="attached", timeout=10_000)
    page.wait_for_selector("#notice:not([hidden])", timeout=5000)  # said on screen, not only in the settings
    assert "Odd Stick 1234" in page.locator("#pad").text_content() and "no standard mapping" in page.locator("#pad").text_content()


def test_without_the_token_the_page_only_watches(rig, browser):
    page = browser.new_context(**PHONE).new_page()
    frames = sent_frames(page)
    page.goto(rig.pilot_url(token=None))
    page.wait_for_selector("#connection[data-state='connected']", timeout=10_000)
    page.click("#take")
    page.wait_for_selector("#notice:not([hidden])", timeout=5000)
    assert "token" in page.locator("#notice").text_content()
    assert page.locator("#enable").is_disabled() and page.locator("body").get_attribute("data-role") == "observer"
    pings_before = sum(1 for f in frames if f.get("type") == "ping")
    page.keyboard.down("ArrowRight")
    # barrier: a frame the page sends after the key (its next ping) comes after any control the key made
    until(lambda: sum(1 for f in frames if f.get("type") == "ping") > pings_before, what="the page's next ping", page=page)
    assert controls(frames) == [] and 1000 not in b_values(rig.drive_lines())
    page.keyboard.up("ArrowRight")


def test_a_token_typed_in_the_pages_settings_lets_it_drive(rig, browser):
    """Opened without the token (typed address, a bookmark): the page says where the token goes, and it goes there."""
    page = browser.new_context(**PHONE).new_page()
    page.goto(rig.pilot_url(token=None))
    page.wait_for_selector("#connection[data-state='connected']", timeout=10_000)
    assert page.locator("#forget").is_hidden(), "nothing to forget"
    page.click("#take")
    page.wait_for_selector("#notice:not([hidden])", timeout=5000)
    assert "under Settings" in page.locator("#notice").text_content()
    assert "your settings" not in page.locator("#notice").text_content(), "the desktop app's advice"
    page.click(".settings summary")
    page.fill("#token", rig.server.token)
    page.click("#use-token")
    assert page.locator("#forget").is_visible() and page.locator("#token").input_value() == ""
    take_control_and_enable(page)
    page.keyboard.down("ArrowRight")
    until(lambda: 1000 in b_values(rig.drive_lines()), what="the key drove the device", page=page)
    page.keyboard.up("ArrowRight")
    page.reload()  # kept on this device
    take_control_and_enable(page)


def test_a_wrong_token_counts_toward_the_lock_out(rig, browser):
    page = browser.new_context(**PHONE).new_page()
    page.goto(rig.pilot_url(token="wrong-token-0123456789"))
    page.wait_for_selector("#connection[data-state='connected']", timeout=10_000)
    for _ in range(5):  # MAX_TOKEN_FAILURES: then the server closes the connection
        if page.locator("#take").is_disabled():
            break
        page.click("#take")
        page.wait_for_timeout(100)
    page.wait_for_selector("#connection[data-state='refused']", timeout=10_000)
    assert "wrong pilot tokens" in page.locator("#connection").text_content()
    assert 1000 not in b_values(rig.drive_lines())
    assert "wrong pilot token" in rig.stop()


@pytest.mark.parametrize("name,options", [("phone", PHONE), ("desktop", DESKTOP)])
def test_the_pilot_page_fits_a_phone_and_a_desktop_with_the_stop_on_screen(tmp_path, browser, name, options):
    rig = Rig(tmp_path, extra=["--camera", "sim"])
    try:
        _screenshot(rig, browser, name, options)
    finally:
        rig.stop()


def _screenshot(rig, browser, name, options):
    page = browser.new_context(**options).new_page()
    page.goto(rig.pilot_url())
    take_control_and_enable(page)
    page.wait_for_timeout(800)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"
    estop = page.locator("#estop").bounding_box()
    viewport = options["viewport"]
    assert estop["y"] + estop["height"] <= viewport["height"] and estop["height"] >= 48, "the stop is on screen and big"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"pilot-{name}.png"))


def overlap(a: dict, b: dict) -> bool:
    """Whether two bounding boxes share any area."""
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


@pytest.mark.parametrize("width,height", LANDSCAPES)
def test_a_phone_held_sideways_shows_stop_and_both_sticks_whole_with_nothing_over_them(tmp_path, browser, width, height):
    rig = Rig(tmp_path, extra=["--camera", "sim"])
    try:
        options = {**PHONE, "viewport": {"width": width, "height": height}}
        page = browser.new_context(**options).new_page()
        page.goto(rig.pilot_url())
        take_control_and_enable(page)
        page.wait_for_selector("#video[data-frames]:not([data-frames='0'])", state="attached", timeout=10_000)
        page.check("#hold-mode")  # the HOLD thumb button shows too
        page.wait_for_selector("#hold:not([hidden])", timeout=5000)
        boxes = {
            name: page.locator(selector).bounding_box()
            for name, selector in {
                "STOP": "#estop",
                "left stick": "#stick-left",
                "right stick": "#stick-right",
                "Take control": "#take",
                "Enable": "#enable",
                "hold to drive": ".check",
                "HOLD": "#hold",
                "Full screen": "#fullscreen",
            }.items()
        }
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"pilot-landscape-{width}x{height}.png"))
        for name in ("STOP", "left stick", "right stick"):
            box = boxes[name]
            assert box["x"] >= 0 and box["y"] >= 0, f"{name} starts off screen: {box}"
            assert box["x"] + box["width"] <= width and box["y"] + box["height"] <= height, f"{name} ends off screen: {box}"
        clashes = [(a, b) for i, a in enumerate(boxes) for b in list(boxes)[i + 1 :] if overlap(boxes[a], boxes[b])]
        assert not clashes, f"overlapping: {clashes} in {boxes}"
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"the page scrolls sideways by {overflow}px"
    finally:
        rig.stop()


@pytest.mark.parametrize("viewport", [PHONE["viewport"], {"width": 844, "height": 390}, DESKTOP["viewport"]])
def test_a_message_on_screen_never_moves_the_sticks_under_a_thumb(rig, browser, viewport):
    page = browser.new_context(**{**PHONE, "viewport": viewport}).new_page()
    page.goto(rig.pilot_url())
    take_control_and_enable(page)
    sticks = ("#stick-left", "#stick-right", "#estop")
    before = [page.locator(s).bounding_box() for s in sticks]
    page.evaluate("notice('failsafe: no control from the pilot for 250 ms; outputs to neutral until it resumes', 'event')")
    page.wait_for_selector("#notice:not([hidden])", timeout=5000)
    assert [page.locator(s).bounding_box() for s in sticks] == before


def test_the_robots_speed_limit_is_shown_large_when_one_is_set(rig, browser):
    """An operator lowers the limit (here from a second page with the token, as the dashboard's form does)."""
    page = browser.new_context(**PHONE).new_page()
    page.goto(rig.pilot_url(token=None))
    page.wait_for_selector("#connection[data-state='connected']", timeout=10_000)
    assert page.locator("#speed").is_hidden(), "no limit, no badge"
    operator = browser.new_context().new_page()
    operator.goto(rig.pilot_url())
    operator.wait_for_selector("#connection[data-state='connected']", timeout=10_000)
    operator.evaluate(
        """token => new Promise(done => {
            const ws = new WebSocket(location.origin.replace("http", "ws"));
            ws.onopen = () => {
                ws.send(JSON.stringify({type: "hello", role: "observer", client: "operator", token}));
                ws.send(JSON.stringify({type: "speed_cap", max_speed: 0.4}));
                done();
            };
        })""",
        rig.server.token,
    )
    page.wait_for_selector("#speed:not([hidden])", timeout=10_000)
    assert page.locator("#speed-cap").text_content() == "40%"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "pilot-speed-limit.png"))


def test_a_readings_row_wider_than_a_phone_fades_on_the_side_it_scrolls_to(rig, browser):
    page = browser.new_context(**PHONE).new_page()
    page.goto(rig.pilot_url())
    page.wait_for_selector("#readings li[data-name]")
    row = page.locator("#readings")
    until(lambda: row.evaluate("r => r.scrollWidth > r.clientWidth"), what="more readings than the phone's width", page=page)
    shows(page, "#readings[data-more='right']")
    row.evaluate("r => r.scrollTo({left: r.scrollWidth})")
    shows(page, "#readings[data-more='left']")
    row.evaluate("r => r.scrollTo({left: 20})")
    shows(page, "#readings[data-more='both']")
