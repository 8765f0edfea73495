"""``teleop-server``: the command a Pi owner runs."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from dataclasses import replace

from teleop import __version__
from teleop.errors import ConfigError

from .bridge import Bridge
from .config import ServerConfig, load_config

log = logging.getLogger("teleop.server")

DESCRIPTION = """\
Bridge WebSocket clients (the teleop desktop app, browsers) to an Arduino on USB serial.

Every client receives the device's readings as they arrive. One client at a
time is the pilot: its gamepad drives the device through the command mapping
in the config file. If the pilot goes quiet, every output is set to neutral.
"""

EPILOG = """\
examples:
  teleop-server --serial sim                 try it without hardware
  teleop-server --serial /dev/ttyACM0        an Arduino Uno on USB
  teleop-server --serial /dev/ttyUSB0 --baud 9600 --config robot.toml --record drive.jsonl

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
    parser.add_argument("--host", help="address to listen on; 0.0.0.0 means every network interface (default: 0.0.0.0)")
    parser.add_argument("--port", type=int, help="TCP port for WebSocket clients and the dashboard (default: 8765)")
    parser.add_argument("--config", metavar="FILE", help="TOML config file with settings and the stick-to-command mapping")
    parser.add_argument("--record", metavar="FILE", help="append every reading and every command sent to the device to FILE, as JSON lines")
    parser.add_argument(
        "--failsafe-ms",
        type=int,
        metavar="MS",
        help="set outputs to neutral when the pilot sends nothing for MS milliseconds (default: 250)",
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
        "host": args.host,
        "port": args.port,
        "record": args.record,
        "failsafe_timeout": None if args.failsafe_ms is None else args.failsafe_ms / 1000,
    }
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    config.validate()
    return config


async def serve(config: ServerConfig, *, ready: asyncio.Event | None = None) -> None:
    bridge = Bridge(config)
    try:
        await bridge.start()
    except OSError as exc:
        raise ConfigError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from None
    log.info("teleop-server %s listening on ws://%s:%d (serial: %s)", __version__, config.host, bridge.port, config.serial)
    print(f"teleop-server listening on ws://{config.host}:{bridge.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows
            pass
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await bridge.stop()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    logging.getLogger("websockets").setLevel(logging.WARNING)
    try:
        config = config_from_args(args)
        asyncio.run(serve(config))
    except ConfigError as exc:
        print(f"teleop-server: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
