"""A simulated Arduino that speaks the same line protocol as the firmware.

It is the default device for the demo and the tests: ``teleop-server --serial sim``
runs it in-process, and ``python -m teleop_server.device.simulated --link /tmp/robot`` puts it
behind a pseudo-terminal that any serial program (including the server) opens
like a USB port.

The model is sans-I/O: bytes in, bytes out, with the clock passed in, so its
rules (replies, errors, watchdog, report rate, the realtime stop byte) are
tested directly and mirror ``firmware/commands.c``. Codes, texts, ranges,
channels and report keys come from the table in :mod:`teleop_server.rules.serial_protocol`,
as the firmware's do (through its generated ``protocol.h``).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import sys
import tty
from collections import deque

from teleop import __version__
from teleop.aio.tasks import cancel_and_wait
from teleop_server.rules.serial_protocol import (
    ANALOG_INPUTS,
    CHANNELS,
    DEFAULT_REPORT_MS,
    DISPLAY_RANGE,
    LEDS_RANGE,
    MAX_LINE,
    REPORT_MS_RANGE,
    STOP,
    STOP_BYTE,
    WATCHDOG_MS,
    ChannelSpec,
    DeviceError,
    EventLine,
    error_reply,
    event_line,
    info_reply,
    report_line,
)


class _Reject(Exception):
    def __init__(self, code: DeviceError) -> None:
        self.code = code


def _parse_int(text: str) -> int:
    body = text[1:] if text[:1] in "+-" else text
    if not body.isdigit() or len(body) > 6:
        raise _Reject(DeviceError.BAD_NUMBER)
    return int(text)


def _in_range(value: int, bounds: tuple[int, int]) -> int:
    if not bounds[0] <= value <= bounds[1]:
        raise _Reject(DeviceError.OUT_OF_RANGE)
    return value


class SimulatedDevice:
    """The firmware's behaviour in Python: feed it bytes and time, collect what it would print."""

    def __init__(
        self,
        *,
        name: str = "teleop-sim",
        version: str = __version__,
        report_ms: int = DEFAULT_REPORT_MS,
        watchdog_ms: int = WATCHDOG_MS,
        channels: tuple[ChannelSpec, ...] = CHANNELS,
        seed: int = 1,
    ) -> None:
        self.name = name
        self.version = version
        self.report_ms = report_ms
        self.watchdog_s = watchdog_ms / 1000
        self.channels = channels
        self.outputs = [c.neutral for c in channels]
        self.display = 0
        self.leds = 0
        self.watchdog_tripped = True  # nothing drives the outputs until the host speaks
        self._random = random.Random(seed)
        self._buffer = bytearray()
        self._overflow = False
        self._last_valid = 0.0
        self._next_report = 0.0
        self._boot_time = 0.0
        self._analog_override: dict[int, int] = {}
        self._digital_override: dict[int, int] = {}

    # -- test hooks --------------------------------------------------------------

    def set_analog(self, pin: int, value: int | None) -> None:
        """Pin an analog input to a value (0..1023), or None to let it wander again."""
        if value is None:
            self._analog_override.pop(pin, None)
        else:
            self._analog_override[pin] = max(0, min(1023, int(value)))

    def set_digital(self, pin: int, value: int | None) -> None:
        if value is None:
            self._digital_override.pop(pin, None)
        else:
            self._digital_override[pin] = 1 if value else 0

    # -- protocol ----------------------------------------------------------------

    def boot(self, now: float) -> bytes:
        self._boot_time = now
        self._last_valid = now
        self._next_report = now + self.report_ms / 1000 if self.report_ms else math.inf
        return f"READY {self.name} {self.version}\n".encode()

    def receive(self, data: bytes, now: float) -> bytes:
        """Consume bytes from the host; return every reply (one per complete line) and event."""
        out = bytearray()
        for byte in data:
            if byte == STOP_BYTE:  # realtime: before the line buffer, whose partial line it drops
                self._buffer.clear()
                self._overflow = False
                self._neutral()
                self.watchdog_tripped = True  # neutral until the next control line
                out += self._event(EventLine.STOP_NEUTRAL)
            elif byte == 0x0A:  # newline ends a command
                if self._overflow:
                    out += self._error(DeviceError.LINE_TOO_LONG)
                elif self._buffer:
                    out += self._execute(self._buffer.decode("ascii", "replace"), now)
                self._buffer.clear()
                self._overflow = False
            elif byte == 0x0D:
                continue
            elif len(self._buffer) >= MAX_LINE:
                self._overflow = True
            else:
                self._buffer.append(byte)
        return bytes(out)

    def poll(self, now: float) -> bytes:
        """Time-driven output: the watchdog and periodic reports."""
        out = bytearray()
        if not self.watchdog_tripped and now - self._last_valid >= self.watchdog_s:
            self.watchdog_tripped = True
            self._neutral()
            out += self._event(EventLine.WATCHDOG_NEUTRAL)
        if now >= self._next_report:
            out += (self.report(now) + "\n").encode()
            self._next_report = max(self._next_report + self.report_ms / 1000, now - 0.5)
        return bytes(out)

    def next_deadline(self) -> float:
        watchdog = math.inf if self.watchdog_tripped else self._last_valid + self.watchdog_s
        return min(watchdog, self._next_report)

    # -- internals ---------------------------------------------------------------

    def _neutral(self) -> None:
        self.outputs = [c.neutral for c in self.channels]
        self.display = 0
        self.leds = 0

    @staticmethod
    def _event(event: EventLine) -> bytes:
        return (event_line(event) + "\n").encode()

    def _error(self, code: DeviceError) -> bytes:
        return (error_reply(code) + "\n").encode()

    def _execute(self, line: str, now: float) -> bytes:
        try:
            reply = self._apply(line)
        except _Reject as reject:
            return self._error(reject.code)
        if line[0] in "BAOH":  # control lines feed the watchdog; queries (I, R) do not
            self._last_valid = now
        if self.watchdog_tripped and line[0] in "BAOH":
            self.watchdog_tripped = False
            reply = event_line(EventLine.WATCHDOG_RESUME) + "\n" + reply
        if line[0] == "R":
            self._next_report = now + self.report_ms / 1000 if self.report_ms else math.inf
        return reply.encode()

    def _apply(self, line: str) -> str:
        command, arg = line[0], line[1:]
        if command == "B":
            self.display = _in_range(_parse_int(arg), DISPLAY_RANGE)
        elif command == "A":
            self.leds = _in_range(_parse_int(arg), LEDS_RANGE)
        elif command == "O":
            channel_text, sep, value_text = arg.partition(" ")
            if not sep:
                raise _Reject(DeviceError.BAD_NUMBER)
            channel = _parse_int(channel_text)
            if not 0 <= channel < len(self.channels):
                raise _Reject(DeviceError.BAD_CHANNEL)
            spec = self.channels[channel]
            self.outputs[channel] = _in_range(_parse_int(value_text), (spec.low, spec.high))
        elif command == "H" and not arg:
            pass
        elif command == "I" and not arg:
            return info_reply(self.name, self.version, self.channels, self.report_ms) + "\n"
        elif command == "R":
            ms = _parse_int(arg)
            if ms != 0:
                _in_range(ms, REPORT_MS_RANGE)
            self.report_ms = ms
        else:
            raise _Reject(DeviceError.UNKNOWN_COMMAND)
        return "OK\n"

    def _analog(self, pin: int, now: float) -> int:
        if pin in self._analog_override:
            return self._analog_override[pin]
        t = now - self._boot_time
        wave = 512 + 400 * math.sin(2 * math.pi * t / (4.0 + pin))
        return max(0, min(1023, int(wave + self._random.uniform(-6, 6))))

    def report(self, now: float) -> str:
        """The periodic report line (no newline), keys in the table's order."""
        values = {f"A{pin}": self._analog(pin, now) for pin in range(ANALOG_INPUTS)}
        values["D2"] = self._digital_override.get(2, 1 if int(now - self._boot_time) % 6 >= 4 else 0)
        values |= {"disp": self.display, "led": self.leds, "wd": int(self.watchdog_tripped)}
        values |= {f"O{i}": v for i, v in enumerate(self.outputs)}
        return report_line(values, self.channels)


# --------------------------------------------------------------------------- pty runner


class PtyDevice:
    """Runs a :class:`SimulatedDevice` behind a pseudo-terminal on an asyncio loop.

    ``path`` is the name a serial program opens (a symlink to the pty's slave
    end when ``link`` is given). :meth:`unplug` closes the master end, which the
    other side sees exactly like a USB cable being pulled.
    """

    def __init__(self, device: SimulatedDevice | None = None, *, link: str | None = None, drain_bytes_per_s: float | None = None) -> None:
        self.device = device or SimulatedDevice()
        self.link = link
        self.drain_bytes_per_s = drain_bytes_per_s
        #: (time, line) of every complete line received; stop bytes are not lines and go to received_stops.
        self.received_lines: deque[tuple[float, str]] = deque(maxlen=100_000)
        self.received_stops: deque[float] = deque(maxlen=100_000)
        self._master = -1
        self._slave = -1
        self._task: asyncio.Task[None] | None = None
        self.path = ""

    async def start(self) -> str:
        self._master, self._slave = os.openpty()
        tty.setraw(self._master)
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        if self.link:
            tmp = self.link + ".tmp"
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(self.path, tmp)
            os.replace(tmp, self.link)
            self.path = self.link
        self._task = asyncio.create_task(self._run())
        return self.path

    async def unplug(self) -> None:
        """Close the pty: the host sees a disconnect. :meth:`start` plugs a fresh one in."""
        await cancel_and_wait(self._task)
        self._task = None
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = -1
        if self.link and os.path.lexists(self.link):
            os.unlink(self.link)

    async def stop(self) -> None:
        await self.unplug()

    def emit(self, line: str) -> None:
        """Print an extra line from the device side (tests and benchmarks inject reports this way)."""
        self._write(line.encode("ascii") + b"\n")

    def _log_lines(self, data: bytes, now: float) -> bytes:
        """Log the complete lines in data; return the unfinished tail."""
        *lines, tail = data.split(b"\n")
        for line in lines:
            self.received_lines.append((now, line.decode("ascii", "replace")))
        return tail

    def _write(self, data: bytes) -> None:
        if data:
            try:
                os.write(self._master, data)
            except BlockingIOError:
                pass  # host not reading: drop, as a real UART overruns

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()
        loop.add_reader(self._master, readable.set)
        clock = loop.time
        try:
            self._write(self.device.boot(clock()))
            partial = b""
            while True:
                timeout = max(0.0, self.device.next_deadline() - clock())
                try:
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel
                    async with asyncio.timeout(min(timeout, 0.05)):
                        await readable.wait()
                except TimeoutError:
                    pass
                readable.clear()
                try:
                    budget = 4096
                    if self.drain_bytes_per_s:
                        budget = 1
                    data = os.read(self._master, budget)
                except BlockingIOError:
                    data = b""
                except OSError:
                    return
                if data:
                    now = clock()
                    # The log keeps what the device executes: a stop byte is logged on its own and drops the partial line.
                    *before, after = data.split(STOP)
                    for chunk in before:
                        self._log_lines(partial + chunk, now)
                        self.received_stops.append(now)
                        partial = b""
                    partial = self._log_lines(partial + after, now)
                    self._write(self.device.receive(data, now))
                    if self.drain_bytes_per_s:
                        await asyncio.sleep(len(data) / self.drain_bytes_per_s)
                        readable.set()
                self._write(self.device.poll(clock()))
        finally:
            loop.remove_reader(self._master)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m teleop_server.device.simulated",
        description="Run the simulated Arduino behind a pseudo-terminal, so serial programs can open it like a USB port.",
    )
    parser.add_argument("--link", default="/tmp/teleop-sim", help="symlink to create for the pty (default: %(default)s)")
    parser.add_argument("--report-ms", type=int, default=50, help="report interval in ms (default: %(default)s)")
    args = parser.parse_args(argv)

    async def run() -> None:
        pty_device = PtyDevice(SimulatedDevice(report_ms=args.report_ms), link=args.link)
        path = await pty_device.start()
        print(f"simulated device on {path} (-> {os.ttyname(pty_device._slave)}); Ctrl+C to stop", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await pty_device.stop()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
