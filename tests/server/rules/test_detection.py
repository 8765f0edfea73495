"""Board detection as a user meets it, on the sans-I/O state machine with a fake clock (no pty needed)."""

from teleop_server.rules.detection import BecamePlain, BecameTeleop, BoardKind, Detection, Failed, Query


def opened(wanted: BoardKind = BoardKind.AUTO, at: float = 0.0) -> Detection:
    detection = Detection(wanted, "/dev/ttyACM0", ready_timeout=3.0, info_wait=1.0)
    assert detection.opened(at) == [] or wanted is BoardKind.PLAIN
    return detection


def test_a_board_that_resets_and_says_ready_is_our_firmware_without_being_asked():
    detection = opened()
    assert detection.banner(0.8) == [BecameTeleop(banner=True)]
    assert detection.kind is BoardKind.TELEOP
    assert detection.timeout(10.0) == [], "decided: nothing more happens"


def test_a_silent_board_is_asked_only_after_the_ready_timeout():
    detection = opened()
    assert detection.timeout(2.99) == [], "a resetting Uno's bootloader must not get stray bytes"
    assert detection.deadline() == 3.0
    effects = detection.timeout(3.0)
    assert effects == [Query("no READY within 3.0 s")]


def test_a_board_already_printing_is_asked_at_once():
    detection = opened()
    assert detection.other_line(0.2) == [Query("it is already printing")]
    assert detection.other_line(0.3) == [], "asked once"
    assert detection.deadline() == 1.2


def test_an_answer_to_the_query_makes_it_our_firmware():
    detection = opened()
    detection.timeout(3.0)
    assert detection.info_reply(3.4) == [BecameTeleop(banner=False)]
    assert detection.kind is BoardKind.TELEOP


def test_a_late_info_reply_still_counts_while_deciding():
    detection = opened()
    detection.other_line(0.1)
    assert detection.info_reply(0.9) == [BecameTeleop(banner=False)]


def test_no_answer_to_the_query_means_a_plain_line_device_in_auto():
    detection = opened()
    detection.timeout(3.0)
    assert detection.timeout(3.99) == []
    assert detection.timeout(4.0) == [BecamePlain()]
    assert detection.kind is BoardKind.PLAIN


def test_no_answer_when_the_user_said_teleop_fails_once_with_what_to_do():
    detection = opened(BoardKind.TELEOP)
    detection.timeout(3.0)
    effects = detection.timeout(4.0)
    assert len(effects) == 1 and isinstance(effects[0], Failed)
    assert "flash firmware/teleop.ino" in effects[0].text and "--device plain" in effects[0].text
    assert detection.timeout(100.0) == [] and detection.kind is None


def test_plain_is_decided_at_once_and_never_asks():
    detection = Detection(BoardKind.PLAIN, "/dev/ttyUSB0")
    assert detection.opened(0.0) == [BecamePlain()]
    assert detection.other_line(0.1) == [] and detection.timeout(99.0) == []


def test_a_banner_after_the_decision_is_not_detection():
    detection = opened()
    detection.banner(0.5)
    assert detection.banner(7.0) == [], "a restart is the link's business, not a new detection"


def test_unplugged_while_deciding_decides_nothing():
    detection = opened()
    detection.other_line(0.1)
    detection.closed()
    assert detection.timeout(50.0) == [] and detection.info_reply(50.0) == []
    assert detection.opened(60.0) == [] and detection.deadline() == 63.0, "the next opening starts afresh"


def test_the_query_wait_is_never_longer_than_the_ready_timeout():
    detection = Detection(BoardKind.AUTO, "COM3", ready_timeout=0.5, info_wait=1.0)
    detection.opened(0.0)
    detection.other_line(0.0)
    assert detection.deadline() == 0.5
