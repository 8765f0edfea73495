"""``teleop-server``: the command a Pi owner runs."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import socket
import sys
from dataclasses import replace
from pathlib import Path

from teleop import __version__
from teleop.wire.errors import ConfigError
from teleop.wire.pilot import pilot_url
from teleop_server.bridge import Bridge
from teleop_server.config import ServerConfig, load_config
from teleop_server.net.announce import mdns_hostname, start_announcer
from teleop_server.net.foxglove import start_foxglove
from teleop_server.net.gate import LogFlood, quiet_exception_handler, raise_file_limit
from teleop_server.net.mqtt import start_fleet
from teleop_server.net.pilotqr import terminal_qr
from teleop_server.net.selfsigned import load_or_create_certificate
from teleop_server.rules.auth import check_token_text, default_token_file, load_or_create_token

log = logging.getLogger("teleop.server")

DESCRIPTION = """\
Bridge WebSocket clients (the teleop desktop app, browsers) to an Arduino on USB serial.

Every client receives the device's readings as they arrive. One client at a
time is the pilot: its gamepad drives the device through the command mapping
in the config file. If the pilot goes quiet, every output is set to neutral.

Becoming pilot needs a token. On first start the server creates one, keeps it
in its token file and prints it once, with an address to paste into the
teleop app's settings. Anyone may watch the readings unless --observers token.
"""

EPILOG = """\
examples:
  teleop-server --serial sim                 try it without hardware
  teleop-server --serial /dev/ttyACM0        an Arduino Uno on USB
  teleop-server --serial /dev/ttyUSB0 --baud 9600 --config robot.toml --record drive.jsonl
  teleop-server --serial /dev/ttyACM0 --baud 9600 --device plain     a sketch of your own (B<value> lines)
  teleop-server --certfile robot.crt --keyfile robot.key      wss:// and https:// only
  teleop-server --tls auto                   https:// with a certificate of its own (phones: gamepad, wake lock)
  teleop-server --record drive.jsonl --record-max-mb 64 --record-keep 4
  teleop-server --camera rpicam              video at http://ROBOT:8765/video.mjpg
  teleop-server --replay drive.mcap          play a recording back to the dashboard and the app

Signals: SIGTERM and SIGINT put every output to neutral, then stop; SIGHUP puts
every output to neutral and reopens the --record file (for logrotate).

The config file (TOML) sets the same options plus the [[output]] mapping from
sticks and buttons to device commands; see packaging/pi/teleop-server.toml.
Command-line flags override the file.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="teleop-server",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--serial",
        metavar="PORT|sim",
        help="serial port of the Arduino (e.g. /dev/ttyACM0, COM3), or 'sim' for the built-in simulated device (default: sim)",
    )
    parser.add_argument("--baud", type=int, help="serial speed in baud; must match the firmware (default: 115200)")
    parser.add_argument(
        "--device",
        choices=("auto", "teleop", "plain"),
        help="what is on the serial port: teleop = this project's firmware (commands confirmed); plain = any sketch that "
        "reads command lines and never replies; auto = teleop if the board answers it, else plain (default: auto)",
    )
    parser.add_argument("--host", help="address to listen on; 0.0.0.0 means every network interface (default: 0.0.0.0)")
    parser.add_argument(
        "--port", type=int, help="TCP port for WebSocket clients and the dashboard (default: 8765; 0: a free one, printed at start)"
    )
    parser.add_argument("--config", metavar="FILE", help="TOML config file with settings and the stick-to-command mapping")
    record = parser.add_argument_group("recording")
    record.add_argument(
        "--record",
        metavar="FILE",
        help="record every reading, command sent to the device and event to FILE: FILE.mcap is MCAP (opens in Foxglove; "
        "needs teleop-robot[record]), any other name JSON lines",
    )
    record.add_argument(
        "--repair-recording",
        metavar="FILE",
        help="make an MCAP recording cut short (power loss, SIGKILL) readable by every tool again: its complete chunks are "
        "kept and the index is rebuilt; FILE is replaced; then exit",
    )
    record.add_argument(
        "--replay",
        metavar="FILE.mcap",
        help="play an MCAP recording to every client as if it were live (readings, events, video), with pause, seek and "
        "speed from the dashboard and the app; no device is opened or driven",
    )
    record.add_argument("--record-video", action="store_true", help="record the camera too (MCAP only)")
    record.add_argument(
        "--record-max-minutes", type=float, metavar="M", help="also rotate FILE once it is M minutes old (default: 0, never)"
    )
    record.add_argument(
        "--record-max-mb",
        type=float,
        metavar="N",
        help="rotate FILE before it passes N MiB: FILE becomes FILE.1, FILE.1 becomes FILE.2, ... (default: 64; 0: never)",
    )
    record.add_argument(
        "--record-keep",
        type=int,
        metavar="K",
        help="rotated files kept, FILE.1 to FILE.K; the oldest is overwritten (default: 4). "
        "SIGHUP reopens FILE, for logrotate's rename-then-HUP",
    )
    parser.add_argument(
        "--failsafe-ms",
        type=int,
        metavar="MS",
        help="set outputs to neutral when the pilot sends nothing for MS milliseconds (default: 250)",
    )
    auth = parser.add_argument_group("who may connect")
    auth.add_argument(
        "--no-auth",
        action="store_true",
        help='anyone who can reach the port may drive, including seed-style {"Axes": ...} clients; only on a trusted network',
    )
    auth.add_argument(
        "--token-file",
        metavar="FILE",
        help="where the pilot token is kept; created (mode 0600) with a new token if missing "
        "(default: $STATE_DIRECTORY/pilot-token under systemd, else ~/.config/teleop/server-token)",
    )
    auth.add_argument(
        "--observers",
        choices=("open", "token"),
        help="open: anyone may watch the readings (default); token: watching needs the token too",
    )
    auth.add_argument("--certfile", metavar="FILE", help="TLS certificate (PEM): serve wss:// and https:// instead of ws:// and http://")
    auth.add_argument("--keyfile", metavar="FILE", help="private key (PEM) of --certfile")
    auth.add_argument(
        "--tls",
        choices=("auto",),
        help="auto: make a self-signed certificate on first start (kept beside the token file; its SHA-256 fingerprint "
        "is printed to check on the phone) and serve https:// and wss://; a phone's browser needs this for gamepads "
        "and keeping the screen on. --certfile/--keyfile take precedence",
    )
    auth.add_argument(
        "--max-clients", type=int, metavar="N", help="connections at once; the next one is closed with a reason (default: 64)"
    )
    auth.add_argument(
        "--max-per-address",
        type=int,
        metavar="N",
        help="observers without the token from one address at once; token holders are not limited (default: 16)",
    )
    auth.add_argument(
        "--allow-host",
        action="append",
        metavar="NAME",
        help="also answer requests for this host name (repeatable); IP addresses, localhost, this machine's hostname and "
        "hostname.local always work, other names are refused to stop DNS rebinding",
    )
    auth.add_argument(
        "--allow-origin",
        action="append",
        metavar="ORIGIN",
        help="let browser pages from ORIGIN (e.g. http://lab.example:8000) open the WebSocket (repeatable); "
        "'null' allows pages opened from a file",
    )
    parser.add_argument(
        "--camera",
        metavar="SOURCE",
        help="serve video at /video.mjpg on the same port: sim (a test picture), /dev/videoN (a USB webcam in MJPEG "
        "mode, through ffmpeg without re-encoding), rpicam (the Raspberry Pi camera, rpicam-vid), or cmd:COMMAND "
        "(any command writing MJPEG to stdout); size, fps and quality go under [camera] in the config file",
    )
    parser.add_argument(
        "--name",
        help="this robot's name in the app's robot list, on mDNS and on the fleet broker (default: the hostname)",
    )
    parser.add_argument(
        "--mqtt",
        metavar="URL",
        help="publish this robot's presence, state and readings to an MQTT broker and take fleet e-stops from it: "
        "mqtt://HOST:PORT or mqtts://HOST:PORT; user name, password file and CA go under [mqtt] in the config file "
        "(needs the mqtt extra; see docs/fleet.md)",
    )
    parser.add_argument(
        "--foxglove",
        type=int,
        metavar="PORT",
        help="show the session live in Foxglove, Lichtblick or PlotJuggler (Foxglove WebSocket, the recording's channels); "
        "clients may publish only an e-stop. No token check: listens on 127.0.0.1 unless --foxglove-host "
        "(needs the foxglove extra; see docs/recording.md)",
    )
    parser.add_argument("--foxglove-host", metavar="ADDRESS", help="address the Foxglove endpoint listens on (default: 127.0.0.1)")
    parser.add_argument(
        "--no-announce",
        action="store_true",
        help="do not announce this robot on the local network (mDNS/DNS-SD _teleop._tcp, how the teleop app lists robots)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail (every device line)")
    parser.add_argument("--version", action="version", version=f"teleop-server {__version__}")
    return parser


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    config = ServerConfig()
    if args.config:
        config = load_config(args.config, config)
    overrides = {
        "serial": args.serial,
        "baud": args.baud,
        "device": args.device,
        "host": args.host,
        "port": args.port,
        "record": args.record,
        "replay": args.replay,
        "record_max_mb": args.record_max_mb,
        "record_max_minutes": args.record_max_minutes,
        "record_video": True if args.record_video else None,
        "record_keep": args.record_keep,
        "failsafe_timeout": None if args.failsafe_ms is None else args.failsafe_ms / 1000,
        "auth": False if args.no_auth else None,
        "token_file": args.token_file,
        "observers": args.observers,
        "certfile": args.certfile,
        "keyfile": args.keyfile,
        "tls": args.tls,
        "max_clients": args.max_clients,
        "max_per_address": args.max_per_address,
        "allow_hosts": None if args.allow_host is None else (*config.allow_hosts, *args.allow_host),
        "allow_origins": None if args.allow_origin is None else (*config.allow_origins, *args.allow_origin),
        "announce": False if args.no_announce else None,
        "camera": args.camera,
        "announce_name": args.name,
        "mqtt": args.mqtt,
        "foxglove_port": args.foxglove,
        "foxglove_host": args.foxglove_host,
    }
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    config.validate()
    return config


def with_token(config: ServerConfig) -> tuple[ServerConfig, bool]:
    """Fill in the pilot token (from the config, or the token file, creating it); True if it is new."""
    if not config.auth:
        return config, False
    if config.token:
        return replace(config, token=check_token_text(config.token, "auth.token")), False
    path = Path(config.token_file).expanduser() if config.token_file else default_token_file()
    token, created = load_or_create_token(path)
    return replace(config, token=token, token_file=str(path)), created


def with_certificate(config: ServerConfig) -> tuple[ServerConfig, str | None]:
    """With ``--tls auto`` and no certificate given: the robot's own (made once); its fingerprint, else None."""
    if config.tls != "auto" or config.certfile:
        return config, None
    folder = (Path(config.token_file).expanduser() if config.token_file else default_token_file()).parent
    names = ("localhost", "127.0.0.1", socket.gethostname(), mdns_hostname(), reachable_host(config.host))
    cert, key, fingerprint, created = load_or_create_certificate(folder, names)
    if created:
        log.info("made a self-signed certificate %s (key %s)", cert, key)
    return replace(config, certfile=str(cert), keyfile=str(key)), fingerprint


def reachable_host(host: str) -> str:
    """The address a client on the network would use for a server listening on ``host``."""
    if host not in ("0.0.0.0", "::", ""):
        return f"[{host}]" if ":" in host else host
    try:
        # a UDP "connect" sends nothing; it only asks the kernel which local address routes outwards
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            return probe.getsockname()[0]
    except OSError:
        return socket.gethostname()


def announce(config: ServerConfig, port: int, token_created: bool, fingerprint: str | None = None) -> None:
    """What the owner needs on stdout: where to connect, the token the one time it is new, the pilot page's QR."""
    tls = bool(config.certfile)
    host = reachable_host(config.host)
    ws_url = f"{'wss' if tls else 'ws'}://{host}:{port}"
    web_url = f"{'https' if tls else 'http'}://{host}:{port}"
    by_name = f"{'wss' if tls else 'ws'}://{mdns_hostname()}:{port}"
    print(f"teleop-server listening on {ws_url} or {by_name} (dashboard: {web_url}/)", flush=True)
    if not config.auth:
        print("authentication is OFF (--no-auth): anyone who can reach this port may drive", flush=True)
    elif token_created:
        # the only time the token is shown: it goes to the owner's terminal (or the journal), never to a log line again
        print(f"new pilot token: {config.token}  (kept in {config.token_file}; shown only this once)", flush=True)
        print(f"  teleop app: paste  {ws_url}/#token={config.token}  into Settings > Server address", flush=True)
        print(f"  dashboard:  {web_url}/#token={config.token}", flush=True)
    else:
        where = f"in {config.token_file}" if config.token_file else "set in the config file"
        print(f"driving needs the pilot token ({where})", flush=True)
    if fingerprint:
        print(f"TLS certificate (self-signed) SHA-256 fingerprint: {fingerprint}", flush=True)
        print("  a browser warns the first time: check this fingerprint in the warning's certificate details, then accept", flush=True)
    print_pilot_qr(config, host, port, token_created)


def print_pilot_qr(config: ServerConfig, host: str, port: int, token_created: bool) -> None:
    """The pilot page's address, and as a QR code where someone may scan it: at a terminal, or on the first start.

    The code carries the token only where the token may be shown: when it is new, or to an owner at a
    terminal (never into a journal or a log file after the first start)."""
    with_token = config.token if (not config.auth or token_created or sys.stdout.isatty()) else None
    url = pilot_url(tls=bool(config.certfile), host=host, port=port, token=with_token if config.auth else None)
    print(f"pilot page (scan with a phone): {url}", flush=True)
    if not (token_created or sys.stdout.isatty()):
        return  # a journal or a log file: the address is enough, thirty lines of blocks on every restart are noise
    print(terminal_qr(url), end="", flush=True)
    if config.auth and with_token is None:
        print("  (this code has no token: it opens the page to watch; run teleop-server in a terminal for one that drives)", flush=True)


async def serve(
    config: ServerConfig, *, ready: asyncio.Event | None = None, token_created: bool = False, fingerprint: str | None = None
) -> None:
    bridge = Bridge(config)
    # asyncio reports failed accepts and broken sockets here, with a traceback each: keep it to a summary
    asyncio.get_running_loop().set_exception_handler(quiet_exception_handler(bridge.gate.log))
    try:
        await bridge.start()
    except OSError as exc:
        raise ConfigError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from None
    # from here on the device may be driven: SIGTERM and ^C put the outputs to neutral first, even a signal that
    # comes while the rest starts (the default action would end the process with no neutral)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is None:  # Windows has no SIGHUP
            continue
        try:
            loop.add_signal_handler(sig, on_signal, bridge, sig, stop)
        except (NotImplementedError, RuntimeError):  # Windows
            pass
    scheme = "wss" if bridge.tls else "ws"
    # what can still refuse to start (a missing extra or file, a taken port) before the server says it is up
    fleet = foxglove = None
    try:
        fleet = start_fleet(bridge, config, f"{scheme}://{reachable_host(config.host)}:{bridge.port}")
        foxglove = start_foxglove(bridge, bridge.tap, config, bridge.replay)
    except BaseException:
        if fleet is not None:
            await fleet.stop()
        await bridge.stop()
        raise
    log.info(
        "teleop-server %s listening on %s://%s:%d (%s, auth: %s)",
        __version__,
        scheme,
        config.host,
        bridge.port,
        f"replaying {config.replay}; no device is opened" if config.replay else f"serial: {config.serial}",
        "on" if config.auth else "OFF",
    )
    announce(config, bridge.port, token_created, fingerprint)
    announcer = start_announcer(bridge, config)
    if foxglove is not None:
        print(f"Foxglove endpoint: ws://{config.foxglove_host}:{foxglove.port} (no token check; see docs/recording.md)", flush=True)
    # What exists now (modules, configuration, the bridge) lives as long as the server: a full cyclic
    # collection would walk all of it while readings and the pilot's commands wait (13 ms seen with
    # 200 clients). Frozen, it is left out of every collection; only what clients bring is walked.
    gc.freeze()
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        if announcer is not None:
            await announcer.stop()
        if fleet is not None:
            await fleet.stop()
        if foxglove is not None:
            foxglove.stop()
        await bridge.stop()


def on_signal(bridge: Bridge, sig: signal.Signals, stop: asyncio.Event) -> None:
    """Every signal puts the outputs to neutral first. SIGHUP then reopens the record file and goes on."""
    hangup = sig == getattr(signal, "SIGHUP", None)
    try:
        why = f"{sig.name} received" + (" (reopening the record file)" if hangup else "; the server is stopping")
        bridge.neutral_now(why, for_good=not hangup)
    except Exception:  # never let a failed neutral stop the shutdown
        log.exception("%s: could not write neutral", sig.name)
    if hangup:
        if bridge.recorder:
            bridge.recorder.reopen()
        return
    stop.set()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.repair_recording:
        from teleop_server.record.repair import main as repair

        return repair([args.repair_recording])
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    logging.getLogger("websockets").setLevel(logging.WARNING)
    flood = LogFlood()  # whatever a peer repeats, through whichever logger (websockets' too), the log stays readable
    for handler in logging.getLogger().handlers:
        handler.addFilter(flood)
    before, after = raise_file_limit()
    if after > before:
        log.debug("open-file limit raised from %d to %d", before, after)
    try:
        config, token_created = with_token(config_from_args(args))
        if config.replay and args.serial:
            log.warning("--serial %s is not opened: a replay drives no device", args.serial)
        config, fingerprint = with_certificate(config)
        asyncio.run(serve(config, token_created=token_created, fingerprint=fingerprint))
    except ConfigError as exc:
        print(f"teleop-server: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
