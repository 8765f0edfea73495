"""Who gets a seat: the rules that keep the pilot's place however many strangers connect.

Sans-I/O: every method takes the time (``now``, monotonic seconds) and an
opaque connection key, and returns a decision; nothing here touches a socket.
The asyncio side (:mod:`teleop_server.net.gate`) applies the decisions.

A connection goes through two stages:

* **open socket** (:meth:`Admission.opened`): counted from the moment it is
  accepted, before a byte of HTTP. Sockets are what run out (file
  descriptors), so their number is capped below the process's file limit.
  A socket still sending its request has its first :data:`FIRST_CHANCE`
  seconds to do so: what it has sent means nothing before its client had
  time to send it. Past that, each address keeps ``pending_per_address`` of
  its waiting sockets, those that have *sent the most of their request*;
  the rest are closed when the address opens its next socket, a few hundred
  at a time (until then they wait for their handshake's timeout). When the
  whole budget is used, a newcomer closes the socket that has sent the least
  among the oldest still sending their request, whatever their address;
  only if all of those are in their first chance, one of the address
  holding the most. A socket whose request is complete is closed for room
  only when no socket anywhere is still sending (it is about to be
  answered, or to say its hello, within a second). So a crowd behind the
  pilot's own address (a classroom NAT) that dribbles bytes and reconnects
  pushes out only its own slowest sockets however fast it reconnects, not
  the pilot's socket whose request is still on its way, nor one whose
  handshake is slow but ahead of the crowd's. The one limit: an address
  that opens more sockets in a second than the budget holds takes sockets
  in their first chance from itself. A newcomer is never turned away by
  sockets that linger (slowloris, half-open, a reconnect storm): they only
  push out each other.
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

import heapq
import math
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from enum import Enum
from itertools import islice

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
#: Seconds a new socket has to get its request in before it can be closed to keep its address
#: within ``pending_per_address``: a client sends its request the moment it connects, but a lost
#: packet, slow Wi-Fi or a busy PC can hold it back a moment, while a reconnect storm from the same
#: address brings dozens of new sockets a millisecond. What a socket has sent means nothing before
#: its client had time to send it.
FIRST_CHANCE = 1.0
#: When the descriptors run out, the socket closed is chosen among this many of the oldest still
#: sending: each accept's cost stays bounded however many there are.
WEIGHED = 64
#: Sockets one newcomer closes at most to bring its address back to its share: a burst of thousands
#: is closed over its address's next newcomers rather than in one pass of the event loop.
CLOSED_AT_ONCE = 256


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


@dataclass
class _Waiting:
    """One address's sockets still sending their request: in their first chance (by age), and past it."""

    young: OrderedDict[Hashable, None] = field(default_factory=OrderedDict)
    grown: dict[Hashable, None] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.young) + len(self.grown)

    def discard(self, key: Hashable) -> None:
        self.young.pop(key, None)
        self.grown.pop(key, None)


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
        self._sockets: dict[Hashable, _Socket] = {}
        #: per address, its sockets that are not sessions yet, in arrival order
        self._pending: dict[str, OrderedDict[Hashable, None]] = {}
        #: per address, those of its pending sockets still sending their request
        self._waiting: dict[str, _Waiting] = {}
        #: every socket still sending its request, in arrival order: the oldest are found at once
        self._lingering: OrderedDict[Hashable, None] = OrderedDict()
        self._observers: dict[str, int] = {}
        self.sessions = 0
        self.evicted = 0
        self.refused = 0

    # -- sockets --------------------------------------------------------------------------

    def opened(self, key: Hashable, address: str, now: float, *, received: int = 0, complete: bool = False) -> Opened:
        """A socket was accepted; ``received`` bytes of its request are already there (``complete``: all of it)."""
        self.closed(key)  # a key seen before is a new socket now
        evict = self._over_share(address, now)
        if not evict and len(self._sockets) >= self.max_sockets:
            victim = self._for_room(now)
            if victim is None:  # every socket is a session: the seats and the budget are both full
                self.refused += 1
                return Opened(False, reason=f"{self.sessions} clients connected and no file descriptors left")
            self.closed(victim)
            evict.append(victim)
        self.evicted += len(evict)
        self._sockets[key] = _Socket(address, now, received=received, complete=complete)
        self._pending.setdefault(address, OrderedDict())[key] = None
        if not complete:
            self._waiting.setdefault(address, _Waiting()).young[key] = None
            self._lingering[key] = None
        return Opened(True, tuple(evict))

    def progress(self, key: Hashable, received: int, complete: bool) -> None:
        """``received`` bytes of the socket's request are in (``complete``: the whole request). Only ever grows."""
        entry = self._sockets.get(key)
        if entry is None or entry.seat is not Seat.PENDING:
            return
        entry.received = max(entry.received, received)
        if complete and not entry.complete:
            entry.complete = True
            self._stop_waiting(entry.address, key)

    def _grow(self, address: str, now: float) -> _Waiting | None:
        """Move the address's sockets whose first chance is over from ``young`` to ``grown``."""
        waiting = self._waiting.get(address)
        if waiting is not None:
            while waiting.young:
                key = next(iter(waiting.young))  # the oldest: the ones after it came later
                if now - self._sockets[key].opened < FIRST_CHANCE:
                    break
                del waiting.young[key]
                waiting.grown[key] = None
        return waiting

    def _slowness(self, key: Hashable) -> tuple[int, float]:
        entry = self._sockets[key]
        return entry.received, entry.opened

    def _over_share(self, address: str, now: float) -> list[Hashable]:
        """Close the address's waiting sockets past their first chance beyond its share: those that sent the least.

        Each socket is weighed here about once, when it grows or when its
        address is over its share, so a burst costs in proportion to its size.
        """
        waiting = self._grow(address, now)
        excess = len(waiting.grown) - self.pending_per_address if waiting is not None else 0
        if excess <= 0:
            return []
        assert waiting is not None
        victims = heapq.nsmallest(min(excess, CLOSED_AT_ONCE), waiting.grown, key=self._slowness)
        for victim in victims:
            self.closed(victim)
        return victims

    def _for_room(self, now: float) -> Hashable | None:
        """Out of file descriptors: the socket to close for a newcomer.

        The one that has sent the least among the oldest still sending their
        request, if those are past their first chance, whatever their address.
        If every socket still sending is in its first chance, the address
        holding the most of them is the one storming: the slowest of its oldest
        goes (finding it costs a look at each such address, and they all
        arrived in the last second). If no socket anywhere is still sending its
        request, the oldest pending one of the address holding the most goes:
        the descriptors must come from somewhere.
        """
        if self._lingering:
            oldest = [key for key in islice(self._lingering, WEIGHED) if now - self._sockets[key].opened >= FIRST_CHANCE]
            if oldest:
                return min(oldest, key=self._slowness)
            waiting = self._grow(max(self._waiting, key=lambda address: len(self._waiting[address])), now)
            assert waiting is not None
            return min(islice(waiting.young or waiting.grown, WEIGHED), key=self._slowness)  # grown: a clock that went back
        if not self._pending:
            return None
        busiest = max(self._pending, key=lambda address: len(self._pending[address]))
        return next(iter(self._pending[busiest]))

    def _stop_waiting(self, address: str, key: Hashable) -> None:
        self._lingering.pop(key, None)
        waiting = self._waiting.get(address)
        if waiting is not None:
            waiting.discard(key)
            if not waiting:
                del self._waiting[address]

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
                self._stop_waiting(entry.address, key)
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
            self._stop_waiting(entry.address, key)
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
