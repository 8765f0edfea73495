"""``--tls auto`` (a certificate of the robot's own, kept) and the pilot page's QR code (terminal and dashboard)."""

from __future__ import annotations

import asyncio
import os
import pty
import re
import select
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from launcher import ServerProcess

from teleop.wire.pilot import pilot_url
from teleop_server.net.pilotqr import terminal_qr
from teleop_server.net.selfsigned import fingerprint, load_or_create_certificate, subject_names


def run_and_stop(extra: list[str], home: Path, token: str = "a-pilot-token-0123456789") -> str:
    (home / "pilot-token").write_text(token)
    server = ServerProcess("sim", extra=["--token-file", str(home / "pilot-token"), *extra], token=token).start()
    return printed_and_stopped(server)


def printed_and_stopped(server: ServerProcess) -> str:
    """Everything the server printed: once it answers a client it has printed its banner (no sleep)."""
    if "--tls" not in server.extra:
        asyncio.run(server.serial_ready())
    else:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        urllib.request.urlopen(f"https://127.0.0.1:{server.port}/pilot", context=context, timeout=10).read()
    return server.stop()


def test_tls_auto_makes_a_certificate_once_keeps_it_and_prints_its_fingerprint(tmp_path):
    first = run_and_stop(["--tls", "auto"], tmp_path)
    cert, key = tmp_path / "server-cert.pem", tmp_path / "server-key.pem"
    assert cert.exists() and key.exists() and (key.stat().st_mode & 0o077) == 0, "the key is only its owner's"
    printed = re.search(r"SHA-256 fingerprint: ([0-9A-F:]{95})", first)
    assert printed and printed.group(1) == fingerprint(cert.read_text())
    assert re.search(r"pilot page \(scan with a phone\): https://127\.0\.0\.1:\d+/pilot", first)
    again = run_and_stop(["--tls", "auto"], tmp_path)
    assert printed.group(1) in again, "a restart keeps the certificate the phone accepted"


def test_tls_auto_serves_the_pilot_page_over_https_and_drives_over_wss(tmp_path, browser):
    token = "a-pilot-token-0123456789"
    (tmp_path / "pilot-token").write_text(token)
    server = ServerProcess("sim", extra=["--token-file", str(tmp_path / "pilot-token"), "--tls", "auto"], token=token).start()
    try:
        context = ssl.create_default_context(cafile=str(tmp_path / "server-cert.pem"))
        context.check_hostname = False  # the certificate names this machine's addresses; a test reaches it as 127.0.0.1
        with urllib.request.urlopen(f"https://127.0.0.1:{server.port}/pilot", context=context, timeout=5) as response:
            assert b"teleop pilot" in response.read()
        page = browser.new_context(ignore_https_errors=True, bypass_csp=True).new_page()  # as a user who accepted it
        page.goto(f"https://127.0.0.1:{server.port}/pilot#token={token}")
        page.wait_for_selector("#connection[data-state='connected']", timeout=10_000)
        page.click("#take")
        page.wait_for_selector("#enable:not([disabled])", timeout=10_000)
        assert page.evaluate("window.isSecureContext")
    finally:
        server.stop()


def test_the_certificate_names_the_robots_addresses():
    assert subject_names(["localhost", "127.0.0.1", "robot", "robot.local", "[::1]", "robot"]) == (
        "DNS:localhost,IP:127.0.0.1,DNS:robot,DNS:robot.local,IP:::1"
    )


def test_a_missing_openssl_is_a_clear_error(tmp_path, monkeypatch):
    from teleop.wire.errors import ConfigError

    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="needs the openssl command"):
        load_or_create_certificate(tmp_path / "state", ["localhost"])


def test_a_journal_gets_the_pilot_address_in_one_line_and_no_token(tmp_path):
    output = run_and_stop([], tmp_path)
    line = re.search(r"pilot page \(scan with a phone\): (\S+)", output)
    assert line, output
    url = line.group(1)
    # the launcher's stdout is a pipe, not a terminal, and the token is not new: no token, and no code block
    assert url == pilot_url(tls=False, host="127.0.0.1", port=int(url.split(":")[2].split("/")[0]), token=None)
    assert terminal_qr(url) not in output and "\u2588" not in output, "thirty lines of blocks on every restart are noise in a journal"


def test_a_terminal_gets_the_qr_code_with_the_token(tmp_path):
    """The server's stdout is a real terminal (a pty): its owner is there, so the code drives."""
    token = "a-pilot-token-0123456789"
    (tmp_path / "pilot-token").write_text(token)
    port = ServerProcess("sim").port
    controller, terminal = pty.openpty()
    command = [sys.executable, "-m", "teleop_server", "--serial", "sim", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen([*command, "--token-file", str(tmp_path / "pilot-token")], stdout=terminal, stderr=terminal)
    os.close(terminal)
    printed = b""
    qr = terminal_qr(f"http://127.0.0.1:{port}/pilot#token={token}")
    text = ""
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and qr not in text:
            ready, _, _ = select.select([controller], [], [], 1.0)
            if ready:
                try:
                    printed += os.read(controller, 65536)
                except OSError:
                    break
                text = printed.decode(errors="replace").replace("\r\n", "\n")  # a terminal ends its lines so
    finally:
        server.terminate()
        server.wait(10)
        os.close(controller)
    assert qr in text, text[-2000:]


def test_a_new_token_goes_into_the_qr_code_once(tmp_path):
    server = ServerProcess("sim", extra=["--token-file", str(tmp_path / "fresh" / "pilot-token")])
    server.start()
    output = printed_and_stopped(server)
    token = (tmp_path / "fresh" / "pilot-token").read_text().strip()
    assert f"/pilot#token={token}" in output and terminal_qr(f"http://127.0.0.1:{server.port}/pilot#token={token}") in output


def test_the_dashboard_shows_the_pilot_qr_code(recording_server, browser):
    base = f"http://127.0.0.1:{recording_server.port}"
    page = browser.new_context().new_page()
    page.goto(f"{base}/#token={recording_server.token}")
    page.wait_for_function("document.querySelector('#pilot-qr').naturalWidth > 0", timeout=10_000)
    src = page.locator("#pilot-qr").get_attribute("src")
    assert src.startswith("qr.svg?text=") and "pilot" in src
    with urllib.request.urlopen(f"{base}/{src}", timeout=5) as response:
        assert response.headers["Content-Type"] == "image/svg+xml" and response.headers["Cache-Control"] == "no-store"
        assert b"<svg" in response.read()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{base}/qr.svg?text=" + "x" * 400, timeout=5)
    assert refused.value.code == 400
