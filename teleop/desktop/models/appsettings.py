"""The desktop app's settings as plain data, with validation that says what is wrong.

Qt-free: the GUI persists :class:`AppSettings` in ``QSettings`` as JSON via
:meth:`to_json` / :meth:`from_json`, and the dialog calls the ``check_*``
functions as the user types.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from teleop.desktop.models.drive import MAX_RATE_HZ
from teleop.desktop.models.profiles import PadProfile, ProfileError
from teleop.desktop.models.shaping import AxisShape

#: At most this many pad profiles are kept (oldest dropped): a lab's drawer of pads, not a database.
MAX_PAD_PROFILES = 64

DEFAULT_PORT = 8765
_HOSTNAME = re.compile(r"(?=.{1,253}\Z)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?\Z")


def config_dir() -> Path:
    """Where the app keeps files beside its settings (a user's ``gamecontrollerdb.txt``).

    The folder Qt's ``QSettings("teleop", "teleop")`` uses on each system, found
    without Qt: ``$XDG_CONFIG_HOME/teleop`` (``~/.config/teleop``) on Linux,
    ``%APPDATA%\\teleop`` on Windows, ``~/Library/Preferences/teleop`` on macOS.
    """
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming") / "teleop"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Preferences" / "teleop"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "teleop"


def check_host(host: str) -> str | None:
    """None if ``host`` is a usable address, else why not."""
    host = host.strip()
    if not host:
        return "enter the robot's address, e.g. 192.168.1.9 or raspberrypi.local"
    if "://" in host or "/" in host:
        return "enter just the host name or IP address, without ws:// or a path"
    if ":" in host and not host.startswith("["):
        try:
            ipaddress.IPv6Address(host)
            return None
        except ValueError:
            return "put the port in the Port field, not after the address"
    try:
        ipaddress.ip_address(host.strip("[]"))
        return None
    except ValueError:
        pass
    if re.fullmatch(r"[0-9.]+", host):
        return f"{host} is not a valid IPv4 address"
    if not _HOSTNAME.match(host):
        return f"{host!r} is not a valid host name (letters, digits, '-' and '.')"
    return None


def check_port(port: int) -> str | None:
    return None if 1 <= port <= 65535 else "the port must be between 1 and 65535"


def check_rate(rate: float) -> str | None:
    return None if 1 <= rate <= MAX_RATE_HZ else f"the send rate must be between 1 and {MAX_RATE_HZ:.0f} Hz"


@dataclass(frozen=True)
class ServerAddress:
    """Where a server is and how to reach it, as teleop-server prints it: ``ws://host:port/#token=...``."""

    host: str
    port: int = DEFAULT_PORT
    tls: bool | None = None  # None: not said (a bare host:port), keep the current choice
    token: str = ""


def parse_address(text: str, default_port: int = DEFAULT_PORT) -> ServerAddress | str:
    """A pasted address (``host``, ``host:port`` or a full ``ws[s]://host:port/#token=...``), or why not."""
    text = text.strip()
    if "://" not in text:
        host, port_text = text, ""
        if text.count(":") == 1:
            host, _, port_text = text.partition(":")
        host = host.strip()
        if port_text and not port_text.isdigit():
            return f"{port_text!r} is not a port number"
        port = int(port_text) if port_text else default_port
        return check_host(host) or check_port(port) or ServerAddress(host, port)
    try:
        parts = urlsplit(text)
        url_port = parts.port
    except ValueError as exc:
        return f"not a valid address: {exc}"
    if parts.scheme not in ("ws", "wss"):
        return f"the address must start with ws:// or wss://, not {parts.scheme}://"
    host = parts.hostname or ""
    token = (parse_qs(parts.fragment).get("token") or parse_qs(parts.query).get("token") or [""])[0]
    port = url_port or default_port
    return check_host(host) or check_port(port) or ServerAddress(host, port, parts.scheme == "wss", token)


def server_url(host: str, port: int, tls: bool = False) -> str:
    host = host.strip()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{'wss' if tls else 'ws'}://{host}:{port}"


#: the longest stale-pad time offered: past a minute the guard protects nothing
MAX_STALE_PAD_S = 60.0


@dataclass(frozen=True)
class BrokerSettings:
    """The fleet broker whose robots join the robot list (docs/fleet.md); no ``url``: no fleet list."""

    url: str = ""
    username: str = ""
    #: kept like the pilot tokens: in this user's settings file, nowhere else
    password: str = ""
    #: the CA that signed the broker's certificate, for mqtts:// with a private CA
    cafile: str = ""

    @classmethod
    def from_dict(cls, data: object) -> BrokerSettings:
        if not isinstance(data, dict):
            return cls()
        return cls(**{name: data[name] for name in ("url", "username", "password", "cafile") if isinstance(data.get(name), str)})


@dataclass
class AppSettings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    tls: bool = False
    token: str = ""
    #: a certificate file (PEM) to trust for wss://, for a robot with a self-signed certificate
    cafile: str = ""
    recent: list[str] = field(default_factory=list)
    #: pilot tokens of the servers in ``recent``, keyed like them ("host:port")
    tokens: dict[str, str] = field(default_factory=dict)
    rate_hz: float = 50.0
    gamepad: str = ""  # GUID of the preferred gamepad; empty = first one found
    axes: dict[int, AxisShape] = field(default_factory=dict)
    plot: list[str] = field(default_factory=lambda: ["A0", "A1", "O0", "disp"])
    keyboard_driving: bool = True
    #: per-pad profiles (shaping, calibration, layout, hold-to-drive button) by SDL GUID
    pads: dict[str, PadProfile] = field(default_factory=dict)
    #: a short rumble on pads that can when failsafe or the e-stop trips or the link drops
    rumble: bool = True
    #: seconds a driving pad's state may sit unchanged before it is no longer re-sent (0: never; see padhealth)
    stale_pad_s: float = 5.0
    fleet: BrokerSettings = field(default_factory=BrokerSettings)

    def profile(self, guid: str) -> PadProfile | None:
        return self.pads.get(guid)

    def set_profile(self, profile: PadProfile) -> None:
        """Store (or replace) a pad's profile; the newest stays, past :data:`MAX_PAD_PROFILES` the oldest goes."""
        self.pads.pop(profile.guid, None)
        self.pads[profile.guid] = profile
        while len(self.pads) > MAX_PAD_PROFILES:
            self.pads.pop(next(iter(self.pads)))

    def axis(self, index: int) -> AxisShape:
        return self.axes.get(index, AxisShape())

    def shapes(self) -> dict[int, AxisShape]:
        return dict(self.axes)

    def remember_server(self) -> None:
        """Put the current server first in ``recent``, its token beside it."""
        entry = f"{self.host}:{self.port}"
        self.recent = [entry, *[r for r in self.recent if r != entry]][:8]
        if self.token:
            self.tokens[entry] = self.token
        else:
            self.tokens.pop(entry, None)
        self.tokens = {k: v for k, v in self.tokens.items() if k in self.recent}

    def use_server(self, address: ServerAddress) -> None:
        """Switch to ``address``; without a token of its own it gets the one stored for that server."""
        self.host, self.port = address.host, address.port
        if address.tls is not None:
            self.tls = address.tls
        self.token = address.token or self.tokens.get(f"{address.host}:{address.port}", "")

    def problems(self) -> list[str]:
        return [p for p in (check_host(self.host), check_port(self.port), check_rate(self.rate_hz)) if p]

    def to_json(self) -> str:
        data = asdict(self)
        data["axes"] = {str(k): v.to_dict() for k, v in self.axes.items()}
        data["pads"] = {k: v.to_dict() for k, v in self.pads.items()}
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str | None) -> AppSettings:
        """Settings from stored JSON; anything unreadable falls back to the default for that field."""
        settings = cls()
        if not text:
            return settings
        try:
            data: dict[str, Any] = json.loads(text)
        except ValueError:
            return settings
        if not isinstance(data, dict):
            return settings
        for name in ("host", "token", "gamepad", "cafile"):
            if isinstance(data.get(name), str):
                setattr(settings, name, data[name])
        if isinstance(data.get("port"), int) and not check_port(data["port"]):
            settings.port = data["port"]
        if isinstance(data.get("rate_hz"), (int, float)) and not check_rate(data["rate_hz"]):
            settings.rate_hz = float(data["rate_hz"])
        for name in ("tls", "keyboard_driving", "rumble"):
            if isinstance(data.get(name), bool):
                setattr(settings, name, data[name])
        stale = data.get("stale_pad_s")
        if isinstance(stale, (int, float)) and not isinstance(stale, bool) and 0 <= stale <= MAX_STALE_PAD_S:
            settings.stale_pad_s = float(stale)
        for name in ("recent", "plot"):
            if isinstance(data.get(name), list):
                setattr(settings, name, [str(v) for v in data[name]][:32])
        if isinstance(data.get("tokens"), dict):
            settings.tokens = {str(k): v for k, v in data["tokens"].items() if isinstance(v, str)}
        settings.fleet = BrokerSettings.from_dict(data.get("fleet"))
        axes = data.get("axes")
        if isinstance(axes, dict):
            for key, value in axes.items():
                try:
                    settings.axes[int(key)] = AxisShape.from_dict(value)
                except (TypeError, ValueError, AttributeError):
                    continue
        pads = data.get("pads")
        if isinstance(pads, dict):
            for value in list(pads.values())[-MAX_PAD_PROFILES:]:
                try:
                    profile = PadProfile.from_dict(value)
                except ProfileError:
                    continue  # one damaged profile loses only itself
                settings.pads[profile.guid] = profile
        return settings


def unreadable_part(text: str | None) -> str | None:
    """Why stored settings cannot be read in full, in words (None: they can).

    :meth:`AppSettings.from_json` never fails: what it cannot read falls back to the
    default. The app asks this first so that it can keep a copy of the stored text
    (pad profiles, tokens, recent servers) before the next save writes over it.
    """
    if not text:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return f"it is not JSON ({exc})"
    if not isinstance(data, dict):
        return "it is not a JSON object"
    pads = data.get("pads", {})
    if not isinstance(pads, dict):
        return "its pad profiles are not a JSON object"
    damaged = []
    for key, value in pads.items():
        try:
            PadProfile.from_dict(value)
        except ProfileError as exc:
            damaged.append(f"{str(key)[:40]}: {exc}")
    if damaged:
        return f"{len(damaged)} pad profile(s) are damaged ({damaged[0]})"
    return None
