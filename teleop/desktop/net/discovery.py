"""Robots on this network: the ``_teleop._tcp`` mDNS/DNS-SD service, its TXT record, and a live list of it.

Three layers, so each can be tested on its own:

* the TXT schema (:func:`txt_record` for the server, :func:`robot_from_service`
  for the app), which never raises on whatever a stranger's packet holds;
* :class:`RobotDirectory`, a plain model with typed events and an injectable
  clock: robots appear, update, go grey when they stop announcing, and are
  forgotten later, except the one the app is connected to;
* :class:`RobotBrowser`, python-zeroconf's asyncio browser feeding the model.

No Qt here: the widget in ``teleop.desktop.gui.robot_list`` subscribes to the events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from zeroconf import IPVersion, RecordUpdate, RecordUpdateListener, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from teleop.aio.tasks import cancel_and_wait
from teleop.common.events import Event
from teleop.common.interfaces import ipv4_addresses
from teleop.wire.mdns import SERVICE_TYPE, SRV_RECORD, Robot, robot_from_service

log = logging.getLogger("teleop.desktop.net.discovery")

#: How often the app compares this PC's addresses with the last ones (getifaddrs: cheap), and how
#: long after browsing afresh a robot not heard again is greyed out.
WATCH_INTERVAL_S = 2.0
SETTLE_S = 3.0  # a TXT string is at most 255 bytes; names longer than this are someone's mistake


@dataclass
class DirectoryEvents:
    appeared: Event[Robot] = field(default_factory=Event)  #: new, or back after going grey
    updated: Event[Robot] = field(default_factory=Event)  #: TXT, address or port changed
    gone: Event[Robot] = field(default_factory=Event)  #: stopped announcing: greyed out
    removed: Event[Robot] = field(default_factory=Event)  #: forgotten


class RobotDirectory:
    """The robots announced on this network, by service name.

    A robot that stops announcing stays listed, greyed out, for ``forget_after``
    seconds, and as long as the app is connected to it.
    """

    def __init__(self, *, forget_after: float = 300.0, clock: Callable[[], float] = time.time) -> None:
        self.forget_after = forget_after
        self.clock = clock
        self.events = DirectoryEvents()
        self._robots: dict[str, Robot] = {}
        self._connected: str | None = None  # "host:port" the app is connected to
        #: Why browsing does not work (no multicast, ...), for the widget to say; "" when it does.
        self.problem = ""

    def robots(self) -> list[Robot]:
        """Present robots first, then by name."""
        return sorted(self._robots.values(), key=lambda r: (not r.present, r.name.lower(), r.key))

    def get(self, key: str) -> Robot | None:
        return self._robots.get(key)

    def seen(self, robot: Robot) -> None:
        """The browser resolved ``robot`` (new, refreshed or changed)."""
        robot = replace(robot, present=True, last_seen=self.clock())
        old = self._robots.get(robot.key)
        self._robots[robot.key] = robot
        if old is None or not old.present:
            self.events.appeared.emit(robot)
        elif replace(old, last_seen=0) != replace(robot, last_seen=0):
            self.events.updated.emit(robot)

    def lost(self, key: str) -> None:
        """The robot said goodbye, or its records expired."""
        old = self._robots.get(key)
        if old is None or not old.present:
            return
        robot = replace(old, present=False, last_seen=self.clock())
        self._robots[key] = robot
        self.events.gone.emit(robot)

    def set_connected(self, address: str | None) -> None:
        """``host:port`` the app is connected to (kept listed while greyed out), or None."""
        self._connected = address
        self.prune()

    def is_connected(self, robot: Robot) -> bool:
        return self._connected is not None and self._connected in {f"{a}:{robot.port}" for a in robot.addresses}

    def prune(self) -> None:
        """Forget robots gone for longer than ``forget_after``, except the connected one."""
        now = self.clock()
        for robot in list(self._robots.values()):
            if not robot.present and now - robot.last_seen > self.forget_after and not self.is_connected(robot):
                del self._robots[robot.key]
                self.events.removed.emit(robot)


class _WithdrawnPorts(RecordUpdateListener):
    """Calls ``withdrawn(name)`` when a robot withdraws the SRV record (host and port) of a service name.

    The name itself may stay: two robots started with one name, and the one that moved to
    another name withdrew only its own SRV record. The browser reports no change then, so
    without this the app would keep sending the pilot to the robot that left.
    """

    def __init__(self, withdrawn: Callable[[str], None]) -> None:
        self.withdrawn = withdrawn

    def async_update_records(self, zc: Zeroconf, now: float, records: list[RecordUpdate]) -> None:
        for update in records:
            record = update.new
            if record.type == SRV_RECORD and record.ttl == 0:  # a goodbye (one that merely timed out is no news)
                self.withdrawn(record.name)


class RobotBrowser:
    """Feeds a :class:`RobotDirectory` from python-zeroconf's browser on the running asyncio loop.

    A network without multicast is not an error for the app: :meth:`start` logs
    one line, sets ``directory.problem`` and leaves manual entry to the user.
    The PC's own addresses are checked every ``watch_interval``: after joining
    or leaving a network (the robot's hotspot, say) browsing starts afresh
    there, and robots not heard again within ``settle`` seconds are greyed out.
    """

    def __init__(
        self,
        directory: RobotDirectory,
        *,
        watch_interval: float = WATCH_INTERVAL_S,
        settle: float = SETTLE_S,
        resolve_timeout_ms: int = 3000,
        addresses: Callable[[], list[str]] = ipv4_addresses,
    ) -> None:
        self.directory = directory
        self.watch_interval = watch_interval
        self.settle = settle
        self.resolve_timeout_ms = resolve_timeout_ms
        self._addresses = addresses
        self._zc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._watcher: asyncio.Task[None] | None = None
        self._seen_addresses: list[str] = []

    async def start(self) -> bool:
        """Start browsing; False (and ``directory.problem`` says why) if this network allows none."""
        self._seen_addresses = await asyncio.to_thread(self._addresses)
        ok = self._open()
        self._watcher = asyncio.create_task(self._watch(), name="robot-browser-watch")
        return ok

    async def stop(self) -> None:
        await cancel_and_wait(self._watcher)
        self._watcher = None
        await self._close()

    def _open(self) -> bool:
        try:
            self._zc = AsyncZeroconf(ip_version=IPVersion.V4Only)
            self._browser = AsyncServiceBrowser(self._zc.zeroconf, [SERVICE_TYPE], handlers=[self._on_change])
            self._zc.zeroconf.async_add_listener(_WithdrawnPorts(self._on_withdrawn), None)
        except Exception as exc:
            self.directory.problem = f"cannot look for robots on this network: {exc}"
            log.warning("%s; type the robot's address instead", self.directory.problem)
            self._zc = self._browser = None
            return False
        self.directory.problem = ""
        return True

    async def _close(self) -> None:
        await cancel_and_wait(*self._tasks)
        self._tasks.clear()
        browser, zc, self._browser, self._zc = self._browser, self._zc, None, None
        with contextlib.suppress(Exception):
            if browser is not None:
                await browser.async_cancel()
        with contextlib.suppress(Exception):
            if zc is not None:
                await zc.async_close()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.watch_interval)
            self.directory.prune()
            addresses = await asyncio.to_thread(self._addresses)
            if addresses != self._seen_addresses:
                log.info("this PC's addresses changed (%s): looking for robots afresh", ", ".join(addresses) or "none")
                self._seen_addresses = addresses
                since = self.directory.clock()
                await self._close()
                self._open()
                asyncio.get_running_loop().call_later(self.settle, self._grey_unheard, since)

    def _grey_unheard(self, since: float) -> None:
        """After browsing afresh: a robot not heard since then is not on this network (any more)."""
        for robot in self.directory.robots():
            if robot.present and robot.last_seen < since:
                self.directory.lost(robot.key)

    def _on_change(self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Removed:
            self.directory.lost(name)
            return
        self._resolve_soon(name)

    def _on_withdrawn(self, name: str) -> None:
        """A robot withdrew its host and port for ``name``: resolve the name again (to the robot that still announces
        it; one announcing it no more is greyed out as usual). The resolving task starts after the goodbye is applied."""
        if self.directory.get(name) is not None:
            self._resolve_soon(name)

    def _resolve_soon(self, name: str) -> None:
        task = asyncio.get_running_loop().create_task(self._resolve(name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, name: str) -> None:
        if self._zc is None:
            return
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        try:
            if not await info.async_request(self._zc.zeroconf, self.resolve_timeout_ms):
                log.debug("no answer resolving %s", name)
                return
        except Exception as exc:  # a malformed answer from some device on the network
            log.debug("cannot resolve %s: %s", name, exc)
            return
        properties: dict[bytes | str, bytes | str | None] = {key: value for key, value in info.properties.items()}
        robot = robot_from_service(name, info.port, info.parsed_scoped_addresses(IPVersion.V4Only), properties)
        if robot is not None:
            self.directory.seen(robot)
