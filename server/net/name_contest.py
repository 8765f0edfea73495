"""Two robots announcing one mDNS name: which of them moves to another, and when. Sans-I/O.

python-zeroconf probes before it registers a name and renames on an answer, but
a robot that answers late (a busy Pi, Wi-Fi asleep) is missed: both then announce
``raspberrypi`` and the app lists one robot. Each robot keeps hearing the other's
SRV record afterwards (its :class:`Claim`) and runs the same rule on it, so exactly
one of them moves:

* the robot that has held the name longer keeps it: it is the one a pilot may be
  driving, and the one the app's list already points at. A robot that registered
  less than :data:`FRESH_S` before the contest began is the newcomer;
* newcomer against newcomer (two robots started together) or incumbent against
  incumbent (two networks joined), the claims' sort order decides (RFC 6762 §8.2
  compares the records' data too).

Neither can tell how long the other has held the name, so the rule works in
waits: the newcomer that loses the sort moves at once, the one that wins it after
:data:`NEWCOMER_WAIT_S`; an incumbent that loses the sort moves only after
:data:`INCUMBENT_WAIT_S`, by when any newcomer has moved; one that wins it never does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

#: a robot that registered its name less than this before hearing another claim to it is the newcomer
#: (a late answer to its probes comes within seconds; a robot up this long has likely been found and driven)
FRESH_S = 10.0
#: a newcomer that wins the sort waits this long for the other robot to move before it moves itself
NEWCOMER_WAIT_S = 5.0
#: an incumbent that loses the sort waits this long: longer than any newcomer waits, plus the time to hear it
INCUMBENT_WAIT_S = 20.0
#: a robot keeping its name announces it again to a contesting robot at most this often
ANNOUNCE_AGAIN_S = 60.0


@dataclass(frozen=True, order=True)
class Claim:
    """Where one robot's SRV record says a service name leads: its host name (lower case) and port."""

    server: str
    port: int


def sorts_first(ours: Claim, others: Iterable[Claim]) -> bool:
    """Whether our claim sorts before every other robot's (our own record heard back is not another)."""
    return all(ours < other for other in others if other != ours)


def next_free_name(instance: str, taken: Callable[[str], bool]) -> str:
    """``instance`` with the first suffix ``-2``, ``-3``, ... that ``taken`` does not know (python-zeroconf's own style)."""
    number = 2
    while taken(f"{instance}-{number}"):
        number += 1
    return f"{instance}-{number}"


class NameContest:
    """One robot's view of the contest for its registered name, fed what it hears (times in seconds, any clock)."""

    def __init__(self, registered_at: float) -> None:
        self.registered_at = registered_at
        #: when the other claims were first heard (None: no contest now)
        self.since: float | None = None
        self._announced: dict[Claim, float] = {}

    def move_at(self, ours: Claim, others: set[Claim], now: float) -> float | None:
        """When this robot must move to another name, given the other claims heard now (None: it keeps the name).

        A time at or before ``now`` means at once; a later one, if the other claims are still heard then."""
        others = others - {ours}
        if not others:
            self.since = None
            return None
        if self.since is None:
            self.since = now
        newcomer = self.since - self.registered_at < FRESH_S
        first = sorts_first(ours, others)
        if newcomer:
            return self.since + (NEWCOMER_WAIT_S if first else 0.0)
        return None if first else self.since + INCUMBENT_WAIT_S

    def announce_again(self, others: set[Claim], now: float) -> bool:
        """Whether to announce our records again now, so robots claiming our name hear us (each at most every
        :data:`ANNOUNCE_AGAIN_S`: one that never moves, an older version, must not set off a stream of them)."""
        due = {claim for claim in others if now - self._announced.get(claim, -ANNOUNCE_AGAIN_S) >= ANNOUNCE_AGAIN_S}
        for claim in due:
            self._announced[claim] = now
        return bool(due)
