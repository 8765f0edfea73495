"""Serve the browser dashboard over HTTP on the WebSocket port.

Only the files listed in :data:`ASSETS` exist, read once into memory at start,
so there is no path to traverse and no disk access per request. A request
carrying a WebSocket upgrade passes through, which keeps ``/`` working for the
hobby clients that open ``ws://robot:8765/``, unless a browser sent it from a
page of another site: browsers let any page open a WebSocket anywhere, so
only the dashboard's own origin (or no Origin header: the desktop app,
scripts) is let in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from http import HTTPStatus
from importlib import resources
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

# url path -> (file in server/dashboard, content type, cache policy)
ASSETS: dict[str, tuple[str, str, str]] = {
    "/": ("index.html", "text/html; charset=utf-8", "no-cache"),
    "/index.html": ("index.html", "text/html; charset=utf-8", "no-cache"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8", "no-cache"),
    "/style.css": ("style.css", "text/css; charset=utf-8", "no-cache"),
    "/icon.svg": ("icon.svg", "image/svg+xml", "public, max-age=86400"),
    "/favicon.ico": ("icon.svg", "image/svg+xml", "public, max-age=86400"),
    "/vendor/uPlot.iife.min.js": ("vendor/uPlot.iife.min.js", "text/javascript; charset=utf-8", "public, max-age=604800, immutable"),
    "/vendor/uPlot.min.css": ("vendor/uPlot.min.css", "text/css; charset=utf-8", "public, max-age=604800, immutable"),
    "/vendor/LICENSE-uPlot.txt": ("vendor/LICENSE-uPlot.txt", "text/plain; charset=utf-8", "public, max-age=86400"),
}

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # everything comes from the robot itself; the page connects back to the same host
    "Content-Security-Policy": "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    cache: str
    etag: str


def load_assets() -> dict[str, Asset]:
    root = resources.files("server.dashboard")
    loaded: dict[str, Asset] = {}
    for path, (name, content_type, cache) in ASSETS.items():
        body = root.joinpath(name).read_bytes()
        loaded[path] = Asset(body, content_type, cache, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')
    return loaded


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


class StaticFiles:
    def __init__(self, *, tls: bool = False) -> None:
        self.assets = load_assets()
        self.tls = tls

    def __call__(self, connection: ServerConnection, request: Request) -> Response | None:
        """websockets' ``process_request`` hook."""
        if "websocket" in request.headers.get("Upgrade", "").lower():
            origin = request.headers.get("Origin")
            if origin is None or same_origin(origin, request.headers.get("Host", ""), self.tls):
                return None  # the dashboard itself, or a client that is not a browser: proceed
            return self._plain(
                HTTPStatus.FORBIDDEN,
                f"WebSocket refused: a page from {origin[:100]} may not connect; open the dashboard on this server instead\n",
            )
        path = request.path.split("?", 1)[0]
        asset = self.assets.get(path)
        if asset is None:
            return self._plain(HTTPStatus.NOT_FOUND, f"not found: {path[:100]}\n")
        headers = Headers(
            {
                "Content-Type": asset.content_type,
                "Cache-Control": asset.cache,
                "ETag": asset.etag,
                **SECURITY_HEADERS,
            }
        )
        if request.headers.get("If-None-Match") == asset.etag:
            return Response(HTTPStatus.NOT_MODIFIED.value, "Not Modified", headers, b"")
        headers["Content-Length"] = str(len(asset.body))
        return Response(HTTPStatus.OK.value, "OK", headers, asset.body)

    @staticmethod
    def _plain(status: HTTPStatus, text: str) -> Response:
        body = text.encode()
        headers = Headers({"Content-Type": "text/plain; charset=utf-8", "Content-Length": str(len(body)), **SECURITY_HEADERS})
        return Response(status.value, status.phrase, headers, body)
