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
An incumbent announces itself again meanwhile, so a newcomer whose probes it missed
hears it even if one announcement is lost; a newcomer never does (its records would
flush the incumbent's from caches).

The claims are kept as heard (:class:`ClaimsHeard`), not read from python-zeroconf's
cache: our own announcements carry the cache-flush bit, so one second after we
announce, our cache no longer holds the other robot's record, which still stands;
and a goodbye for a record no longer cached never reaches us. So a claim stands
while it is heard: for :data:`CLAIM_HEARD_S` after it was last heard, which an
incumbent's announcing again keeps alive and a newcomer that moved lets lapse.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

#: a robot that registered its name less than this before hearing another claim to it is the newcomer
#: (a late answer to its probes comes within seconds; a robot up this long has likely been found and driven)
FRESH_S = 15.0
#: a newcomer that wins the sort waits this long for the other robot to move before it moves itself
NEWCOMER_WAIT_S = 5.0
#: an incumbent that loses the sort waits this long: longer than a newcomer waits, plus its claim lapsing after it moved
INCUMBENT_WAIT_S = 30.0
#: an incumbent announces its name again to a contesting robot this often while newcomers may still be deciding ...
ANNOUNCE_EARLY_S = 5.0
#: a claim stands this long after it was last heard (two of an incumbent's announcements, one of them lost, and some)
CLAIM_HEARD_S = 12.0
#: ... and at most this often after (a robot that never moves, an older version, must not set off a stream)
ANNOUNCE_AGAIN_S = 60.0
#: the longest DNS label, in bytes: a name with its suffix must fit
MAX_LABEL = 63


@dataclass(frozen=True, order=True)
class Claim:
    """Where one robot's SRV record says a service name leads: its host name (lower case) and port."""

    server: str
    port: int


def sorts_first(ours: Claim, others: Iterable[Claim]) -> bool:
    """Whether our claim sorts before every other robot's (our own record heard back is not another)."""
    return all(ours < other for other in others if other != ours)


def next_free_name(instance: str, taken: Callable[[str], bool]) -> str:
    """``instance`` with the first suffix ``-2``, ``-3``, ... that ``taken`` does not know (python-zeroconf's own style),
    cut short where the whole would not fit in one DNS label."""
    number = 2
    while True:
        suffix = f"-{number}"
        name = instance.encode()[: MAX_LABEL - len(suffix)].decode(errors="ignore").rstrip() + suffix
        if not taken(name):
            return name
        number += 1


class ClaimsHeard:
    """Other robots' claims to our name: each stands for :data:`CLAIM_HEARD_S` after it was last heard, or
    until its goodbye (a record with TTL 0)."""

    def __init__(self) -> None:
        self._last: dict[Claim, float] = {}

    def heard(self, claim: Claim, ttl_s: float, now: float) -> None:
        if ttl_s <= 0:
            self._last.pop(claim, None)
        else:
            self._last[claim] = now

    def standing(self, now: float) -> set[Claim]:
        self._last = {claim: last for claim, last in self._last.items() if now - last < CLAIM_HEARD_S}
        return set(self._last)


class NameContest:
    """One robot's view of the contest for its registered name, fed what it hears (times in seconds, any clock)."""

    def __init__(self, registered_at: float) -> None:
        #: when this robot first held the name (re-registering it after an address change keeps this)
        self.registered_at = registered_at
        #: when the other claims were first heard (None: no contest now)
        self.since: float | None = None
        self._announced: dict[Claim, float] = {}

    @property
    def newcomer(self) -> bool:
        """We registered the name less than :data:`FRESH_S` before the contest began (or there is none yet)."""
        return self.since is None or self.since - self.registered_at < FRESH_S

    def move_at(self, ours: Claim, others: set[Claim], now: float) -> float | None:
        """When this robot must move to another name, given the other claims heard now (None: it keeps the name).

        A time at or before ``now`` means at once; a later one, if the other claims are still heard then."""
        others = others - {ours}
        if not others:
            self.since = None
            return None
        if self.since is None:
            self.since = now
        first = sorts_first(ours, others)
        if self.newcomer:
            return self.since + (NEWCOMER_WAIT_S if first else 0.0)
        return None if first else self.since + INCUMBENT_WAIT_S

    def announce_again(self, others: set[Claim], now: float) -> bool:
        """Whether to announce our records again now, so robots claiming our name hear us: only an incumbent,
        every :data:`ANNOUNCE_EARLY_S` while newcomers may still be deciding, then every :data:`ANNOUNCE_AGAIN_S`."""
        if not others or self.since is None or self.newcomer:
            return False
        every = ANNOUNCE_EARLY_S if now - self.since < INCUMBENT_WAIT_S else ANNOUNCE_AGAIN_S
        due = {claim for claim in others if now - self._announced.get(claim, -math.inf) >= every}
        for claim in due:
            self._announced[claim] = now
        return bool(due)
