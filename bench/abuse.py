#!/usr/bin/env python3
"""Throw bad input at a real ``teleop-server`` for a while and report how it coped.

The server runs in its own process with authentication on, bridging to a
simulated device on a pty that lives here, so we can see every command the
device reads. One pilot drives at 50 Hz throughout; attackers on other
connections send, over and over:

    invalid JSON, wrong types, huge numbers, NaN and infinities, binary frames,
    invalid UTF-8, oversized frames, floods past the rate limit, wrong tokens

Each bad frame must be *answered* (an ``error`` message) or the connection
*closed cleanly* (a close frame with a code saying why). Reported: frames per
kind, answers, close codes, unclean ends, server memory (RSS) over time, and
the pilot's command latency during the storm. Targets (issue 7): no unclean
end, bounded memory, the pilot keeps control.

    .venv/bin/python bench/abuse.py [--seconds 180] [--attackers 8]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from rig import start_rig  # noqa: E402
from stats import percentiles, rss_kib  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402

from teleop_server.device.simulated import PtyDevice  # noqa: E402

BAD_FRAMES: dict[str, list[str | bytes]] = {
    "invalid_json": ["{", "not json", '{"type": "control", "axes": [0.1,]}', "\x00\x01", "[" * 500],
    "wrong_types": [
        '{"type": "control", "axes": "fast"}',
        '{"type": "control", "axes": [true, null, "x"]}',
        '{"type": 7}',
        "[1, 2, 3]",
        '"just a string"',
        '{"type": "hello", "role": "king"}',
        '{"type": "request_control", "takeover": "yes"}',
        '{"type": "estop", "engaged": "maybe"}',
        '{"Axes": {"x": 1}}',
    ],
    "huge_numbers": [
        '{"type": "control", "axes": [1e308, -1e308]}',
        '{"type": "control", "axes": [' + "9" * 400 + "]}",
        '{"type": "ping", "id": 99999999999999999999999999999, "t": 1e400}',
        '{"type": "control", "seq": -99999999999999999999, "axes": [0.1]}',
    ],
    "nan_inf": ['{"type": "control", "axes": [NaN]}', '{"type": "control", "axes": [Infinity, -Infinity]}', '{"Axes": [NaN]}'],
    "binary": [b"\x00\xffbinary", b'{"type": "control", "axes": [0.5]}'],
    "invalid_utf8": [b'{"type": "ping", "t": "\xff\xfe"}'],  # sent as a *text* frame
    "oversized": ['{"type": "control", "pad": "' + "x" * 5000 + '"}'],
}
#: kinds after which the server closes the connection by design, with this code
CLOSES = {"invalid_utf8": 1007, "oversized": 1009, "flood": 1008, "wrong_token": 1008}


@dataclass
class Tally:
    sent: collections.Counter = field(default_factory=collections.Counter)
    answered: collections.Counter = field(default_factory=collections.Counter)
    closes: collections.Counter = field(default_factory=collections.Counter)
    unclean: list[str] = field(default_factory=list)
    refused_handshakes: int = 0


async def attacker(url: str, stop: float, tally: Tally, rng: random.Random) -> None:
    kinds = [*BAD_FRAMES, "flood", "wrong_token"]
    while time.monotonic() < stop:
        kind = rng.choice(kinds)
        try:
            async with connect(url, open_timeout=5, max_size=1 << 20) as ws:
                await ws.send(json.dumps({"type": "hello", "role": "observer", "client": f"attacker-{kind}"}))
                await ws.recv()  # welcome
                answered = asyncio.Event()

                async def listen(ws=ws, kind=kind, answered=answered) -> None:
                    async for frame in ws:
                        if '"type":"error"' in frame or '"type": "error"' in frame:
                            tally.answered[kind] += 1
                            answered.set()

                listener = asyncio.create_task(listen())
                try:
                    for _ in range(rng.randint(5, 40)):
                        if kind == "flood":
                            for _ in range(1500):
                                await ws.send('{"type":"ping","id":1,"t":0}')
                            tally.sent[kind] += 1500
                            await asyncio.sleep(1.05)
                        elif kind == "wrong_token":
                            await ws.send(json.dumps({"type": "request_control", "token": secrets.token_urlsafe(16)}))
                            tally.sent[kind] += 1
                        else:
                            frame = rng.choice(BAD_FRAMES[kind])
                            await ws.send(frame, text=True) if kind == "invalid_utf8" else await ws.send(frame)
                            tally.sent[kind] += 1
                        await asyncio.sleep(rng.uniform(0, 0.01))
                    await asyncio.sleep(0.2)
                finally:
                    listener.cancel()
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            if code is None or code == 1006:
                tally.unclean.append(f"{kind}: connection dropped without a close frame")
            else:
                tally.closes[f"{kind}->{code}"] += 1
                if kind in CLOSES and code != CLOSES[kind]:
                    tally.unclean.append(f"{kind}: closed with {code}, expected {CLOSES[kind]}")
        except InvalidStatus:
            tally.refused_handshakes += 1
        except OSError as exc:
            tally.unclean.append(f"{kind}: {exc}")


async def pilot(url: str, token: str, device: PtyDevice, stop: float, lost: list[str]) -> list[float]:
    """Drive at 50 Hz with distinct values; return send-to-device latencies. Any loss of control goes to ``lost``."""
    sent: dict[str, float] = {}
    async with connect(url) as ws:
        await ws.send(json.dumps({"type": "hello", "role": "pilot", "client": "storm-pilot", "token": token}))
        welcome = json.loads(await ws.recv())
        if welcome.get("role") != "pilot":
            lost.append(f"not pilot at start: {welcome.get('role')}")
            return []

        async def watch() -> None:
            async for frame in ws:
                message = json.loads(frame)
                if message.get("type") == "status" and (message.get("pilot") or {}).get("name") != "storm-pilot":
                    lost.append(f"lost control: {message.get('pilot')}")

        watcher = asyncio.create_task(watch())
        i = 0
        device.received_lines.clear()
        latencies: list[float] = []

        def match() -> None:
            # values repeat every 1800 sends, so lines are matched (and consumed) as they arrive
            lines = device.received_lines
            while lines:
                t, line = lines.popleft()
                when = sent.pop(line, None)
                if when is not None and t >= when:
                    latencies.append(t - when)

        while time.monotonic() < stop:
            i += 1
            value = (i % 1800) - 900 or 1
            sent[f"B{value}"] = time.monotonic()
            await ws.send(json.dumps({"type": "control", "seq": i, "axes": [value / 1000]}))
            await asyncio.sleep(0.02)
            match()
        await asyncio.sleep(0.2)
        match()
        watcher.cancel()
    return latencies


async def storm(seconds: float, attackers: int = 8, seed: int = 7, quiet: bool = False) -> dict:
    """Run the whole thing; returns the figures (also printed unless ``quiet``)."""
    rig = await start_rig()
    device, server, url, token = rig.device, rig.server, rig.url, rig.token
    try:
        rss = [rss_kib(server.pid)]
        stop = time.monotonic() + seconds
        tally, lost = Tally(), []

        async def sample_memory() -> None:
            while time.monotonic() < stop:
                await asyncio.sleep(1.0)
                rss.append(rss_kib(server.pid))

        rng = random.Random(seed)
        results = await asyncio.gather(
            pilot(url, token, device, stop, lost),
            sample_memory(),
            *(attacker(url, stop, tally, random.Random(rng.random())) for _ in range(attackers)),
        )
        latencies = results[0]
        alive = server.running
    finally:
        await rig.stop()
    quarter = max(1, len(rss) // 4)
    figures = {
        "seconds": seconds,
        "sent": dict(tally.sent),
        "answered": dict(tally.answered),
        "closes": dict(tally.closes),
        "unclean": tally.unclean,
        "lost_control": lost,
        "server_alive": alive,
        "rss_kib_start": rss[0],
        "rss_kib_peak": max(rss),
        "rss_kib_end": rss[-1],
        # growth between the first and last quarter of the run: start-up allocations excluded
        "rss_growth_pct": round(100 * (sum(rss[-quarter:]) / quarter - sum(rss[:quarter]) / quarter) / (sum(rss[:quarter]) / quarter), 1),
        "rss_mib_every_tenth": [round(rss[min(len(rss) - 1, i * len(rss) // 10)] / 1024, 1) for i in range(11)],
        "pilot_latency": percentiles(latencies),
        "pilot_commands_delivered": len(latencies),
    }
    if not quiet:
        print(f"bad-input storm: {seconds:.0f} s, {attackers} attackers, 1 pilot at 50 Hz")
        print(f"  frames sent:     {sum(tally.sent.values())}  {dict(sorted(tally.sent.items()))}")
        print(f"  answered:        {dict(sorted(tally.answered.items()))}")
        print(f"  clean closes:    {dict(sorted(tally.closes.items()))}")
        print(f"  unclean ends:    {len(tally.unclean)} {tally.unclean[:5]}")
        print(f"  pilot lost control: {len(lost)} {lost[:3]}")
        print(f"  pilot command latency during the storm: {figures['pilot_latency']}")
        print(
            f"  server RSS: start {rss[0] / 1024:.1f} MiB, peak {max(rss) / 1024:.1f} MiB, end {rss[-1] / 1024:.1f} MiB "
            f"(first->last quarter {figures['rss_growth_pct']:+.1f}%)"
        )
        print(f"  server RSS (MiB) at every tenth of the run: {figures['rss_mib_every_tenth']}")
        print(f"  server alive at the end: {alive}")
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--attackers", type=int, default=8)
    args = parser.parse_args()
    figures = asyncio.run(storm(args.seconds, args.attackers))
    ok = not figures["unclean"] and not figures["lost_control"] and figures["server_alive"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
