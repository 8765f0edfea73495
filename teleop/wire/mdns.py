"""The ``_teleop._tcp`` mDNS/DNS-SD service: its type and TXT record, as both ends read and write it.

The server announces :func:`txt_record`; the app turns what it resolves into a
:class:`Robot` with :func:`robot_from_service`, which never raises on whatever a
stranger's packet holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from teleop.wire.protocol import PROTOCOL_VERSION

SERVICE_TYPE = "_teleop._tcp.local."
#: DNS record types (RFC 1035, RFC 2782) and the IN class, as python-zeroconf's cache and listeners number them
PTR_RECORD, SRV_RECORD, CLASS_IN = 12, 33, 1
#: TXT keys: short, as DNS-SD asks, and the same on both ends.
TXT_PROTOCOL, TXT_SERVER, TXT_TLS, TXT_TOKEN, TXT_CAMERA, TXT_DEVICE = "proto", "server", "tls", "token", "camera", "device"
_MAX_TEXT = 100


def txt_record(*, server: str, tls: bool, token: bool, camera: bool, device: str) -> dict[str, str]:
    """The TXT record a teleop-server announces (``device`` is the serial device's name, or empty)."""
    return {
        TXT_PROTOCOL: str(PROTOCOL_VERSION),
        TXT_SERVER: server[:_MAX_TEXT],
        TXT_TLS: "1" if tls else "0",
        TXT_TOKEN: "1" if token else "0",
        TXT_CAMERA: "1" if camera else "0",
        TXT_DEVICE: device[:_MAX_TEXT],
    }


@dataclass(frozen=True)
class Robot:
    """One announced teleop-server, as the app shows it."""

    key: str  #: the full service name, unique on the network
    name: str  #: the instance name (the server's hostname unless configured)
    addresses: tuple[str, ...]
    port: int
    tls: bool = False
    token: bool = True
    camera: bool = False
    device: str = ""
    server: str = ""
    protocol: int | None = None
    present: bool = True  #: False once it stopped announcing (shown greyed out)
    last_seen: float = 0.0  #: clock time it was last known to be there
    pilot: str | None = None  #: who drives, where known (a fleet broker says; mDNS does not)
    via: str = "mDNS"  #: how the app heard of it: "mDNS" or "broker"

    @property
    def host(self) -> str:
        return self.addresses[0] if self.addresses else ""

    @property
    def address(self) -> str:
        """``host:port``, as the address box shows servers."""
        return f"{self.host}:{self.port}"

    def url(self) -> str:
        scheme = "wss" if self.tls else "ws"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"


def _text(properties: Mapping[bytes | str, bytes | str | None], key: str) -> str:
    value = properties.get(key.encode(), properties.get(key))
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return "".join(c for c in str(value) if c.isprintable())[:_MAX_TEXT]


def _flag(properties: Mapping[bytes | str, bytes | str | None], key: str, default: bool) -> bool:
    value = _text(properties, key).lower()
    return default if value == "" else value in ("1", "true", "yes", "on")


def robot_from_service(
    key: str, port: int | None, addresses: list[str], properties: Mapping[bytes | str, bytes | str | None] | None
) -> Robot | None:
    """A :class:`Robot` from a resolved service, or None if it cannot be reached (no address or port)."""
    if not addresses or not port or not 0 < port < 65536:
        return None
    properties = properties or {}
    suffix = "." + SERVICE_TYPE
    name = key[: -len(suffix)] if key.endswith(suffix) else key
    name = "".join(c for c in name if c.isprintable())[:_MAX_TEXT] or "robot"
    protocol_text = _text(properties, TXT_PROTOCOL)
    return Robot(
        key=key,
        name=name,
        addresses=tuple(sorted(addresses, key=lambda a: (":" in a, a))),  # IPv4 first: what most clients reach
        port=port,
        tls=_flag(properties, TXT_TLS, False),
        token=_flag(properties, TXT_TOKEN, True),
        camera=_flag(properties, TXT_CAMERA, False),
        device=_text(properties, TXT_DEVICE),
        server=_text(properties, TXT_SERVER),
        protocol=int(protocol_text) if protocol_text.isdigit() and len(protocol_text) < 6 else None,
    )
