"""A robot stopped while its broker is still answering its subscriptions says ``offline`` last.

The broker here is a scripted one, a hostile party like the pty device that
lies: it speaks just enough MQTT 3.1.1 to take a robot's connection, and holds
its subscriptions' acknowledgements until the robot has started to stop. Real
mosquitto answers in well under a millisecond, so the same race there needs a
stop that lands within that millisecond (a user try hit it in 5-8 % of such stops).
"""

from __future__ import annotations

import asyncio
import contextlib

from conftest import wait_for
from ports import steady_port

from teleop.wire import fleet

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 1, 2, 3, 4, 8, 9, 12, 13, 14


def packet(kind: int, flags: int, body: bytes) -> bytes:
    length, encoded = len(body), bytearray()
    while True:
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            return bytes([kind << 4 | flags]) + bytes(encoded) + body


async def read_packet(reader: asyncio.StreamReader) -> tuple[int, int, bytes]:
    first = (await reader.readexactly(1))[0]
    length, shift = 0, 0
    while True:
        byte = (await reader.readexactly(1))[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return first >> 4, first & 0x0F, await reader.readexactly(length)


class SlowToSubscribeBroker:
    """Takes one robot; holds its first SUBACK until the robot publishes ``offline``, then answers its other
    subscriptions at once and that PUBLISH's PUBACK a moment later. Keeps what the robot published on its
    connection topic, in order."""

    def __init__(self) -> None:
        self.port = steady_port()
        self.subscriptions = 0
        self.connection: list[str] = []
        self.disconnected = asyncio.Event()
        self._held: list[bytes] = []
        self._offline_seen = False
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> SlowToSubscribeBroker:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                kind, flags, body = await read_packet(reader)
                if kind == CONNECT:
                    writer.write(packet(CONNACK, 0, b"\x00\x00"))
                elif kind == SUBSCRIBE:  # the robot sends its next one once this one is acknowledged
                    self.subscriptions += 1
                    suback = packet(SUBACK, 0, body[:2] + b"\x01")
                    if self._offline_seen:
                        writer.write(suback)
                    else:
                        self._held.append(suback)
                elif kind == PUBLISH:
                    self._published(writer, flags, body)
                elif kind == PINGREQ:
                    writer.write(packet(PINGRESP, 0, b""))
                elif kind == DISCONNECT:
                    self.disconnected.set()
                    break
                await writer.drain()
        writer.close()

    def _published(self, writer: asyncio.StreamWriter, flags: int, body: bytes) -> None:
        size = int.from_bytes(body[:2], "big")
        topic = body[2 : 2 + size].decode()
        qos = (flags >> 1) & 0x03
        packet_id, payload = (body[2 + size : 4 + size], body[4 + size :]) if qos else (b"", body[2 + size :])
        if topic.endswith("/" + fleet.CONNECTION):
            self.connection.append(payload.decode())
        if not qos:
            return
        puback = packet(PUBACK, 0, packet_id)
        if payload == fleet.OFFLINE.encode() and not self._offline_seen:
            self._offline_seen = True
            for suback in self._held:  # the subscriptions complete while the stop waits for its PUBACK
                writer.write(suback)
            self._held = []
            asyncio.get_running_loop().call_later(0.3, writer.write, puback)
        else:
            writer.write(puback)


async def test_a_robot_stopped_while_subscribing_leaves_offline_as_its_last_word(servers):
    async with SlowToSubscribeBroker() as broker:
        server = await asyncio.to_thread(servers, ["--mqtt", f"mqtt://127.0.0.1:{broker.port}", "--name", "rover-1"])
        # the barrier: the robot is connected and waits for its first subscription
        await wait_for(lambda: broker.subscriptions == 1, timeout=10, what="the robot's first subscription")
        await asyncio.to_thread(server.stop)  # SIGTERM; fails the test if the server is still running 5 s later
        await asyncio.wait_for(broker.disconnected.wait(), 5)
    assert broker.connection and broker.connection[-1] == fleet.OFFLINE, broker.connection
    assert fleet.ONLINE not in broker.connection, "nothing the robot queued before its stop goes out after it"
