"""The desktop app's whole model (no Qt) against a real server in its own process."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace

from conftest import WsClient, wait_for
from websockets.asyncio.client import connect

from teleop.desktop.models.appsettings import AppSettings
from teleop.desktop.session.teleop_model import TeleopModel
from teleop.wire import protocol


async def test_the_app_is_not_sent_the_device_lines_it_does_not_show(servers):
    """The window shows readings but not the lines the robot sent its device: ten of those a second while
    driving would wake the app only to be dropped, so its hello asks the server not to send them."""
    server = servers()
    model = TeleopModel(AppSettings())
    watcher = WsClient(await connect(server.url, open_timeout=5))

    async def ticks() -> None:
        """What the GUI's adapter does: the drive model's re-sends when due."""
        while True:
            if model.drive.due():
                model.drive.tick()
            await asyncio.sleep(0.005)

    ticker = asyncio.create_task(ticks())
    try:
        await watcher.send({"type": "hello", "role": "observer", "client": "dashboard"})
        await watcher.expect("welcome")
        await model.connect(server.pilot_url)
        assert model.session is not None
        heard: list[protocol.ServerMessage] = []
        forward = model.session.events.message

        def record(message: protocol.ServerMessage) -> None:
            heard.append(message)
            forward(message)

        model.session.events = replace(model.session.events, message=record)
        await wait_for(lambda: model.connection.pilot, timeout=10)
        assert model.enable_driving()
        model.drive.set_virtual_axes({0: 0.8})
        await watcher.expect("outputs", lambda m: m["lines"].get("B", "B0") != "B0")

        # an ordering barrier: a client joining now makes the server tell everyone the new count, and it
        # tells the app after whatever it had queued for it before, the device's lines among them
        late = WsClient(await connect(server.url, open_timeout=5))
        await late.send({"type": "hello", "role": "observer", "client": "late"})
        await late.expect("welcome")
        await wait_for(lambda: model.connection.status.clients == 3)
        await late.close()

        assert any(isinstance(m, protocol.Reading) for m in heard), "the app still hears the readings"
        assert not [m for m in heard if isinstance(m, protocol.Outputs)], "the app was sent the device's lines"
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        await watcher.close()
        await model.shutdown()
