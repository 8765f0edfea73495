"""The bridge's settings: defaults, a TOML file, then command-line flags, in that order.

Every mistake in the file is reported with the key it concerns and what was
expected, before anything starts.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from teleop.wire.errors import ConfigError
from teleop.wire.fleet import parse_broker_url
from teleop_server.rules import fleet, serial_protocol
from teleop_server.rules.camerasource import CameraSettings
from teleop_server.rules.mapping import DEFAULT_OUTPUTS, OutputMap

_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,31}\Z")


@dataclass(frozen=True)
class ServerConfig:
    host: str = "0.0.0.0"
    port: int = 8765
    serial: str = "sim"
    baud: int = 115200
    #: "auto": the teleop line protocol if the board answers it, else a plain line device;
    #: "teleop": only the teleop protocol; "plain": a sketch that takes lines and never replies.
    device: str = "auto"
    #: Names for the numbers a plain sketch prints on one line ("512,300" -> left, right).
    columns: tuple[str, ...] = ()
    #: An Uno resets when its port opens and prints READY about 1.5 s later.
    ready_timeout: float = 3.0
    #: A command line not answered in this time is counted lost and the next one goes out.
    #: None: a few line-times at ``baud`` (see :mod:`teleop_server.rules.commandqueue`); set it only for a
    #: device that is known to think for long before it answers.
    reply_timeout: float | None = None
    #: Command lines written but not yet answered. 1 keeps the newest command at most one
    #: line old even on a 9600-baud link.
    max_in_flight: int = 1
    #: Distinct reading keys kept and sent to clients; a device reporting more has the extras ignored.
    max_reading_keys: int = 64
    failsafe_timeout: float = 0.25
    keepalive_interval: float = 0.1
    #: Per-client queue of outgoing messages; a client this far behind is dropped.
    client_queue: int = 256
    record: str | None = None
    #: Rotate the record file before it passes this many MiB (0: never), keeping this many
    #: old files: at most (1 + keep) x max_mb on the Pi's SD card (about 3.5 h of driving per file).
    record_max_mb: float = 64
    #: ... or once it is this many minutes old (0: never).
    record_max_minutes: float = 0
    record_keep: int = 4
    #: Record the camera too (MCAP only: ``foxglove.CompressedImage``).
    record_video: bool = False
    #: Seconds of the session kept in memory for "save the last N seconds" (0: none kept).
    snapshot_seconds: float = 30.0
    #: Where snapshots are written; None: beside the --record file, else the service's state folder.
    snapshot_dir: str | None = None
    #: Save a snapshot by itself when the e-stop is engaged / the failsafe trips.
    snapshot_on_estop: bool = False
    snapshot_on_failsafe: bool = False
    #: Play this MCAP recording to clients instead of driving a device (``--replay``; no device is opened).
    replay: str | None = None
    #: Becoming pilot needs the token (``--no-auth`` turns this off for a trusted bench).
    auth: bool = True
    #: The pilot token itself; normally None, and read from (or created in) ``token_file``.
    token: str | None = None
    token_file: str | None = None
    #: "open": anyone may watch the readings; "token": watching needs the token too.
    observers: str = "open"
    certfile: str | None = None
    keyfile: str | None = None
    #: "auto": make (once) and use a self-signed certificate kept beside the token file; "" = no TLS unless certfile
    tls: str = ""
    max_clients: int = 64
    #: Observers without the token from one address at once (token holders are not limited).
    max_per_address: int = 16
    #: Host names besides IP literals, localhost, the hostname and hostname.local (DNS-rebinding check).
    allow_hosts: tuple[str, ...] = ()
    #: Browser page origins allowed to open the WebSocket besides the dashboard's own; "null" = a local file.
    allow_origins: tuple[str, ...] = ()
    #: The fastest a pilot is expected to send (the desktop client caps itself at 250 Hz).
    #: A client sending more than RATE_LIMIT_FACTOR times this gets an error, then is closed.
    control_hz: float = 250.0
    #: The most of each output's travel from its neutral any client can drive (1.0: all of it);
    #: an operator with the token may lower it live from the dashboard, never raise it past this.
    max_speed: float = 1.0
    outputs: tuple[OutputMap, ...] = field(default=DEFAULT_OUTPUTS)
    #: Announce the server with mDNS/DNS-SD (``_teleop._tcp``) so the app lists it; ``--no-announce`` turns it off.
    announce: bool = True
    #: The name the app lists; None means this machine's hostname.
    announce_name: str | None = None
    #: The camera served at /video.mjpg (sim, /dev/videoN, rpicam, cmd:COMMAND); None: no camera.
    camera: str | None = None
    camera_width: int = 640
    camera_height: int = 480
    camera_fps: float = 30.0
    camera_quality: int = 80
    #: A video viewer whose socket takes nothing for this long is dropped.
    camera_viewer_timeout: float = 5.0
    #: The fleet broker (``mqtt://HOST:PORT`` or ``mqtts://``); None: no broker (see docs/fleet.md).
    mqtt: str | None = None
    mqtt_username: str | None = None
    mqtt_password_file: str | None = None
    #: CA certificate(s) that signed the broker's (mqtts://); None: the system's.
    mqtt_cafile: str | None = None
    #: What the robot publishes as its address to connect to; None: this machine's address and the port.
    mqtt_address: str | None = None
    mqtt_readings_rate: float = fleet.DEFAULT_READINGS_RATE
    mqtt_keepalive: int = fleet.DEFAULT_KEEPALIVE
    #: Home Assistant MQTT discovery, under this prefix.
    mqtt_discovery: bool = False
    mqtt_discovery_prefix: str = fleet.HA_PREFIX
    #: The live Foxglove endpoint's port (``--foxglove``); None: off. Its SDK has no token check,
    #: so it listens on 127.0.0.1 unless ``foxglove_host`` says otherwise (docs/recording.md).
    foxglove_port: int | None = None
    foxglove_host: str = "127.0.0.1"

    @property
    def camera_settings(self) -> CameraSettings | None:
        if not self.camera:
            return None
        return CameraSettings(self.camera, self.camera_width, self.camera_height, self.camera_fps, self.camera_quality)

    def validate(self) -> None:
        if not 0 <= self.port < 65536:
            raise ConfigError(f"port must be 1..65535 (or 0: a free one, said at start), got {self.port}")
        if self.baud <= 0:
            raise ConfigError(f"baud must be positive, got {self.baud}")
        for name, said in (
            ("ready_timeout", "serial.ready_timeout_ms"),
            ("failsafe_timeout", "--failsafe-ms (failsafe.timeout_ms)"),
            ("keepalive_interval", "failsafe.keepalive_ms"),
        ):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{said} must be more than 0, got {getattr(self, name) * 1000:g}")
        if self.reply_timeout is not None and not self.reply_timeout > 0:
            raise ConfigError("serial.reply_timeout_ms must be positive")
        if self.device not in ("auto", "teleop", "plain"):
            raise ConfigError(f'device.protocol must be "auto", "teleop" or "plain", got {self.device!r}')
        if self.device == "plain" and self.serial == "sim":
            raise ConfigError("the built-in simulated device speaks the teleop protocol: --device plain needs a real port")
        if len(self.columns) > 32 or not all(isinstance(c, str) and _COLUMN.match(c) for c in self.columns):
            raise ConfigError("device.columns must be up to 32 names (letters, digits, _ and .)")
        if self.max_in_flight < 1:
            raise ConfigError("serial.max_in_flight must be at least 1")
        if not 1 <= self.max_reading_keys <= 1024:
            raise ConfigError("serial.max_reading_keys must be 1..1024")
        if self.client_queue < 8:
            raise ConfigError("server.client_queue must be at least 8")
        if self.observers not in ("open", "token"):
            raise ConfigError(f'auth.observers must be "open" or "token", got {self.observers!r}')
        if self.observers == "token" and not self.auth:
            raise ConfigError('observers = "token" needs authentication; it cannot be combined with --no-auth')
        if self.tls not in ("", "auto"):
            raise ConfigError(f'server.tls must be "auto" (a self-signed certificate made on first start), got {self.tls!r}')
        if (self.certfile is None) != (self.keyfile is None):
            raise ConfigError("TLS needs both a certificate file and a key file (--certfile and --keyfile)")
        if not self.record_max_mb >= 0:
            raise ConfigError(f"record.max_mb must be 0 (never rotate) or more, got {self.record_max_mb}")
        if not self.record_max_minutes >= 0:
            raise ConfigError(f"record.max_minutes must be 0 (never rotate by age) or more, got {self.record_max_minutes}")
        if not 0 <= self.snapshot_seconds <= 600:
            raise ConfigError(f"snapshot.seconds must be 0 (keep none) to 600, got {self.snapshot_seconds}")
        if self.record_keep < 0:
            raise ConfigError(f"record.keep must be 0 or more, got {self.record_keep}")
        if self.max_clients < 1:
            raise ConfigError("limits.max_clients must be at least 1")
        if self.max_per_address < 1:
            raise ConfigError("limits.max_per_address must be at least 1")
        for name in self.allow_hosts:
            if not name or any(c in name for c in "/:@ ") or not name.isprintable():
                raise ConfigError(f"allow_hosts: {name!r} is not a host name (give the bare name, e.g. robot.lan)")
        for origin in self.allow_origins:
            if origin != "null" and not (origin.startswith(("http://", "https://")) and "/" not in origin.split("://", 1)[1]):
                raise ConfigError(
                    f"allow_origins: {origin!r} is not an origin (scheme://host[:port], or null for pages opened from a file)"
                )
        if not self.control_hz >= 1:
            raise ConfigError("limits.control_hz must be at least 1")
        if not (isinstance(self.max_speed, (int, float)) and 0.0 < self.max_speed <= 1.0):
            raise ConfigError(
                f"limits.max_speed must be a fraction above 0 and at most 1 (0.5: half of each output's travel), got {self.max_speed!r}"
            )
        if len({o.key for o in self.outputs}) != len(self.outputs):
            raise ConfigError("two [[output]] entries drive the same device output")
        if self.announce_name is not None and not 0 < len(self.announce_name.encode()) <= 63:
            raise ConfigError("announce.name must be 1 to 63 bytes (a DNS-SD instance name)")
        for i, output in enumerate(self.outputs):
            output.validate(f"[[output]] #{i + 1}")
        if self.camera_settings is not None:
            self.camera_settings.validate()
        if not self.camera_viewer_timeout > 0:
            raise ConfigError("camera.viewer_timeout_ms must be positive")
        if self.foxglove_port is not None and not 0 <= self.foxglove_port <= 65535:
            raise ConfigError(f"--foxglove (foxglove.port) must be a TCP port, 0 to 65535 (0: any free one), got {self.foxglove_port}")
        shared = {self.host, self.foxglove_host} & {"", "0.0.0.0", "::"} or self.host == self.foxglove_host
        if self.foxglove_port and self.foxglove_port == self.port and shared:
            raise ConfigError(f"--foxglove {self.foxglove_port} is the server's own --port: give Foxglove a port of its own")
        if self.mqtt is not None:
            parse_broker_url(self.mqtt)
        if not 0 < self.mqtt_readings_rate <= 50:
            raise ConfigError("mqtt.readings_hz must be more than 0 and at most 50")
        if not 2 <= self.mqtt_keepalive <= 60:
            raise ConfigError("mqtt.keepalive_s must be 2..60 (a robot shows offline after 1.5 times this)")
        if self.mqtt_address is not None and not self.mqtt_address.startswith(("ws://", "wss://")):
            raise ConfigError("mqtt.address must be the ws:// or wss:// address clients connect to")
        if not self.mqtt_discovery_prefix or any(c in self.mqtt_discovery_prefix for c in "+# "):
            raise ConfigError("mqtt.discovery_prefix must be a topic without + # or spaces")


_SECTIONS: dict[str, dict[str, tuple[str, type | tuple[type, ...], float]]] = {
    # section -> key -> (field name, accepted type, multiplier into the field's unit)
    "server": {
        "host": ("host", str, 1),
        "port": ("port", int, 1),
        "client_queue": ("client_queue", int, 1),
        "certfile": ("certfile", str, 1),
        "keyfile": ("keyfile", str, 1),
        "tls": ("tls", str, 1),
        "allow_hosts": ("allow_hosts", list, 1),
        "allow_origins": ("allow_origins", list, 1),
    },
    "auth": {
        "enabled": ("auth", bool, 1),
        "token": ("token", str, 1),
        "token_file": ("token_file", str, 1),
        "observers": ("observers", str, 1),
    },
    "limits": {
        "max_clients": ("max_clients", int, 1),
        "max_per_address": ("max_per_address", int, 1),
        "control_hz": ("control_hz", (int, float), 1),
        "max_speed": ("max_speed", (int, float), 1),
    },
    "serial": {
        "port": ("serial", str, 1),
        "baud": ("baud", int, 1),
        "ready_timeout_ms": ("ready_timeout", (int, float), 0.001),
        "reply_timeout_ms": ("reply_timeout", (int, float), 0.001),
        "max_in_flight": ("max_in_flight", int, 1),
        "max_reading_keys": ("max_reading_keys", int, 1),
    },
    "failsafe": {
        "timeout_ms": ("failsafe_timeout", (int, float), 0.001),
        "keepalive_ms": ("keepalive_interval", (int, float), 0.001),
    },
    "record": {
        "file": ("record", str, 1),
        "max_mb": ("record_max_mb", (int, float), 1),
        "max_minutes": ("record_max_minutes", (int, float), 1),
        "keep": ("record_keep", int, 1),
        "video": ("record_video", bool, 1),
    },
    "snapshot": {
        "seconds": ("snapshot_seconds", (int, float), 1),
        "folder": ("snapshot_dir", str, 1),
        "on_estop": ("snapshot_on_estop", bool, 1),
        "on_failsafe": ("snapshot_on_failsafe", bool, 1),
    },
    "device": {"protocol": ("device", str, 1), "columns": ("columns", list, 1)},
    "announce": {"enabled": ("announce", bool, 1), "name": ("announce_name", str, 1)},
    "camera": {
        "source": ("camera", str, 1),
        "width": ("camera_width", int, 1),
        "height": ("camera_height", int, 1),
        "fps": ("camera_fps", (int, float), 1),
        "quality": ("camera_quality", int, 1),
        "viewer_timeout_ms": ("camera_viewer_timeout", (int, float), 0.001),
    },
    "mqtt": {
        "url": ("mqtt", str, 1),
        "username": ("mqtt_username", str, 1),
        "password_file": ("mqtt_password_file", str, 1),
        "cafile": ("mqtt_cafile", str, 1),
        "address": ("mqtt_address", str, 1),
        "readings_hz": ("mqtt_readings_rate", (int, float), 1),
        "keepalive_s": ("mqtt_keepalive", int, 1),
        "discovery": ("mqtt_discovery", bool, 1),
        "discovery_prefix": ("mqtt_discovery_prefix", str, 1),
    },
    "foxglove": {
        "port": ("foxglove_port", int, 1),
        "host": ("foxglove_host", str, 1),
    },
}

_OUTPUT_KEYS = {"command", "channel", "source", "scale", "offset", "min", "max", "neutral", "format"}


def _output(entry: Any, where: str) -> OutputMap:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = set(entry) - _OUTPUT_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_OUTPUT_KEYS))}")
    try:
        # For our firmware, unset min, max and neutral are the device's own for that output (the protocol table).
        channel = None if entry.get("channel") is None else int(entry["channel"])
        command = None if entry.get("format") is not None else str(entry.get("command"))
        low, high = (command and serial_protocol.command_range(command, channel)) or (-9999, 9999)
        neutral = serial_protocol.command_neutral(command, channel) if command else 0
        output = OutputMap(
            command=str(entry["command"]),
            source=str(entry["source"]),
            scale=float(entry.get("scale", 1.0)),
            offset=float(entry.get("offset", 0.0)),
            low=int(entry.get("min", low)),
            high=int(entry.get("max", high)),
            neutral=int(entry.get("neutral", neutral)),
            channel=channel,
            format=None if entry.get("format") is None else str(entry["format"]),
        )
    except KeyError as exc:
        raise ConfigError(f"{where}: missing key {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    output.validate(where)
    return output


def parse_config(data: dict[str, Any], base: ServerConfig | None = None, source: str = "config") -> ServerConfig:
    """Apply a parsed TOML document over ``base``; raise :class:`ConfigError` naming the bad key."""
    config = base or ServerConfig()
    changes: dict[str, Any] = {}
    value: Any
    for section, body in data.items():
        if section == "output":
            if not isinstance(body, list):
                raise ConfigError(f"{source}: 'output' must be an array of tables ([[output]])")
            changes["outputs"] = tuple(_output(e, f"{source}: [[output]] #{i + 1}") for i, e in enumerate(body))
            continue
        keys = _SECTIONS.get(section)
        if not isinstance(body, dict):  # a key outside any section: ``port = 8765`` above every [section]
            home = [name for name, known in _SECTIONS.items() if section in known]
            hint = f"; it goes under {' or '.join(f'[{h}]' for h in home)}" if home else ""
            if keys is not None:
                hint = f"; [{section}] is a section: its keys go on the lines under a line [{section}]"
            raise ConfigError(f"{source}: {section} = ... is outside any section{hint}")
        if keys is None:
            raise ConfigError(f"{source}: unknown section [{section}]; known: {', '.join(sorted([*_SECTIONS, 'output']))}")
        for key, value in body.items():
            if key not in keys:
                raise ConfigError(f"{source}: unknown key {section}.{key}; known: {', '.join(sorted(keys))}")
            name, kind, multiplier = keys[key]
            if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
                raise ConfigError(f"{source}: {section}.{key} has the wrong type ({type(value).__name__})")
            if kind is list:
                items = cast(list[Any], value)
                if not all(isinstance(v, str) for v in items):
                    raise ConfigError(f"{source}: {section}.{key} must be a list of strings")
                value = tuple(items)
            changes[name] = value * multiplier if multiplier != 1 else value
    config = replace(config, **changes)
    config.validate()
    return config


def load_config(path: str | Path, base: ServerConfig | None = None) -> ServerConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, base, str(path))
