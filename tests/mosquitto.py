"""Debian's ``mosquitto`` on a free loopback port, with a password file and the ACL file docs/fleet.md gives.

The one broker the fleet tests and bench use. :class:`Broker` writes the
password file with ``mosquitto_passwd``, takes the ACL from docs/fleet.md (so
the configuration users copy is the one tested), and can be stopped and
started again on the same port, or overloaded with SIGSTOP.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from launcher import ROOT
from ports import steady_port

from teleop.wire import fleet

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
DASHBOARD = "fleet.dashboard"
MISSING = "Debian's mosquitto is not installed (apt install mosquitto mosquitto-clients)"


def available() -> bool:
    return Path(MOSQUITTO).exists() and Path(MOSQUITTO_PASSWD).exists()


def documented_acl() -> str:
    """The ACL file in docs/fleet.md: the block after the ``acl_file`` heading marker."""
    text = (ROOT / "docs" / "fleet.md").read_text()
    match = re.search(r"<!-- acl -->\s*```[a-z]*\n(.*?)```", text, re.S)
    assert match, "docs/fleet.md has no ACL block after <!-- acl -->"
    return match.group(1)


class Broker:
    """A mosquitto with ``users`` (name -> password), the documented ACL, anonymous access refused."""

    def __init__(self, folder: Path, users: dict[str, str], *, port: int | None = None, tls: tuple[Path, Path] | None = None) -> None:
        """``tls``: the broker's certificate and key files; it then speaks only TLS, as ``localhost``."""
        self.folder = folder
        self.users = users
        self.port = port or steady_port()
        self.tls = tls
        self.process: subprocess.Popen | None = None
        folder.mkdir(parents=True, exist_ok=True)
        passwd = folder / "passwd"
        passwd.write_text("")
        for user, password in users.items():
            subprocess.run([MOSQUITTO_PASSWD, "-b", str(passwd), user, password], check=True, capture_output=True)
        (folder / "acl").write_text(documented_acl())
        self.log = folder / "mosquitto.log"
        (folder / "mosquitto.conf").write_text(
            f"listener {self.port} 127.0.0.1\n" + (f"certfile {tls[0]}\nkeyfile {tls[1]}\n" if tls else "") + "allow_anonymous false\n"
            f"password_file {passwd}\n"
            f"acl_file {folder / 'acl'}\n"
            "persistence false\n" + ("user root\n" if os.geteuid() == 0 else "") + "log_type error\nlog_type warning\nlog_type notice\n"
            # as root mosquitto would drop to the mosquitto user, who cannot read a test's private folder
            f"log_dest file {self.log}\n"
        )

    @property
    def url(self) -> str:
        return f"mqtts://localhost:{self.port}" if self.tls else f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Broker:
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.folder / "mosquitto.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                said = self.process.stderr.read() if self.process.stderr else ""
                logged = self.log.read_text()[-2000:] if self.log.exists() else ""
                raise RuntimeError(f"mosquitto exited: {said}\nits log ends:\n{logged}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)  # in case a test froze it
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def freeze(self) -> None:
        """An overloaded broker: it keeps its sockets open and answers nothing."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def password_file(self, user: str) -> Path:
        path = self.folder / f"{user}.password"
        path.write_text(self.users[user] + "\n")
        path.chmod(0o600)
        return path

    def robot_config(self, robot: str, **mqtt: object) -> Path:
        """A teleop-server config file with this robot's broker credentials (its user name is its id)."""
        robot = fleet.robot_id(robot)
        lines = ["[mqtt]", f'username = "{robot}"', f'password_file = "{self.password_file(robot)}"']
        for key, value in mqtt.items():
            lines.append(f"{key} = {str(value).lower() if isinstance(value, bool) else repr(value) if isinstance(value, str) else value}")
        path = self.folder / f"{robot}.toml"
        path.write_text("\n".join(lines).replace("'", '"') + "\n")
        return path
