"""Who gets a seat: the rules that keep the pilot's place however many strangers connect.

Sans-I/O: every method takes the time (``now``, monotonic seconds) and an
opaque connection key, and returns a decision; nothing here touches a socket.
The asyncio side (:mod:`teleop_server.net.gate`) applies the decisions.

A connection goes through two stages:

* **open socket** (:meth:`Admission.opened`): counted from the moment it is
  accepted, before a byte of HTTP. Sockets are what run out (file
  descriptors), so their number is capped below the process's file limit.
  Each address may have only ``pending_per_address`` sockets that are still
  sending their request. A newcomer beyond that closes the excess, and when
  the whole budget is used a newcomer closes one socket of the address
  holding the most: each time the waiting socket that has *sent the least of
  its request*, the oldest first among equals. A socket whose request is
  complete is never closed for room (it is about to be answered, or to say
  its hello, within a second), and one in its first :data:`FIRST_CHANCE`
  seconds only when the descriptors run out: what a socket has sent means
  nothing before its client had time to send it. So a crowd behind the
  pilot's own address (a classroom NAT) that dribbles bytes and reconnects
  pushes out only its own slowest sockets, however fast it reconnects, not
  the pilot's socket whose request is still on its way; the address holds
  its share plus what it opened in the last second. A newcomer is never
  turned away by sockets that linger (slowloris, half-open, a reconnect
  storm): they only push out each other.
* **session** (:meth:`Admission.admit`), decided after the client's hello (or
  its silence, for the hobby page that sends nothing): anyone who holds the
  pilot token is admitted while ``max_clients + pilot_reserve`` seats are
  taken; everyone else needs a free seat among ``max_clients`` and fewer than
  ``sessions_per_address`` unauthenticated sessions from the same address.

:class:`TokenGuard` limits wrong-token guesses per address with a growing
lock-out; :class:`teleop.common.throttle.LogBudget` keeps every peer-triggered
log line to a summary rate.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from enum import Enum

#: Seats beyond ``max_clients`` that only a pilot-token holder may take.
PILOT_RESERVE = 4
#: Sockets per address that have not (yet) become sessions: an HTTP request in progress,
#: a WebSocket before its hello. A browser opens six at most.
PENDING_PER_ADDRESS = 16
#: Unauthenticated sessions (observers without the token) per address.
SESSIONS_PER_ADDRESS = 16
#: File descriptors kept for everything that is not a client socket (serial port, logs, epoll),
#: and for the sockets asyncio has accepted but not yet shown to the gate: it accepts up to 100
#: at a time and opens them a loop turn later, so under a flood two such batches can be open
#: before the oldest lingering sockets are closed (seen with TLS, whose sockets take longer to open).
FD_HEADROOM = 256
#: Addresses remembered by the per-address tables; the least recently seen is forgotten first.
MAX_TRACKED_ADDRESSES = 4096
#: Seconds a new socket has to get its request in before it may be closed to keep its address
#: within ``pending_per_address``: a client sends its request the moment it connects, but that
#: can take a round trip on slow Wi-Fi, or a moment on a busy PC, while a reconnect storm from
#: the same address brings dozens of new sockets a millisecond. Past the limit an address's
#: newcomers wait in this grace (bounded by the file-descriptor budget) rather than push out
#: each other before anything could be read from them.
FIRST_CHANCE = 1.0
#: Waiting sockets of one address weighed when choosing which to close, the oldest first: it keeps
#: each accept's cost bounded when an address holds thousands.
WEIGHED = 64


class Seat(Enum):
    PENDING = "pending"  # socket open, no session yet
    OBSERVER = "observer"  # unauthenticated session
    TRUSTED = "trusted"  # holds the pilot token (or asked to drive with --no-auth)


@dataclass
class _Socket:
    address: str
    opened: float
    seat: Seat = Seat.PENDING
    #: bytes of its request received so far, and whether the request is complete
    received: int = 0
    complete: bool = False


@dataclass(frozen=True)
class Opened:
    """Decision on a new socket: keep it (``admitted``) and close each of ``evict`` first."""

    admitted: bool
    evict: tuple[Hashable, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class Admitted:
    admitted: bool
    reason: str = ""


def socket_budget(fd_limit: int, max_clients: int) -> int:
    """Client sockets the process may hold with ``fd_limit`` descriptors; at least the seats plus a few."""
    return max(fd_limit - FD_HEADROOM, max_clients + PILOT_RESERVE + 8)


class Admission:
    """The seat rules for one server. Keys are whatever identifies a connection (the connection object)."""

    def __init__(
        self,
        max_clients: int,
        *,
        max_sockets: int,
        pilot_reserve: int = PILOT_RESERVE,
        pending_per_address: int = PENDING_PER_ADDRESS,
        sessions_per_address: int = SESSIONS_PER_ADDRESS,
    ) -> None:
        self.max_clients = max_clients
        self.pilot_reserve = pilot_reserve
        self.max_sockets = max_sockets
        self.pending_per_address = pending_per_address
        self.sessions_per_address = sessions_per_address
        # insertion order = age: the first pending socket of an address is its oldest
        self._sockets: dict[Hashable, _Socket] = {}
        #: per address, in arrival order (an OrderedDict: the oldest is found at once however many went before it)
        self._pending: dict[str, OrderedDict[Hashable, None]] = {}
        #: per address, how many of its pending sockets are still sending their request
        self._waiting: dict[str, int] = {}
        self._observers: dict[str, int] = {}
        self.sessions = 0
        self.evicted = 0
        self.refused = 0

    # -- sockets --------------------------------------------------------------------------

    def opened(self, key: Hashable, address: str, now: float, *, received: int = 0, complete: bool = False) -> Opened:
        """A socket was accepted; ``received`` bytes of its request are already there (``complete``: all of it)."""
        evict: list[Hashable] = []
        while self._waiting.get(address, 0) >= self.pending_per_address:  # the address's share, less the newcomer
            victim = self._slowest(address, now)
            if victim is None:  # the rest are in their first chance
                break
            evict.append(victim)
            self.closed(victim)
        if not evict and len(self._sockets) >= self.max_sockets:
            victim = self._slowest_of_busiest(now)
            if victim is None:  # every socket is a session: the seats and the budget are both full
                self.refused += 1
                return Opened(False, reason=f"{self.sessions} clients connected and no file descriptors left")
            evict.append(victim)
            self.closed(victim)
        self.evicted += len(evict)
        self._sockets[key] = _Socket(address, now, received=received, complete=complete)
        self._pending.setdefault(address, OrderedDict())[key] = None
        if not complete:
            self._waiting[address] = self._waiting.get(address, 0) + 1
        return Opened(True, tuple(evict))

    def progress(self, key: Hashable, received: int, complete: bool) -> None:
        """``received`` bytes of the socket's request are in (``complete``: the whole request). Only ever grows."""
        entry = self._sockets.get(key)
        if entry is None or entry.seat is not Seat.PENDING:
            return
        entry.received = max(entry.received, received)
        if complete and not entry.complete:
            entry.complete = True
            self._one_less_waiting(entry.address)

    def _slowest(self, address: str, now: float, *, first_chance: float = FIRST_CHANCE) -> Hashable | None:
        """The waiting socket of ``address`` that has sent the least of its request (the oldest among equals).

        Only sockets older than ``first_chance`` seconds count, and only the
        :data:`WEIGHED` oldest of them; None if there is no such socket.
        """
        victim, least, weighed = None, None, 0
        for key in self._pending.get(address, ()):  # oldest first
            entry = self._sockets[key]
            if entry.complete:
                continue
            if now - entry.opened < first_chance:
                break  # this one and every later one are still in their first chance
            if least is None or entry.received < least:
                victim, least = key, entry.received
            weighed += 1
            if weighed == WEIGHED:
                break
        return victim

    def _slowest_of_busiest(self, now: float) -> Hashable | None:
        """Out of file descriptors: the slowest waiting socket of the address with the most waiting.

        Its sockets in their first chance go too if it has no other: the
        descriptors must come from somewhere, and the busiest address is the
        one storming. If no socket anywhere is still sending its request, the
        oldest pending one of the address holding the most goes.
        """
        if self._waiting:
            busiest = max(self._waiting, key=lambda address: self._waiting[address])
            victim = self._slowest(busiest, now)
            return victim if victim is not None else self._slowest(busiest, now, first_chance=-math.inf)
        if not self._pending:
            return None
        busiest = max(self._pending, key=lambda address: len(self._pending[address]))
        return next(iter(self._pending[busiest]))

    def _one_less_waiting(self, address: str) -> None:
        left = self._waiting.get(address, 1) - 1
        if left:
            self._waiting[address] = left
        else:
            self._waiting.pop(address, None)

    def closed(self, key: Hashable) -> None:
        """The socket is gone (or is being closed): free whatever it held. Safe to call twice."""
        entry = self._sockets.pop(key, None)
        if entry is None:
            return
        if entry.seat is Seat.PENDING:
            mine = self._pending.get(entry.address)
            if mine is not None:
                mine.pop(key, None)
                if not mine:
                    del self._pending[entry.address]
            if not entry.complete:
                self._one_less_waiting(entry.address)
        else:
            self.sessions -= 1
            if entry.seat is Seat.OBSERVER:
                left = self._observers.get(entry.address, 1) - 1
                if left:
                    self._observers[entry.address] = left
                else:
                    self._observers.pop(entry.address, None)

    # -- sessions -------------------------------------------------------------------------

    def admit(self, key: Hashable, *, trusted: bool) -> Admitted:
        """Turn an open socket into a session once its hello (or silence) says who it is."""
        entry = self._sockets.get(key)
        if entry is None:
            return Admitted(False, "connection already closed")
        if entry.seat is not Seat.PENDING:
            return Admitted(True)
        if trusted:
            if self.sessions >= self.max_clients + self.pilot_reserve:
                self.refused += 1
                return Admitted(False, f"server full: {self.sessions} clients connected, the pilot's reserved seats included")
            seat = Seat.TRUSTED
        else:
            if self.sessions >= self.max_clients:
                self.refused += 1
                return Admitted(False, f"server full: {self.max_clients} clients connected; try again later")
            if self._observers.get(entry.address, 0) >= self.sessions_per_address:
                self.refused += 1
                return Admitted(False, f"too many connections from your address ({self.sessions_per_address} without the pilot token)")
            seat = Seat.OBSERVER
            self._observers[entry.address] = self._observers.get(entry.address, 0) + 1
        mine = self._pending[entry.address]
        del mine[key]
        if not mine:
            del self._pending[entry.address]
        if not entry.complete:
            self._one_less_waiting(entry.address)
        entry.seat = seat
        self.sessions += 1
        return Admitted(True)

    @property
    def sockets(self) -> int:
        return len(self._sockets)

    def pending(self, address: str | None = None) -> int:
        if address is None:
            return sum(len(m) for m in self._pending.values())
        return len(self._pending.get(address, ()))


# -- token guessing --------------------------------------------------------------------------


@dataclass
class _Guesses:
    failures: int = 0
    window_start: float = 0.0
    locked_until: float = -math.inf
    lockouts: int = 0


class TokenGuard:
    """Wrong pilot tokens per address: ``allowed`` in ``window`` seconds, then a lock-out that doubles.

    While an address is locked out, every token it offers is refused without
    being compared, the right one included: otherwise the lock would only slow
    the guessing, not stop it. The first lock lasts ``first_lockout`` seconds,
    each further one twice as long, up to ``max_lockout``; an address that
    stays quiet for ``forgive`` seconds starts afresh.
    """

    def __init__(
        self,
        allowed: int = 10,
        window: float = 60.0,
        *,
        first_lockout: float = 2.0,
        max_lockout: float = 300.0,
        forgive: float = 600.0,
        max_addresses: int = MAX_TRACKED_ADDRESSES,
    ) -> None:
        self.allowed = allowed
        self.window = window
        self.first_lockout = first_lockout
        self.max_lockout = max_lockout
        self.forgive = forgive
        self.max_addresses = max_addresses
        self._by_address: OrderedDict[str, _Guesses] = OrderedDict()

    def locked(self, address: str, now: float) -> float:
        """Seconds this address must still wait before a token it offers is checked (0: not locked)."""
        entry = self._by_address.get(address)
        if entry is None:
            return 0.0
        return max(0.0, entry.locked_until - now)

    def failed(self, address: str, now: float) -> float:
        """Count a wrong token from ``address``; returns the lock-out it now has (0: none)."""
        entry = self._by_address.pop(address, None)
        if entry is None or now - max(entry.window_start, entry.locked_until) > self.forgive:
            entry = _Guesses(window_start=now)
        self._by_address[address] = entry  # most recently seen last
        while len(self._by_address) > self.max_addresses:
            self._by_address.popitem(last=False)
        if now - entry.window_start > self.window:
            entry.window_start = now
            entry.failures = 0
        entry.failures += 1
        if entry.failures > self.allowed and now >= entry.locked_until:
            lockout = min(self.max_lockout, self.first_lockout * 2**entry.lockouts)
            entry.lockouts += 1
            entry.locked_until = now + lockout
            entry.failures = 0
            entry.window_start = now
        return max(0.0, entry.locked_until - now)


# -- log lines a peer can cause ----------------------------------------------------------------


class PerPeerOnce:
    """Remember which peers were already told about (or logged for) something; bounded."""

    def __init__(self, max_peers: int = MAX_TRACKED_ADDRESSES) -> None:
        self.max_peers = max_peers
        self._seen: OrderedDict[str, None] = OrderedDict()

    def first(self, peer: str) -> bool:
        if peer in self._seen:
            self._seen.move_to_end(peer)
            return False
        self._seen[peer] = None
        while len(self._seen) > self.max_peers:
            self._seen.popitem(last=False)
        return True
