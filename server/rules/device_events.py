"""What a device's event means to the people watching it: how loud it is, and what it says.

The serial link passes each event the board (or the link itself) reports as a
name and a text; this decides, without I/O, what every client is told:

* trouble (a refused command, a restart, a lost or unasked-for reply) is a
  warning, and its text is already a sentence;
* the board's watchdog putting the outputs to neutral is a warning while a
  pilot drives (the link stalled), but expected, and so only news, while the
  server holds the robot stopped itself;
* the watchdog "resuming" while the server holds the robot stopped (after an
  e-stop or a failsafe) is our own neutral lines feeding it: nothing resumed
  driving, and saying "resume" right after the user pressed stop would only
  alarm them, so nothing is said;
* anything else is news, prefixed with ``device:`` so it reads as the board's.

A merged event ("resume (12 times in the last 1 s)", from the event pace) is
judged by its first word, like a single one.
"""

from __future__ import annotations

from dataclasses import dataclass

from teleop.wire.protocol import EventKind, EventLevel

#: link and board trouble: told as a warning, in the link's own words
TROUBLES = frozenset({"error", "restart", "lost_reply", "unsolicited"})
#: events whose text is already a sentence for the user
SAID_PLAINLY = TROUBLES | {"plain", "text"}


@dataclass(frozen=True)
class Announcement:
    level: EventLevel
    text: str
    kind: EventKind = EventKind.DEVICE


def announce(name: str, text: str, *, held_stopped: bool) -> Announcement | None:
    """What to tell every client of the device event ``name`` (None: nothing).

    ``held_stopped``: the server holds the outputs at neutral itself (an
    e-stop, or the failsafe with no pilot sending).
    """
    state = text.split(" ", 1)[0]
    if name == "watchdog" and state == "resume" and held_stopped:
        return None
    tripped_while_driving = name == "watchdog" and state == "neutral" and not held_stopped
    level = EventLevel.WARNING if name in TROUBLES or tripped_while_driving else EventLevel.INFO
    return Announcement(level, text if name in SAID_PLAINLY else f"device: {name} {text}".strip())
