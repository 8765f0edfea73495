"""Thousands of socket events through the qasync loop: catches the PySide6 6.12 + qasync crash.

PySide6 6.12.0 with qasync dies with "Fatal Python error: none_dealloc" after a
few hundred socket events on Python 3.11, which is why pyproject.toml pins
PySide6-Essentials below 6.12. If that pin is ever lifted, this test is what
notices (the whole pytest process would crash).
"""

import asyncio
import json

from guitools import run
from websockets.asyncio.server import serve

from teleop.desktop.gui.adapter import QtAdapter
from teleop.desktop.models.appsettings import AppSettings
from teleop.desktop.session.teleop_model import TeleopModel
from teleop.wire import protocol

READINGS = 20_000
CONTROLS = 300  # capped at 250 Hz by the drive timing


def test_twenty_thousand_messages_through_the_qasync_loop(loop):
    received_controls = []

    async def flood(ws):
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello"
        status = {"serial": {"state": "ready"}, "pilot": {"id": 1, "name": "gui"}, "failsafe": False, "estop": False, "clients": 1}
        welcome = protocol.Welcome(1, "flood", "s", protocol.Role.PILOT, status, {"A0": 0}, {}, client_id=1)
        await ws.send(protocol.encode(welcome))

        async def listen():
            async for frame in ws:
                received_controls.append(frame)

        listener = asyncio.create_task(listen())
        for i in range(READINGS):
            await ws.send(protocol.encode(protocol.Reading(float(i), {"A0": i % 1024, "A1": i}, i)))
        for _ in range(1000):  # keep the connection up until enough controls came the other way
            if len(received_controls) >= CONTROLS:
                break
            await asyncio.sleep(0.01)
        listener.cancel()

    async def wait(predicate, timeout):
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.005)

    async def scenario(adapter):
        model = adapter.model
        # One coroutine for the whole run: qasync dispatches through Qt timers, so work left
        # pending between two run_until_complete calls could fire with no running loop.
        server = await serve(flood, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        mover = None
        try:
            await model.connect(f"ws://127.0.0.1:{port}")
            await wait(lambda: model.connection.pilot, 10)
            assert model.enable_driving()

            async def move_stick():  # controls flow the other way meanwhile, one per millisecond
                i = 0
                while True:
                    model.drive.set_virtual_axis(0, (i % 200) / 100 - 1)
                    i += 1
                    await asyncio.sleep(0.001)

            mover = asyncio.ensure_future(move_stick())
            await wait(lambda: model.readings.store.count >= READINGS, 120)
            await wait(lambda: len(received_controls) >= CONTROLS, 30)
        finally:
            if mover:
                mover.cancel()
            await adapter.shutdown()
            server.close()
            await server.wait_closed()

    adapter = QtAdapter(TeleopModel(AppSettings()))
    run(loop, scenario(adapter), timeout=180)
    assert adapter.model.readings.store.latest["A1"] == READINGS - 1
    assert len(received_controls) >= CONTROLS
