"""What a Foxglove client may publish to the robot: an emergency stop, never a drive command.

The live Foxglove endpoint (:mod:`teleop_server.net.foxglove`) shows the same
channels as an MCAP recording (:mod:`teleop_server.rules.recording`). Foxglove's
protocol lets a client advertise channels of its own and publish on them, and
the SDK has no token check: anyone who reaches the port can publish. So the
only thing a published message can do is stop the robot (the same remote
e-stop the fleet broker uses; only the pilot releases it). Anything else is
refused, and each client's refused topic is logged once, not per message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from teleop_server.rules.recording import ChannelSpec

#: The topic a Foxglove panel (Publish, or a button of your own) publishes on to stop the robot.
ESTOP = ChannelSpec(
    "/estop",
    "teleop.EmergencyStop",
    {
        "type": "object",
        "title": "teleop.EmergencyStop",
        "description": "Publish to stop the robot: every output to neutral. Only the pilot releases it, from the app or the dashboard.",
        "properties": {"engaged": {"type": "boolean", "description": "true (or left out) stops the robot; false is ignored here"}},
    },
)


@dataclass(frozen=True)
class Verdict:
    """What one published message does: ``estop`` when it stops the robot, else why it was refused (None: say nothing)."""

    estop: bool = False
    refusal: str | None = None


@dataclass
class PublishRules:
    """Judges every message a Foxglove client publishes; remembers which refusals were already logged."""

    told: set[tuple[int, str]] = field(default_factory=set)
    max_told: int = 1024

    def judge(self, client: int, topic: str, data: bytes) -> Verdict:
        if topic != ESTOP.topic:
            return self._refuse(
                client,
                topic,
                f"Foxglove client {client} published on {topic[:80]!r}: refused (clients may publish only an e-stop on {ESTOP.topic})",
            )
        try:
            message = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            message = {}  # a stop that cannot be read is still a stop: stopping is always the safe side
        if isinstance(message, dict) and message.get("engaged") is False:
            return self._refuse(
                client, topic, f"Foxglove client {client} tried to release the e-stop: only the pilot may, from the app or the dashboard"
            )
        return Verdict(estop=True)

    def _refuse(self, client: int, topic: str, text: str) -> Verdict:
        key = (client, topic)
        if key in self.told:
            return Verdict(refusal=None)
        if len(self.told) >= self.max_told:  # a client cycling topics cannot grow this without bound
            self.told.clear()
        self.told.add(key)
        return Verdict(refusal=text)

    def forget(self, client: int) -> None:
        """A client left: its next refusal is logged again."""
        self.told = {key for key in self.told if key[0] != client}
