"""Who may drive, who may connect, and how much: the pilot token, TLS, the Origin check and the limits."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import stat
import subprocess
import sys
import urllib.request

import pytest
from conftest import device_lines, wait_for
from ports import steady_port
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from teleop.common.throttle import RateWatch, Verdict
from teleop.desktop.models.appsettings import AppSettings, ServerAddress, parse_address
from teleop.desktop.net.client import ClientSession, SessionEvents, trust_context
from teleop.wire.protocol import Control, Role
from teleop_server.rules.auth import Access, ObserverAccess, load_or_create_token

TOKEN = "correct-horse-battery-staple"


# -- the rules, sans-I/O -------------------------------------------------------------------


def test_only_the_exact_token_may_drive():
    access = Access(TOKEN)
    assert access.may_drive(TOKEN)
    assert not access.may_drive(TOKEN[:-1])
    assert not access.may_drive(TOKEN + "x")
    assert not access.may_drive(None)
    assert not access.may_drive("")
    assert access.may_watch(None), "observers are open by default"
    assert not Access(TOKEN, ObserverAccess.TOKEN).may_watch(None)
    assert Access(None).may_drive(None), "--no-auth"


def test_token_file_is_created_once_private_and_then_reused(tmp_path):
    path = tmp_path / "state" / "pilot-token"
    token, created = load_or_create_token(path)
    assert created and len(token) >= 20
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_token(path) == (token, False)


def test_unwritable_token_file_is_a_clear_error_not_an_open_server(tmp_path):
    from teleop.wire.errors import ConfigError

    if os.geteuid() == 0:
        target = "/proc/teleop-cannot-write-here/pilot-token"  # even root cannot create files in /proc
    else:
        (tmp_path / "ro").mkdir(mode=0o500)
        target = str(tmp_path / "ro" / "pilot-token")
    with pytest.raises(ConfigError, match="cannot create the pilot token file"):
        load_or_create_token(__import__("pathlib").Path(target))


def test_rate_watch_warns_once_then_closes_if_the_flood_goes_on():
    watch = RateWatch(10)
    verdicts = [watch.frame(0.001 * i) for i in range(15)]
    assert verdicts[:10] == [Verdict.OK] * 10
    assert verdicts[10] is Verdict.DROP_AND_WARN
    assert set(verdicts[11:]) == {Verdict.DROP}
    verdicts = [watch.frame(1.0 + 0.001 * i) for i in range(12)]
    assert verdicts[10] is Verdict.CLOSE


def test_rate_watch_forgives_a_burst_followed_by_a_calm_second():
    watch = RateWatch(10)
    for i in range(12):
        watch.frame(0.001 * i)
    for i in range(5):
        assert watch.frame(1.0 + 0.1 * i) is Verdict.OK
    assert [watch.frame(2.0 + 0.001 * i) for i in range(11)][-1] is Verdict.DROP_AND_WARN


def test_pasted_server_address_fills_host_port_tls_and_token():
    assert parse_address(f"wss://robot.local:9000/#token={TOKEN}") == ServerAddress("robot.local", 9000, True, TOKEN)
    assert parse_address("192.168.1.9:8766") == ServerAddress("192.168.1.9", 8766, None, "")
    assert parse_address("192.168.1.9") == ServerAddress("192.168.1.9", 8765, None, "")
    assert "ws://" in parse_address("http://robot:8765/")
    assert "not a port" in parse_address("robot:eighty")


def test_each_server_keeps_its_own_token():
    settings = AppSettings()
    settings.use_server(ServerAddress("10.0.0.1", 8765, False, "token-of-robot-one"))
    settings.remember_server()
    settings.use_server(ServerAddress("10.0.0.2", 8765, False, "token-of-robot-two"))
    settings.remember_server()
    settings.use_server(parse_address("10.0.0.1"))
    assert settings.token == "token-of-robot-one"
    restored = AppSettings.from_json(settings.to_json())
    assert restored.tokens == {"10.0.0.1:8765": "token-of-robot-one", "10.0.0.2:8765": "token-of-robot-two"}


# -- the bridge ----------------------------------------------------------------------------


async def test_pilot_without_the_token_is_an_observer_and_told_why(make_bridge, make_client, pty_device):
    bridge = await make_bridge(pty_device.path, auth=True, token=TOKEN)
    nobody = await make_client(bridge, {"role": "pilot", "client": "no-token"})
    assert nobody.of_type("welcome")[0]["role"] == "observer"
    error = await nobody.expect("error", lambda m: m["code"] == "unauthorized")
    assert "needs a pilot token" in error["message"]
    wrong = await make_client(bridge, {"role": "pilot", "client": "wrong", "token": "not-the-token-at-all"})
    assert "wrong" in (await wrong.expect("error", lambda m: m["code"] == "unauthorized"))["message"]
    await wrong.send({"type": "control", "axes": [0.9]})
    await asyncio.sleep(0.2)
    assert "B900" not in device_lines(pty_device)

    pilot = await make_client(bridge, {"role": "pilot", "client": "owner", "token": TOKEN})
    assert pilot.of_type("welcome")[0]["role"] == "pilot"
    await pilot.send({"type": "control", "axes": [0.4]})
    await wait_for(lambda: "B400" in device_lines(pty_device))


async def test_request_control_checks_the_token_too(make_bridge, make_client):
    bridge = await make_bridge(auth=True, token=TOKEN)
    client = await make_client(bridge, {"role": "observer", "client": "watcher"})
    await client.send({"type": "request_control", "token": "guess-guess-guess"})
    await client.expect("error", lambda m: m["code"] == "unauthorized" and m["ref"] == "request_control")
    await client.send({"type": "request_control", "token": TOKEN})
    await client.expect("status", lambda m: (m.get("pilot") or {}).get("name") == "watcher")


async def test_seed_axes_client_cannot_drive_with_auth_on_and_is_told_to_use_no_auth(make_bridge, make_client, pty_device):
    bridge = await make_bridge(pty_device.path, auth=True, token=TOKEN)
    seed = await make_client(bridge)
    await seed.send('{"Axes": [0.5, 0.0]}')
    error = await seed.expect("error", lambda m: m["code"] == "unauthorized")
    assert "--no-auth" in error["message"]
    await asyncio.sleep(0.2)
    assert "B500" not in device_lines(pty_device)


async def test_observers_need_the_token_only_when_configured(make_bridge, make_client):
    bridge = await make_bridge(auth=True, token=TOKEN, observers="token")
    stranger = await make_client(bridge, {"role": "observer", "client": "stranger"}, welcome=False)
    error = await stranger.expect("error", lambda m: m["code"] == "unauthorized")
    assert "even to watch" in error["message"]
    await wait_for(lambda: stranger.ws.close_code is not None)
    assert stranger.ws.close_code == 1008
    friend = await make_client(bridge, {"role": "observer", "client": "friend", "token": TOKEN})
    assert friend.of_type("welcome")


async def test_guessing_tokens_costs_the_connection(make_bridge, make_client):
    bridge = await make_bridge(auth=True, token=TOKEN)
    guesser = await make_client(bridge, {"role": "observer", "client": "guesser"})
    for i in range(6):
        await guesser.send({"type": "request_control", "token": f"guess-number-{i:04d}"})
    await wait_for(lambda: guesser.ws.close_code is not None)
    assert guesser.ws.close_code == 1008


async def test_a_flooding_client_is_warned_then_closed_and_others_carry_on(make_bridge, make_client, pty_device):
    bridge = await make_bridge(pty_device.path, control_hz=25)  # flood threshold: 100 messages/s
    pilot = await make_client(bridge, {"role": "pilot", "client": "pilot"})
    flooder = await make_client(bridge, {"role": "observer", "client": "flooder"})
    for _ in range(150):
        await flooder.send({"type": "ping", "id": 1, "t": 0})
    warning = await flooder.expect("error", lambda m: m["code"] == "rate_limited")
    assert "dropped" in warning["message"]
    assert flooder.ws.close_code is None, "one burst costs a warning, not the connection"
    await asyncio.sleep(1.05)
    try:
        for _ in range(150):
            await flooder.send({"type": "ping", "id": 1, "t": 0})
    except ConnectionClosed:
        pass
    await wait_for(lambda: flooder.ws.close_code is not None)
    assert flooder.ws.close_code == 1008
    assert "rate limit" in flooder.ws.close_reason
    mark = pilot.mark()
    await pilot.send({"type": "control", "axes": [0.25]})
    await wait_for(lambda: "B250" in device_lines(pty_device))
    await pilot.expect("reading", since=mark)


async def test_past_max_clients_a_new_connection_is_closed_with_the_reason(make_bridge, make_client):
    bridge = await make_bridge(max_clients=2)
    await make_client(bridge, {"client": "one"})
    await make_client(bridge, {"client": "two"})
    third = await make_client(bridge)
    await wait_for(lambda: third.ws.close_code is not None)
    assert third.ws.close_code == 1013
    assert "server full" in third.ws.close_reason


async def test_browser_pages_from_other_sites_cannot_open_the_websocket(make_bridge):
    bridge = await make_bridge()
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"ws://127.0.0.1:{bridge.port}/", origin="http://evil.example")
    assert refused.value.response.status_code == 403
    async with connect(f"ws://127.0.0.1:{bridge.port}/", origin=f"http://127.0.0.1:{bridge.port}"):
        pass  # the dashboard served by this very server
    async with connect(f"ws://127.0.0.1:{bridge.port}/"):
        pass  # no Origin: the desktop app, a script


# -- TLS -----------------------------------------------------------------------------------


class Seen(SessionEvents):
    def __init__(self) -> None:
        super().__init__()
        self.details: list[str] = []
        self.state = lambda state, detail: self.details.append(detail)


async def test_tls_server_drives_over_wss_when_the_client_trusts_its_certificate(make_bridge, pty_device, certificate):
    cert, key = certificate
    bridge = await make_bridge(pty_device.path, auth=True, token=TOKEN, certfile=str(cert), keyfile=str(key))
    session = ClientSession(f"wss://127.0.0.1:{bridge.port}", role=Role.PILOT, token=TOKEN, ssl_context=trust_context(str(cert)))
    session.start()
    try:
        await wait_for(lambda: session.can_drive)
        session.send_control(Control(axes=(0.6,)))
        await wait_for(lambda: "B600" in device_lines(pty_device))
    finally:
        await session.stop()
    page = await asyncio.to_thread(
        lambda: urllib.request.urlopen(f"https://127.0.0.1:{bridge.port}/", context=trust_context(str(cert)), timeout=5).read()
    )
    assert b"<html" in page.lower()


async def test_an_observer_over_wss_that_only_listens_gets_the_readings_as_they_come(make_bridge, pty_device, certificate):
    """The dashboard over https sends nothing after its hello: its readings must not wait for the next ping."""
    cert, key = certificate
    bridge = await make_bridge(pty_device.path, certfile=str(cert), keyfile=str(key))
    async with connect(f"wss://127.0.0.1:{bridge.port}", ssl=trust_context(str(cert))) as ws:
        await ws.send(json.dumps({"type": "hello", "role": "observer", "client": "listener"}))
        readings = 0
        async with asyncio.timeout(3):  # the server pings every 5 s; readings come at 20 Hz
            while readings < 20:
                if json.loads(await ws.recv())["type"] == "reading":
                    readings += 1


async def test_untrusted_certificate_is_refused_with_a_reason_that_says_what_to_do(make_bridge, certificate):
    cert, key = certificate
    bridge = await make_bridge(certfile=str(cert), keyfile=str(key))
    events = Seen()
    session = ClientSession(f"wss://127.0.0.1:{bridge.port}", events, ssl_context=ssl.create_default_context())
    session.start()
    try:
        detail = await wait_for(lambda: next((d for d in events.details if "not trusted" in d), None))
        assert "certificate file" in detail
    finally:
        await session.stop()


# -- the command a Pi owner runs --------------------------------------------------------------


def _start(tmp_path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "teleop_server", "--serial", "sim", "--host", "127.0.0.1", "--port", str(steady_port()), "-v", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run_briefly(tmp_path, *extra: str) -> tuple[str, str]:
    process = _start(tmp_path, *extra)
    try:
        out, err = process.communicate(timeout=1.5)
    except subprocess.TimeoutExpired:
        process.terminate()
        out, err = process.communicate(timeout=5)
    return out, err


def test_first_start_prints_the_token_once_with_an_address_and_never_logs_it(tmp_path):
    token_file = tmp_path / "pilot-token"
    out, err = _run_briefly(tmp_path, "--token-file", str(token_file))
    token = token_file.read_text().strip()
    assert f"#token={token}" in out, out
    assert "shown only this once" in out
    assert token not in err, "the log never carries the token"
    out, err = _run_briefly(tmp_path, "--token-file", str(token_file))
    assert token not in out + err
    assert str(token_file) in out


def test_no_auth_says_so_loudly(tmp_path):
    out, _ = _run_briefly(tmp_path, "--no-auth")
    assert "authentication is OFF" in out


def test_tls_key_without_certificate_is_refused_before_starting(tmp_path):
    process = _start(tmp_path, "--no-auth", "--keyfile", "robot.key")
    _, err = process.communicate(timeout=10)
    assert process.returncode == 2
    assert "both a certificate file and a key file" in err
