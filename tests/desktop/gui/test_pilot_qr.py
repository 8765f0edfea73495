"""Drive > Drive from a phone… on a real display (Xvfb, xcb, openbox): the menu opened with xdotool keys,
the code read back from a screenshot of the whole screen with a QR decoder none of us wrote (Debian's
``zbarimg``), and the address it decodes to opened over HTTP.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request

import pytest
import test_gui
from guitools import ARTIFACTS, ServerProcess, paint_now, wait_until
from test_gui import connect, stop_server

from teleop.desktop.gui.pilot_qr import PilotQrDialog
from teleop.desktop.models.pilot_link import TOKEN_NOTE

# the app's window on the test display, as the other GUI tests have it
window, settings_store = test_gui.window, test_gui.settings_store


def decode_qr(path) -> list[str]:
    """Every QR code zbarimg finds in the picture, as text."""
    result = subprocess.run(["zbarimg", "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(path)], capture_output=True, text=True)
    return [line for line in result.stdout.splitlines() if line]


def codes_on_screen(display, path, timeout: float = 10.0) -> list[str]:
    """The codes readable in a screenshot of the whole screen, once there are any (the dialog placed and painted)."""
    deadline = time.monotonic() + timeout
    while True:
        paint_now()
        codes = decode_qr(display.screenshot(path))
        if codes or time.monotonic() > deadline:
            return codes


def open_from_menu(window, loop, display) -> PilotQrDialog:
    """Alt+D opens the Drive menu, P its "Drive from a &phone…" item, typed as a person would."""
    window.activateWindow()
    wait_until(loop, window.isActiveWindow, what="main window active")
    display.key("alt+d")
    wait_until(loop, lambda: window.menuBar().activeAction() is not None, what="the Drive menu open")
    display.key("p")
    dialog = wait_until(loop, lambda: window.findChild(PilotQrDialog), what="the dialog made")
    wait_until(loop, dialog.isVisible, what="the dialog shown")
    return dialog


def test_the_app_shows_a_qr_code_a_phone_can_scan_to_drive_the_connected_robot(window, loop, display, tmp_path):
    if not shutil.which("zbarimg"):
        pytest.skip("needs Debian's zbar-tools (zbarimg) to read the code back from the screen")
    dialog = open_from_menu(window, loop, display)
    assert not dialog.code.isVisible() and "Connect to a robot first" in dialog.notes.text()
    server = ServerProcess("sim").start()
    try:
        connect(window, loop, server.pilot_url)
        wait_until(loop, dialog.code.isVisible, what="the code drawn once connected")
        expected = f"http://127.0.0.1:{server.port}/pilot#token={server.token}"
        assert dialog.link.url == expected
        notes = dialog.notes.text()
        assert TOKEN_NOTE in notes and "only this computer" in notes, "the token warning and the loopback warning are on screen"
        shot = ARTIFACTS / "xcb-drive-from-a-phone.png"
        decoded = codes_on_screen(display, shot)
        assert decoded == [expected], "the code on the screen is the pilot page's address with the token"
        page = urllib.request.urlopen(expected.split("#", 1)[0], timeout=10).read().decode()
        assert "<title>teleop pilot</title>" in page, "the decoded address is the server's pilot page"
        # closing hides it; the menu raises the same one again
        dialog.close()
        wait_until(loop, lambda: not dialog.isVisible(), what="closed")
        assert open_from_menu(window, loop, display) is dialog
        dialog.close()
    finally:
        stop_server(window, loop, server)
