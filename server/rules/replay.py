"""The replay's clock: where in the recording we are, whether it runs, how fast, and what is due.

``teleop-server --replay FILE.mcap`` plays a recording back as if it were
live. The file reading and the waiting are :mod:`teleop_server.record.replay`'s;
this is the pure part, fed the monotonic time, so tests drive it with a fake
clock: position, play/pause, seek, speed, and which messages are due at a given
time. It never raises on what a client asks: a request it cannot follow gets a
plain answer and changes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: The slowest and fastest a replay can run (the wire's ``replay`` message allows the same).
MIN_SPEED = 0.05
MAX_SPEED = 64.0
#: While playing, clients are told the position at least this often (the dashboard's slider follows it).
STATUS_INTERVAL = 1.0


@dataclass(frozen=True)
class Steered:
    """What a play/pause/seek/speed request did: ``text`` for the event log; ``jump`` when reading must restart."""

    text: str
    jump: bool = False
    changed: bool = True


@dataclass
class Playback:
    """The position in a recording spanning ``start_ns``..``end_ns`` (its log times), as a function of the time.

    The position is seconds from the recording's start. While playing it
    advances at ``speed`` recorded seconds per real second; at the end the
    replay pauses there (play starts it again from the beginning).
    """

    start_ns: int
    end_ns: int
    speed: float = 1.0
    playing: bool = True
    #: the position at ``_since`` (monotonic seconds); the position now follows from it
    _at: float = 0.0
    _since: float = 0.0

    def __post_init__(self) -> None:
        self.end_ns = max(self.end_ns, self.start_ns)

    @property
    def duration(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    def position(self, now: float) -> float:
        if not self.playing:
            return self._at
        return min(self.duration, self._at + max(0.0, now - self._since) * self.speed)

    def due_ns(self, now: float) -> int:
        """Every message logged at or before this time (ns since the epoch) is due now."""
        return self.start_ns + round(self.position(now) * 1e9)

    def wait(self, next_ns: int | None, now: float) -> float | None:
        """Real seconds until a message logged at ``next_ns`` is due (0: now); None while paused or with nothing left."""
        if not self.playing or next_ns is None:
            return None
        ahead = (next_ns - self.start_ns) / 1e9 - self.position(now)
        return max(0.0, ahead / self.speed)

    def at_end(self, now: float) -> bool:
        return self.position(now) >= self.duration

    def ended(self, now: float) -> bool:
        """The file has nothing more to play: pause at the end (True if it was playing)."""
        if not self.playing:
            return False
        self._rebase(now)
        self.playing = False
        return True

    def _rebase(self, now: float) -> None:
        self._at = self.position(now)
        self._since = now

    # -- what clients ask ---------------------------------------------------------------

    def play(self, now: float) -> Steered:
        if self.playing:
            return Steered("the replay is already playing", changed=False)
        if self._at >= self.duration:
            self._at, self._since, self.playing = 0.0, now, True
            return Steered("replay started again from the beginning", jump=True)
        self._since, self.playing = now, True
        return Steered(f"replay playing from {self._at:.1f} s")

    def pause(self, now: float) -> Steered:
        if not self.playing:
            return Steered("the replay is already paused", changed=False)
        self._rebase(now)
        self.playing = False
        return Steered(f"replay paused at {self._at:.1f} s")

    def seek(self, position: float | None, now: float) -> Steered:
        if position is None or not math.isfinite(position):
            return Steered("seek needs a position in seconds from the recording's start", changed=False)
        self._at = min(max(0.0, position), self.duration)
        self._since = now
        return Steered(f"replay moved to {self._at:.1f} s of {self.duration:.1f} s", jump=True)

    def set_speed(self, speed: float | None, now: float) -> Steered:
        if speed is None or not math.isfinite(speed):
            return Steered(f"speed needs a factor from {MIN_SPEED} to {MAX_SPEED:g}", changed=False)
        self._rebase(now)
        self.speed = min(max(MIN_SPEED, speed), MAX_SPEED)
        return Steered(f"replay speed {self.speed:g} times")

    def steer(self, action: str, position: float | None, speed: float | None, now: float) -> Steered:
        """A client's ``replay`` message (play, pause, seek or speed)."""
        if action == "play":
            return self.play(now)
        if action == "pause":
            return self.pause(now)
        if action == "seek":
            return self.seek(position, now)
        if action == "speed":
            return self.set_speed(speed, now)
        return Steered(f"unknown replay action {action[:20]!r}: play, pause, seek or speed", changed=False)

    def describe(self, file: str, now: float) -> dict[str, object]:
        """``Status.replay``: what every client shows."""
        return {
            "file": file,
            "position": round(self.position(now), 3),
            "duration": round(self.duration, 3),
            "playing": self.playing,
            "speed": self.speed,
        }
