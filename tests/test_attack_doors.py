"""Doors a stranger could still push on, tried against ``teleop-server`` in its own process.

Token guesses that bypass the lock-out, WebSocket ping floods, pipelined HTTP,
a device spraying events, and a crowd of slow sockets on the pilot's own
address. Attackers connect from loopback (the pilot's own 127.0.0.1 where the
attack is about sharing it, 127.0.0.2 and up otherwise); the floods that would
starve this test's own event loop run in a process of their own
(tests/attacker.py). Every count and time is bounded.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from test_network_attacks import attacker, pilot_gets_in, record, stop_and_read_log
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

pytestmark = pytest.mark.timeout(120)


# -- token guesses on every path ----------------------------------------------------------------


async def guess_through_an_observer_hello(url: str, token: str, name: str) -> str:
    """One guess as the issue's attacker made it: an observer hello carrying ``token``, then request_control without one.

    Returns "pilot" (the guess made it pilot), "refused" (it was judged and refused),
    or "locked" (the address is locked out: the token was not even compared).
    """
    try:
        async with asyncio.timeout(5):
            async with connect(url, open_timeout=5, local_addr=attacker(0)) as ws:
                await ws.send(json.dumps({"type": "hello", "role": "observer", "client": name, "token": token}))
                first = json.loads(await ws.recv())
                if first.get("type") == "error" and "from your address" in first.get("message", ""):
                    return "locked"
                await ws.send(json.dumps({"type": "request_control"}))
                async for frame in ws:
                    message = json.loads(frame)
                    if message.get("type") == "error" and "from your address" in message.get("message", ""):
                        return "locked"
                    if message.get("type") == "error" and message.get("ref") == "request_control":
                        return "refused"
                    if message.get("type") == "status" and (message.get("pilot") or {}).get("name") == name:
                        return "pilot"
    except ConnectionClosed:
        return "locked"
    return "refused"


async def test_token_guesses_in_observer_hellos_lock_the_address_out_and_a_late_right_guess_is_not_pilot(servers):
    server = servers()
    outcomes = [await guess_through_an_observer_hello(server.url, f"guess-{n:016d}", f"guesser-{n}") for n in range(300)]
    judged = outcomes.count("refused")
    record("observer-hello guessing: tokens compared out of 300", judged)
    assert "pilot" not in outcomes
    assert judged <= 30, f"{judged} of 300 guesses were compared: the per-address lock-out does not hold"
    # the right token, offered while the address is locked out (the guess just before was refused unseen)
    for n in range(50):
        if await guess_through_an_observer_hello(server.url, f"late-{n:016d}", f"late-{n}") == "locked":
            break
    right = await guess_through_an_observer_hello(server.url, server.token, "lucky")
    assert right != "pilot", "a right guess after 300 wrong ones made the guesser pilot"
    assert await pilot_gets_in(server), "the pilot on its own address is not affected"
    log = stop_and_read_log(server)
    about_tokens = [line for line in log if "token" in line]
    record("observer-hello guessing: log lines about tokens", len(about_tokens))
    assert len(about_tokens) <= 12, "\n".join(about_tokens)
