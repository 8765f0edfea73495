"""The app's asyncio loop inside Qt: readers and writers run in the notifier's own turn, and only while watched."""

import asyncio
import socket
from collections.abc import Callable

import pytest
from guitools import run

from teleop.desktop.gui.event_loop import QtEventLoop


@pytest.fixture
def pair():
    """Two connected sockets, closed after the test."""
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


async def until(condition: Callable[[], object]) -> None:
    while not condition():
        await asyncio.sleep(0.001)


async def qt_delivered_what_it_saw(loop) -> None:
    """Returns once Qt has delivered the readiness it saw when this was called: a reader still watched then,
    whose socket was readable, has been called by now."""
    barrier, peer = socket.socketpair()
    reached = asyncio.get_running_loop().create_future()
    loop.add_reader(barrier, lambda: reached.done() or reached.set_result(None))
    peer.send(b"x")
    try:
        await reached
    finally:
        loop.remove_reader(barrier)
        barrier.close()
        peer.close()


def delivered_outside_the_loop(loop, monkeypatch, sock: socket.socket) -> None:
    """Qt's activation of ``sock``'s reader, delivered as if asyncio's loop were not running (qasync's last pass)."""
    with monkeypatch.context() as patched:
        patched.setattr(loop, "is_running", lambda: False)
        loop._sockets["read", sock.fileno()].ready()


def test_a_stream_reads_every_message_in_order_through_the_loop(loop):
    async def scenario():
        ours, theirs = socket.socketpair()
        reader, writer = await asyncio.open_connection(sock=ours)
        try:
            for i in range(500):
                theirs.sendall(f"{i}\n".encode())
                assert await reader.readline() == f"{i}\n".encode()
            theirs.sendall(b"".join(f"{i}\n".encode() for i in range(2000)))  # a burst: read in several turns
            lines = [await reader.readline() for _ in range(2000)]
            assert lines == [f"{i}\n".encode() for i in range(2000)]
        finally:
            writer.close()
            theirs.close()

    run(loop, scenario())


def test_a_removed_reader_is_never_called_even_with_its_socket_still_readable(loop):
    gone_a, gone_b = socket.socketpair()
    barrier_a, barrier_b = socket.socketpair()
    calls = []

    async def scenario():
        loop.add_reader(gone_a, calls.append, "removed reader")
        gone_b.send(b"x")  # readable from now on: nobody reads it
        loop.remove_reader(gone_a)
        reached = asyncio.get_running_loop().create_future()
        loop.add_reader(barrier_a, lambda: reached.done() or reached.set_result(None))
        barrier_b.send(b"x")
        await reached  # Qt delivered the readiness it saw: the removed reader's too, had it still been watched
        for _ in range(3):
            await asyncio.sleep(0)
        loop.remove_reader(barrier_a)

    try:
        run(loop, scenario())
    finally:
        for s in (gone_a, gone_b, barrier_a, barrier_b):
            s.close()
    assert calls == []


def test_a_failing_reader_goes_to_the_exception_handler_and_the_loop_keeps_running(loop):
    ours, theirs = socket.socketpair()
    reported = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))

    def broken():
        ours.recv(1)
        raise RuntimeError("a bug in a reader")

    async def scenario():
        loop.add_reader(ours, broken)
        theirs.send(b"x")
        while not reported:
            await asyncio.sleep(0.001)
        loop.remove_reader(ours)
        await asyncio.sleep(0.01)  # the loop still turns after the failure
        return True

    try:
        assert run(loop, scenario())
    finally:
        loop.set_exception_handler(previous)
        ours.close()
        theirs.close()
    assert isinstance(reported[0]["exception"], RuntimeError)


def test_a_writer_is_called_while_its_socket_takes_data(loop):
    ours, theirs = socket.socketpair()
    writable = []

    async def scenario():
        done = asyncio.get_running_loop().create_future()

        def ready():
            writable.append(True)
            loop.remove_writer(ours)
            done.set_result(None)

        loop.add_writer(ours, ready)
        await done

    try:
        run(loop, scenario())
    finally:
        ours.close()
        theirs.close()
    assert writable == [True]


def test_a_loop_closed_with_sockets_still_watched_closes_cleanly(qapp):
    ours, theirs = socket.socketpair()
    other = QtEventLoop(qapp)
    try:
        other.add_reader(ours, lambda: None)
        other.add_writer(theirs, lambda: None)
        other.close()
        assert other.is_closed()
    finally:
        ours.close()
        theirs.close()


def test_a_readable_socket_runs_its_reader_in_the_notifiers_own_turn_with_no_hop_scheduled(loop, monkeypatch):
    """qasync schedules the reader with call_soon (a Qt timer, one more pass of Qt's loop per message)."""
    ours, theirs = socket.socketpair()
    hops = []
    schedule = loop.call_soon

    def recording(callback, *args, **kwargs):
        owner = getattr(callback, "__self__", None)
        if owner is loop or type(owner).__module__ == QtEventLoop.__module__:  # the loop's own work, not a task's
            hops.append(callback)
        return schedule(callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_soon", recording)

    async def scenario():
        read = asyncio.get_running_loop().create_future()

        def reader():
            ours.recv(16)
            if not read.done():
                read.set_result(list(hops))

        loop.add_reader(ours, reader)
        theirs.send(b"x")
        try:
            return await read
        finally:
            loop.remove_reader(ours)

    try:
        assert run(loop, scenario()) == []
    finally:
        ours.close()
        theirs.close()


def test_a_reader_that_turns_qts_loop_itself_is_not_called_again_inside_it(loop):
    """A modal dialog or processEvents inside a handler: Qt holds the notifier's next activation until the
    handler returns, so a socket's data is never handled out of order."""
    from PySide6.QtCore import QCoreApplication

    ours, theirs = socket.socketpair()
    depth, deepest, calls = 0, 0, 0

    def reader():
        nonlocal depth, deepest, calls
        depth += 1
        calls += 1
        deepest = max(deepest, depth)
        ours.recv(1)  # one byte at a time: the socket stays readable
        if calls == 1:
            for _ in range(5):
                QCoreApplication.processEvents()
        depth -= 1

    async def scenario():
        loop.add_reader(ours, reader)
        theirs.send(b"abc")
        while calls < 3:
            await asyncio.sleep(0.001)
        loop.remove_reader(ours)

    try:
        run(loop, scenario())
    finally:
        ours.close()
        theirs.close()
    assert deepest == 1


def test_a_reader_removed_and_added_again_gets_its_notifier_back_and_only_the_new_callback_runs(loop, monkeypatch, pair):
    """The pads' files rest between reads while not driving: a new notifier each time cost 160 µs of the GUI."""
    from teleop.desktop.gui import event_loop

    ours, theirs = pair
    number = ours.fileno()
    made, calls = [], []

    class Counted(event_loop.QSocketNotifier):
        def __init__(self, number: int, kind) -> None:
            made.append(number)
            super().__init__(number, kind)

    monkeypatch.setattr(event_loop, "QSocketNotifier", Counted)

    async def scenario():
        for name in ("first", "second", "third"):
            loop.add_reader(ours, lambda name=name: calls.append((name, ours.recv(1))))
            theirs.send(b"x")
            await until(lambda name=name: calls and calls[-1][0] == name)
            loop.remove_reader(ours)
            # out of Qt's wait: a notifier left on for a readable socket nobody reads would spin the loop
            assert not loop._sockets["read", number].notifier.isEnabled()
        theirs.send(b"y")  # readable, and nobody watches it
        await qt_delivered_what_it_saw(loop)

    run(loop, scenario())
    assert calls == [("first", b"x"), ("second", b"x"), ("third", b"x")]
    # one notifier at most for the three watches (none if an earlier watch on this descriptor number left one)
    assert made.count(number) <= 1


def test_a_reader_that_watches_its_socket_anew_from_a_deferred_call_stays_watched(loop, monkeypatch, pair):
    """Qt delivers a readiness while asyncio's loop is not running (qasync's last pass): the callback runs later,
    and a transport that pauses and resumes its reading inside it must keep its new watch enabled."""
    ours, theirs = pair
    calls = []

    def second():
        calls.append(("second", ours.recv(1)))

    def first():
        calls.append(("first", ours.recv(1)))
        loop.remove_reader(ours)
        loop.add_reader(ours, second)

    async def scenario():
        loop.add_reader(ours, first)
        theirs.send(b"a")
        delivered_outside_the_loop(loop, monkeypatch, ours)
        await until(lambda: calls)
        theirs.send(b"b")
        await until(lambda: len(calls) == 2)
        loop.remove_reader(ours)

    run(loop, scenario())
    assert calls == [("first", b"a"), ("second", b"b")]


def test_a_late_removal_of_a_closed_sockets_reader_leaves_the_reader_of_the_file_that_took_its_number(loop):
    calls = []

    async def scenario():
        old, old_peer = socket.socketpair()
        number = old.fileno()
        loop.add_reader(old, lambda: calls.append("old"))
        old.close()  # its reader not removed yet
        old_peer.close()
        new, peer = socket.socketpair()
        if new.fileno() != number:
            new, peer = peer, new
        assert new.fileno() == number, "the kernel gives the lowest free number"
        loop.add_reader(number, lambda: calls.append(("new", new.recv(1))))
        loop.remove_reader(old)  # the late clean-up of the closed socket
        peer.send(b"x")
        try:
            await until(lambda: calls)
        finally:
            loop.remove_reader(number)
            new.close()
            peer.close()

    run(loop, scenario())
    assert calls == [("new", b"x")]


def test_a_reader_removed_by_its_deferred_call_leaves_its_readable_socket_out_of_qts_wait(loop, monkeypatch, pair):
    ours, theirs = pair
    calls = []

    def once():
        calls.append("called")
        loop.remove_reader(ours)  # its socket stays readable: nobody reads it

    async def scenario():
        loop.add_reader(ours, once)
        theirs.send(b"a")
        delivered_outside_the_loop(loop, monkeypatch, ours)
        await until(lambda: calls)
        await qt_delivered_what_it_saw(loop)
        assert not loop._sockets["read", ours.fileno()].notifier.isEnabled(), "a readable socket nobody reads spins the loop"

    run(loop, scenario())
    assert calls == ["called"]
