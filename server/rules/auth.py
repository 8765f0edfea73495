"""Who may drive: the pilot token, where it is kept, and how it is checked.

A robot on a shared Wi-Fi is a machine anyone on that network could steer, so
the bridge requires a token to become pilot unless it runs with ``--no-auth``.
The token is created on first start (128 bits from :mod:`secrets`), kept in a
file only its owner can read, and compared in constant time. It is shown once,
when it is created; after that only the file's path is ever printed or logged.

Sans-I/O apart from the token file itself: no sockets, no asyncio.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from teleop.wire.errors import ConfigError

TOKEN_BYTES = 16  # 128 bits: out of reach of guessing over a network
MIN_TOKEN_CHARS = 16


class ObserverAccess(StrEnum):
    """Whether watching the readings needs the token too."""

    OPEN = "open"
    TOKEN = "token"


def default_token_file() -> Path:
    """Where the token lives when the config names no file.

    Under systemd, ``StateDirectory=`` exports ``$STATE_DIRECTORY`` (the one
    place the hardened unit may write); otherwise the user's config folder.
    """
    state = os.environ.get("STATE_DIRECTORY")
    if state:
        return Path(state.split(":")[0]) / "pilot-token"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "teleop" / "server-token"


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def check_token_text(token: str, where: str) -> str:
    token = token.strip()
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"{where}: the pilot token must be at least {MIN_TOKEN_CHARS} characters")
    if not token.isprintable() or any(c.isspace() for c in token):
        raise ConfigError(f"{where}: the pilot token must be printable characters without spaces")
    return token


def load_or_create_token(path: Path) -> tuple[str, bool]:
    """The token stored in ``path``, creating the file (mode 0600) if it does not exist.

    Returns ``(token, created)``. Raises :class:`ConfigError` with the reason
    if the file cannot be read or written: a server that silently ran without
    a token would be open to anyone.
    """
    try:
        return check_token_text(path.read_text(encoding="utf-8"), str(path)), False
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the pilot token file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    token = new_token()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two servers starting at once cannot both win and hand out different tokens
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_or_create_token(path)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the pilot token file {path}: {exc.strerror or exc} "
            "(set [auth] token_file to a writable place, or run with --no-auth on a trusted network)"
        ) from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    return token, True


@dataclass(frozen=True)
class Access:
    """The rules one server applies: ``token`` None means authentication is off."""

    token: str | None
    observers: ObserverAccess = ObserverAccess.OPEN

    @property
    def required(self) -> bool:
        return self.token is not None

    def may_drive(self, offered: str | None) -> bool:
        return self.token is None or _same(self.token, offered)

    def may_watch(self, offered: str | None) -> bool:
        return self.observers is ObserverAccess.OPEN or self.may_drive(offered)

    def without_token(self, text: str) -> str:
        """``text`` (a name a client chose) with the pilot token taken out: a pilot who pastes the token into the
        name field would otherwise show it to every observer, the fleet broker and the recordings."""
        return text.replace(self.token, "(removed)") if self.token and self.token in text else text


def _same(expected: str, offered: str | None) -> bool:
    # compare_digest takes as long for a near miss as for a wild guess; an absent
    # token is compared too, so even "no token" costs the same
    return hmac.compare_digest(expected.encode(), (offered or "").encode())
