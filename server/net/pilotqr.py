"""The pilot page's address as a QR code: scanned with a phone, it opens /pilot ready to drive.

The token travels in the address's fragment (``#token=...``), which a browser
never sends to any server; the page reads it and hands it over only in its
WebSocket hello. Drawn with segno (pure Python, no dependencies).
"""

from __future__ import annotations

import io

import segno

#: Longer text makes a code too dense to scan from a screen; an address with a token is about 80 characters.
MAX_QR_TEXT = 300


def pilot_url(*, tls: bool, host: str, port: int, token: str | None) -> str:
    """The pilot page's address as a phone on the network opens it."""
    base = f"{'https' if tls else 'http'}://{host}:{port}/pilot"
    return f"{base}#token={token}" if token else base


def terminal_qr(text: str) -> str:
    """The code in block characters, two rows of modules per line (light on dark, as terminals are)."""
    out = io.StringIO()
    segno.make(text, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue()


def svg_qr(text: str) -> bytes:
    """The code as a small SVG (for the dashboard and the pilot page)."""
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="svg", scale=5, border=2, dark="#10171f", light="#ffffff", xmldecl=False)
    return out.getvalue()
