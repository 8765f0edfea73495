"""How long the robot's socket may go unread: the rest between two reads of what the robot sends.

A robot's server sends its readings 20 times a second. Read as each one came, every
reading woke the app's GUI thread, and a wakeup after the CPU has idled costs about ten
times what the same work costs back to back (``bench/cold_cost.py``): those wakeups were
most of what a connected window cost. The readings are shown only a few times a second
(the table's numbers at :data:`~teleop.desktop.gui.readings_view.TABLE_HZ`, the plot at
5 to 12 frames), so reading each one as it comes buys nothing anyone sees. The app lets
the socket rest between reads instead, and reads whatever came meanwhile in one go.
Nothing is lost or reordered: it waits in the socket for the next read.

- **An answer is due**: no rest.

  - A ping's pong is read the moment it comes, so the round-trip time and the clock offset
    measured with it stay true (the video's frames are dated with that offset).
  - For :data:`ANSWER_S` after the user asked the robot for something (control, the
    emergency stop or its release, a recording, a snapshot, the replay), its answer shows
    at once.

- **Driving**: :data:`DRIVING_REST_S`. The controls never wait for a read: they go out the
  moment the stick moves, as ever. What the robot says back (its readings, a refusal)
  shows within that.
- **Otherwise**: :data:`READ_REST_S`, the readings' own pace on screen.

Only the robot's control connection rests; the video has its own, read as frames come.
"""

from __future__ import annotations

import math

#: the rest while not driving (s): about the pace the readings are shown at
READ_REST_S = 0.2
#: the rest while this app drives (s)
DRIVING_REST_S = 0.1
#: how long after a request to the robot its answer is read at once (s)
ANSWER_S = 1.0
#: how long a ping's pong is waited for at once (s): a pong that never comes (a server that lost it) ends the wait
PONG_WAIT_S = 1.0


class ReadPace:
    """Keeps which answers are due, and says the rest after a read."""

    def __init__(self) -> None:
        self._answer_until = -math.inf
        self._pong_until = -math.inf
        #: the ping whose pong is awaited (a late pong of an earlier one does not end the wait)
        self._ping: int | None = None

    def asked(self, now: float) -> None:
        """The user asked the robot for something at ``now``: its answer is read at once."""
        self._answer_until = max(self._answer_until, now + ANSWER_S)

    def pinged(self, ping: int, now: float) -> None:
        """Ping number ``ping`` went out at ``now``: its pong is read the moment it comes."""
        self._ping = ping
        self._pong_until = now + PONG_WAIT_S

    def ponged(self, ping: int | None = None) -> None:
        """The pong of ping number ``ping`` came; None: no pong is awaited any more (a new connection)."""
        if ping is None or ping == self._ping:
            self._ping = None
            self._pong_until = -math.inf

    def rest_s(self, *, driving: bool, now: float) -> float:
        """The rest after a read at ``now``: 0 reads on at once (see the module's rules)."""
        if now < self._pong_until or now < self._answer_until:
            return 0.0
        return DRIVING_REST_S if driving else READ_REST_S
