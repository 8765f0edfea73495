"""How far the robot's clock is from ours, from the ping round trips the client already makes.

Video frames carry their capture time on the robot's clock (``time.time()`` on
the Pi); to say how old a picture is, the app needs that time on its own
clock. A Pi without a network time server can be minutes off, so the
difference is measured rather than assumed to be zero.

Each pong says when the server answered (``server_t``). The server answered
somewhere between our send and our receive; taking the middle is wrong by at
most half the round trip, so the sample with the shortest round trip among
the recent ones is the most exact (NTP's rule, simplified). Sans-I/O: the
session feeds samples in, nothing here reads a clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

#: Pings go once a second: 30 samples are the last half minute, long enough to
#: catch one quiet round trip, short enough that clock drift (tens of ppm) stays well under a millisecond.
SAMPLES = 30


@dataclass(frozen=True, slots=True)
class OffsetSample:
    #: server clock minus ours, seconds
    offset: float
    #: the round trip it was measured over, seconds; the offset is right to within half of it
    rtt: float


class ClockOffset:
    """Server clock minus local clock (seconds), from the min-round-trip sample of the last :data:`SAMPLES` pongs."""

    def __init__(self, samples: int = SAMPLES) -> None:
        self._samples: deque[OffsetSample] = deque(maxlen=samples)
        self._best: OffsetSample | None = None

    def add(self, server_t: float, received_wall: float, rtt: float) -> None:
        """A pong: the server's ``time.time()`` when it answered, our ``time.time()`` on receipt, the round trip.

        Equivalent to ``server_t - (sent_wall + rtt / 2)``, with the send time
        derived from the receive time so no wall clock needs keeping per ping.
        """
        if not server_t > 0 or not 0 <= rtt < 60:  # an older server sends no server_t; a nonsense round trip says nothing
            return
        self._samples.append(OffsetSample(server_t - (received_wall - rtt / 2), rtt))
        self._best = min(self._samples, key=lambda s: s.rtt)

    def reset(self) -> None:
        """A new connection: the server may be another machine, or its clock may have been stepped."""
        self._samples.clear()
        self._best = None

    @property
    def offset(self) -> float | None:
        """Seconds to subtract from a server time to get ours; None before the first pong."""
        return self._best.offset if self._best else None

    @property
    def uncertainty(self) -> float | None:
        """How wrong :attr:`offset` can be, at most (half the best round trip), seconds."""
        return self._best.rtt / 2 if self._best else None

    def to_local(self, server_time: float) -> float:
        """A server time on our clock (unchanged while no offset is known)."""
        return server_time - (self.offset or 0.0)
