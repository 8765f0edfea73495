"""Text a device or a peer sent, made safe to show in a log line or to a client.

How often such text is shown is the throttle family's business
(:mod:`teleop.common.throttle`: :class:`~teleop.common.throttle.Notice` says a
repeated thing once per interval, with how often it happened meanwhile, and
:class:`~teleop.common.throttle.EventPace` paces a device's events).
"""

from __future__ import annotations


def printable(text: str, limit: int = 160) -> str:
    """Device or peer text made safe for a log line or a client: control characters escaped, length capped.

    A sketch printing escape codes or carriage returns must not be able to
    rewrite a terminal or forge log lines.
    """
    out = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text[: limit + 1])
    return out if len(out) <= limit else out[: limit - 1] + "…"
