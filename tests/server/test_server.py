"""The bridge server end to end: real WebSocket clients, the simulated device behind a real pty."""

import asyncio
import itertools
import json
import socket
import time

from conftest import WsClient, device_lines, wait_for
from websockets.asyncio.client import connect

from teleop_server.bridge import Bridge
from teleop_server.config import ServerConfig


async def test_pilot_stick_move_reaches_the_serial_line(make_bridge, make_client, pty_device):
    bridge = await make_bridge(pty_device.path)
    pilot = await make_client(bridge, {"role": "pilot", "client": "test"})
    assert pilot.of_type("welcome")[0]["role"] == "pilot"
    await pilot.send({"type": "control", "seq": 1, "axes": [0.25], "buttons": [0, 1]})
    await wait_for(lambda: "B250" in device_lines(pty_device))
    await wait_for(lambda: "A2" in device_lines(pty_device))


async def test_welcome_carries_the_latest_readings_snapshot(make_bridge, make_client, pty_device):
    bridge = await make_bridge(pty_device.path)
    await wait_for(lambda: "A0" in bridge.readings)
    observer = await make_client(bridge, {"role": "observer"})
    welcome = observer.of_type("welcome")[0]
    assert welcome["protocol"] == 1
    assert {"A0", "A1", "D2"} <= set(welcome["readings"])
    assert welcome["status"]["serial"]["state"] == "ready"


async def test_readings_are_pushed_to_every_observer(make_bridge, make_client, pty_device):
    bridge = await make_bridge(pty_device.path, max_per_address=20)  # every client here comes from 127.0.0.1
    pty_device.device.set_analog(0, 321)
    observers = [await make_client(bridge, {"role": "observer", "client": f"o{i}"}) for i in range(20)]
    for observer in observers:
        await observer.expect("reading", lambda m: m["values"].get("A0") == 321)


async def test_seed_client_sending_bare_axes_drives_when_nobody_else_does(make_bridge, make_client, pty_device):
    bridge = await make_bridge(pty_device.path)
    seed = await make_client(bridge)  # no hello, exactly like the seed's joystick client
    await seed.send({"Axes": [0.5, 0.0, 0.0, 0.0]})
    await wait_for(lambda: "B500" in device_lines(pty_device))
    await seed.send({"Axes": [-0.1234, 0.0, 0.0, 0.0]})
    await wait_for(lambda: "B-123" in device_lines(pty_device))


async def test_seed_client_cannot_drive_while_a_pilot_holds_control(make_bridge, make_client, pty_device):
    bridge = await make_bridge(pty_device.path)
    await make_client(bridge, {"role": "pilot", "client": "owner"})
    seed = await make_client(bridge)
    await seed.send({"Axes": [0.9]})
    error = await seed.expect("error")
    assert error["code"] == "not_pilot" and "owner" in error["message"]
    await asyncio.sleep(0.1)
    assert "B900" not in device_lines(pty_device)


async def test_seed_browser_page_that_never_sends_still_gets_readings(make_bridge):
    bridge = await make_bridge("sim")
    async with connect(f"ws://127.0.0.1:{bridge.port}/") as ws:
        frames = [await asyncio.wait_for(ws.recv(), 3) for _ in range(5)]
    assert any('"reading"' in f and '"A0"' in f for f in frames)


async def test_bad_messages_get_an_error_and_the_connection_stays_up(make_bridge, make_client):
    bridge = await make_bridge("sim")
    client = await make_client(bridge, {"role": "pilot"})
    for bad in ["{not json", '{"type":"warp"}', '{"type":"control","axes":[NaN]}', '{"type":"control","axes":["x"]}', "[1,2]"]:
        await client.send(bad)
    await client.ws.send(b"\x00binary")
    await wait_for(lambda: len(client.of_type("error")) >= 6)
    codes = [e["code"] for e in client.of_type("error")]
    assert codes == ["invalid_json", "unknown_type", "invalid_json", "invalid_message", "invalid_message", "binary_not_supported"]
    await client.send({"type": "ping", "id": 42, "t": 1.0})
    pong = await client.expect("pong")
    assert pong["id"] == 42


async def test_oversized_frame_is_refused_with_close_code_1009(make_bridge, make_client):
    bridge = await make_bridge("sim")
    client = await make_client(bridge, {"role": "observer"})
    await client.send(json.dumps({"type": "ping", "pad": "x" * 10000}))
    await wait_for(lambda: client.ws.close_code is not None)
    assert client.ws.close_code == 1009
    other = await make_client(bridge, {"role": "observer"})
    await other.expect("reading")


async def test_taking_over_is_explicit_and_announced_to_everyone(make_bridge, make_client):
    bridge = await make_bridge("sim")
    first = await make_client(bridge, {"role": "pilot", "client": "alice"})
    watcher = await make_client(bridge, {"role": "observer", "client": "carol"})
    second = await make_client(bridge, {"role": "pilot", "client": "bob"})
    assert second.of_type("welcome")[0]["role"] == "observer"
    assert (await second.expect("error"))["code"] == "pilot_busy"
    await second.send({"type": "request_control", "takeover": True})
    for client in (first, watcher, second):
        await client.expect("status", lambda m: (m.get("pilot") or {}).get("name") == "bob")
        await client.expect("event", lambda m: "bob took over from alice" in m["text"])
    await first.send({"type": "control", "axes": [0.3]})
    assert (await first.expect("error", lambda m: m["code"] == "not_pilot"))["ref"] == "control"


async def test_latest_wins_when_the_serial_line_is_slower_than_the_pilot(make_bridge, make_client, tmp_path):
    from teleop_server.device.simulated import PtyDevice, SimulatedDevice

    slow = PtyDevice(SimulatedDevice(report_ms=0), link=str(tmp_path / "slow"), drain_bytes_per_s=960)
    await slow.start()
    try:
        bridge = await make_bridge(slow.path)
        pilot = await make_client(bridge, {"role": "pilot"})
        for i in range(250):  # 500 Hz for half a second
            await pilot.send({"type": "control", "seq": i, "axes": [i / 1000]})
            await asyncio.sleep(0.002)
        await wait_for(lambda: "B249" in device_lines(slow), timeout=3)
        b_lines = device_lines(slow, "B")
        assert len(b_lines) < 150, "stale commands were queued instead of dropped"
        assert bridge.link.stats["superseded"] > 50
        assert b_lines[-1] == "B249"
    finally:
        await slow.stop()


async def test_quiet_pilot_trips_failsafe_and_neutral_reaches_the_device(make_bridge, make_client, pty_device):
    bridge = await make_bridge(pty_device.path)
    pilot = await make_client(bridge, {"role": "pilot"})
    watcher = await make_client(bridge, {"role": "observer"})
    loop = asyncio.get_running_loop()
    for _ in range(10):
        await pilot.send({"type": "control", "axes": [0.7]})
        last_sent = loop.time()
        await asyncio.sleep(0.02)
    await wait_for(lambda: "B700" in device_lines(pty_device))
    await wait_for(lambda: any(line == "B0" for t, line in pty_device.received_lines if t > last_sent), timeout=2)
    neutral_at = next(t for t, line in pty_device.received_lines if t > last_sent and line == "B0")
    assert 0.2 <= neutral_at - last_sent <= 0.6
    await watcher.expect("status", lambda m: m["failsafe"] is True)
    await watcher.expect("event", lambda m: "failsafe" in m["text"])
    # control resumes on the pilot's next message
    mark = watcher.mark()
    await pilot.send({"type": "control", "axes": [0.4]})
    await wait_for(lambda: "B400" in device_lines(pty_device))
    await watcher.expect("status", lambda m: m["failsafe"] is False, since=mark)


async def test_pilot_disconnect_sends_neutral_at_once(make_bridge, make_client, pty_device):
    bridge = await make_bridge(pty_device.path)
    pilot = await make_client(bridge, {"role": "pilot"})
    await pilot.send({"type": "control", "axes": [0.6], "buttons": [1]})
    await wait_for(lambda: "B600" in device_lines(pty_device))
    closed_at = asyncio.get_running_loop().time()
    await pilot.close()
    await wait_for(lambda: any(line == "B0" for t, line in pty_device.received_lines if t >= closed_at), timeout=1)
    await wait_for(lambda: "A0" in device_lines(pty_device))


async def test_device_gets_a_line_at_least_every_100ms_while_a_steady_pilot_drives(make_bridge, make_client, pty_device):
    bridge = await make_bridge(pty_device.path)
    pilot = await make_client(bridge, {"role": "pilot"})
    start = asyncio.get_running_loop().time()
    for _ in range(40):  # a steady hand: the same value at 50 Hz for 0.8 s
        await pilot.send({"type": "control", "axes": [0.2]})
        await asyncio.sleep(0.02)
    times = [t for t, _ in pty_device.received_lines if t > start + 0.05]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert times and max(gaps) < 0.13
    assert pty_device.device.watchdog_tripped is False


async def test_unplug_is_reported_and_the_port_reopens_when_the_device_returns(make_bridge, make_client, pty_device):
    bridge = await make_bridge(pty_device.path)
    watcher = await make_client(bridge, {"role": "observer"})
    pilot = await make_client(bridge, {"role": "pilot"})
    unplugged_at = time.monotonic()
    mark = watcher.mark()
    await pty_device.unplug()
    await watcher.expect("status", lambda m: m["serial"]["state"] == "lost", timeout=1.0, since=mark)
    assert time.monotonic() - unplugged_at < 1.0
    await pilot.send({"type": "control", "axes": [0.9]})  # must not be written anywhere
    await asyncio.sleep(0.3)
    mark = watcher.mark()
    await pty_device.start()  # replug: a new pty behind the same path
    await watcher.expect("status", lambda m: m["serial"]["state"] == "ready", timeout=3, since=mark)
    assert "B900" not in device_lines(pty_device)
    await pilot.send({"type": "control", "axes": [0.35]})
    await wait_for(lambda: "B350" in device_lines(pty_device))


async def test_a_client_that_stops_reading_is_dropped_without_delaying_others(make_bridge, make_client, pty_device):
    bridge = await make_bridge(pty_device.path, client_queue=16)
    pilot = await make_client(bridge, {"role": "pilot"})
    observer = await make_client(bridge, {"role": "observer"})
    stuck = await make_client(bridge, {"role": "observer", "client": "stuck"})
    stuck_id = next(m.id for m in bridge.rules.members.values() if m.name == "stuck")
    on_server = bridge.clients[stuck_id].ws
    stuck.ws.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.ws.transport.pause_reading()
    for i in range(600):  # readings and status to the stuck one pile up; its queue holds 16
        pty_device.emit(f"pad:{i} fill:{'9' * 200}")
        await asyncio.sleep(0.002)
    await wait_for(lambda: "stuck" not in {m.name for m in bridge.rules.members.values()}, timeout=10)
    assert len(bridge.clients) == 2 and len(bridge.rules.members) == 2
    # and its socket is really gone, though it never read the close frame
    await wait_for(lambda: on_server.transport.is_closing(), timeout=5)
    await pilot.send({"type": "control", "axes": [0.11]})
    await wait_for(lambda: "B110" in device_lines(pty_device))
    count = len(observer.of_type("reading"))
    await wait_for(lambda: len(observer.of_type("reading")) > count + 3)


async def test_record_file_has_every_reading_and_command(make_bridge, make_client, pty_device, tmp_path):
    record = tmp_path / "drive.jsonl"
    bridge = await make_bridge(pty_device.path, record=str(record))
    pilot = await make_client(bridge, {"role": "pilot"})
    await pilot.send({"type": "control", "axes": [0.5]})
    await wait_for(lambda: "B500" in device_lines(pty_device))
    await asyncio.sleep(0.2)
    rows = [json.loads(line) for line in record.read_text().splitlines()]
    assert any(r["kind"] == "command" and r["line"] == "B500" for r in rows)
    readings = [r for r in rows if r["kind"] == "reading"]
    assert len(readings) >= 3 and "A0" in readings[-1]["values"]


async def test_server_without_a_device_still_serves_clients_and_says_why(make_client):
    bridge = Bridge(ServerConfig(host="127.0.0.1", port=0, serial="/dev/does-not-exist", ready_timeout=0.5, auth=False))
    await bridge.start()
    try:
        await wait_for(lambda: "cannot open" in bridge.link.detail)
        client = await make_client(bridge, {"role": "observer"})
        serial = client.of_type("welcome")[0]["status"]["serial"]
        assert serial["state"] in ("closed", "lost") and "cannot open" in serial["detail"]
    finally:
        await bridge.stop()


async def test_an_emergency_stop_is_not_followed_by_a_watchdog_resume_message(make_device, make_server):
    """The neutral lines after the stop byte feed the board's watchdog; that is not "resume" to a user."""
    from teleop_server.device.simulated import SimulatedDevice

    device = await make_device(SimulatedDevice(report_ms=50))
    server = await make_server(device)
    pilot = WsClient(await connect(server.url))
    await pilot.send({"type": "hello", "role": "pilot", "client": "pilot", "token": server.token})
    await pilot.expect("status", lambda m: m["serial"]["state"] == "ready" and m["serial"]["device"].get("stop") == "24", timeout=10)
    await pilot.send({"type": "control", "axes": [0.4]})
    await wait_for(lambda: "B400" in device_lines(device))
    mark = pilot.mark()
    await pilot.send({"type": "estop", "engaged": True})
    await pilot.expect("event", lambda m: m["text"] == "device: stop neutral", since=mark)
    # barrier: the board's watchdog trips 500 ms after the last neutral line, later than any resume would come
    await pilot.expect("event", lambda m: m["text"] == "device: watchdog neutral", since=mark, timeout=3)
    assert not [e for e in pilot.of_type("event", mark) if "resume" in e["text"]]
    await pilot.close()


async def test_only_the_pilots_connection_has_its_controls_read_before_the_rest_of_a_fan_out(make_bridge, make_client, pty_device):
    bridge = await make_bridge(pty_device.path)
    pilot = await make_client(bridge, {"role": "pilot", "client": "pilot"})
    await make_client(bridge, {"role": "observer", "client": "watcher"})

    def urgent() -> set[str]:
        return {bridge.rules.members[i].name for i, c in bridge.clients.items() if c.ws.urgent and i in bridge.rules.members}

    assert urgent() == {"pilot"}
    await pilot.close()
    await wait_for(lambda: len(bridge.clients) == 1)
    assert urgent() == set(), "a pilot that left no longer jumps the queue"
    await make_client(bridge, {"role": "pilot", "client": "next pilot"})
    assert urgent() == {"next pilot"}


def test_a_part_that_cannot_start_is_said_before_the_server_says_it_is_listening(tmp_path):
    """A user reads 'listening', the pilot token and a QR code as 'it works': a missing extra must come first, alone."""
    import subprocess
    import sys

    from ports import steady_port

    without_foxglove = "import sys; sys.modules['foxglove'] = None; from teleop_server.cli import main; sys.exit(main(sys.argv[1:]))"
    result = subprocess.run(
        [sys.executable, "-c", without_foxglove, "--serial", "sim", "--no-announce", "--port", str(steady_port()), "--foxglove", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2 and "needs the Foxglove SDK" in result.stderr, result.stderr
    assert "listening" not in result.stdout + result.stderr and "token" not in result.stdout, result.stdout


async def test_a_client_is_not_sent_the_streams_its_hello_skips_and_the_others_still_are(servers):
    """A window that does not show the device's lines (or a script that wants no readings) says so in its
    hello, and is not woken ten or twenty times a second for them; a client that did not ask gets everything."""
    server = servers()

    async def joined(hello: dict) -> WsClient:
        client = WsClient(await connect(server.url, open_timeout=5))
        await client.send({"type": "hello", **hello})
        await client.expect("welcome")
        return client

    async def everything_sent_before_now_has_arrived(client: WsClient, ping_id: int) -> None:
        """An ordering barrier: the server answers a ping after whatever it had queued for this client."""
        await client.send({"type": "ping", "id": ping_id, "t": 0})
        await client.expect("pong", lambda m: m["id"] == ping_id)

    pilot = await joined({"role": "pilot", "token": server.token, "skip": ["outputs"]})
    quiet = await joined({"role": "observer", "skip": ["reading"]})
    watcher = await joined({"role": "observer"})  # joined last: all it hears was sent with the others listening
    try:
        await pilot.send({"type": "control", "seq": 1, "axes": [0.5]})
        await watcher.expect("outputs", lambda m: m["lines"].get("B") == "B500")
        await watcher.expect("reading")
        await everything_sent_before_now_has_arrived(pilot, 1)
        await everything_sent_before_now_has_arrived(quiet, 2)
        assert not pilot.of_type("outputs"), "the pilot skipped the device's lines"
        assert pilot.of_type("reading"), "but still hears the readings"
        assert not quiet.of_type("reading"), "the observer skipped the readings"
        assert quiet.of_type("outputs"), "but still hears the device's lines"

        newer = await joined({"role": "pilot", "token": server.token, "takeover": True, "skip": ["outputs", "frames"]})
        assert newer.of_type("welcome")[0]["role"] == "pilot", "a stream this server cannot skip does not cost the hello"
        await newer.close()
    finally:
        for client in (pilot, quiet, watcher):
            await client.close()


async def test_verbose_logs_every_line_to_and_from_the_device(pty_device):
    from launcher import ServerProcess, running

    server = ServerProcess(pty_device.path, extra=["-v"])
    async with running(server):
        await server.serial_ready()
        pilot = WsClient(await connect(server.url))
        await pilot.send({"type": "hello", "role": "pilot", "client": "verbose-test", "token": server.token})
        await pilot.expect("welcome", timeout=5)
        await pilot.send({"type": "control", "axes": [0.5]})
        await wait_for(lambda: "B500" in device_lines(pty_device), what="the command at the device")
        pty_device.emit("# a comment from the board")
        pty_device.emit("marker:4242")  # the barrier: a report after the comment, read after it
        await wait_for(lambda: any(m["values"].get("marker") == 4242 for m in pilot.of_type("reading")), what="the marker reading")
        await pilot.ws.close()
    assert "to device: B500" in server.output, server.output[-2000:]
    assert "from device: # a comment from the board" in server.output, server.output[-2000:]
