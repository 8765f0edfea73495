"""The desktop app's settings as plain data, with validation that says what is wrong.

Qt-free: the GUI persists :class:`AppSettings` in ``QSettings`` as JSON via
:meth:`to_json` / :meth:`from_json`, and the dialog calls the ``check_*``
functions as the user types.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from teleop.drive import MAX_RATE_HZ
from teleop.shaping import AxisCalibration, AxisShape

DEFAULT_PORT = 8765
_HOSTNAME = re.compile(r"(?=.{1,253}\Z)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?\Z")


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


def server_url(host: str, port: int, tls: bool = False) -> str:
    host = host.strip()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{'wss' if tls else 'ws'}://{host}:{port}"


@dataclass
class AxisSettings:
    deadzone: float = 0.05
    expo: float = 0.0
    invert: bool = False
    calibration: tuple[float, float, float] | None = None

    def shape(self) -> AxisShape:
        calibration = AxisCalibration(*self.calibration) if self.calibration else AxisCalibration()
        return AxisShape(self.deadzone, self.expo, self.invert, calibration)


@dataclass
class AppSettings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    tls: bool = False
    token: str = ""
    recent: list[str] = field(default_factory=list)
    rate_hz: float = 50.0
    gamepad: str = ""  # GUID of the preferred gamepad; empty = first one found
    axes: dict[int, AxisSettings] = field(default_factory=dict)
    plot: list[str] = field(default_factory=lambda: ["A0", "A1", "O0", "disp"])
    keyboard_driving: bool = True

    def axis(self, index: int) -> AxisSettings:
        return self.axes.get(index, AxisSettings())

    def shapes(self) -> dict[int, AxisShape]:
        return {i: a.shape() for i, a in self.axes.items()}

    def remember_server(self) -> None:
        entry = f"{self.host}:{self.port}"
        self.recent = [entry, *[r for r in self.recent if r != entry]][:8]

    def problems(self) -> list[str]:
        return [p for p in (check_host(self.host), check_port(self.port), check_rate(self.rate_hz)) if p]

    def to_json(self) -> str:
        data = asdict(self)
        data["axes"] = {str(k): asdict(v) for k, v in self.axes.items()}
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
        for name in ("host", "token", "gamepad"):
            if isinstance(data.get(name), str):
                setattr(settings, name, data[name])
        if isinstance(data.get("port"), int) and not check_port(data["port"]):
            settings.port = data["port"]
        if isinstance(data.get("rate_hz"), (int, float)) and not check_rate(data["rate_hz"]):
            settings.rate_hz = float(data["rate_hz"])
        for name in ("tls", "keyboard_driving"):
            if isinstance(data.get(name), bool):
                setattr(settings, name, data[name])
        for name in ("recent", "plot"):
            if isinstance(data.get(name), list):
                setattr(settings, name, [str(v) for v in data[name]][:32])
        axes = data.get("axes")
        if isinstance(axes, dict):
            for key, value in axes.items():
                try:
                    calibration = value.get("calibration")
                    settings.axes[int(key)] = AxisSettings(
                        deadzone=min(0.9, max(0.0, float(value.get("deadzone", 0.05)))),
                        expo=min(1.0, max(0.0, float(value.get("expo", 0.0)))),
                        invert=bool(value.get("invert", False)),
                        calibration=tuple(float(c) for c in calibration) if calibration and len(calibration) == 3 else None,
                    )
                except (TypeError, ValueError, AttributeError):
                    continue
        return settings
