"""Every HTTP request the server gets, WebSocket upgrades included, is checked here first.

* **Host**: only names this robot really has are served: IP literals,
  ``localhost``, the machine's hostname and ``hostname.local``, plus each
  ``--allow-host``. A page on a DNS-rebinding domain (``evil.example`` made to
  resolve to the robot) sends ``Host: evil.example``, matching its own
  ``Origin``, so the same-origin check alone would let it in.
* **Origin** (WebSocket only): a browser page may connect if it is the
  dashboard served here, or its origin was allowed with ``--allow-origin``
  (``null`` for a page opened from a file, as the hobby page is). Clients
  that send no ``Origin`` (the desktop app, scripts) are not browsers and
  pass.
* **HTTP**: ``GET`` and ``HEAD`` (same headers, no body) are served; other
  methods get 405 with ``Allow``; a repeated or malformed header that decides
  the upgrade gets 400, never a 500.

:class:`HostCheck` and :func:`check_request` are sans-I/O (a request in, a
refusal or None out); :class:`RequestGate` is websockets' ``process_request``.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from teleop_server.net.static import StaticFiles, plain
from teleop_server.rules.admission import PerPeerOnce

log = logging.getLogger("teleop.server")

ALLOWED_METHODS = ("GET", "HEAD")
#: Headers that decide whether and how the connection upgrades: one of each, or the request is ambiguous.
SINGLE_HEADERS = ("Host", "Origin", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+(/[!#$%&'*+.^_`|~0-9A-Za-z-]+)?$")


def host_name(host_header: str) -> str | None:
    """The name or address in a ``Host`` header, lower-case, without port or trailing dot; None if malformed."""
    host_header = host_header.strip()
    if not host_header:
        return None
    try:
        name = urlsplit(f"http://{host_header}").hostname
    except ValueError:
        return None
    if not name:
        return None
    return name.rstrip(".").lower()


def is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def own_names(extra: Iterable[str] = ()) -> frozenset[str]:
    """The names this machine answers to: localhost, its hostname, hostname.local, and ``extra``."""
    names = {"localhost"}
    hostname = socket.gethostname().lower().rstrip(".")
    if hostname:
        short = hostname.split(".", 1)[0]
        names |= {hostname, short, f"{short}.local"}
    names |= {n.lower().rstrip(".") for n in extra if n}
    return frozenset(names)


@dataclass(frozen=True)
class HostCheck:
    """Which ``Host`` names are this robot's: IP literals always, names only if listed."""

    names: frozenset[str]

    def allows(self, host_header: str | None) -> bool:
        if host_header is None:
            return False
        name = host_name(host_header)
        return name is not None and (is_ip_literal(name) or name in self.names)


def normalise_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def same_origin(origin: str, host: str, tls: bool) -> bool:
    """True if a page at ``origin`` is this server's dashboard, reached as ``host`` (the Host header)."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return False
    scheme = "https" if tls else "http"
    if parts.scheme != scheme or not parts.hostname:
        return False
    try:
        wanted = urlsplit(f"{scheme}://{host}")
        wanted_port = wanted.port
    except ValueError:
        return False
    default = 443 if tls else 80
    return parts.hostname == wanted.hostname and (port or default) == (wanted_port or default)


@dataclass(frozen=True)
class Refusal:
    status: HTTPStatus
    text: str
    #: what the log line is about, logged once per peer and kind
    kind: str = ""
    allow: bool = False  # add an Allow header (405)


def wants_websocket(headers: Headers) -> bool:
    return any("websocket" in value.lower() for value in headers.get_all("Upgrade"))


def check_request(request: Request, hosts: HostCheck, origins: frozenset[str], tls: bool) -> Refusal | None:
    """Why ``request`` must be refused, or None if it may be served (or upgraded). Never raises."""
    headers = request.headers
    for name in SINGLE_HEADERS:
        if len(headers.get_all(name)) > 1:
            return Refusal(HTTPStatus.BAD_REQUEST, f"bad request: more than one {name} header\n", "malformed")
    upgrades = headers.get_all("Upgrade")
    if upgrades:
        protocols = [p.strip() for p in upgrades[0].split(",")]
        if not all(_TOKEN.match(p) for p in protocols):
            return Refusal(HTTPStatus.BAD_REQUEST, "bad request: malformed Upgrade header\n", "malformed")
    host = headers.get("Host")
    if host is None:
        return Refusal(HTTPStatus.BAD_REQUEST, "bad request: no Host header\n", "malformed")
    if not hosts.allows(host):
        shown = host[:100]
        return Refusal(
            HTTPStatus.FORBIDDEN,
            f"refused: {shown!r} is not a name of this robot. If it is one, start teleop-server with "
            f"--allow-host {host_name(host) or shown} (or list it in allow_hosts under [server] in the config file). "
            "Requests for other names are refused because a web page can point any name at this robot (DNS rebinding).\n",
            "host",
        )
    if request.method not in ALLOWED_METHODS:
        return Refusal(HTTPStatus.METHOD_NOT_ALLOWED, f"method {request.method[:20]} not allowed: use GET or HEAD\n", "", allow=True)
    if upgrades and wants_websocket(headers):
        if request.method != "GET":
            return Refusal(HTTPStatus.BAD_REQUEST, "bad request: a WebSocket upgrade must be a GET\n", "malformed")
        origin = headers.get("Origin")
        if origin is not None and not (same_origin(origin, host, tls) or normalise_origin(origin) in origins):
            shown = origin[:100]
            return Refusal(
                HTTPStatus.FORBIDDEN,
                f"WebSocket refused: a page from {shown} may not connect. Open the dashboard on this server, or start "
                f"teleop-server with --allow-origin {shown} (a page opened from a file sends Origin null: --allow-origin null; "
                "or list it in allow_origins under [server] in the config file).\n",
                "origin",
            )
    return None


class RequestGate:
    """websockets' ``process_request``: refuse with a reason, serve a dashboard file, or let the upgrade proceed."""

    def __init__(self, *, tls: bool, allow_hosts: Iterable[str] = (), allow_origins: Iterable[str] = ()) -> None:
        self.tls = tls
        self.files = StaticFiles()
        self.hosts = HostCheck(own_names(allow_hosts))
        self.origins = frozenset(normalise_origin(o) for o in allow_origins)
        self._logged: dict[str, PerPeerOnce] = {}

    def __call__(self, connection: ServerConnection, request: Request) -> Response | None:
        head = request.method == "HEAD"
        refusal = check_request(request, self.hosts, self.origins, self.tls)
        if refusal is None:
            if wants_websocket(request.headers):
                return None  # websockets completes (or refuses) the handshake
            return self.files.response(request.path, request.headers, head=head)
        if refusal.kind:
            self.log_refusal(connection, refusal)
        extra = {"Allow": ", ".join(ALLOWED_METHODS)} if refusal.allow else None
        return plain(refusal.status, refusal.text, head=head, extra=extra)

    def log_refusal(self, connection: ServerConnection, refusal: Refusal) -> None:
        peer = connection.remote_address[0] if connection.remote_address else "?"
        once = self._logged.setdefault(refusal.kind, PerPeerOnce())
        if once.first(str(peer)):
            log.warning("refused an HTTP request from %s (logged once per address): %s", peer, refusal.text.strip())
