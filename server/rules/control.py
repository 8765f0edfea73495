"""Who drives, when the robot must stop, and what every client is told: the bridge's rules as a plain object.

Events go in (a client joins, sends a frame, leaves; time passes; the device
restarts), each with the time; effects come out (send this to one client,
broadcast that, drive these lines, neutral now, close that client with this
code). Nothing here touches a socket, a port or a clock, so every rule that
carries the safety promise is tested directly with a fake clock
(tests/server/rules/test_control.py); :class:`teleop_server.bridge.Bridge` only runs the effects.

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

from teleop.common.throttle import RateCap, RateWatch, Verdict
from teleop.wire import protocol
from teleop.wire.layout import Layout
from teleop.wire.protocol import (
    CloseCode,
    Control,
    EmergencyStop,
    Error,
    ErrorCode,
    Event,
    EventKind,
    EventLevel,
    Hello,
    Invalid,
    PilotStatus,
    Ping,
    Pong,
    ReleaseControl,
    ReplayControl,
    RequestControl,
    Role,
    SaveSnapshot,
)
from teleop_server.rules.auth import Access, ObserverAccess
from teleop_server.rules.failsafe import Action, PilotWatch
from teleop_server.rules.mapping import CommandMapper
from teleop_server.rules.tokens import Judged, Judgement, TokenJudge

log = logging.getLogger("teleop.server")

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
    code: CloseCode
    reason: str


@dataclass(frozen=True, slots=True)
class Hold:
    """Read nothing more from this client before ``until`` (monotonic): it used up its messages for this second.

    ``until`` is infinite for a flooder being closed: nothing it sends now matters.

    Its socket then fills and its sender blocks, so a flood costs the server
    nothing but the frames it has already read.
    """

    client: int
    until: float


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """Pilot, failsafe, e-stop or the client count changed: everyone gets a fresh status."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Save what the server keeps of the last seconds to a file (asked by ``client``, 0: the server itself)."""

    client: int
    seconds: float | None
    reason: str


@dataclass(frozen=True, slots=True)
class SteerReplay:
    """Play, pause, seek or change the speed of a replay (the bridge answers if there is none)."""

    client: int
    message: ReplayControl


@dataclass(frozen=True, slots=True)
class RecordRequest:
    """Start or stop a recording, or mark this moment in it (asked by ``client``, named ``who``)."""

    client: int
    who: str
    command: protocol.RecordCommand
    note: str = ""


Effect = (
    Send | SendWelcome | Broadcast | Drive | Neutral | Keepalive | Close | Hold | StatusChanged | Snapshot | SteerReplay | RecordRequest
)


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
    #: what this client drives with, as it last said (hello, then each control)
    input: protocol.InputKind | None = None
    last_refusal: float = -math.inf
    pings: RateCap = field(default_factory=lambda: RateCap(MAX_PINGS_PER_S))

    @property
    def label(self) -> str:
        return f"#{self.id} {self.name} ({self.host})"

    def describe(self) -> PilotStatus:
        return PilotStatus(self.id, self.name, self.legacy, self.input.value if self.input else "")


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
        max_speed: float = 1.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.access = access
        self.mapper = mapper
        #: the configured speed cap: the most any client can drive, whoever asks
        self.max_speed = max_speed
        #: the cap in force: ``max_speed``, or lower while an operator has lowered it
        self.speed_cap = max_speed
        #: the input that last drove the device, re-applied at once when the cap is lowered
        self._last_drive: Control | None = None
        #: said once per server run: a numbered mapping met a pad in the standard layout
        self._told_numbered = False
        self.watch = PilotWatch(failsafe_timeout, keepalive)
        self.rate_limit = round(control_hz * RATE_LIMIT_FACTOR)
        self.members: dict[int, Member] = {}
        self.pilot: Member | None = None
        self.estop = False
        #: the server is shutting down: outputs stay at neutral, no control drives again (:meth:`stop_all`)
        self.stopping = False
        self._wall = wall_clock
        #: every token offered, on every path, is judged by this one (:mod:`teleop_server.rules.tokens`): one lock-out
        #: per address that doubles, across connections, and one log budget
        self.tokens = TokenJudge(access)

    @property
    def guard(self):
        """The per-address lock-out (:class:`teleop_server.rules.admission.TokenGuard`) the judge keeps."""
        return self.tokens.guard

    # -- events ------------------------------------------------------------------------

    def arrive(self, client: int, host: str, first: str | bytes | None, now: float) -> Arrival:
        """A client's first frame, parsed once: its hello, its token's judgement and whether it gets the pilot's seats.

        The bridge needs this before the client has a seat (the pilot's reserved
        seats), and a guess must count once whether or not a seat is found for
        it; :meth:`join` then takes the same :class:`Arrival`, so the hello is
        never parsed, nor the token judged, twice.
        """
        message = None if first is None else protocol.parse_client_message(first)
        hello = message if isinstance(message, Hello) else None
        if hello is None:
            judged = Judged(Judgement.ABSENT)
        else:
            asked = "asked to drive" if hello.role is Role.PILOT else "said hello"
            judged = self.tokens.judge(host, hello.token, now, f"client #{client} {hello.client or 'unknown'} ({host}) {asked}")
        wants_pilot = hello is not None and hello.role is Role.PILOT
        # with a token, only its holder is trusted with the pilot's seats; with --no-auth, whoever asks to drive
        trusted = judged.right if self.access.required else wants_pilot
        return Arrival(message, hello, judged, trusted, self.may_watch(judged) and judged.judgement is not Judgement.LOCKED)

    def may_watch(self, judged: Judged) -> bool:
        """Whether a client whose token was judged so may watch (observers may need the token too)."""
        return self.access.observers is ObserverAccess.OPEN or not self.access.required or judged.right

    def join(self, client: int, host: str, first: str | bytes | None, now: float, arrival: Arrival | None = None) -> list[Effect]:
        """A client connected; ``first`` is its first frame, or None if it said nothing in time.

        ``arrival`` is :meth:`arrive`'s reading of that frame, if the caller already asked for it.
        """
        member = Member(client, host, RateWatch(self.rate_limit))
        if arrival is None:
            arrival = self.arrive(client, host, first, now)
        message, hello, judged = arrival.message, arrival.hello, arrival.judged
        out: list[Effect] = []
        if judged.judgement is Judgement.LOCKED:
            text = f"too many wrong pilot tokens from your address: wait {judged.wait:.0f} s and check the token"
            return [
                Send(client, Error(ErrorCode.UNAUTHORIZED, text)),
                Close(client, CloseCode.POLICY_VIOLATION, "too many wrong pilot tokens"),
            ]
        if not self.may_watch(judged):
            self.tokens.note(f"client {member.label} refused: this server requires the token even to watch", host, now)
            text = "this server requires the token even to watch: add it to your settings"
            return [Send(client, Error(ErrorCode.UNAUTHORIZED, text)), Close(client, CloseCode.POLICY_VIOLATION, "token required")]
        if hello is not None:
            member.name = self.access.without_token(hello.client) or "unknown"
            member.input = hello.input
            member.authorized = judged.right
        else:
            member.legacy = True
            member.name = "legacy client"
        log.info("client %s connected%s", member.label, " (no hello: seed-style client)" if member.legacy else "")
        if hello is not None and hello.protocol != protocol.PROTOCOL_VERSION:
            text = f"server speaks protocol {protocol.PROTOCOL_VERSION}, client asked for {hello.protocol}; continuing"
            out.append(Send(client, Error(ErrorCode.UNSUPPORTED_VERSION, text)))
        wants_pilot = hello is not None and hello.role is Role.PILOT
        token_ok = wants_pilot and (judged.right or not self.access.required)
        if token_ok:
            # announced to the others now; this client learns it from its welcome
            out += self._grant_pilot(member, hello is not None and hello.takeover, announce_refusal=False)
        self.members[client] = member
        out.append(SendWelcome(client))
        if wants_pilot and not token_ok:
            out += self._refused_token(member, judged, "hello", now)
        elif judged.judgement is Judgement.WRONG:
            out += self._refused_token(member, judged, "hello", now)  # an observer's hello: the guess is told and counted too
        elif wants_pilot and member.role is not Role.PILOT:
            holder = self.pilot.name if self.pilot else "another client"
            text = f"{holder} is pilot; you are an observer. Send request_control with takeover to take over."
            out.append(Send(client, Error(ErrorCode.PILOT_BUSY, text, "hello")))
        elif message is not None and hello is None:
            out += self._on_message(member, message, now)  # a seed client's first frame is already a command
        out.append(StatusChanged())
        out += self._expel_guesser(member)
        return out

    def frame(self, client: int, data: str | bytes, now: float) -> list[Effect]:
        """A frame from a joined client."""
        member = self.members.get(client)
        if member is None:
            return []
        verdict = member.rate.frame(now)
        if verdict is not Verdict.OK:
            return self._over_limit(member, verdict)
        out = self._on_message(member, protocol.parse_client_message(data), now)
        return out + self._expel_guesser(member)

    def control_frame(self, client: int, now: float) -> tuple[bool, list[Effect]]:
        """A WebSocket ping or pong from a joined client: a message like any other, counted toward its rate limit.

        Returns whether to answer (a ping) or take (a pong) it, and the
        effects: past the limit it is dropped, and the client is held, warned
        and closed like any flooder. The WebSocket layer answers pings by
        itself, so this is asked before it does; a client not joined yet
        gets no answer.
        """
        member = self.members.get(client)
        if member is None:
            return False, []
        verdict = member.rate.frame(now)
        if verdict is Verdict.OK:
            return True, []
        return False, self._over_limit(member, verdict)

    def _over_limit(self, member: Member, verdict: Verdict) -> list[Effect]:
        """A frame past the client's rate limit: dropped; the first one holds its reading to the end of the second and warns it, or closes it.

        Only the first frame over the limit holds the client: the shell keeps
        holding whatever arrives before ``until``.
        """
        if verdict is Verdict.DROP:
            return []
        if verdict is Verdict.DROP_AND_WARN:
            log.warning("client %s is sending more than %d messages/s; dropping the excess", member.label, member.rate.limit)
            text = (
                f"more than {member.rate.limit} messages in one second: the excess was dropped; keep this up and you will be disconnected"
            )
            return [Hold(member.id, member.rate.window_end), Send(member.id, Error(ErrorCode.RATE_LIMITED, text))]
        if verdict is Verdict.CLOSE:
            log.warning("client %s kept flooding after a warning; disconnecting it", member.label)
            text = f"still more than {member.rate.limit} messages/s after a warning: disconnected"
            error = Error(ErrorCode.RATE_LIMITED, text)
            return [
                Hold(member.id, math.inf),
                *self._expel(member, "flooding", error, f"rate limit: more than {member.rate.limit} messages/s"),
            ]
        return []

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
                out += [
                    Neutral(),
                    self._event(
                        EventLevel.WARNING,
                        EventKind.FAILSAFE,
                        f"failsafe: no control from the pilot for {self.watch.timeout * 1000:.0f} ms",
                    ),
                ]
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

    def stop_all(self, why: str, *, for_good: bool = False) -> list[Effect]:
        """A signal: neutral first, then say so. ``for_good`` (the server is stopping): no control drives again.

        Closing every connection can take the server seconds (a pilot slow to answer the close, a socket full of
        video), and without the latch the pilot's next control would clear the failsafe and drive until then."""
        self.watch.force()
        self.stopping = self.stopping or for_good
        log.warning("outputs to neutral: %s", why)
        return [Neutral(), self._event(EventLevel.WARNING, EventKind.SERVER, f"outputs to neutral: {why}"), StatusChanged()]

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
            if self.pilot is member or member.authorized or not self.access.required:
                return self._grant_pilot(member, message.takeover, announce_refusal=True)
            judged = self.tokens.judge(member.host, message.token, now, f"client {member.label} asked to drive")
            if judged.right:
                member.authorized = True
                return self._grant_pilot(member, message.takeover, announce_refusal=True)
            return self._refused_token(member, judged, "request_control", now)
        if isinstance(message, ReleaseControl):
            return self._set_pilot(None, f"{member.name} released control") if self.pilot is member else []
        if isinstance(message, EmergencyStop):
            return self._on_estop(member, message.engaged)
        if isinstance(message, SaveSnapshot | ReplayControl):
            # what a token holder may do: these write to the robot's disk or change what everyone sees
            if not (self.pilot is member or member.authorized or not self.access.required):
                ref, what = (
                    ("save_snapshot", "saving the last seconds") if isinstance(message, SaveSnapshot) else ("replay", "steering the replay")
                )
                return [Send(member.id, Error(ErrorCode.UNAUTHORIZED, f"{what} needs the pilot token", ref))]
            if isinstance(message, SaveSnapshot):
                return [Snapshot(member.id, message.seconds, f"asked by {member.name}")]
            return [SteerReplay(member.id, message)]
        if isinstance(message, Hello):
            return [Send(member.id, Error(ErrorCode.INVALID_MESSAGE, "hello may only be the first message", "hello"))]
        if isinstance(message, protocol.SpeedCap):
            return self._on_speed_cap(member, message, now)
        if isinstance(message, protocol.Record):
            # starting or stopping writes to the robot's disk: what a token holder may do, like a snapshot
            if not (self.pilot is member or member.authorized or not self.access.required):
                return [
                    Send(member.id, Error(ErrorCode.UNAUTHORIZED, "starting or stopping the recording needs the pilot token", "record"))
                ]
            return [RecordRequest(member.id, member.name, message.command, message.note)]
        return []

    def _on_speed_cap(self, member: Member, message: protocol.SpeedCap, now: float) -> list[Effect]:
        """An operator (anyone with the token, or anyone where none is needed) sets the live cap, never above the configured one."""
        if not member.authorized and self.access.required:
            judged = self.tokens.judge(member.host, message.token, now, f"client {member.label} set the speed cap")
            if not judged.right:
                return self._refused_token(member, judged, "speed_cap", now)
            member.authorized = True
        cap = min(self.max_speed, message.max_speed)
        if cap == self.speed_cap:
            return []
        self.speed_cap = cap
        above = (
            ""
            if message.max_speed <= self.max_speed
            else f" (asked {message.max_speed:.0%}; the configured maximum is {self.max_speed:.0%})"
        )
        text = f"speed cap {cap:.0%} of each output's travel, set by {member.name}{above}"
        log.warning("%s", text)
        out: list[Effect] = [self._event(EventLevel.WARNING, EventKind.LIMIT, text), StatusChanged()]
        if self._last_drive is not None and self.pilot is not None and not self.watch.failsafe and not self.estop:
            out.append(Drive(self.mapper.commands(self._last_drive, cap)))  # lowered now, not at the pilot's next message
        return out

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
        if control.input is not None and control.input != member.input:
            member.input = control.input  # every client sees what drives (status.pilot.input)
            out.append(StatusChanged())
        if self.stopping:
            text = "control ignored: the server is stopping; every output stays at neutral"
            return out + self._refusal(member, now, Error(ErrorCode.SERVER_STOPPING, text, "control"))
        if self.estop:
            text = "emergency stop is engaged; send estop with engaged: false to resume"
            return out + self._refusal(member, now, Error(ErrorCode.ESTOP_ACTIVE, text, "control"))
        if self.watch.control(now):
            log.info("failsafe cleared: %s is driving", member.name)
            out += [self._event(EventLevel.INFO, EventKind.FAILSAFE, f"failsafe cleared: {member.name} is driving"), StatusChanged()]
        if control.layout is Layout.STANDARD and self.mapper.numbered and not self._told_numbered:
            self._told_numbered = True
            out.append(self._numbered_warning(member))
        self._last_drive = control
        out.append(Drive(self.mapper.commands(control, self.speed_cap)))
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
        return self._event(EventLevel.WARNING, EventKind.CONFIG, text)

    def remote_estop(self, who: str) -> list[Effect]:
        """An emergency stop from outside the WebSocket (the fleet broker): engaged as if a client pressed it.

        There is no remote release: only the pilot clears a stop, over its own connection.
        """
        return self._engage(who, who)

    def _engage(self, name: str, label: str) -> list[Effect]:
        out: list[Effect] = []
        if not self.estop:
            self.estop = True
            log.warning("EMERGENCY STOP by %s", label)
            out.append(self._event(EventLevel.WARNING, EventKind.ESTOP, f"emergency stop by {name}"))
        self.watch.force()
        return [Neutral(), *out, StatusChanged()]

    def _on_estop(self, member: Member, engaged: bool) -> list[Effect]:
        if engaged:
            return self._engage(member.name, member.label)
        if not self.estop:
            return []
        if self.pilot is not member:
            return [Send(member.id, Error(ErrorCode.NOT_PILOT, "only the pilot can clear the emergency stop", "estop"))]
        self.estop = False
        log.warning("emergency stop cleared by %s", member.label)
        return [self._event(EventLevel.INFO, EventKind.ESTOP, f"emergency stop cleared by {member.name}"), StatusChanged()]

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
        out: list[Effect] = [self._event(EventLevel.INFO, EventKind.PILOT, reason)]
        if previous is not None:
            # the old pilot's last command must not outlive its control
            entered = self.watch.force()
            out.append(Neutral())
            if entered:
                log.warning("failsafe: %s; outputs to neutral", reason)
                out.append(self._event(EventLevel.WARNING, EventKind.FAILSAFE, f"failsafe: {reason}"))
        out.append(StatusChanged())
        return out

    def _refused_token(self, member: Member, judged: Judged, ref: str, now: float) -> list[Effect]:
        """Tell a client why its token did not make it pilot; the judge has counted and logged a wrong one."""
        if judged.judgement is Judgement.LOCKED:
            member.token_failures = MAX_TOKEN_FAILURES
            why = f"too many wrong pilot tokens from your address: wait {judged.wait:.0f} s and check the token"
        elif judged.judgement is Judgement.WRONG:
            member.token_failures += 1
            if judged.wait:
                member.token_failures = MAX_TOKEN_FAILURES  # its address is locked out now: this connection goes too
            why = "the pilot token you sent is wrong: check it in your settings (teleop-server printed it when it first started)"
        else:
            self.tokens.note(f"client {member.label} asked to drive with no pilot token", member.host, now)
            why = "this server needs a pilot token to drive: add the token teleop-server printed when it first started to your settings"
        return [Send(member.id, Error(ErrorCode.UNAUTHORIZED, f"{why}; you are an observer", ref))]

    def _expel_guesser(self, member: Member) -> list[Effect]:
        """Guessing costs the connection: after :data:`MAX_TOKEN_FAILURES` wrong tokens, or once its address is locked out."""
        if member.token_failures < MAX_TOKEN_FAILURES or member.id not in self.members:
            return []
        error = Error(ErrorCode.UNAUTHORIZED, "too many wrong pilot tokens; reconnect to try again")
        return self._expel(member, f"{MAX_TOKEN_FAILURES} wrong pilot tokens", error, error.message)

    # -- helpers ---------------------------------------------------------------------------

    def _refusal(self, member: Member, now: float, error: Error) -> list[Effect]:
        if now - member.last_refusal < REFUSAL_INTERVAL:
            return []
        member.last_refusal = now
        return [Send(member.id, error)]

    def _expel(self, member: Member, why: str, error: Error, reason: str) -> list[Effect]:
        out: list[Effect] = [Send(member.id, error), Close(member.id, CloseCode.POLICY_VIOLATION, reason[:120])]
        return out + self.leave(member.id, 0.0, f"was disconnected ({why})")

    def _event(self, level: EventLevel, kind: EventKind, text: str) -> Broadcast:
        return Broadcast(Event(level, text, self._wall(), kind))


@dataclass(frozen=True)
class Arrival:
    """What a client's first frame says, decided once (:meth:`ControlRules.arrive`)."""

    #: the first frame, parsed (None: it said nothing in time); a seed-style client's is already a command
    message: protocol.ClientMessage | protocol.Invalid | None
    hello: Hello | None
    judged: Judged
    #: it may take the seats kept for the pilot (the token holder; with --no-auth, a pilot hello)
    trusted: bool
    #: it may stay at all (not locked out; has the token where watching needs it)
    welcome: bool
