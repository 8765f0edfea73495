"""Serve the browser dashboard over HTTP on the WebSocket port.

Only the files listed in :data:`ASSETS` exist, read once into memory at start,
so there is no path to traverse and no disk access per request. Which
requests reach these files, and which go on to become WebSockets, is
:mod:`server.http`'s decision.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from http import HTTPStatus
from importlib import resources
from urllib.parse import parse_qs

from websockets.datastructures import Headers
from websockets.http11 import Response

from teleop_server.net.pilotqr import MAX_QR_TEXT, svg_qr

# url path -> (file in server/dashboard, content type, cache policy)
ASSETS: dict[str, tuple[str, str, str]] = {
    "/": ("index.html", "text/html; charset=utf-8", "no-cache"),
    "/index.html": ("index.html", "text/html; charset=utf-8", "no-cache"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8", "no-cache"),
    "/video.js": ("video.js", "text/javascript; charset=utf-8", "no-cache"),
    "/wire.js": ("wire.js", "text/javascript; charset=utf-8", "no-cache"),
    "/recording.js": ("recording.js", "text/javascript; charset=utf-8", "no-cache"),
    "/style.css": ("style.css", "text/css; charset=utf-8", "no-cache"),
    "/pilot": ("pilot.html", "text/html; charset=utf-8", "no-cache"),
    "/pilot.js": ("pilot.js", "text/javascript; charset=utf-8", "no-cache"),
    "/pilotcore.js": ("pilotcore.js", "text/javascript; charset=utf-8", "no-cache"),
    "/pilot.css": ("pilot.css", "text/css; charset=utf-8", "no-cache"),
    "/manifest.webmanifest": ("manifest.webmanifest", "application/manifest+json", "no-cache"),
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
    root = resources.files("teleop_server.dashboard")
    loaded: dict[str, Asset] = {}
    for path, (name, content_type, cache) in ASSETS.items():
        body = root.joinpath(name).read_bytes()
        loaded[path] = Asset(body, content_type, cache, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')
    return loaded


class StaticFiles:
    """The dashboard's files, answered from memory; :mod:`server.http` decides which requests get here."""

    def __init__(self) -> None:
        self.assets = load_assets()

    def response(self, path: str, headers: Headers, *, head: bool = False) -> Response:
        """GET (or HEAD: the same headers, no body) of ``path``, which may carry a query string."""
        path, _, query = path.partition("?")
        if path == "/qr.svg":
            return qr_response(query, head=head)
        asset = self.assets.get(path)
        if asset is None:
            return plain(HTTPStatus.NOT_FOUND, f"not found: {path[:100]}\n", head=head)
        out = Headers(
            {
                "Content-Type": asset.content_type,
                "Cache-Control": asset.cache,
                "ETag": asset.etag,
                **SECURITY_HEADERS,
            }
        )
        if headers.get_all("If-None-Match") == [asset.etag]:
            return Response(HTTPStatus.NOT_MODIFIED.value, "Not Modified", out, b"")
        out["Content-Length"] = str(len(asset.body))
        return Response(HTTPStatus.OK.value, "OK", out, b"" if head else asset.body)


def qr_response(query: str, *, head: bool = False) -> Response:
    """``/qr.svg?text=...``: a QR code of the text the page asks for (the dashboard's pilot address).

    Nothing is looked up or checked: the page already holds what it asks to draw, so this
    is no token oracle, and the answer is never cached anywhere.
    """
    texts = parse_qs(query).get("text") or [""]
    text = texts[0]
    if not text or len(text) > MAX_QR_TEXT:
        return plain(HTTPStatus.BAD_REQUEST, f"qr.svg needs ?text= of 1 to {MAX_QR_TEXT} characters\n", head=head)
    body = svg_qr(text)
    headers = Headers({"Content-Type": "image/svg+xml", "Cache-Control": "no-store", "Content-Length": str(len(body)), **SECURITY_HEADERS})
    return Response(HTTPStatus.OK.value, "OK", headers, b"" if head else body)


def plain(status: HTTPStatus, text: str, *, head: bool = False, extra: dict[str, str] | None = None) -> Response:
    """A short text/plain answer (errors, refusals); HEAD gets its headers without the body."""
    body = text.encode()
    headers = Headers({"Content-Type": "text/plain; charset=utf-8", "Content-Length": str(len(body)), **SECURITY_HEADERS, **(extra or {})})
    return Response(status.value, status.phrase, headers, b"" if head else body)
