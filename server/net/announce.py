"""Announce the bridge on the local network with mDNS/DNS-SD, so the app finds it without an IP address.

The service is ``_teleop._tcp`` with a TXT record the app shows before it
connects (see :func:`teleop.wire.mdns.txt_record`). python-zeroconf does the
multicast DNS: it shares UDP port 5353 with avahi-daemon (both set
SO_REUSEADDR/SO_REUSEPORT; Avahi's default ``disallow-other-stacks=no``
allows it), so on a Raspberry Pi the two coexist: Avahi keeps answering for
``<hostname>.local``; we add only our service, whose SRV record points at a
host name of its own (:func:`service_host`), so the two never disagree.

Two robots with one name (every Pi starts out as ``raspberrypi``) are kept apart
twice: python-zeroconf probes before it registers and renames on an answer, and
afterwards each robot keeps listening (:class:`_ClaimListener`) and settles a
contest its probes missed by the rule in :mod:`teleop_server.net.name_contest`.

Announcing is never on the server's critical path: it runs as a background
task after the server listens, and any failure (no multicast route, port 5353
held exclusively, a broken interface) is one warning line, never a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import re
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

from zeroconf import DNSOutgoing, DNSService, IPVersion, NonUniqueNameException, RecordUpdate, RecordUpdateListener, Zeroconf
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from teleop import __version__
from teleop.aio.tasks import cancel_and_wait
from teleop.common.interfaces import ipv4_addresses
from teleop.wire.mdns import CLASS_IN, PTR_RECORD, SERVICE_TYPE, SRV_RECORD, txt_record
from teleop_server.net.name_contest import Claim, ClaimsHeard, NameContest, next_free_name

log = logging.getLogger("teleop.server.announce")

#: How often the interface addresses are compared with what was announced (a DHCP renewal,
#: Wi-Fi coming up after the server started). Reading them is a cheap getifaddrs() call.
ADDRESS_POLL_S = 5.0
#: TTL of every record. python-zeroconf's default for PTR/TXT is 75 minutes: a robot that
#: loses power (no goodbye packet) would stay listed that long. Two minutes bounds it.
RECORD_TTL_S = 120
_WILDCARDS = ("", "0.0.0.0", "::")
#: a response's header flags: QR (a response) and AA (authoritative), RFC 6762 §18
_RESPONSE_FLAGS = 0x8400
#: a robot away from the network longer than this (withdrawn, then registered again) holds its name afresh: another
#: robot may have taken it meanwhile, and this one is then the newcomer
HELD_ACROSS_S = 10.0
#: a goodbye is sent this many times, this far apart (python-zeroconf's own: one lost packet must not leave it unsaid)
GOODBYES, GOODBYE_INTERVAL_S = 3, 0.125


def short_hostname() -> str:
    """This machine's name without any domain: what Avahi announces as ``<name>.local``."""
    return socket.gethostname().split(".")[0] or "teleop"


def mdns_hostname() -> str:
    return f"{short_hostname()}.local"


def service_host() -> str:
    """The SRV target: a name of our own, so we never answer for Avahi's ``<hostname>.local``.

    Many Pis are all called ``raspberrypi``; the suffix (from the machine id) keeps two
    robots' address records apart even then.
    """
    try:
        with open("/etc/machine-id", encoding="ascii") as handle:
            seed = handle.read().strip()
    except OSError:
        seed = ""
    # the network card too: Pis cloned from one SD card share their machine id (and their hostname)
    tag = hashlib.sha256(f"{seed}/{uuid.getnode()}".encode()).hexdigest()[:6]
    label = re.sub(r"[^a-z0-9-]", "-", short_hostname().lower())[:40].strip("-") or "robot"
    return f"{label}-teleop-{tag}.local."


def announced_addresses(listen_host: str) -> list[str]:
    """The IPv4 addresses a client on the network can reach the server on, given ``--host``."""
    if listen_host not in _WILDCARDS:
        try:
            address = ipaddress.ip_address(listen_host)
        except ValueError:
            return []  # a host name: the resolver knows better than we do
        return [] if address.is_loopback or address.version != 4 else [str(address)]
    return ipv4_addresses()


@dataclass(frozen=True)
class Announcement:
    """What the robot says about itself; the TXT record is built from it."""

    instance: str
    port: int
    tls: bool
    token: bool
    camera: bool = False
    device: str = ""

    def txt(self) -> dict[str, str]:
        return txt_record(server=__version__, tls=self.tls, token=self.token, camera=self.camera, device=self.device)

    def service_name(self) -> str:
        # a DNS label is at most 63 bytes; cut on a character boundary
        label = self.instance.encode()[:63].decode(errors="ignore").strip() or "teleop"
        return f"{label}.{SERVICE_TYPE}"


def _claims_text(claims: set[Claim]) -> str:
    """Other robots' claims to a name, for the log: where each one says it is."""
    return ", ".join(f"{claim.server} port {claim.port}" for claim in sorted(claims))


class _ClaimListener(RecordUpdateListener):
    """Hands the announcer every SRV record heard for its registered name, and wakes it."""

    def __init__(self, announcer: Announcer) -> None:
        self.announcer = announcer
        self.heard = False

    def async_update_records(self, zc: Zeroconf, now: float, records: list[RecordUpdate]) -> None:
        name = (self.announcer.registered_name or "").lower()
        for update in records:
            record = update.new
            if update.old is record:  # the cache's cleanup passing on an expired record: nothing was heard
                continue
            if record.type == SRV_RECORD and record.name.lower() == name and isinstance(record, DNSService):
                self.announcer._heard(record)
                self.heard = True

    def async_update_records_complete(self) -> None:
        if self.heard:
            self.heard = False
            self.announcer._wake.set()


class Announcer:
    """Keeps one :class:`Announcement` registered while the server runs.

    Start with :meth:`start`, change the device name with :meth:`set_device`,
    withdraw with :meth:`stop` (a goodbye packet: browsers drop it at once).
    """

    def __init__(
        self,
        announcement: Announcement,
        listen_host: str = "0.0.0.0",
        *,
        poll_interval: float = ADDRESS_POLL_S,
        addresses: Callable[[str], list[str]] = announced_addresses,
    ) -> None:
        self.announcement = announcement
        self.listen_host = listen_host
        self.poll_interval = poll_interval
        self._addresses = addresses
        self._zc: AsyncZeroconf | None = None
        self._info: AsyncServiceInfo | None = None
        self._announced: list[str] = []
        #: the TXT record must be sent again (the device's name changed)
        self._changed = asyncio.Event()
        #: something for the background task to look at: a change, or another robot claiming our name
        self._wake = asyncio.Event()
        #: the contest for our registered name, if another robot claims it too
        self._contest: NameContest | None = None
        #: other robots' claims to our registered name, as heard
        self._others = ClaimsHeard()
        #: the name held, and since when (monotonic): re-registering it soon after (a new address) keeps the time
        self._held: tuple[str, float] | None = None
        #: when the registration was last withdrawn (monotonic)
        self._withdrawn_at: float | None = None
        #: when a contest is undecided: the time (monotonic) to look at it again
        self._contest_due: float | None = None
        #: the name to register (a robot that moved keeps its new name for the life of the process)
        self._name = announcement.service_name()
        self._task: asyncio.Task[None] | None = None
        self._last_problem = ""
        self._said_idle = False
        #: The full service name once registered (python-zeroconf may add " (2)" on a clash).
        self.registered_name: str | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="mdns-announce")

    def set_device(self, name: str) -> None:
        """The serial device reported a (new) name: update the TXT record, if it changed."""
        if name != self.announcement.device:
            self.announcement = replace(self.announcement, device=name)
            self._changed.set()
            self._wake.set()

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        await self._withdraw()

    # -- the background task -----------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                addresses = await asyncio.to_thread(self._addresses, self.listen_host)
                if not addresses and not self._said_idle:
                    log.info("mDNS: no network address to announce on (listening on %r); waiting for one", self.listen_host)
                self._said_idle = not addresses
                if addresses != self._announced:
                    await self._withdraw()
                    if addresses:
                        await self._register(addresses)
                    self._announced = addresses
                elif self._changed.is_set() and self._zc is not None and self._info is not None:
                    self._changed.clear()
                    self._info = self._service_info(addresses, self._info.name)
                    await (await self._zc.async_update_service(self._info))
                    log.info("mDNS: updated %s (device %r)", self.registered_name, self.announcement.device)
                await self._settle_claims()
                self._last_problem = ""
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one line, once per distinct problem; the server runs on regardless
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if problem != self._last_problem:
                    log.warning(
                        "mDNS: cannot announce this robot on the network (%s); clients can still connect by address "
                        "(if avahi-daemon runs, it needs disallow-other-stacks=no, its default)",
                        problem,
                    )
                    self._last_problem = problem
                await self._withdraw()
                self._announced = []  # try again at the next poll
            if self._zc is None:
                self._changed.clear()  # nothing registered to update; the next registration carries the change
            wait = self.poll_interval
            if self._contest_due is not None:
                wait = max(0.0, min(wait, self._contest_due - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            self._wake.clear()

    def _service_info(self, addresses: list[str], name: str) -> AsyncServiceInfo:
        a = self.announcement
        return AsyncServiceInfo(
            SERVICE_TYPE,
            name,
            port=a.port,
            properties=a.txt(),
            server=service_host(),
            parsed_addresses=addresses,
            host_ttl=RECORD_TTL_S,
            other_ttl=RECORD_TTL_S,
        )

    async def _register(self, addresses: list[str]) -> None:
        quiet_zeroconf_logger()
        self._zc = AsyncZeroconf(interfaces=addresses, ip_version=IPVersion.V4Only)
        self.registered_name = None
        info = self._info = self._service_info(addresses, self._name)
        self._changed.clear()
        self._zc.zeroconf.async_add_listener(_ClaimListener(self), None)
        announcing = await self._zc.async_register_service(info, allow_name_change=True)  # probed: the name is ours
        self._registered(info)
        await announcing
        self._say_announced(addresses)

    def _registered(self, info: AsyncServiceInfo) -> None:
        """``info`` is registered (probing may have renamed it): the name is ours from now."""
        self.registered_name = self._name = info.name
        now = time.monotonic()
        away = now - self._withdrawn_at if self._withdrawn_at is not None else 0.0
        if self._held is None or self._held[0] != info.name or away > HELD_ACROSS_S:
            self._held = (info.name, now)
            self._others = ClaimsHeard()
        self._contest = NameContest(self._held[1])
        self._contest_due = None

    def _ours(self) -> Claim:
        assert self._info is not None
        return Claim((self._info.server or "").lower(), self.announcement.port)

    def _heard(self, record: DNSService) -> None:
        """Another robot's SRV record for our name (or our own, heard back: not a claim)."""
        claim = Claim(record.server.lower(), record.port)
        if self._info is not None and claim != self._ours():
            self._others.heard(claim, record.ttl, time.monotonic())

    async def _settle_claims(self) -> None:
        """Another robot announces our name too: move to another name when :class:`NameContest` says so,
        and until then announce ours again, so that robot hears us (its probes may have missed us)."""
        if self._zc is None or self._info is None or self.registered_name is None or self._contest is None:
            return
        now = time.monotonic()
        others = self._others.standing(now)
        contested = self._contest.since is not None
        move_at = self._contest.move_at(self._ours(), others, now)
        if contested != (self._contest.since is not None):
            name = self.registered_name.removesuffix(f".{SERVICE_TYPE}")
            if contested:
                log.info("mDNS: no other robot announces %r any more", name)
            else:
                log.info("mDNS: another robot also announces %r (%s); settling which one keeps it", name, _claims_text(others))
        self._contest_due = move_at if move_at is not None and move_at > now else None
        if move_at is not None and move_at <= now:
            await self._rename(others)
        elif self._contest.announce_again(others, now):
            await (await self._zc.async_update_service(self._info))  # our records again, full TTL

    async def _rename(self, others: set[Claim]) -> None:
        """Move to the next free name, quietly: no goodbye for the old name's PTR record, which is the other
        robot's too (browsers would drop it), only for our SRV record, so nobody is sent to us by that name."""
        assert self._zc is not None and self._info is not None and self.registered_name is not None
        zc, old = self._zc.zeroconf, self._info
        zc.registry.async_remove(old)
        self.registered_name = None  # not registered under any name until the new one is: a stop now says no goodbye
        await self._srv_goodbye(old)
        base = self.announcement.service_name().removesuffix(f".{SERVICE_TYPE}")
        taken = {r.alias.lower() for r in zc.cache.get_all_by_details(SERVICE_TYPE, PTR_RECORD, CLASS_IN) if hasattr(r, "alias")}
        taken.add(old.name.lower())
        while True:  # our own numbering: python-zeroconf's would make raspberrypi-2-2 of a name taken but not cached
            self._name = f"{next_free_name(base, lambda name: f'{name}.{SERVICE_TYPE}'.lower() in taken)}.{SERVICE_TYPE}"
            log.warning(
                "mDNS: another robot on the network is also called %r (%s); this one moves to %r",
                old.name.removesuffix(f".{SERVICE_TYPE}"),
                _claims_text(others),
                self._name.removesuffix(f".{SERVICE_TYPE}"),
            )
            info = self._info = self._service_info(self._announced, self._name)
            try:
                announcing = await self._zc.async_register_service(info, allow_name_change=False)
                break
            except NonUniqueNameException:
                taken.add(self._name.lower())
        self._registered(info)
        await announcing
        self._say_announced(self._announced)

    def _say_announced(self, addresses: list[str]) -> None:
        log.info("mDNS: announced %r on %s port %d", self.registered_name, ", ".join(addresses), self.announcement.port)

    async def _srv_goodbye(self, info: AsyncServiceInfo) -> None:
        """Withdraw our SRV record for ``info``'s name, as python-zeroconf sends goodbyes: three times, in case one is lost.

        Sent without the cache-flush bit: with it, a cache would drop the other robot's SRV record for the name too."""
        assert self._zc is not None
        srv = info.dns_service()
        goodbye = DNSOutgoing(_RESPONSE_FLAGS)
        goodbye.add_answer_at_time(DNSService(srv.name, SRV_RECORD, CLASS_IN, 0, srv.priority, srv.weight, srv.port, srv.server), 0)
        for i in range(GOODBYES):
            if i:
                await asyncio.sleep(GOODBYE_INTERVAL_S)
            self._zc.zeroconf.async_send(goodbye)

    async def _withdraw(self) -> None:
        self._contest = self._contest_due = None
        if self._zc is not None:
            self._withdrawn_at = time.monotonic()
        zc, info, self._zc, self._info = self._zc, self._info, None, None
        if zc is None:
            return
        try:
            if info is not None and self.registered_name is not None:
                await asyncio.wait_for(await zc.async_unregister_service(info), 2)
        except Exception as exc:
            log.debug("mDNS: goodbye not sent: %s", exc)
        finally:
            with contextlib.suppress(Exception):
                await zc.async_close()


def quiet_zeroconf_logger() -> None:
    """python-zeroconf logs its own traceback-sized errors; ours is the one line the owner reads."""
    logger = logging.getLogger("zeroconf")
    if logger.level == logging.NOTSET and not log.isEnabledFor(logging.DEBUG):
        logger.setLevel(logging.CRITICAL)


def start_announcer(bridge, config) -> Announcer | None:
    """Announce ``bridge`` (started) as ``config`` says; the device's name follows the serial link."""
    if not config.announce:
        return None
    announcement = Announcement(
        instance=config.announce_name or short_hostname(),
        port=bridge.port,
        tls=bridge.tls,
        token=config.auth,
        device=bridge.link.info.get("name", ""),
    )
    announcer = Announcer(announcement, config.host)
    bridge.on_device_info = lambda info: announcer.set_device(info.get("name", ""))
    announcer.start()
    return announcer
