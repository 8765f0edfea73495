"""How long to wait before trying again: the one backoff rule every retry loop on both sides uses.

Retry quickly at first (a USB device replugged, a camera process restarted,
a server restarting), then settle at the last delay so that something gone
for good costs one attempt every few seconds, never a busy loop.

Every user's delays are named here, so all the numbers are in one place. The
dashboard's JavaScript cannot import them: ``server/dashboard/app.js`` and
``video.js`` carry the same numbers in milliseconds, and a test checks that
they match these.
"""

from __future__ import annotations

#: Delays in seconds before attempt 1, 2, 3, ...; the last one repeats. The server's serial port.
DEFAULT_DELAYS: tuple[float, ...] = (0.1, 0.2, 0.5, 1.0)
#: The server's camera program: quick at first (a crashed process), then every 2 s.
CAMERA_DELAYS: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0)
#: The desktop app's connection to the server, and its video stream: capped at 2 s.
RECONNECT_DELAYS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.0)
#: The browser dashboard's connection (``RECONNECT_DELAYS_MS`` in ``server/dashboard/app.js``).
DASHBOARD_RECONNECT_DELAYS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)
#: The browser dashboard's video (``VIDEO_RETRY_DELAYS_MS`` in ``server/dashboard/video.js``);
#: a refused stream waits at least the fifth delay.
DASHBOARD_VIDEO_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 5.0)


class Backoff:
    """Counts failed attempts and says how long to wait before the next one."""

    def __init__(self, delays: tuple[float, ...] = DEFAULT_DELAYS) -> None:
        if not delays or any(d < 0 for d in delays):
            raise ValueError("backoff delays must be a non-empty list of non-negative seconds")
        self.delays = delays
        self.failures = 0

    def failed(self) -> float:
        """Count one failure; the delay to wait before trying again."""
        delay = self.delays[min(self.failures, len(self.delays) - 1)]
        self.failures += 1
        return delay

    def succeeded(self) -> None:
        self.failures = 0

    @property
    def settled(self) -> float:
        """The delay every attempt waits once the quick ones are used up."""
        return self.delays[-1]
