"""``--tls auto``: a certificate of the robot's own, made once and kept, so a phone can use https://.

The Gamepad API and the screen wake lock work only in a secure context, and a
phone reaches the robot by its network address, which plain http:// never is.
A self-signed certificate is enough for that: the phone warns once, the user
checks the SHA-256 fingerprint ``teleop-server`` printed and accepts it.

Made with the ``openssl`` command (on every Raspberry Pi OS and Debian), an
ECDSA P-256 key, valid ten years, in the folder that keeps the pilot token
(the key file mode 0600). Kept across restarts: the phone's exception stays
valid, and a new certificate is made only if the files are missing.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import shutil
import ssl
import subprocess
from collections.abc import Iterable
from pathlib import Path

from teleop.wire.errors import ConfigError

CERT_NAME = "server-cert.pem"
KEY_NAME = "server-key.pem"
VALID_DAYS = 3650


def fingerprint(cert_pem: str) -> str:
    """The certificate's SHA-256 fingerprint as browsers show it: upper-case hex pairs joined by colons."""
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(cert_pem)).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def subject_names(names: Iterable[str]) -> str:
    """openssl's subjectAltName value for these host names and addresses (duplicates and blanks dropped)."""
    out: list[str] = []
    for name in dict.fromkeys(n.strip("[]") for n in names if n):
        try:
            out.append(f"IP:{ipaddress.ip_address(name)}")
        except ValueError:
            out.append(f"DNS:{name}")
    return ",".join(out)


def load_or_create_certificate(folder: Path, names: Iterable[str]) -> tuple[Path, Path, str, bool]:
    """``(certfile, keyfile, fingerprint, created)``: the kept certificate in ``folder``, made first if missing."""
    cert, key = folder / CERT_NAME, folder / KEY_NAME
    created = False
    if not (cert.exists() and key.exists()):
        openssl = shutil.which("openssl")
        if openssl is None:
            raise ConfigError("--tls auto needs the openssl command (apt install openssl), or give --certfile and --keyfile")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create {folder} for the certificate: {exc.strerror or exc}") from None
        temporary_key = key.with_suffix(".tmp")
        command = [
            *(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
            *("-days", str(VALID_DAYS), "-subj", "/CN=teleop robot", "-addext", f"subjectAltName={subject_names(names)}"),
            *("-keyout", str(temporary_key), "-out", str(cert)),
        ]
        old_mask = os.umask(0o077)  # the key is never readable by others, not even for a moment
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConfigError(f"cannot make a certificate with openssl: {exc}") from None
        finally:
            os.umask(old_mask)
        if result.returncode != 0:
            raise ConfigError(f"openssl could not make a certificate: {result.stderr.strip()[-300:]}")
        os.replace(temporary_key, key)
        created = True
    try:
        pem = cert.read_text(encoding="ascii")
        return cert, key, fingerprint(pem), created
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the certificate {cert}: {exc} (delete it and the key to make a new pair)") from None
