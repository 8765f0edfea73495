"""``--record`` against a hostile disk, and the signals a Pi owner (or logrotate, or systemd) sends.

The server runs in its own process; the disk that stalls or fills up, the
pilot that dies and the signals all come from outside it. Figures go to
tests/artifacts/fault-figures.jsonl like the other fault tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import WsClient, device_lines, wait_for
from faultkit import TOKEN, neutral_after, record_figure, start_pilot
from guitools import ServerProcess
from launcher import running
from ports import steady_port
from websockets.asyncio.client import connect

from teleop_server.record.writer import STALL_AFTER

HELPERS = Path(__file__).resolve().parents[2]  # tests/: attacker.py lives with the other shared helpers


async def watch(server: ServerProcess) -> WsClient:
    """An observer that sees every event the server announces."""
    client = WsClient(await connect(server.url))
    await client.send({"type": "hello", "role": "observer", "client": "record-watcher"})
    await client.expect("welcome", timeout=5)
    return client


def events(client: WsClient, text: str) -> list[dict]:
    return [m for m in client.of_type("event") if text in m["text"]]


def whole_records(data: bytes) -> list[dict]:
    """Every line of the file parsed as JSON: a torn record fails here."""
    assert data == b"" or data.endswith(b"\n"), f"the file ends in a torn record: {data[-80:]!r}"
    return [json.loads(line) for line in data.decode().splitlines()]


@contextlib.asynccontextmanager
async def piloting(url: str):
    pilot = await start_pilot(url)
    try:
        yield pilot
    finally:
        with contextlib.suppress(ProcessLookupError):
            pilot.kill()
        await pilot.wait()


# -- a disk that never returns from write() -------------------------------------------------------


async def test_a_record_write_that_never_returns_does_not_stop_neutral_reaching_the_device(pty_device, tmp_path):
    """A FIFO whose reader never reads, its pipe already full: the server's first write blocks for good."""
    fifo = tmp_path / "drive.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # held open, never read
    stuffer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    with contextlib.suppress(BlockingIOError):
        while True:
            os.write(stuffer, b"x" * 4096)
    os.close(stuffer)
    try:
        async with running(ServerProcess(pty_device.path, extra=["--record", str(fifo)], token=TOKEN)) as server:
            watcher = await watch(server)
            async with piloting(server.url) as pilot:
                await wait_for(lambda: "B500" in device_lines(pty_device), timeout=5, what="the pilot drives")
                stalled = await wait_for(lambda: events(watcher, "stalled"), timeout=STALL_AFTER + 3, what="clients told")
                killed = time.monotonic()
                pilot.send_signal(signal.SIGKILL)
                neutral = await wait_for(lambda: neutral_after(pty_device, killed), timeout=2, what="neutral at the device")
            assert stalled[0]["level"] == "warning"
            assert len(events(watcher, "stalled")) == 1, "told once"
    finally:
        os.close(reader)
    record_figure("record write blocked (FIFO never read) + pilot SIGKILL -> neutral on serial", (neutral - killed) * 1000, 300)
    assert neutral - killed < 0.3


# -- a disk that fills up, then has room again ---------------------------------------------------


def can_mount_tmpfs(where: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], capture_output=True
    )
    return probe.returncode == 0


async def test_a_full_disk_is_told_to_clients_and_recording_resumes_with_a_gap_record_and_no_torn_record(pty_device, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if not can_mount_tmpfs(disk):
        pytest.skip("needs root (or CAP_SYS_ADMIN) and unshare to mount a small tmpfs in a private mount namespace")
    record = disk / "drive.jsonl"
    # the server gets a 1 MiB tmpfs of its own, gone with its mount namespace when it exits
    in_own_namespace = [
        "unshare",
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount -t tmpfs -o size=1m tmpfs "$0" && exec "$@"',
        str(disk),
    ]
    server = ServerProcess(pty_device.path, extra=["--record", str(record)], token=TOKEN, prefix=in_own_namespace)
    async with running(server):
        seen_by_test = Path(f"/proc/{server.process.pid}/root{disk}")  # the same tmpfs, from outside
        watcher = await watch(server)
        async with piloting(server.url):
            await wait_for(lambda: (seen_by_test / "drive.jsonl").exists() and b'"B500"' in (seen_by_test / "drive.jsonl").read_bytes())
            with open(seen_by_test / "filler", "wb", buffering=0) as filler, contextlib.suppress(OSError):
                while True:  # every free byte, so the server's next write is cut short or refused
                    filler.write(b"\0" * 4096)
            # the record file's last page may still take a few KB before the disk refuses a write
            told = await wait_for(lambda: events(watcher, "No space left on device"), timeout=10, what="clients told")
            await asyncio.sleep(1.0)  # a stretch of driving that cannot be recorded
            freed = time.time()  # wall clock, as the server stamps its records and events
            (seen_by_test / "filler").unlink()
            resumed = await wait_for(lambda: events(watcher, "resumed"), timeout=5, what="clients told it resumed")
            mark = len(device_lines(pty_device))
            await wait_for(lambda: len(device_lines(pty_device)) > mark + 3, what="more commands after the gap")
            await asyncio.sleep(0.2)  # those commands reach the file (the promise: within ~100 ms)
            data = (seen_by_test / "drive.jsonl").read_bytes()
        assert len(events(watcher, "No space left on device")) == 1, "told once"
    records = whole_records(data)
    gaps = [i for i, r in enumerate(records) if r["kind"] == "gap"]
    assert len(gaps) == 1
    gap = records[gaps[0]]
    assert gap["lost"] > 10 and gap["from"] <= gap["to"], gap  # about a second of readings and keepalives
    assert "No space left on device" in gap["reason"]
    assert all(r["t"] <= gap["from"] for r in records[: gaps[0]]), "the gap sits where the records went missing"
    assert all(r["t"] >= gap["to"] for r in records[gaps[0] + 1 :])
    assert any(r["kind"] == "reading" for r in records[gaps[0] + 1 :]), "recording goes on after the gap"
    assert told[0]["level"] == "warning" and f"{gap['lost']} records lost" in events(watcher, "resumed")[0]["text"]
    record_figure("record disk full: first record refused -> every client told", (told[0]["t"] - gap["from"]) * 1000, 1000)
    record_figure("record disk space back -> recording again (the gap record)", (gap["t"] - freed) * 1000, 1000)
    record_figure("record disk space back -> clients told recording resumed", (resumed[0]["t"] - freed) * 1000, 3000)


# -- rotation, logrotate, signals ------------------------------------------------------------------


async def test_the_record_rotates_at_its_size_limit_keeping_k_files_of_whole_records(pty_device, tmp_path):
    record = tmp_path / "drive.jsonl"
    limit = 0.004  # MiB: about a second of readings and commands per file
    extra = ["--record", str(record), "--record-max-mb", str(limit), "--record-keep", "2"]
    async with running(ServerProcess(pty_device.path, extra=extra, token=TOKEN)) as server, piloting(server.url):
        oldest = Path(f"{record}.2")
        await wait_for(oldest.exists, timeout=10, what="two rotations")
        first = oldest.read_bytes()[:80]
        await wait_for(lambda: oldest.read_bytes()[:80] != first, timeout=10, what="a third rotation")
    assert not Path(f"{record}.3").exists(), "keep 2: FILE.1 and FILE.2 only"
    files = [oldest, Path(f"{record}.1"), record]
    contents = [path.read_bytes() for path in files]
    assert all(len(data) <= limit * 1024 * 1024 for data in contents)
    records = [r for data in contents for r in whole_records(data)]
    assert [r["t"] for r in records] == sorted(r["t"] for r in records), "oldest file first, in order"
    assert not [r for r in records if r["kind"] == "gap"], "nothing lost at a rotation"


async def test_sighup_writes_neutral_then_the_server_goes_on_recording_into_a_new_file_after_a_rename(pty_device, tmp_path):
    record = tmp_path / "drive.jsonl"
    rotated = tmp_path / "drive.jsonl-20261122"
    async with running(ServerProcess(pty_device.path, extra=["--record", str(record)], token=TOKEN)) as server, piloting(server.url):
        await wait_for(lambda: '"B500"' in record.read_text(), what="the pilot's command recorded")
        record.rename(rotated)  # logrotate's rename; it then sends SIGHUP
        hup = time.monotonic()
        server.process.send_signal(signal.SIGHUP)
        neutral = await wait_for(lambda: neutral_after(pty_device, hup), timeout=1, what="neutral at the device")
        # the server goes on: the pilot, still driving, gets its B500 through again
        await wait_for(lambda: next((t for t, line in list(pty_device.received_lines) if t > neutral and line == "B500"), None), timeout=2)
        await wait_for(lambda: record.exists() and '"B500"' in record.read_text(), what="recording into the new file")
        assert server.process.poll() is None
    old, new = whole_records(rotated.read_bytes()), whole_records(record.read_bytes())
    assert max(r["t"] for r in old) <= min(r["t"] for r in new), "nothing recorded after the HUP went to the renamed file"
    record_figure("SIGHUP -> neutral on serial", (neutral - hup) * 1000, 100)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_sigterm_and_sigint_write_neutral_at_the_device_before_the_server_exits(pty_device, tmp_path, sig):
    record = tmp_path / "drive.jsonl"
    server = ServerProcess(pty_device.path, extra=["--record", str(record)], token=TOKEN)
    async with running(server), piloting(server.url):
        await wait_for(lambda: "B500" in device_lines(pty_device), what="the pilot drives")
        sent = time.monotonic()
        server.process.send_signal(sig)
        returncode = await asyncio.to_thread(server.process.wait, 5)
        # written before the exit (nothing can be written after it), read by the device any time now
        neutral = await wait_for(lambda: neutral_after(pty_device, sent), timeout=1, what="neutral at the device")
        await wait_for(lambda: "A0" in [line for t, line in list(pty_device.received_lines) if t > sent], timeout=1)
    after = [line for t, line in list(pty_device.received_lines) if t > sent]
    assert [line for line in after if line[:1] == "B"][-1] == "B0", "the robot is left at neutral"
    assert [line for line in after if line[:1] == "A"][-1] == "A0"
    assert returncode == 0
    recorded = [r.get("line") for r in whole_records(record.read_bytes())]
    assert "B0" in recorded[recorded.index("B500") :], "the shutdown's neutral is recorded too"
    record_figure(f"{sig.name} -> neutral on serial", (neutral - sent) * 1000, 100)


async def test_a_pilot_still_sending_after_sigterm_never_drives_again(pty_device, tmp_path):
    """A pilot that goes on sending and never answers the server's close (a frozen app, a socket full of video)
    keeps its connection open for up to the close timeout: not one of its controls reaches the device after the
    signal's neutral."""
    record = tmp_path / "drive.jsonl"
    server = ServerProcess(pty_device.path, extra=["--record", str(record)], token=TOKEN)
    async with running(server):
        deaf = subprocess.Popen(
            [sys.executable, str(HELPERS / "attacker.py"), "deaf-pilot", str(server.port), TOKEN, "8"], stdout=subprocess.PIPE, text=True
        )
        try:
            await wait_for(lambda: "B500" in device_lines(pty_device), what="the deaf pilot drives")
            sent = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            returncode = await asyncio.to_thread(server.process.wait, 10)
            # the barrier: a line written into the pty after the server exited comes after everything it wrote
            os.write(pty_device._slave, b"BARRIER\n")
            await wait_for(lambda: "BARRIER" in device_lines(pty_device), timeout=2, what="the barrier at the device")
            # its next sends meet the closed socket: it says how it ended (killed now, it would print nothing)
            out, _ = await asyncio.to_thread(deaf.communicate, timeout=10)
        finally:
            if deaf.poll() is None:
                deaf.kill()
                deaf.communicate(timeout=10)
    after = [line for t, line in list(pty_device.received_lines) if t >= sent]
    neutral = after.index("B0")
    assert "B500" not in after[neutral:], f"the pilot drove again after the signal's neutral: {after}"
    assert returncode == 0
    said = json.loads(out.strip().splitlines()[-1])
    assert said["controls"] > 0
    assert said["ended"] != "time", "the server's exit cut the deaf pilot off before its own time was up"
    texts = [r.get("text", "") for r in whole_records(record.read_bytes())]
    assert any("SIGTERM received; the server is stopping" in text for text in texts), "the shutdown is in the recording"


async def test_an_unwritable_record_path_is_a_one_line_error_at_start(tmp_path):
    result = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "server",
            "--no-auth",
            "--host",
            "127.0.0.1",
            "--port",
            str(steady_port()),
            "--record",
            str(tmp_path / "no-such-dir" / "drive.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"teleop-server: error: cannot record to {tmp_path}/no-such-dir/drive.jsonl: No such file or directory"
    ]
