"""Attacks from the network side, against ``teleop-server`` in its own process: the pilot gets in every time.

Attackers connect from other loopback addresses (127.0.0.2 and up: all of
127/8 is loopback on Linux), so per-address rules can tell them from the pilot
on 127.0.0.1. Every count and time is bounded; nothing leaves loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import urllib.request
from pathlib import Path

import pytest
from guitools import ARTIFACTS, ServerProcess
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from teleop.desktop.net.client import trust_context
from teleop_server.rules.admission import FIRST_CHANCE

pytestmark = pytest.mark.timeout(90)


def attacker(n: int) -> tuple[str, int]:
    """Source address of attacker ``n``: 127.0.0.2, 127.0.0.3, ..."""
    return (f"127.0.0.{2 + n}", 0)


FIGURES: dict[str, list[float]] = {}


async def pilot_gets_in(server: ServerProcess, timeout: float = 3.0, figure: str = "", request_after: float = 0.0) -> bool:
    """The owner's app connecting as pilot with the token: True if it is welcomed as pilot.

    With ``request_after``, its request follows its connection by that many seconds, as when the
    packet carrying it was lost and resent, or a browser opened the connection ahead of the request.
    With ``figure``, the time from connect (or from the request, if later) to welcome is recorded under that name.
    """
    sock = None
    try:
        async with asyncio.timeout(timeout + request_after):
            if request_after:
                sock = socket.socket()
                sock.setblocking(False)
                sock.bind(("127.0.0.1", 0))
                await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
                await asyncio.sleep(request_after)
            start = time.monotonic()
            address = {"sock": sock} if sock is not None else {"local_addr": ("127.0.0.1", 0)}
            async with connect(server.url, open_timeout=timeout, **address) as ws:
                await ws.send(json.dumps({"type": "hello", "role": "pilot", "client": "owner", "token": server.token}))
                welcome = json.loads(await ws.recv())
                ok = welcome.get("type") == "welcome" and welcome.get("role") == "pilot"
    except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake):  # refused, or closed before the server answered
        return False
    finally:
        if sock is not None:
            sock.close()  # the connection's, if it took it (closing twice is harmless); ours, if it never did
    if ok and figure:
        record(figure, (time.monotonic() - start) * 1000)
    return ok


def record(name: str, value: float) -> None:
    """A figure for the README, appended to tests/artifacts/attack-figures.jsonl."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open(ARTIFACTS / "attack-figures.jsonl", "a") as f:
        f.write(json.dumps({"figure": name, "value": round(value, 1), "at": time.time()}) + "\n")
    print(f"{name}: {value:.1f}")


def stop_and_read_log(server: ServerProcess) -> list[str]:
    return server.stop().splitlines()


# -- seats ---------------------------------------------------------------------------------


async def test_64_idle_observers_do_not_lock_the_pilot_out(servers):
    server = servers()
    crowd = []
    try:
        for i in range(72):  # 64 seats, 16 per address; the last 8 are refused
            with contextlib.suppress(InvalidStatus, OSError, ConnectionClosed):
                ws = await connect(server.url, local_addr=attacker(i % 5))
                await ws.send(json.dumps({"type": "hello", "role": "observer", "client": f"idle-{i}"}))
                crowd.append(ws)
        await asyncio.sleep(0.2)
        refused = 0
        for ws in crowd:
            with contextlib.suppress(asyncio.TimeoutError, ConnectionClosed):
                async with asyncio.timeout(0.02):
                    while True:
                        await ws.recv()
            refused += ws.close_code == 1013
        for attempt in range(3):
            assert await pilot_gets_in(server, figure="observer flood: pilot connect to welcome, ms"), (
                f"pilot locked out on attempt {attempt + 1}"
            )
        assert refused >= 8, "the server really was full"
    finally:
        await asyncio.gather(*(ws.close() for ws in crowd), return_exceptions=True)


async def test_a_no_hello_reconnect_storm_does_not_keep_the_pilot_out(servers):
    server = servers(["--observers", "token"])
    stop = asyncio.Event()
    connections = 0

    async def storm(n: int) -> None:
        nonlocal connections
        while not stop.is_set():
            try:
                async with connect(server.url, open_timeout=3, local_addr=attacker(n % 4)) as ws:
                    connections += 1
                    await ws.wait_closed()  # never says hello; reconnects as soon as it is closed
            except (OSError, TimeoutError, InvalidStatus, ConnectionClosed):
                await asyncio.sleep(0.01)

    attackers = [asyncio.create_task(storm(n)) for n in range(100)]
    try:
        await asyncio.sleep(1.0)
        results = [await pilot_gets_in(server, figure="no-hello storm: pilot connect to welcome, ms") for _ in range(5)]
        assert results == [True] * 5, f"pilot got in {sum(results)} times in 5 during the storm"
        assert connections >= 100, "the storm was really on"
        record("no-hello storm: attacker connections in the run", connections)
    finally:
        stop.set()
        for task in attackers:
            task.cancel()
        await asyncio.gather(*attackers, return_exceptions=True)
    log = stop_and_read_log(server)
    record("no-hello storm: server log lines", len(log))
    assert len(log) < 100, f"{len(log)} log lines for one storm: the log is flooded"


async def test_slowloris_beyond_the_file_limit_does_not_keep_the_pilot_out(servers):
    server = servers(file_limit=256)
    held: list[asyncio.StreamWriter] = []

    async def linger(n: int) -> None:
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(3):  # a server that stopped accepting leaves the SYN unanswered
                _, writer = await asyncio.open_connection("127.0.0.1", server.port, local_addr=attacker(n % 40))
            writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line that ends it
            held.append(writer)

    try:
        await asyncio.gather(*(linger(n) for n in range(400)))
        assert len(held) >= 300, "the attack really held more sockets than the server may open"
        await asyncio.sleep(0.3)
        record("slowloris: sockets held against a 256-file limit", len(held))
        results = [await pilot_gets_in(server, figure="slowloris: pilot connect to welcome, ms") for _ in range(4)]
        assert results == [True] * 4, f"pilot got in {sum(results)} times in 4"
    finally:
        for writer in held:
            writer.transport.abort()
    log = stop_and_read_log(server)
    record("slowloris: server log lines", len(log))
    assert not any("Traceback" in line for line in log), "\n".join(log[:40])
    assert len(log) < 60, f"{len(log)} log lines: the log is flooded"


async def test_token_guessing_locks_out_the_guessers_address_and_not_the_pilots(servers):
    server = servers()
    guesses = 0
    for _ in range(4):  # five guesses per connection, then it is closed
        with contextlib.suppress(ConnectionClosed, OSError):
            async with connect(server.url, local_addr=attacker(0)) as ws:
                await ws.send(json.dumps({"type": "hello", "role": "observer", "client": "guesser"}))
                await ws.recv()
                for _ in range(5):
                    await ws.send(json.dumps({"type": "request_control", "token": f"guess-{guesses:012d}"}))
                    guesses += 1
                await ws.wait_closed()
    # locked out now: not even the right token is checked from that address
    async with connect(server.url, local_addr=attacker(0)) as ws:
        await ws.send(json.dumps({"type": "hello", "role": "pilot", "client": "guesser", "token": server.token}))
        error = json.loads(await ws.recv())
        assert error["code"] == "unauthorized" and "from your address" in error["message"]
        await ws.wait_closed()
        assert ws.close_code == 1008
    assert await pilot_gets_in(server), "the pilot on another address is not affected"
    log = stop_and_read_log(server)
    per_guess = [line for line in log if "wrong pilot token" in line and "asked to drive" in line]
    assert 1 <= len(per_guess) <= 5, f"{len(per_guess)} lines for {guesses} guesses"


# -- DNS rebinding and browser origins ---------------------------------------------------------


def raw_http(port: int, request: bytes, source: str = "127.0.0.1") -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as is; return the status, headers and whatever body came before the server closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0)) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if status != 101:
            sock.settimeout(2)
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                body += chunk
        return status, headers, body


def upgrade(host: str, *extra: str) -> bytes:
    lines = [
        "GET / HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_a_dns_rebinding_page_cannot_drive_even_with_no_auth(servers):
    server = servers(["--no-auth"])
    evil = f"evil.example:{server.port}"
    for _ in range(3):
        status, _, body = raw_http(server.port, upgrade(evil, f"Origin: http://{evil}"))
        assert status == 403 and b"--allow-host evil.example" in body
    status, _, body = raw_http(server.port, f"GET / HTTP/1.1\r\nHost: {evil}\r\n\r\n".encode())
    assert status == 403, "the dashboard page is not served under that name either"
    status, _, _ = raw_http(server.port, upgrade(f"127.0.0.1:{server.port}"))
    assert status == 101, "the robot's own address still works"
    status, _, _ = raw_http(server.port, upgrade(f"localhost:{server.port}", f"Origin: http://localhost:{server.port}"))
    assert status == 101, "and so does its dashboard under localhost"
    log = stop_and_read_log(server)
    assert len([line for line in log if "evil.example" in line]) == 1, "one log line per peer"


def test_allow_host_lets_a_name_of_the_robot_through(servers):
    server = servers(["--no-auth", "--allow-host", "robot.lab"])
    status, _, _ = raw_http(server.port, upgrade(f"robot.lab:{server.port}", f"Origin: http://robot.lab:{server.port}"))
    assert status == 101


SEED_LIKE_PAGE = """<!doctype html>
<meta charset="utf-8"><title>readings</title>
<pre id="out"></pre>
<script>
  const out = document.getElementById("out");
  const socket = new WebSocket("ws://127.0.0.1:PORT/");
  socket.onopen = () => { out.textContent += "open\\n"; };
  socket.onmessage = (event) => { out.textContent += event.data + "\\n"; };
  socket.onclose = (event) => { out.textContent += "closed " + event.code + "\\n"; };
</script>
"""


def test_a_page_opened_from_a_file_gets_readings_with_allow_origin_null(servers, browser, tmp_path):
    refused = servers()
    allowed = servers(["--allow-origin", "null"])
    for server, wanted in ((refused, "closed 1006"), (allowed, '"type":"reading"')):
        page_file = Path(tmp_path) / f"page-{server.port}.html"
        page_file.write_text(SEED_LIKE_PAGE.replace("PORT", str(server.port)))
        page = browser.new_page()
        page.goto(page_file.as_uri())
        page.wait_for_selector(f"#out:has-text('{wanted}')", timeout=10_000)
        page.close()
    log = stop_and_read_log(refused)
    assert any("--allow-origin null" in line for line in log), "the refusal is logged with the option to use"


# -- HTTP hygiene ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "DELETE", "OPTIONS", "TRACE", "POST"])
def test_other_methods_get_405_with_allow(servers, method):
    server = servers()
    status, headers, body = raw_http(server.port, f"{method} / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n".encode())
    assert status == 405 and headers["allow"] == "GET, HEAD" and b"teleop dashboard" not in body


def test_head_gets_the_headers_without_a_body(servers):
    server = servers()
    status, headers, body = raw_http(server.port, b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status == 200 and int(headers["content-length"]) > 1000 and body == b""


@pytest.mark.parametrize(
    "extra",
    [
        ("Origin: http://127.0.0.1", "Origin: http://evil.example"),
        ("Upgrade: websocket",),  # a second one
        ("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",),
    ],
    ids=["two-origins", "two-upgrades", "two-keys"],
)
def test_duplicate_upgrade_headers_get_400_not_a_500(servers, extra):
    server = servers()
    status, _, body = raw_http(server.port, upgrade("127.0.0.1", *extra))
    assert status == 400 and b"more than one" in body
    log = stop_and_read_log(server)
    assert not any("Traceback" in line or "failed" in line for line in log), "\n".join(log)


def test_malformed_upgrade_header_gets_400(servers):
    server = servers()
    request = upgrade("127.0.0.1").replace(b"Upgrade: websocket", b"Upgrade: web socket")
    status, _, _ = raw_http(server.port, request)
    assert status == 400


def tls_server(servers, certificate, **options) -> ServerProcess:
    cert, key = certificate
    return servers(["--certfile", str(cert), "--keyfile", str(key)], **options)


async def pilot_gets_in_over_tls(server: ServerProcess, certificate, timeout: float = 3.0) -> bool:
    """The owner's app on wss:// with the robot's certificate trusted: True if it is welcomed as pilot."""
    try:
        async with asyncio.timeout(timeout):
            async with connect(
                f"wss://127.0.0.1:{server.port}", ssl=trust_context(str(certificate[0])), open_timeout=timeout, local_addr=("127.0.0.1", 0)
            ) as ws:
                await ws.send(json.dumps({"type": "hello", "role": "pilot", "client": "owner", "token": server.token}))
                welcome = json.loads(await ws.recv())
                return welcome.get("type") == "welcome" and welcome.get("role") == "pilot"
    except (OSError, TimeoutError, ConnectionClosed, InvalidStatus):
        return False


def test_plain_http_on_the_tls_port_is_answered_with_what_to_do_and_logged_once_per_address(servers, certificate):
    server = tls_server(servers, certificate)
    answers = []
    for source in ("127.0.0.2", "127.0.0.3"):
        for request in (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", upgrade("127.0.0.1")):
            for _ in range(5):
                answers.append(raw_http(server.port, request, source))
    assert {status for status, _, _ in answers} == {400}
    assert all(b"this port speaks TLS: use https:// or wss://" in body for _, _, body in answers), answers[0]
    # the same port still speaks TLS: a browser on https:// gets the dashboard
    page = urllib.request.urlopen(f"https://127.0.0.1:{server.port}/", context=trust_context(str(certificate[0])), timeout=5)
    assert page.status == 200
    log = stop_and_read_log(server)
    told = [line for line in log if "plain http:// or ws://" in line]
    assert len(told) == 2, "\n".join(log)
    assert any("127.0.0.2" in line for line in told) and any("127.0.0.3" in line for line in told), "\n".join(told)


async def test_tls_slowloris_counts_against_the_address_and_the_pilot_still_gets_in(servers, certificate):
    """Half-finished TLS handshakes (a ClientHello's first bytes, then silence) from many addresses, past the file limit."""
    server = tls_server(servers, certificate, file_limit=256)
    held: dict[int, list[socket.socket]] = {}

    def linger(n: int, address: tuple[str, int]) -> None:
        with contextlib.suppress(OSError):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=3, source_address=address)
            sock.sendall(b"\x16\x03\x01\x02\x00\x01")  # a TLS record header and the ClientHello's type: then nothing
            held.setdefault(n, []).append(sock)

    loud = 99
    try:
        for _ in range(40):  # one address opening far more than its share
            linger(loud, attacker(loud))
        await asyncio.sleep(FIRST_CHANCE + 0.2)  # they had their chance to finish the handshake
        linger(loud, attacker(loud))  # the address's next socket: the excess goes, the slowest first
        assert await pilot_gets_in_over_tls(server, certificate), "pilot locked out by one address"
        # the pilot's connection came after the attacker's: the server has decided on every one of them
        still_open = [sock for sock in held[loud][:40] if not closed_by_server(sock)]
        assert len(still_open) <= 16, f"{len(still_open)} of 40 half-finished handshakes past their first second are still held"
        for i in range(300):  # then many addresses, past the server's file limit
            linger(i % 20, attacker(i % 20))
        assert sum(len(held[n]) for n in range(20)) >= 280, "the attack really opened more sockets than the server may hold"
        results = [await pilot_gets_in_over_tls(server, certificate) for _ in range(4)]
        assert results == [True] * 4, f"pilot got in {sum(results)} times in 4"
    finally:
        for socks in held.values():
            for sock in socks:
                sock.close()
    log = stop_and_read_log(server)
    assert not any("Traceback" in line for line in log), "\n".join(log[:40])
    assert len(log) < 60, f"{len(log)} log lines: the log is flooded"


def closed_by_server(sock: socket.socket) -> bool:
    """True if the server has closed (or reset) ``sock``; never waits."""
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
