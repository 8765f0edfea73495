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

from websockets.datastructures import Headers
from websockets.http11 import Response

# url path -> (file in server/dashboard, content type, cache policy)
ASSETS: dict[str, tuple[str, str, str]] = {
    "/": ("index.html", "text/html; charset=utf-8", "no-cache"),
    "/index.html": ("index.html", "text/html; charset=utf-8", "no-cache"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8", "no-cache"),
    "/video.js": ("video.js", "text/javascript; charset=utf-8", "no-cache"),
    "/recording.js": ("recording.js", "text/javascript; charset=utf-8", "no-cache"),
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
        path = path.split("?", 1)[0]
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


def plain(status: HTTPStatus, text: str, *, head: bool = False, extra: dict[str, str] | None = None) -> Response:
    """A short text/plain answer (errors, refusals); HEAD gets its headers without the body."""
    body = text.encode()
    headers = Headers({"Content-Type": "text/plain; charset=utf-8", "Content-Length": str(len(body)), **SECURITY_HEADERS, **(extra or {})})
    return Response(status.value, status.phrase, headers, b"" if head else body)
