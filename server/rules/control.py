"""Who drives, when the robot must stop, and what every client is told: the bridge's rules as a plain object.

Events go in (a client joins, sends a frame, leaves; time passes; the device
restarts), each with the time; effects come out (send this to one client,
broadcast that, drive these lines, neutral now, close that client with this
code). Nothing here touches a socket, a port or a clock, so every rule that
carries the safety promise is tested directly with a fake clock
(tests/test_control.py); :class:`teleop_server.bridge.Bridge` only runs the effects.

The rules:

* One pilot drives; everyone else observes. Becoming pilot needs the token
  unless authentication is off; taking over is explicit (``takeover: true``)
  and announced. Wrong tokens are counted; :data:`MAX_TOKEN_FAILURES` close the
  connection, so guessing costs a reconnect.
* The emergency stop is open to every client (stopping is always safe); only
  the pilot can clear it. While it is engaged no control reaches the device.
* No control from the pilot for ``failsafe_timeout``, the pilot leaving, or a
  hand-over puts every output at neutral (:mod:`teleop_server.rules.failsafe`); while the
  pilot drives, the device gets a line at least every keepalive interval.
* A client that sends no hello (the seed's page and joystick script) is a
  legacy observer; with authentication off its bare ``{"Axes": ...}`` drives
  when nobody else does.
* A client flooding frames is warned, then closed; errors a client provokes
  repeatedly are rate-limited per client.
* Bad input never raises: it is answered with an ``error`` naming the field.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from teleop.common.throttle import LogBudget, RateCap, RateWatch, Verdict
from teleop.wire import protocol
from teleop.wire.layout import Layout
from teleop.wire.protocol import (
    Control,
    EmergencyStop,
    Error,
    ErrorCode,
    Event,
    Hello,
    Invalid,
    Ping,
    Pong,
    ReleaseControl,
    RequestControl,
    Role,
)
from teleop_server.rules.admission import TokenGuard
from teleop_server.rules.auth import Access
from teleop_server.rules.failsafe import Action, PilotWatch
from teleop_server.rules.mapping import CommandMapper

log = logging.getLogger("teleop.server")

CLOSE_POLICY = 1008  # "policy violation": no token where one is required, or flooding
#: A client sending more than this many times the configured control rate is flooding.
RATE_LIMIT_FACTOR = 4
#: Wrong tokens one connection may offer before it is closed: guessing must cost a reconnect.
MAX_TOKEN_FAILURES = 5
#: The same refusal ("you are not pilot", "e-stop engaged") at most this often per client.
REFUSAL_INTERVAL = 1.0
#: Pings answered per client per second (the app pings once a second); more go unanswered,
#: so a ping flood cannot make the server flood the sender's own queue.
MAX_PINGS_PER_S = 20


# --------------------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class Send:
    client: int
    message: protocol.ServerMessage


@dataclass(frozen=True, slots=True)
class SendWelcome:
    """The bridge builds the welcome: it holds the readings snapshot and the link's state."""

    client: int


@dataclass(frozen=True, slots=True)
class Broadcast:
    message: protocol.ServerMessage


@dataclass(frozen=True, slots=True)
class Drive:
    """Command lines for the device, one per output (latest wins)."""

    lines: dict[str, str]


@dataclass(frozen=True, slots=True)
class Neutral:
    """Every output to neutral now, ahead of anything queued."""


@dataclass(frozen=True, slots=True)
class Keepalive:
    """Feed the device's watchdog if nothing else is going out."""


@dataclass(frozen=True, slots=True)
class Close:
    """Close the client's connection with ``code`` (any explanation was sent just before)."""

    client: int
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """Pilot, failsafe, e-stop or the client count changed: everyone gets a fresh status."""


Effect = Send | SendWelcome | Broadcast | Drive | Neutral | Keepalive | Close | StatusChanged


# --------------------------------------------------------------------------- state


@dataclass(eq=False)
class Member:
    """A connected client as the rules see it."""

    id: int
    host: str
    rate: RateWatch
    name: str = "unknown"
    role: Role = Role.OBSERVER
    legacy: bool = False
    authorized: bool = False
    token_failures: int = 0
    last_refusal: float = -math.inf
    pings: RateCap = field(default_factory=lambda: RateCap(MAX_PINGS_PER_S))

    @property
    def label(self) -> str:
        return f"#{self.id} {self.name} ({self.host})"

    def describe(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "legacy": self.legacy}


class ControlRules:
    """The bridge's rules. Feed it events; run the effects it returns, in order."""

    def __init__(
        self,
        access: Access,
        mapper: CommandMapper,
        *,
        failsafe_timeout: float = 0.25,
        keepalive: float = 0.1,
        control_hz: float = 250.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.access = access
        self.mapper = mapper
        #: said once per server run: a numbered mapping met a pad in the standard layout
        self._told_numbered = False
        self.watch = PilotWatch(failsafe_timeout, keepalive)
        self.rate_limit = round(control_hz * RATE_LIMIT_FACTOR)
        self.members: dict[int, Member] = {}
        self.pilot: Member | None = None
        self.estop = False
        self._wall = wall_clock
        #: wrong tokens per address (:mod:`teleop_server.rules.admission`): a lock-out that doubles, across connections
        self.guard = TokenGuard()
        #: lines about refused tokens: a few a minute, then a count
        self.token_log = LogBudget(per_window=5, window=60.0)

    # -- events ------------------------------------------------------------------------

    def join(self, client: int, host: str, first: str | bytes | None, now: float) -> list[Effect]:
        """A client connected; ``first`` is its first frame, or None if it said nothing in time."""
        member = Member(client, host, RateWatch(self.rate_limit))
        message = None if first is None else protocol.parse_client_message(first)
        hello = message if isinstance(message, Hello) else None
        out: list[Effect] = []
        wait = self.guard.locked(host, now) if hello is not None and hello.token else 0.0
        if wait:
            self._log_token(f"client {member.label} offered a token while its address is locked out", "locked out", host, now)
            text = f"too many wrong pilot tokens from your address: wait {wait:.0f} s and check the token"
            return [Send(client, Error(ErrorCode.UNAUTHORIZED, text)), Close(client, CLOSE_POLICY, "too many wrong pilot tokens")]
        if not self.access.may_watch(hello.token if hello else None):
            if hello is not None and hello.token:
                self.guard.failed(host, now)
            log.warning("client %s refused: this server requires the token even to watch", member.label)
            text = "this server requires the token even to watch: add it to your settings"
            return [Send(client, Error(ErrorCode.UNAUTHORIZED, text)), Close(client, CLOSE_POLICY, "token required")]
        if hello is not None:
            member.name = hello.client or "unknown"
            member.authorized = self.access.required and self.access.may_drive(hello.token)
        else:
            member.legacy = True
            member.name = "legacy client"
        log.info("client %s connected%s", member.label, " (no hello: seed-style client)" if member.legacy else "")
        if hello is not None and hello.protocol != protocol.PROTOCOL_VERSION:
            text = f"server speaks protocol {protocol.PROTOCOL_VERSION}, client asked for {hello.protocol}; continuing"
            out.append(Send(client, Error(ErrorCode.UNSUPPORTED_VERSION, text)))
        wants_pilot = hello is not None and hello.role is Role.PILOT
        token_ok = wants_pilot and self._token_ok(member, hello.token)
        if token_ok:
            # announced to the others now; this client learns it from its welcome
            out += self._grant_pilot(member, hello.takeover, announce_refusal=False)
        self.members[client] = member
        out.append(SendWelcome(client))
        if wants_pilot and not token_ok:
            out += self._refused_token(member, hello.token, "hello", now)
        elif wants_pilot and member.role is not Role.PILOT:
            holder = self.pilot.name if self.pilot else "another client"
            text = f"{holder} is pilot; you are an observer. Send request_control with takeover to take over."
            out.append(Send(client, Error(ErrorCode.PILOT_BUSY, text, "hello")))
        elif message is not None and hello is None:
            out += self._on_message(member, message, now)  # a seed client's first frame is already a command
        out.append(StatusChanged())
        return out

    def frame(self, client: int, data: str | bytes, now: float) -> list[Effect]:
        """A frame from a joined client."""
        member = self.members.get(client)
        if member is None:
            return []
        verdict = member.rate.frame(now)
        if verdict is Verdict.DROP:
            return []
        if verdict is Verdict.DROP_AND_WARN:
            log.warning("client %s is sending more than %d messages/s; dropping the excess", member.label, member.rate.limit)
            text = (
                f"more than {member.rate.limit} messages in one second: the excess was dropped; keep this up and you will be disconnected"
            )
            return [Send(client, Error(ErrorCode.RATE_LIMITED, text))]
        if verdict is Verdict.CLOSE:
            log.warning("client %s kept flooding after a warning; disconnecting it", member.label)
            text = f"still more than {member.rate.limit} messages/s after a warning: disconnected"
            return self._expel(
                member, "flooding", Error(ErrorCode.RATE_LIMITED, text), f"rate limit: more than {member.rate.limit} messages/s"
            )
        out = self._on_message(member, protocol.parse_client_message(data), now)
        if member.token_failures >= MAX_TOKEN_FAILURES:
            error = Error(ErrorCode.UNAUTHORIZED, "too many wrong pilot tokens; reconnect to try again")
            out += self._expel(member, f"{MAX_TOKEN_FAILURES} wrong pilot tokens", error, error.message)
        return out

    def leave(self, client: int, now: float, why: str = "disconnected") -> list[Effect]:
        """A client is gone (closed, dropped for not reading, or expelled)."""
        member = self.members.pop(client, None)
        if member is None:
            return []
        log.info("client %s %s (%d left)", member.label, why, len(self.members))
        out: list[Effect] = []
        if self.pilot is member:
            out += self._set_pilot(None, f"pilot {member.name} {why}")
        out.append(StatusChanged())
        return out

    def tick(self, now: float) -> list[Effect]:
        """Time passed: failsafe when the pilot went quiet, keepalive while it drives."""
        out: list[Effect] = []
        for action in self.watch.poll(now):
            if action is Action.ENTER_FAILSAFE:
                log.warning("failsafe: pilot silent for %.0f ms; outputs to neutral", self.watch.timeout * 1000)
                out += [Neutral(), self._event("warning", f"failsafe: no control from the pilot for {self.watch.timeout * 1000:.0f} ms")]
                out.append(StatusChanged())
            elif action is Action.KEEPALIVE:
                out.append(Keepalive())
        return out

    def deadline(self) -> float:
        """When :meth:`tick` next has something to do (inf: nobody drives)."""
        return self.watch.deadline()

    def written(self, now: float) -> None:
        """A line went to the device (the keepalive clock restarts)."""
        self.watch.written(now)

    def device_ready(self) -> list[Effect]:
        """The device (re)started: if nobody drives it, make sure it sits at neutral."""
        return [Neutral()] if self.watch.failsafe or self.estop else []

    def stop_all(self, why: str) -> list[Effect]:
        """The server itself is stopping or was told to (a signal): neutral first, then say so."""
        self.watch.force()
        log.warning("outputs to neutral: %s", why)
        return [Neutral(), self._event("warning", f"outputs to neutral: {why}"), StatusChanged()]

    # -- messages ------------------------------------------------------------------------

    def _on_message(self, member: Member, message: protocol.ClientMessage | Invalid, now: float) -> list[Effect]:
        if isinstance(message, Control):
            return self._on_control(member, message, now)
        if isinstance(message, Ping):
            if member.pings.allow(now):
                return [Send(member.id, Pong(message.id, message.t, self._wall()))]
            return []
        if isinstance(message, Invalid):
            return [Send(member.id, message.as_error())]
        if isinstance(message, RequestControl):
            if self.pilot is member or self._token_ok(member, message.token) or member.authorized:
                return self._grant_pilot(member, message.takeover, announce_refusal=True)
            return self._refused_token(member, message.token, "request_control", now)
        if isinstance(message, ReleaseControl):
            return self._set_pilot(None, f"{member.name} released control") if self.pilot is member else []
        if isinstance(message, EmergencyStop):
            return self._on_estop(member, message.engaged)
        if isinstance(message, Hello):
            return [Send(member.id, Error(ErrorCode.INVALID_MESSAGE, "hello may only be the first message", "hello"))]
        return []

    def _on_control(self, member: Member, control: Control, now: float) -> list[Effect]:
        out: list[Effect] = []
        if member.legacy and self.pilot is None and control.legacy and not self.access.required:
            out += self._set_pilot(member, f"{member.name} is now pilot")
        if self.pilot is not member:
            if member.legacy and self.access.required:
                text = (
                    'control ignored: this server requires a pilot token, so bare {"Axes": ...} messages cannot drive. '
                    "Use the teleop app with the token, or start teleop-server with --no-auth on a trusted network"
                )
                return self._refusal(member, now, Error(ErrorCode.UNAUTHORIZED, text, "control"))
            holder = self.pilot.name if self.pilot else "nobody"
            return self._refusal(
                member, now, Error(ErrorCode.NOT_PILOT, f"control ignored: you are an observer and {holder} is pilot", "control")
            )
        if self.estop:
            text = "emergency stop is engaged; send estop with engaged: false to resume"
            return out + self._refusal(member, now, Error(ErrorCode.ESTOP_ACTIVE, text, "control"))
        if self.watch.control(now):
            log.info("failsafe cleared: %s is driving", member.name)
            out += [self._event("info", f"failsafe cleared: {member.name} is driving"), StatusChanged()]
        if control.layout is Layout.STANDARD and self.mapper.numbered and not self._told_numbered:
            self._told_numbered = True
            out.append(self._numbered_warning(member))
        out.append(Drive(self.mapper.commands(control)))
        return out

    def _numbered_warning(self, member: Member) -> Broadcast:
        """An upgrade trap said out loud: numbers in the mapping now count in SDL's standard layout."""
        sources = ", ".join(self.mapper.numbered)
        text = (
            f"the mapping reads {sources} by number, and {member.name} sends a pad SDL knows, in its standard layout: "
            "numbers now count in that layout (axis2 is rightx, not the left trigger). "
            "Write the mapping with control names (leftx, lefty, lefttrigger, a, ...) so every pad drives the same way"
        )
        log.warning("%s", text)
        return self._event("warning", text)

    def _on_estop(self, member: Member, engaged: bool) -> list[Effect]:
        if engaged:
            out: list[Effect] = []
            if not self.estop:
                self.estop = True
                log.warning("EMERGENCY STOP by %s", member.label)
                out.append(self._event("warning", f"emergency stop by {member.name}"))
            self.watch.force()
            return [Neutral(), *out, StatusChanged()]
        if not self.estop:
            return []
        if self.pilot is not member:
            return [Send(member.id, Error(ErrorCode.NOT_PILOT, "only the pilot can clear the emergency stop", "estop"))]
        self.estop = False
        log.warning("emergency stop cleared by %s", member.label)
        return [self._event("info", f"emergency stop cleared by {member.name}"), StatusChanged()]

    # -- pilot -----------------------------------------------------------------------------

    def _grant_pilot(self, member: Member, takeover: bool, *, announce_refusal: bool) -> list[Effect]:
        if self.pilot is member:
            return []
        if self.pilot is not None and not takeover:
            if announce_refusal:
                text = f"{self.pilot.name} is pilot; send takeover: true to take over"
                return [Send(member.id, Error(ErrorCode.PILOT_BUSY, text, "request_control"))]
            return []
        previous = self.pilot
        reason = f"{member.name} took over from {previous.name}" if previous else f"{member.name} is now pilot"
        return self._set_pilot(member, reason)

    def _set_pilot(self, member: Member | None, reason: str) -> list[Effect]:
        previous = self.pilot
        if previous is not None:
            previous.role = Role.OBSERVER
        self.pilot = member
        if member is not None:
            member.role = Role.PILOT
        log.info("control: %s", reason)
        out: list[Effect] = [self._event("info", reason)]
        if previous is not None:
            # the old pilot's last command must not outlive its control
            entered = self.watch.force()
            out.append(Neutral())
            if entered:
                log.warning("failsafe: %s; outputs to neutral", reason)
                out.append(self._event("warning", f"failsafe: {reason}"))
        out.append(StatusChanged())
        return out

    def _token_ok(self, member: Member, offered: str | None) -> bool:
        ok = self.access.may_drive(offered)
        if ok:
            member.authorized = member.authorized or self.access.required
        return ok

    def _refused_token(self, member: Member, offered: str | None, ref: str, now: float) -> list[Effect]:
        if offered:
            member.token_failures += 1
            if self.guard.failed(member.host, now):
                member.token_failures = MAX_TOKEN_FAILURES  # its address is locked out now: this connection goes too
            why = "the pilot token you sent is wrong: check it in your settings (teleop-server printed it when it first started)"
        else:
            why = "this server needs a pilot token to drive: add the token teleop-server printed when it first started to your settings"
        text = f"client {member.label} asked to drive with {'a wrong' if offered else 'no'} pilot token"
        self._log_token(text, "wrong token" if offered else "no token", member.host, now)
        return [Send(member.id, Error(ErrorCode.UNAUTHORIZED, f"{why}; you are an observer", ref))]

    def _log_token(self, text: str, kind: str, host: str, now: float) -> None:
        """Log a refused token, at most a few a minute per kind; then how many were refused in that minute."""
        if self.token_log.take(kind, now, host):
            log.warning("%s", text)
        for what, count, hosts in self.token_log.due(now):
            log.warning("refused %d more requests (%s) in the last minute from %d address(es)", count, what, hosts)

    # -- helpers ---------------------------------------------------------------------------

    def _refusal(self, member: Member, now: float, error: Error) -> list[Effect]:
        if now - member.last_refusal < REFUSAL_INTERVAL:
            return []
        member.last_refusal = now
        return [Send(member.id, error)]

    def _expel(self, member: Member, why: str, error: Error, reason: str) -> list[Effect]:
        out: list[Effect] = [Send(member.id, error), Close(member.id, CLOSE_POLICY, reason[:120])]
        return out + self.leave(member.id, 0.0, f"was disconnected ({why})")

    def _event(self, level: str, text: str) -> Broadcast:
        return Broadcast(Event(level, text, self._wall()))
