"""Where the browser pilot page lives, as both ends write its address.

The server serves the page over HTTP(S) on the same port as its WebSocket, at
:data:`PILOT_PATH`. The pilot token goes in the address's fragment
(``#token=...``): a browser never sends the fragment to any server, and the page
hands the token over only in its WebSocket hello. The server prints this address
(and a QR code of it); the desktop app shows the same code for the robot it is
connected to.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

PILOT_PATH = "/pilot"


def pilot_url(*, tls: bool, host: str, port: int, token: str | None) -> str:
    """The pilot page's address on ``host:port``; with a token, ready to drive."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    base = f"{'https' if tls else 'http'}://{host}:{port}{PILOT_PATH}"
    # the page reads the fragment with URLSearchParams, which decodes %XX (and would read a bare "+" as a space)
    return f"{base}#token={quote(token, safe='-._~')}" if token else base


def pilot_url_for_server(server_url: str, token: str | None) -> str | None:
    """The pilot page of the server a client reaches at ``ws[s]://host:port``, or None for anything else."""
    try:
        parts = urlsplit(server_url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("ws", "wss") or not parts.hostname or port is None:
        return None
    return pilot_url(tls=parts.scheme == "wss", host=parts.hostname, port=port, token=token)
