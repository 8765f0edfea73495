"""The pilot page's address as a QR code: scanned with a phone, it opens /pilot ready to drive.

The address itself (the token in its fragment, ``#token=...``) is the wire's
rule, :func:`teleop.wire.pilot.pilot_url`, which the desktop app shares.
Drawn with segno (pure Python, no dependencies).
"""

from __future__ import annotations

import io

import segno

#: Longer text makes a code too dense to scan from a screen; an address with a token is about 80 characters.
MAX_QR_TEXT = 300


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
