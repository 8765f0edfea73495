"""The serial command queue's rules, driven directly with a fake clock (no port, no loop)."""

import math

from teleop_server.rules.commandqueue import STOP_EVENT, CommandQueue
from teleop_server.rules.serial_protocol import Err, Ok

OK = Ok({})


def lines(outcome) -> list[str]:
    return [w.decode() for w in outcome.writes]


def test_newest_value_per_output_wins_while_a_line_is_in_flight():
    q = CommandQueue()
    assert lines(q.submit({"B": "B1"}, 0.0)) == ["B1\n"]
    for value in range(2, 50):
        assert q.submit({"B": f"B{value}"}, 0.001).writes == []
    assert lines(q.reply(OK, 0.002)) == ["B49\n"]
    assert q.stats["superseded"] == 47


def test_a_line_the_device_already_holds_is_not_sent_again():
    q = CommandQueue()
    q.submit({"B": "B5"}, 0.0)
    q.reply(OK, 0.001)
    assert q.submit({"B": "B5"}, 0.01).writes == []


def test_lost_reply_costs_a_few_line_times_not_half_a_second():
    q = CommandQueue(baud=115200)
    q.submit({"B": "B1"}, 0.0)
    q.submit({"B": "B2"}, 0.001)
    timeout = q.deadline()
    assert 0.01 < timeout < 0.1
    assert q.poll(timeout - 0.001).writes == []
    outcome = q.poll(timeout)
    assert outcome.lost == ["B1"] and lines(outcome) == ["B2\n"]


def test_commands_keep_flowing_at_the_line_rate_when_every_reply_is_lost():
    q = CommandQueue(baud=115200)
    now, sent = 0.0, 0
    while now < 1.0:
        sent += len(q.submit({"B": f"B{sent}"}, now).writes)
        sent += len(q.poll(now).writes)
        now += 0.001
    assert sent > 15  # was 2 per second with a fixed 500 ms timeout


def test_slow_line_gets_a_longer_timeout():
    fast, slow = CommandQueue(baud=115200), CommandQueue(baud=9600)
    fast.submit({"B": "B1"}, 0.0)
    slow.submit({"B": "B1"}, 0.0)
    assert slow.deadline() > 5 * fast.deadline() - 0.2


def test_mangled_reply_resynchronises_at_once():
    q = CommandQueue()
    q.submit({"B": "B1"}, 0.0)
    q.submit({"B": "B2"}, 0.0005)
    outcome = q.unrecognised("#@!x~OK", 0.001)
    assert outcome.lost == ["B1"] and lines(outcome) == ["B2\n"]


def test_unrelated_garbage_does_not_count_as_a_reply():
    q = CommandQueue()
    q.submit({"B": "B1"}, 0.0)
    assert q.unrecognised("hello world 12", 0.001).lost == []
    assert q.in_flight == 1


def test_unsolicited_err_is_not_taken_as_the_next_lines_reply():
    q = CommandQueue()
    outcome = q.reply(Err(3, "out of range"), 0.0)
    assert outcome.unsolicited == Err(3, "out of range")
    q.submit({"B": "B7"}, 0.001)
    assert q.reply(OK, 0.002).accepted == [("B", "B7")]
    assert q.stats["unsolicited"] == 1


def test_refused_line_is_reported_and_forgotten():
    q = CommandQueue()
    q.submit({"O0": "O0 9999"}, 0.0)
    outcome = q.reply(Err(3, "out of range"), 0.001)
    assert outcome.refused == [("O0 9999", Err(3, "out of range"))]
    assert lines(q.submit({"O0": "O0 9999"}, 0.002)) == ["O0 9999\n"]  # not believed held: sent again


def test_neutral_goes_out_at_once_even_with_an_unanswered_line_in_flight():
    q = CommandQueue()
    q.stop_byte = 0x18
    q.submit({"B": "B900"}, 0.0)
    q.submit({"B": "B901", "A": "A3"}, 0.0001)  # pending behind the unanswered line
    outcome = q.neutral({"B": "B0", "A": "A0"}, 0.0002)
    assert outcome.writes == [b"\x18", b"B0\n", b"A0\n"]
    # nothing queued before the stop may follow it, even after every reply
    for _ in range(3):
        assert q.reply(OK, 0.001).writes == []


def test_neutral_without_stop_byte_support_sends_only_the_lines():
    q = CommandQueue()
    q.submit({"B": "B900"}, 0.0)
    assert q.neutral({"B": "B0"}, 0.001).writes == [b"B0\n"]


def test_replies_after_the_stop_event_belong_to_the_neutral_lines():
    q = CommandQueue()
    q.stop_byte = 0x18
    q.submit({"B": "B900"}, 0.0)  # half received when the stop byte arrives: discarded, never answered
    q.neutral({"B": "B0"}, 0.001)
    assert q.stopped(0.002).lost == ["B900"]
    assert q.reply(OK, 0.003).accepted == [("B", "B0")]
    assert q.submit({"B": "B0"}, 0.004).writes == []  # the device holds neutral


def test_two_stops_back_to_back_each_discard_only_what_was_sent_before_their_own_stop_byte():
    """A takeover's neutral and an emergency stop in the same moment: stop, B0, A0, stop, B0, A0 on the wire. The
    device answers each stop and each line in turn; nothing is lost, and no reply is left over."""
    q = CommandQueue()
    q.stop_byte = 0x18
    q.submit({"B": "B900"}, 0.0)  # half received when the first stop byte arrives
    q.neutral({"B": "B0", "A": "A0"}, 0.001)
    q.neutral({"B": "B0", "A": "A0"}, 0.0011)
    assert q.stopped(0.002).lost == ["B900"]
    assert [q.reply(OK, 0.003).unsolicited for _ in range(2)] == [None, None]
    assert q.stopped(0.004).lost == [], "the second stop discards nothing: the first neutral was answered"
    replies = [q.reply(OK, 0.005) for _ in range(2)]
    assert [r.unsolicited for r in replies] == [None, None] and [r.accepted for r in replies] == [[("B", "B0")], [("A", "A0")]]
    assert q.stats["lost"] == 1 and q.stats["unsolicited"] == 0


def test_a_stop_event_with_no_stop_byte_waiting_for_it_gives_up_nothing():
    q = CommandQueue()
    q.stop_byte = 0x18
    q.neutral({"B": "B0"}, 0.0)
    q.stopped(0.001)
    q.reply(OK, 0.002)
    q.submit({"B": "B500"}, 0.003)
    assert q.stopped(0.004).lost == [], "an extra stop event is not taken for a stop byte not yet written"
    assert q.reply(OK, 0.005).accepted == [("B", "B500")]


def test_a_stop_event_lost_in_line_noise_does_not_put_every_later_stop_off_by_one():
    q = CommandQueue()
    q.stop_byte = 0x18
    q.submit({"B": "B500"}, 0.0)
    q.neutral({"B": "B0"}, 0.001)
    assert q.reply(OK, 0.002).accepted == [("B", "B500")]  # answered before the stop
    # the stop's event is lost in line noise
    assert q.reply(OK, 0.003).accepted == [("B", "B0")]
    for stop in range(2):  # later stops, each with a drive line the device drops half-received
        t = 1.0 + stop
        q.submit({"B": f"B6{stop}0"}, t)
        q.neutral({"B": "B0"}, t + 0.001)
        assert q.stopped(t + 0.002).lost == [f"B6{stop}0"]
        assert q.reply(OK, t + 0.003).accepted == [("B", "B0")]
    assert q.stats["unsolicited"] == 0


def test_a_lost_stop_event_is_settled_by_the_reply_timer_alone():
    q = CommandQueue()
    q.stop_byte = 0x18
    q.neutral({"B": "B0"}, 0.0)
    assert q.reply(OK, 0.001).accepted == [("B", "B0")]  # the stop's event was lost before this reply
    assert q.deadline() == q.reply_timeout(STOP_EVENT), "the timer still wakes for the stop's event"
    q.poll(q.deadline())
    assert q.deadline() == math.inf, "settled: nothing left to wait for"


def test_heartbeat_only_when_the_line_is_idle():
    q = CommandQueue()
    assert lines(q.heartbeat(0.0)) == ["H\n"]
    assert q.heartbeat(0.001).writes == []  # still in flight
    q.reply(OK, 0.002)
    assert q.reply(OK, 0.003).unsolicited is not None


def test_reset_forgets_everything_the_old_device_held():
    q = CommandQueue()
    q.submit({"B": "B5"}, 0.0)
    q.reply(OK, 0.001)
    q.reset()
    assert lines(q.submit({"B": "B5"}, 0.002)) == ["B5\n"]


def test_a_reply_drowned_in_overlong_noise_resynchronises_at_once():
    q = CommandQueue()
    q.submit({"B": "B1"}, 0.0)
    q.submit({"B": "B2"}, 0.0005)
    outcome = q.noise(0.001)
    assert outcome.lost == ["B1"] and lines(outcome) == ["B2\n"]


# -- plain devices: no replies, paced by the baud --------------------------------------------------


def test_plain_device_lines_are_paced_by_the_line_speed_newest_wins():
    q = CommandQueue(baud=9600, confirm=False)
    assert lines(q.submit({"B": "B1", "A": "A0"}, 0.0)) == ["B1\n"]  # 3 bytes: 3.1 ms on the wire
    free = q.deadline()
    assert abs(free - 3 * 10 / 9600) < 1e-9
    for value in range(2, 30):
        assert q.submit({"B": f"B{value}"}, 0.001).writes == []
    assert lines(q.poll(free)) == ["A0\n"]
    assert lines(q.poll(q.deadline())) == ["B29\n"]
    assert q.deadline() == float("inf")


def test_plain_device_gets_every_command_even_if_unchanged_and_neutral_at_once():
    q = CommandQueue(baud=9600, confirm=False)
    q.submit({"B": "B5"}, 0.0)
    assert lines(q.submit({"B": "B5"}, 1.0)) == ["B5\n"]  # nothing is confirmed, so nothing is assumed held
    q.submit({"B": "B6"}, 1.0001)  # waits for the line
    assert lines(q.neutral({"B": "B0"}, 1.0002)) == ["B0\n"]
    assert q.poll(2.0).writes == []  # the stale B6 never follows the neutral


def test_plain_heartbeat_repeats_the_newest_lines_instead_of_an_unknown_command():
    q = CommandQueue(baud=115200, confirm=False)
    q.submit({"B": "B5", "A": "A1"}, 0.0)
    q.poll(1.0)
    assert sorted(lines(q.heartbeat(2.0)) + lines(q.poll(3.0))) == ["A1\n", "B5\n"]
