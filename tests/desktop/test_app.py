"""``teleop`` itself: what its command line starts (no window here)."""

from __future__ import annotations

import json
import time

from launcher import sync_client

from teleop.desktop.app import start_demo_server


def test_the_demos_arrow_keys_up_and_down_move_a_plotted_servo_on_the_simulated_robot():
    """The demo's robot answers every stick: up on the left stick moves servo 0 (plotted as O0 by default)."""
    process, url = start_demo_server()
    try:
        address, token = url.split("/#token=")
        with sync_client(address) as ws:
            ws.send(json.dumps({"type": "hello", "role": "pilot", "client": "test", "token": token}))
            deadline = time.monotonic() + 10
            seen = None
            while time.monotonic() < deadline and seen != 2000:
                ws.send(json.dumps({"type": "control", "axes": [0.0, -1.0]}))  # raw axis 1 is lefty; up is negative
                try:
                    message = json.loads(ws.recv(timeout=0.1))
                except TimeoutError:
                    continue
                if message.get("type") == "reading":
                    seen = message["values"].get("O0", seen)
            assert seen == 2000, f"O0 = {seen}"
    finally:
        process.terminate()
        process.wait(10)
