"""The one place an offered token is judged, whichever way it came.

A token can reach the server in a pilot hello, an observer hello, a
``request_control`` and a ``/video.mjpg`` request. Each of them is judged here,
the same way: while the address is locked out the token is not even compared;
otherwise it is compared in constant time (:class:`teleop_server.rules.auth.Access`), and a
wrong one counts toward the address's lock-out (:class:`TokenGuard`) and is
logged within one budget shared by every path (:class:`LogBudget`). So a
guesser gains nothing by moving from one path to another: every guess costs
the same. Page URLs carry the token only in their fragment, which a browser
never sends; no token is judged there.

Sans-I/O: pass the time in; the log lines go to the ``teleop.server`` logger.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

from teleop.common.throttle import LogBudget
from teleop_server.rules.admission import TokenGuard
from teleop_server.rules.auth import Access

log = logging.getLogger("teleop.server")


class Judgement(Enum):
    ABSENT = "absent"  # no token offered (or authentication is off)
    RIGHT = "right"
    WRONG = "wrong"
    LOCKED = "locked"  # not compared: the address is locked out


@dataclass(frozen=True)
class Judged:
    judgement: Judgement
    #: seconds the address stays locked out after this (0: not locked)
    wait: float = 0.0

    @property
    def right(self) -> bool:
        return self.judgement is Judgement.RIGHT


class TokenJudge:
    """Judges tokens for one server: one lock-out per address and one log budget for every path."""

    def __init__(self, access: Access, guard: TokenGuard | None = None, budget: LogBudget | None = None) -> None:
        self.access = access
        self.guard = guard or TokenGuard()
        #: lines about refused tokens: a few a minute, then a count
        self.budget = budget or LogBudget(per_window=5, window=60.0)
        #: tokens compared, and wrong ones, since start (for figures and tests)
        self.compared = 0
        self.wrong = 0

    def judge(self, address: str, offered: str | None, now: float, asker: str) -> Judged:
        """Judge ``offered`` from ``address``; ``asker`` says who in a log line ("client #3 x (10.0.0.2) asked to drive")."""
        if not offered or not self.access.required:
            return Judged(Judgement.ABSENT)
        wait = self.guard.locked(address, now)
        if wait:
            self.note(f"{asker} with a token while its address is locked out", address, now)
            return Judged(Judgement.LOCKED, wait)
        self.compared += 1
        if self.access.may_drive(offered):
            return Judged(Judgement.RIGHT)
        self.wrong += 1
        wait = self.guard.failed(address, now)
        self.note(f"{asker} with a wrong pilot token", address, now)
        return Judged(Judgement.WRONG, wait)

    def note(self, text: str, address: str, now: float) -> None:
        """Log a line about a token: a few a minute for every path and kind together, then how many were held back."""
        if self.budget.take("tokens", now, address):
            log.warning("%s", text)
        for _, count, addresses in self.budget.due(now):
            log.warning(
                "held back %d more lines about refused tokens (wrong, missing or from a locked-out address) in the last minute, "
                "from %d address(es)",
                count,
                addresses,
            )
