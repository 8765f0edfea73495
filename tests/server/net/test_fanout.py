"""The fan-out, sans-I/O: a broadcast to many clients goes out in slices, and every client keeps its order."""

from __future__ import annotations

import json
from collections.abc import Callable

from websockets.protocol import OPEN

from teleop.wire import protocol
from teleop.wire.protocol import Event, Reading
from teleop_server.net.fanout import Fanout, Outbox


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[str] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        # an unmasked server text frame of under 126 bytes: two header bytes, then the text
        assert data[0] == 0x81 and data[1] < 126
        self.written.append(data[2:].decode())

    def is_closing(self) -> bool:
        return self.closing


class FakeState:
    state = OPEN


class FakeSink:
    def __init__(self) -> None:
        self.outbox = Outbox(limit=8)
        self.transport = FakeTransport()
        self.protocol = FakeState()

    @property
    def got(self) -> list[str]:
        return self.transport.written


class Loop:
    """Stands in for the event loop: ``call_soon`` keeps the step, :meth:`turn` runs what is due."""

    def __init__(self) -> None:
        self.ready: list[Callable[[], None]] = []

    def call_soon(self, step: Callable[[], None]) -> None:
        self.ready.append(step)

    def turn(self) -> None:
        due, self.ready = self.ready, []
        for step in due:
            step()


def event(text: str) -> str:
    return protocol.encode(Event("info", text, 0.0))


def make(clients: int, slice_size: int = 32, on_stuck=None) -> tuple[Fanout, list[FakeSink], Loop]:
    loop = Loop()
    fanout = Fanout(stall_timeout=5.0, on_stuck=on_stuck or (lambda sink, why: None), schedule=loop.call_soon, slice_size=slice_size)
    return fanout, [FakeSink() for _ in range(clients)], loop


def test_a_broadcast_to_200_clients_goes_out_32_per_turn_of_the_loop():
    fanout, sinks, loop = make(200)
    fanout.broadcast(sinks, event("a"))
    assert [len(s.got) for s in sinks[:33]] == [1] * 32 + [0], "the first slice goes out at once"
    turns = 0
    while loop.ready:
        loop.turn()
        turns += 1
    assert turns == 6  # 200 = 32 + 6 further slices (the last one short)
    assert all(s.got == [event("a")] for s in sinks)


def test_a_small_audience_gets_a_broadcast_at_once_without_waiting_for_the_loop():
    fanout, sinks, loop = make(20)
    fanout.broadcast(sinks, event("a"))
    assert all(s.got == [event("a")] for s in sinks)
    assert not loop.ready


def test_every_client_gets_broadcasts_and_its_own_messages_in_the_order_they_were_made():
    fanout, sinks, loop = make(100)
    fanout.broadcast(sinks, event("first"))
    fanout.broadcast(sinks, event("second"))  # while the first is still on its way
    loop.turn()
    fanout.send(sinks[99], event("only for the last client"))  # finishes both broadcasts first
    fanout.broadcast(sinks, event("third"))
    while loop.ready:
        loop.turn()
    assert sinks[99].got == [event("first"), event("second"), event("only for the last client"), event("third")]
    assert all(s.got == [event("first"), event("second"), event("third")] for s in sinks[:99])


def test_a_blocked_client_in_a_later_slice_still_skips_to_the_newest_reading():
    fanout, sinks, loop = make(100)
    slow = sinks[80]
    slow.outbox.block(0.0)
    for seq in range(1, 4):
        fanout.broadcast(sinks, protocol.encode(Reading(float(seq), {"A0": seq}, seq)))
    while loop.ready:
        loop.turn()
    assert slow.got == []
    assert len(sinks[81].got) == 3
    fanout.drained(slow)
    assert [json.loads(text)["values"] for text in slow.got] == [{"A0": 3}]


def test_what_dropping_a_stuck_client_announces_follows_the_broadcast_that_found_it():
    announced = []

    def on_stuck(sink, why):
        announced.append(why)
        fanout.broadcast([s for s in sinks if s is not sink], event("a client was dropped"))

    fanout, sinks, loop = make(50, on_stuck=on_stuck)
    stuck = sinks[10]
    stuck.outbox = Outbox(limit=0)  # cannot hold even one ordered message
    stuck.outbox.block(0.0)
    fanout.broadcast(sinks, event("news"))
    while loop.ready:
        loop.turn()
    assert announced, "the client that could take nothing was reported"
    for sink in sinks:
        if sink is not stuck:
            assert sink.got == [event("news"), event("a client was dropped")]


def test_the_pilots_control_is_handled_before_the_next_slice_of_a_broadcast():
    fanout, sinks, loop = make(200)
    fanout.broadcast(sinks, event("a"))  # the first slice goes at once, the next is scheduled
    handled_after: list[int] = []

    def pilot_task() -> None:  # what reading the pilot's frame woke: the handler that drives the device
        handled_after.append(sum(len(s.got) for s in sinks))

    loop.call_soon(pilot_task)  # websockets queues the handler behind the slice already scheduled
    fanout.let_input_first()
    while loop.ready:
        loop.turn()
    assert handled_after == [32], "the control waited for no slice after the first"
    assert all(s.got == [event("a")] for s in sinks), "and every client still got the broadcast, once"


def test_without_input_first_the_pilots_control_waits_behind_a_slice():
    """The check above can fail: without the call, the handler runs after the second slice."""
    fanout, sinks, loop = make(200)
    fanout.broadcast(sinks, event("a"))
    handled_after: list[int] = []
    loop.call_soon(lambda: handled_after.append(sum(len(s.got) for s in sinks)))
    while loop.ready:
        loop.turn()
    assert handled_after == [64]


def test_input_first_with_nothing_on_its_way_changes_nothing():
    fanout, sinks, loop = make(200)
    fanout.let_input_first()  # no broadcast pending: nothing to step aside
    fanout.broadcast(sinks, event("a"))
    loop.turn()
    assert sum(len(s.got) for s in sinks) == 64, "the broadcast's slices go as usual"


def test_a_pilot_whose_data_arrives_every_turn_cannot_starve_the_audience():
    fanout, sinks, loop = make(200)
    fanout.broadcast(sinks, event("a"))
    turns = 0
    while loop.ready and turns < 100:
        fanout.let_input_first()  # the pilot's socket had data again this turn
        loop.turn()
        turns += 1
    assert all(s.got == [event("a")] for s in sinks)
    assert turns <= 2 * 6 + 1, "at most every other turn steps aside (6 slices after the first)"
