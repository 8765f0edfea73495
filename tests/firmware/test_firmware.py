"""The Arduino firmware: its codes, its rules on the host, and the real ELF running in simavr."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import serial
from conftest import WsClient
from guitools import ServerProcess
from websockets.asyncio.client import connect

from teleop_server.rules import serial_protocol
from teleop_server.rules.serial_protocol import CHANNELS, STOP_BYTE

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
NEEDS = "apt install make gcc gcc-avr avr-libc arduino-core-avr arduino-mk libsimavr-dev libsimavrparts1 libelf-dev"


def test_firmware_command_rules_on_the_host(tmp_path):
    if not shutil.which("cc"):
        pytest.skip(f"no host C compiler ({NEEDS})")
    binary = tmp_path / "test_commands"
    subprocess.run(
        ["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", str(binary), "test/test_commands.c", "commands.c"],
        cwd=FIRMWARE,
        check=True,
    )
    result = subprocess.run([str(binary)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    assert "passed: 0 failures" in result.stdout


@pytest.fixture(scope="session")
def firmware_elf(tmp_path_factory) -> Path:
    if not (shutil.which("avr-gcc") and Path("/usr/share/arduino/Arduino.mk").exists()):
        pytest.skip(f"AVR toolchain not installed ({NEEDS})")
    objdir = tmp_path_factory.mktemp("build-uno")
    result = subprocess.run(["make", "-C", str(FIRMWARE), f"OBJDIR={objdir}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Program:" in result.stdout and "Data:" in result.stdout  # flash and RAM use printed
    assert (objdir / "teleop.hex").exists()
    return objdir / "teleop.elf"


@pytest.fixture(scope="session")
def bridge_binary() -> Path:
    if not Path("/usr/include/simavr/sim_avr.h").exists():
        pytest.skip(f"simavr not installed ({NEEDS})")
    subprocess.run(["make", "-C", str(FIRMWARE / "sim")], check=True, capture_output=True)
    return FIRMWARE / "sim" / "simavr-bridge"


class SimulatedBoard:
    """The real firmware ELF in simavr, its UART on a pty at ``link``."""

    def __init__(self, bridge: Path, elf: Path, link: Path, *, trace: bool = False) -> None:
        self.link = link
        self.process = subprocess.Popen(
            [str(bridge), str(elf), "--link", str(link), *(["--trace"] if trace else [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = ""
        while not line.startswith("ready "):  # simavr prints its own "Loaded ..." lines first
            line = self.process.stdout.readline()
            assert line, "simavr-bridge exited before its pty was ready"

    def command(self, text: str) -> None:
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.command("quit")
            try:
                self.process.wait(3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def board(firmware_elf, bridge_binary, tmp_path):
    board = SimulatedBoard(bridge_binary, firmware_elf, tmp_path / "ttyUNO")
    yield board
    board.stop()


class LineReader:
    """Whole lines from a serial port; keeps partial data between calls, drops a partial first line."""

    def __init__(self, port: serial.Serial) -> None:
        self.port = port
        self.buffer = b""
        self.started = False

    def read(self, seconds: float, until: str | None = None) -> list[str]:
        lines: list[str] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.buffer += self.port.read(256)
            *complete, self.buffer = self.buffer.split(b"\n")
            if complete and not self.started:
                complete = complete[1:]  # we may have opened the port mid-line
                self.started = True
            lines += [c.decode(errors="replace").strip() for c in complete]
            if until and any(until in line for line in lines):
                break
        return lines


def test_malformed_lines_get_the_right_error_from_the_real_firmware(board):
    with serial.Serial(str(board.link), 115200, timeout=0.05) as port:
        port.reset_input_buffer()
        port.write(b"H\n")  # a known first line to sync on
        reader = LineReader(port)
        reader.read(0.3)
        port.write(b"Z1\nB12x\nA300\nO9 1500\nB" + b"1" * 80 + b"\nB42\n")
        lines = [line for line in reader.read(1.5) if line.startswith(("ERR", "OK"))]
    assert lines[:6] == [
        "ERR 1 unknown command",
        "ERR 2 bad number",
        "ERR 3 out of range",
        "ERR 5 bad channel",
        "ERR 4 line too long",
        "OK",
    ]


@pytest.fixture
def server_on_board(board, tmp_path):
    config = tmp_path / "board.toml"
    config.write_text(
        '[serial]\nready_timeout_ms = 300\n[[output]]\ncommand = "B"\nsource = "axis0"\nscale = 1000\nmin = -1000\nmax = 1000\n'
    )
    server = ServerProcess(str(board.link), extra=["--config", str(config)]).start()
    yield server
    server.stop()


async def connected_pilot(server: ServerProcess) -> WsClient:
    client = WsClient(await connect(server.url))
    await client.send({"type": "hello", "role": "pilot", "client": "firmware-test", "token": server.token})
    await client.expect("welcome")
    await client.expect("status", lambda m: m["serial"]["state"] == "ready", timeout=10)
    return client


async def test_stick_move_reaches_the_firmware_and_shows_in_its_outputs(board, server_on_board):
    pilot = await connected_pilot(server_on_board)
    try:
        await pilot.send({"type": "control", "axes": [0.25]})
        reading = await pilot.expect("reading", lambda m: m["values"].get("disp") == 250, timeout=5)
        assert reading["values"]["wd"] == 0
    finally:
        await pilot.close()


async def test_changed_analog_input_reaches_the_client(board, server_on_board):
    pilot = await connected_pilot(server_on_board)
    try:
        board.command("adc 0 4900")  # 4.9 V of a 5 V reference: 1003 counts
        board.command("button 1")
        try:
            await pilot.expect("reading", lambda m: abs(m["values"].get("A0", 0) - 1003) <= 2 and m["values"].get("D2") == 1, timeout=5)
        except AssertionError:
            raise AssertionError(f"last readings: {pilot.of_type('reading')[-2:]}") from None
    finally:
        await pilot.close()


async def test_cutting_the_host_off_trips_the_firmware_watchdog_within_500ms(board, server_on_board):
    pilot = await connected_pilot(server_on_board)
    for _ in range(20):
        await pilot.send({"type": "control", "axes": [0.6]})
        await asyncio.sleep(0.02)
    await pilot.expect("reading", lambda m: m["values"].get("disp") == 600, timeout=5)
    os.kill(server_on_board.process.pid, signal.SIGKILL)  # no goodbye, no neutral from the host
    killed = time.monotonic()
    server_on_board.process.wait()
    with serial.Serial(str(board.link), 115200, timeout=0.02) as port:
        reader = LineReader(port)
        lines = reader.read(2.0, until="EVT watchdog neutral")
        tripped = time.monotonic()
        after = reader.read(0.5, until="wd:1")
    assert "EVT watchdog neutral" in lines
    print(f"firmware watchdog: neutral {1000 * (tripped - killed):.0f} ms after the server was killed")
    assert tripped - killed <= 0.65  # 500 ms watchdog, plus the last line's age and the read
    report = next(line for line in after if line.startswith("A0:"))
    assert "disp:0" in report and "O0:1500" in report and "wd:1" in report
    await pilot.ws.close()


async def test_killing_and_restarting_the_simulated_firmware_is_told_and_control_resumes(
    firmware_elf, bridge_binary, board, server_on_board
):
    """The real firmware's process dies (an unplug) and comes back on the same path (a replug)."""
    from faultkit import record_figure

    watcher = WsClient(await connect(server_on_board.url))
    await watcher.send({"type": "hello", "role": "observer", "client": "watcher"})
    await watcher.expect("status", lambda m: m["serial"]["state"] == "ready", timeout=10)
    pilot = await connected_pilot(server_on_board)
    for _ in range(10):
        await pilot.send({"type": "control", "axes": [0.6]})
        await asyncio.sleep(0.02)
    await pilot.expect("reading", lambda m: m["values"].get("disp") == 600, timeout=5)
    marks = (watcher.mark(), pilot.mark())
    board.process.kill()  # simavr gone: its pty closes under the server
    killed = time.monotonic()
    board.process.wait()
    for client, mark in zip((watcher, pilot), marks, strict=True):
        await client.expect("status", lambda m: m["serial"]["state"] == "lost", timeout=1.0, since=mark)
    told = time.monotonic() - killed
    replugged = SimulatedBoard(bridge_binary, firmware_elf, board.link)
    board.process = replugged.process  # the fixture stops whichever runs
    booted = time.monotonic()
    mark = pilot.mark()
    while not any(m.get("values", {}).get("disp") == -400 for m in pilot.of_type("reading", mark)):
        assert time.monotonic() - booted < 5, "control did not resume"
        await pilot.send({"type": "control", "axes": [-0.4]})
        await asyncio.sleep(0.02)
    resumed = time.monotonic() - booted
    record_figure("simavr firmware killed -> every client told", told * 1000, 1000)
    record_figure("simavr firmware restarted -> pilot's command shown by the firmware", resumed * 1000, 2000)
    assert told < 1.0
    assert resumed < 2.0
    await pilot.ws.close()
    await watcher.ws.close()


def test_firmware_line_parser_survives_a_short_fuzzing_run(tmp_path):
    """libFuzzer with ASan/UBSan over the real parser; bench/fuzz_firmware.sh runs it for longer."""
    if not (shutil.which("clang") and list(Path("/usr/lib").glob("llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a"))):
        pytest.skip("clang with libFuzzer is not installed (apt install clang libclang-rt-14-dev)")
    binary = tmp_path / "fuzz_commands"
    subprocess.run(
        [
            "clang",
            "-g",
            "-O1",
            "-fsanitize=fuzzer,address,undefined",
            "-fno-sanitize-recover=undefined",
            "-I.",
            "test/fuzz_commands.c",
            "commands.c",
            "-o",
            str(binary),
        ],
        cwd=FIRMWARE,
        check=True,
    )
    corpus = tmp_path / "corpus"
    shutil.copytree(FIRMWARE / "test" / "corpus", corpus)
    result = subprocess.run([str(binary), "-max_total_time=10", "-seed=1", str(corpus)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = int(re.search(r"Done (\d+) runs", result.stderr).group(1))
    print(f"firmware parser fuzzing: {runs} runs in 10 s, no failure")
    assert runs > 10_000


def test_real_firmware_info_reply_lists_the_tables_channels_and_the_stop_byte(board):
    with serial.Serial(str(board.link), 115200, timeout=0.05) as port:
        reader = LineReader(port)
        port.write(b"H\n")
        reader.read(0.3)
        port.write(b"I\n")
        lines = reader.read(2.0, until="OK name=")
    reply = serial_protocol.parse_device_line(next(line for line in lines if line.startswith("OK name=")))
    assert reply.fields["name"] == serial_protocol.FIRMWARE_NAME and reply.fields["version"] == serial_protocol.FIRMWARE_VERSION
    assert reply.fields["protocol"] == str(serial_protocol.PROTOCOL_VERSION)
    assert serial_protocol.parse_outputs(reply.fields["outputs"]) == CHANNELS
    assert serial_protocol.supports_stop(reply.fields)


# ---------------------------------------------------------------------------- the stop byte, timed in simulated cycles

CPU_HZ = 16_000_000  # the Uno build's F_CPU
STOP = bytes([STOP_BYTE])
NEUTRAL = {f"O{n}": c.neutral for n, c in enumerate(CHANNELS)} | {"led": 0}
DRIVEN = {"O0": 1800, "O1": 1200, "O2": 200, "O3": 100, "led": 1}


class TracedBoard(SimulatedBoard):
    """The board with simavr-bridge's --trace: every received byte and every output change, with its cycle."""

    def __init__(self, bridge: Path, elf: Path, link: Path) -> None:
        super().__init__(bridge, elf, link, trace=True)
        self.received: list[tuple[int, int]] = []  # (cycle, byte): the byte entered simavr's UART
        self.arrived: list[tuple[int, int]] = []  # (cycle, byte): the firmware's receive interrupt took it
        self.outputs: list[tuple[int, dict[str, int]]] = []  # (cycle, outputs as the pins show them)
        self._reader = threading.Thread(target=self._read_trace, daemon=True)
        self._reader.start()

    def _read_trace(self) -> None:
        for line in self.process.stdout:
            kind, _, rest = line.strip().partition(" ")
            if kind in ("rx", "got"):
                cycle, byte = rest.split()
                (self.received if kind == "rx" else self.arrived).append((int(cycle), int(byte, 16)))
            elif kind == "out":
                cycle, *fields = rest.split()
                self.outputs.append((int(cycle), {k: int(v) for k, v in (f.split("=") for f in fields)}))

    def pins_at(self, cycle: int) -> dict[str, int]:
        return next((values for at, values in reversed(list(self.outputs)) if at <= cycle), {})

    def last_stop(self, log: list[tuple[int, int]]) -> int | None:
        return max((cycle for cycle, byte in list(log) if byte == STOP_BYTE), default=None)


@pytest.fixture
def traced_board(firmware_elf, bridge_binary, tmp_path):
    board = TracedBoard(bridge_binary, firmware_elf, tmp_path / "ttyUNO")
    yield board
    board.stop()


def wait_until(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while not (value := predicate()):
        assert time.monotonic() < deadline, what
        time.sleep(0.005)
    return value


@pytest.mark.parametrize("case", ["partial line", "line in flight", "long reply being sent", "receive queue overrun"])
def test_stop_byte_puts_the_real_firmwares_pins_to_neutral_within_2ms(traced_board, case):
    board = traced_board
    with serial.Serial(str(board.link), 115200, timeout=0.02) as port:
        reader = LineReader(port)
        port.write(b"H\n")
        reader.read(0.3)
        port.write(b"O0 1800\nO1 1200\nO2 200\nO3 100\nA1\n")
        assert reader.read(2.0, until="OK").count("OK") >= 1
        wait_until(lambda: board.outputs and board.outputs[-1][1] == DRIVEN, 2.0, "outputs never reached the driven values")
        if case == "partial line":  # half a command has arrived when the stop comes
            port.write(b"O1 17")
            wait_until(lambda: any(byte == ord("7") for _, byte in board.received), 2.0, "partial line never arrived")
            port.write(STOP)
        elif case == "line in flight":  # a command sent, its reply not yet back
            port.write(b"O0 1900\n" + STOP)
        elif case == "long reply being sent":  # four ~150-character info replies still going out at 115200 baud (53 ms)
            port.write(b"I\n" * 4 + STOP)
        else:  # 120 bytes of queries while each reply takes 13 ms to send: the 64-byte receive queue is full when the stop comes
            port.write(b"I\n" * 60 + STOP)
        lines = reader.read(2.0, until="EVT stop neutral")
        stop_at = wait_until(lambda: board.last_stop(board.arrived), 3.0, "the stop byte never arrived")
        sent_at = board.last_stop(board.received)
        neutral_at = wait_until(
            lambda: next((at for at, values in list(board.outputs) if at >= stop_at and values == NEUTRAL), None), 2.0, "pins never neutral"
        )
        # Ordering barrier: a query is answered (it does not resume), so every output change up to here is in the trace.
        port.write(b"I\n")
        lines += reader.read(2.0, until="OK name=")
        barrier = max(cycle for cycle, _ in list(board.received))
        after = [values for at, values in list(board.outputs) if neutral_at <= at <= barrier]
        port.write(b"H\n")
        resumed = reader.read(2.0, until="EVT watchdog resume")

    latency_ms = (neutral_at - stop_at) * 1000 / CPU_HZ
    queued_ms = (stop_at - sent_at) * 1000 / CPU_HZ
    print(
        f"stop byte ({case}): pins neutral {latency_ms:.3f} ms (simulated) after it arrived ({queued_ms:.2f} ms queued in simavr's UART behind earlier bytes)"
    )
    assert latency_ms <= 2.0  # the contract
    assert latency_ms <= 0.25  # and in fact the receive interrupt's doing, not the main loop's next pass
    assert lines.count("EVT stop neutral") == 1
    assert all(values == NEUTRAL for values in after), after  # and they stay neutral until a control line
    assert board.pins_at(barrier) == NEUTRAL
    assert "EVT watchdog resume" in resumed
    if case == "partial line":
        assert not any(line.startswith("ERR") for line in lines)  # the partial "O1 17" was dropped, not executed
    elif case == "line in flight":
        assert lines.index("OK") < lines.index("EVT stop neutral")  # the line before the stop is still answered first
    elif case == "long reply being sent":
        assert sum(line.startswith("OK name=") for line in lines[: lines.index("EVT stop neutral")]) == 4


async def test_emergency_stop_through_the_server_reaches_the_real_firmware_as_the_stop_byte(traced_board, tmp_path):
    """teleop-server reads stop=24 from the real firmware's info reply and sends the byte on e-stop, ahead of the neutral lines."""
    config = tmp_path / "servo.toml"
    config.write_text('[[output]]\ncommand = "O"\nchannel = 0\nsource = "axis0"\nscale = 500\noffset = 1500\n')
    server = ServerProcess(str(traced_board.link), extra=["--config", str(config)]).start()

    driven_at = 0  # the cycle the servo reached 1800: the stop to time is the first one after it

    def first_stop() -> int | None:
        return min((cycle for cycle, byte in list(traced_board.arrived) if byte == STOP_BYTE and cycle > driven_at), default=None)

    def bytes_since_the_stop() -> bytes:
        stop_at = first_stop()
        return bytes(byte for cycle, byte in list(traced_board.arrived) if stop_at is not None and cycle >= stop_at)

    try:
        pilot = await connected_pilot(server)
        # the server read stop=24 in the firmware's info reply (under heavy load simavr may answer late: it gets 1 s)
        await pilot.expect("status", lambda m: m["serial"].get("device", {}).get("stop") == str(STOP_BYTE), timeout=10)
        deadline = time.monotonic() + 5
        while not (traced_board.outputs and traced_board.outputs[-1][1]["O0"] == 1800):
            assert time.monotonic() < deadline, "the servo never moved"
            await pilot.send({"type": "control", "axes": [0.6]})
            await asyncio.sleep(0.02)
        driven_at = traced_board.outputs[-1][0]
        await pilot.send({"type": "estop"})
        try:
            await asyncio.to_thread(wait_until, lambda: b"O0 1500\n" in bytes_since_the_stop(), 10.0, "no stop byte then neutral line")
        except AssertionError:
            sent = bytes(byte for cycle, byte in list(traced_board.received) if cycle > driven_at)
            raise AssertionError(
                f"no stop byte then neutral line reached the firmware; bytes sent after the servo moved: {sent[-200:]!r}"
            ) from None
        await pilot.close()
    finally:
        server.stop()
    stop_at = first_stop()
    neutral_at = next(at for at, values in list(traced_board.outputs) if at >= stop_at and values["O0"] == 1500)
    latency_ms = (neutral_at - stop_at) * 1000 / CPU_HZ
    print(f"e-stop through teleop-server: servo pin neutral {latency_ms:.3f} ms (simulated) after the stop byte, before the neutral line")
    assert latency_ms <= 2.0
    since = [(cycle, byte) for cycle, byte in list(traced_board.arrived) if cycle >= stop_at]
    line_at = since[bytes(byte for _, byte in since).index(b"O0 1500\n")][0]
    assert neutral_at < line_at  # the byte came first and did the job; the neutral line only confirms it
