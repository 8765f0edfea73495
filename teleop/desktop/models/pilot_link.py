"""What the app's "Drive from a phone" code shows: the robot's pilot page, and what to tell the user about it.

Qt-free: the view (:mod:`teleop.desktop.gui.pilot_qr`) draws :attr:`PilotLink.url`
as a QR code and shows the notes beside it. The address rule itself is the
wire's (:func:`teleop.wire.pilot.pilot_url_for_server`), the same one
``teleop-server`` prints its own code with.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from teleop.wire.pilot import pilot_url_for_server

TOKEN_NOTE = (
    "This code contains the pilot token: anyone who scans it can drive the robot. "
    "Show it only to people you would let drive, and do not leave it on a shared screen."
)


@dataclass(frozen=True)
class PilotLink:
    """The code to show (``url``, None when there is none) and what the user should know about it."""

    url: str | None
    #: the address without the token, to read out or type by hand
    address: str = ""
    has_token: bool = False
    #: why there is no code, or "" when there is one
    problem: str = ""
    #: what the user must not miss (the token in the code, an address a phone cannot open), most important first
    warnings: list[str] = field(default_factory=list)
    #: what else helps (watching only, what plain http cannot do)
    hints: list[str] = field(default_factory=list)

    @property
    def notes(self) -> list[str]:
        return self.warnings + self.hints


def pilot_link(server_url: str | None, token: str | None) -> PilotLink:
    """The pilot page of the server this app is connected to (``ws[s]://host:port``) with the app's token."""
    if not server_url:
        return PilotLink(None, problem="Connect to a robot first: the code opens the pilot page of the robot this app is connected to.")
    url = pilot_url_for_server(server_url, token or None)
    if url is None:
        return PilotLink(None, problem=f"{server_url} is not an address a phone can open.")
    address = url.split("#", 1)[0]
    warnings, hints = [], []
    host = urlsplit(server_url).hostname or ""
    if only_this_computer(host):
        warnings.append(
            f"This app reaches the robot by {host}, which only this computer can open: a phone cannot. "
            "Connect by the robot's network address (teleop-server prints it) for a code a phone can use."
        )
    if token:
        warnings.append(TOKEN_NOTE)
    else:
        hints.append(
            "This app has no pilot token for this robot, so the code opens the page to watch only "
            "(a robot started with --no-auth can be driven without one)."
        )
    if not server_url.startswith("wss:"):
        hints.append(
            "Plain http: on the phone, touch and keys drive; a gamepad and keeping the screen on need HTTPS "
            "(start the robot with teleop-server --tls auto)."
        )
    return PilotLink(url, address=address, has_token=bool(token), warnings=warnings, hints=hints)


def only_this_computer(host: str) -> bool:
    """A loopback name or address: reachable from this computer only."""
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
