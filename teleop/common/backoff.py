"""How long to wait before trying a lost device again: the serial port and the camera share this one rule.

Retry quickly at first (a USB device replugged, a camera process restarted),
then settle at the last delay so that a device that is gone for good costs
one attempt every few seconds, never a busy loop.
"""

from __future__ import annotations

#: Delays in seconds before attempt 1, 2, 3, ...; the last one repeats.
DEFAULT_DELAYS: tuple[float, ...] = (0.1, 0.2, 0.5, 1.0)


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
