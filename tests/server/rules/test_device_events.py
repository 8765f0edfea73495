"""How loud a device's event is, and what clients read: the rule on its own, no device needed."""

from teleop.wire.protocol import EventKind, EventLevel
from teleop_server.rules.device_events import Announcement, announce


def test_the_watchdog_resuming_after_a_stop_is_not_announced():
    assert announce("watchdog", "resume", held_stopped=True) is None
    assert announce("watchdog", "resume (12 times in the last 1 s)", held_stopped=True) is None, "a merged one is judged alike"


def test_the_watchdog_resuming_while_a_pilot_drives_is_news():
    assert announce("watchdog", "resume", held_stopped=False) == Announcement(EventLevel.INFO, "device: watchdog resume")


def test_a_watchdog_trip_is_a_warning_while_driving_and_news_while_stopped():
    assert announce("watchdog", "neutral", held_stopped=False).level is EventLevel.WARNING
    assert announce("watchdog", "neutral (3 times in the last 1 s)", held_stopped=False).level is EventLevel.WARNING
    assert announce("watchdog", "neutral", held_stopped=True).level is EventLevel.INFO


def test_link_trouble_is_a_warning_in_its_own_words():
    for name in ("error", "restart", "lost_reply", "unsolicited"):
        said = announce(name, "device refused 'B9999': ERR 3 out of range", held_stopped=False)
        assert said == Announcement(EventLevel.WARNING, "device refused 'B9999': ERR 3 out of range", EventKind.DEVICE)


def test_a_boards_own_event_reads_as_the_boards_and_is_news():
    assert announce("bumper", "left", held_stopped=False) == Announcement(EventLevel.INFO, "device: bumper left")
    assert announce("plain", "this board doesn't confirm commands", held_stopped=False).text == "this board doesn't confirm commands"
    assert announce("boot", "", held_stopped=True).text == "device: boot"
