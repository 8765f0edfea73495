"""How long the pads may go unread while this app is not driving: the rest between two reads.

A pad seldom goes quiet. An 8-bit stick at rest flickers by one step at each of its
250 reports a second, and the pads SDL reads through HIDAPI (a DualShock 4, for one)
report 250 times a second whether or not anything changed. So while not driving the
app reads the pads at a pace, not at each report, and a button pressed between two
reads is read at the next one (a tap shorter than the rest is not lost: the read
replays it). Each read wakes the GUI thread, and with such a pad the reads are most of
what a connected window costs, so the pace is as slow as what the pad may do allows:

- **Driving**: no rest; every report goes out at once.
- **Another client is the robot's pilot**: :data:`WATCHING_S`. This app may be the
  one that has to stop it, with a pad button bound to the emergency stop.
- **The pad is in someone's hands** (a button, a hat or a stick moved beyond
  :data:`FLICKER` within the last :data:`HANDLED_S`): :data:`WATCHING_S`, the stick
  view's frame rate, so the view follows the hand.
- **Otherwise** nothing moves the robot, or this app is not connected to one:
  :data:`RESTING_S`. A pad button's press (enable, the emergency stop, hold to drive)
  is read within that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: a change that moves every axis by less than this (of its -1..1 travel) is what a pad at rest does
FLICKER = 0.02
#: the rest while another client is the pilot or the pad is handled (s): the stick view's frame rate
WATCHING_S = 0.04
#: the rest while nothing the pad can do is urgent (s)
RESTING_S = 0.1
#: how long after its last change beyond flicker a pad counts as handled (s)
HANDLED_S = 1.0


class PadPace:
    """Keeps when the driving pad last changed beyond flicker, and says the rest between two reads."""

    def __init__(self) -> None:
        self._axes: Sequence[float] = ()
        self._buttons: Sequence[int] = ()
        self._hats: Sequence[tuple[int, int]] = ()
        self._handled_at = -math.inf

    def seen(self, axes: Sequence[float], buttons: Sequence[int], hats: Sequence[tuple[int, int]], now: float) -> None:
        """The driving pad's input as read at ``now`` (another pad picked counts as a change)."""
        same_controls = buttons == self._buttons and hats == self._hats and len(axes) == len(self._axes)
        if same_controls and all(abs(a - b) < FLICKER for a, b in zip(axes, self._axes, strict=True)):
            return  # at rest: compared with the input at its last change, so a slow drift still counts
        self._axes, self._buttons, self._hats = list(axes), list(buttons), list(hats)
        self._handled_at = now

    def handled(self, now: float) -> bool:
        return now - self._handled_at < HANDLED_S

    def rest_s(self, *, driving: bool, another_drives: bool, now: float) -> float:
        """The rest after a read at ``now``: 0 while driving (see the module's rules)."""
        if driving:
            return 0.0
        if another_drives or self.handled(now):
            return WATCHING_S
        return RESTING_S
