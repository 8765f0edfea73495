"""What the board on a freshly opened port is: this project's firmware, or a sketch that only reads lines.

A sans-I/O state machine, fed what the serial shell sees and the time; it
answers with what to do. Every path a real board takes is a test of this class
with a fake clock (tests/server/rules/test_detection.py); the shell
(:mod:`teleop_server.device.link`) only runs the effects.

The paths, as a user meets them:

* **READY arrives** (an Uno resets when the port opens and prints its banner):
  it is our firmware.
* **Lines arrive but no READY** (a board that did not reset, or booted before
  the port opened): its banner has gone by, and a board that already prints is
  past its bootloader, so asking is safe: send the info query at once.
* **Silence for ``ready_timeout``**: ask too (not sooner: while a resetting
  Uno's bootloader listens, stray bytes are not welcome).
* **An info reply** (in time, or one that outlived its own timeout while we
  still wait): it is our firmware.
* **No answer to the query** within ``info_wait``: a plain line device, unless
  the user said ``--device teleop``, in which case the port is left alone and
  the user is told why, once.
* ``--device plain``: plain at once, nothing is ever asked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

#: How long a board that has shown signs of life gets to answer the info query.
INFO_WAIT = 1.0


class BoardKind(StrEnum):
    """How the device on the port is driven (``--device``)."""

    AUTO = "auto"
    #: this project's firmware: one reply per line, reports, the stop byte
    TELEOP = "teleop"
    #: any sketch that reads command lines and never replies
    PLAIN = "plain"


class Phase(StrEnum):
    CLOSED = "closed"
    #: opened; waiting for the banner (READY) or any sign of life
    LISTENING = "listening"
    #: the info query is out; waiting for its answer
    ASKED = "asked"
    DECIDED = "decided"


@dataclass(frozen=True)
class Query:
    """Send the info query; ``why`` is for the log."""

    why: str


@dataclass(frozen=True)
class BecameTeleop:
    """It is our firmware. ``banner``: it said READY (else it answered the info query)."""

    banner: bool


@dataclass(frozen=True)
class BecamePlain:
    pass


@dataclass(frozen=True)
class Failed:
    """It is not what ``--device`` said; leave the port alone and tell the user this."""

    text: str


Effect = Query | BecameTeleop | BecamePlain | Failed


class Detection:
    """One port's detection, from :meth:`opened` until an effect decides it. Never raises."""

    def __init__(self, wanted: BoardKind, port: str, ready_timeout: float = 3.0, info_wait: float = INFO_WAIT) -> None:
        self.wanted = wanted
        self.port = port
        self.ready_timeout = ready_timeout
        self.info_wait = min(ready_timeout, info_wait)
        self.phase = Phase.CLOSED
        #: what it turned out to be (None until decided; TELEOP or PLAIN after, or None when it failed)
        self.kind: BoardKind | None = None
        self._deadline = math.inf

    @property
    def deciding(self) -> bool:
        return self.phase in (Phase.LISTENING, Phase.ASKED)

    def deadline(self) -> float:
        """When :meth:`timeout` has something to decide (infinity: nothing pending)."""
        return self._deadline if self.deciding else math.inf

    # -- events -----------------------------------------------------------------------

    def opened(self, now: float) -> list[Effect]:
        self.kind = None
        if self.wanted is BoardKind.PLAIN:
            return self._decide(BoardKind.PLAIN)
        self.phase = Phase.LISTENING
        self._deadline = now + self.ready_timeout
        return []

    def closed(self) -> None:
        self.phase = Phase.CLOSED
        self._deadline = math.inf

    def banner(self, now: float) -> list[Effect]:
        """A READY line."""
        if not self.deciding:
            return []
        return self._decide(BoardKind.TELEOP, banner=True)

    def info_reply(self, now: float) -> list[Effect]:
        """An answer to the info query (also one that arrives after the query timed out)."""
        if not self.deciding:
            return []
        return self._decide(BoardKind.TELEOP, banner=False)

    def other_line(self, now: float) -> list[Effect]:
        """Any other line: the board is alive and past its bootloader."""
        if self.phase is not Phase.LISTENING:
            return []
        return self._ask("it is already printing", now)

    def timeout(self, now: float) -> list[Effect]:
        if not self.deciding or now < self._deadline:
            return []
        if self.phase is Phase.LISTENING:
            return self._ask(f"no READY within {self.ready_timeout:.1f} s", now)
        if self.wanted is BoardKind.TELEOP:
            self.phase = Phase.DECIDED
            self.kind = None
            text = (
                f"the board on {self.port} does not answer the teleop line protocol (--device teleop): "
                "flash firmware/teleop.ino, or start with --device plain (or auto) to drive a sketch of your own"
            )
            return [Failed(text)]
        return self._decide(BoardKind.PLAIN)

    # -- helpers ------------------------------------------------------------------------

    def _ask(self, why: str, now: float) -> list[Effect]:
        self.phase = Phase.ASKED
        self._deadline = now + self.info_wait
        return [Query(why)]

    def _decide(self, kind: BoardKind, banner: bool = False) -> list[Effect]:
        self.phase = Phase.DECIDED
        self.kind = kind
        self._deadline = math.inf
        return [BecameTeleop(banner)] if kind is BoardKind.TELEOP else [BecamePlain()]
