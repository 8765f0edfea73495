"""The app's client of the fleet broker: robots on the broker join the robot list, and "stop every robot" goes out.

aiomqtt (the ``mqtt`` extra) on the app's asyncio loop, as the dashboard user
of docs/fleet.md: it reads ``teleop/+/connection``, ``state`` and
``cmd/estop/ack`` into a :class:`~teleop.desktop.models.fleet.FleetDirectory`,
whose rows go into the same :class:`~teleop.desktop.net.discovery.RobotDirectory`
mDNS fills. aiomqtt does not reconnect by itself: a lost or refused broker is
logged once per reason and tried again with the one backoff rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from typing import Any

from teleop.common.backoff import Backoff
from teleop.common.extras import extra_hint
from teleop.desktop.models.fleet import FleetDirectory, StopRound
from teleop.desktop.net.client import trust_context
from teleop.desktop.net.discovery import RobotDirectory
from teleop.wire import fleet
from teleop.wire.errors import ConfigError

log = logging.getLogger("teleop.desktop.net.fleet")
#: aiomqtt warns about more than 10 publishes in flight; "Stop every robot" sends one per robot at once, on purpose.
_client_log = logging.getLogger("teleop.desktop.net.fleet.mqtt")
_client_log.setLevel(logging.ERROR)

#: Quick at first (a broker restarting), then every few seconds.
DELAYS: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 5.0)
SUBSCRIPTIONS = (fleet.CONNECTION, fleet.STATE, fleet.ESTOP_ACK)


class FleetClient:
    """Keeps ``model`` (and through it ``directory``) up to date from the broker at ``url``. :meth:`start`, :meth:`stop`."""

    def __init__(
        self,
        url: str,
        directory: RobotDirectory,
        *,
        username: str | None = None,
        password: str | None = None,
        cafile: str | None = None,
        model: FleetDirectory | None = None,
    ) -> None:
        try:
            import aiomqtt
        except ImportError:
            raise ConfigError(f"the fleet list needs the MQTT client, the mqtt extra: {extra_hint('mqtt')}") from None
        self.aiomqtt = aiomqtt
        self.url = fleet.parse_broker_url(url)
        self.username, self.password, self.cafile = username, password, cafile
        self.model = model or FleetDirectory()
        self.directory = directory
        self.model.seen.connect(self._show)
        self.backoff = Backoff(DELAYS)
        self._client: Any = None  # an aiomqtt.Client while connected (imported lazily: the extra may be absent)
        self._task: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()

    def _show(self, robot) -> None:
        self.directory.seen(robot)  # its newest details (who drives) ...
        if not robot.present:
            self.directory.lost(robot.key)  # ... greyed out while its last will says offline

    @property
    def connected(self) -> bool:
        return self._client is not None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="fleet-broker")

    async def stop(self) -> None:
        for task in (self._task, *self._sending):
            if task is not None:
                task.cancel()
        for task in (self._task, *self._sending):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def stop_all(self, who: str = "teleop app") -> StopRound:
        """Send the fleet e-stop to every robot on the broker; the round records each acknowledgement."""
        client = self._client
        stop_round, messages = self.model.stop_all(who, connected=client is not None)
        if client is not None and messages:
            task = asyncio.get_running_loop().create_task(self._publish(client, messages))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        return stop_round

    def _tls_context(self) -> ssl.SSLContext | None:
        if not self.url.tls:
            return None
        try:
            return trust_context(os.path.expanduser(self.cafile) if self.cafile else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConnectionError(f"the broker's CA file {self.cafile}: {getattr(exc, 'strerror', None) or exc}") from None

    async def _publish(self, client, messages: list[tuple[str, str]]) -> None:
        try:
            await asyncio.gather(*(client.publish(topic, payload, qos=1, retain=False) for topic, payload in messages))
        except Exception as exc:
            log.warning("fleet stop: could not publish every stop (%s)", exc)

    async def _run(self) -> None:
        reported = None
        connected_once = False
        while True:
            try:
                # in the loop: a CA file that is missing or not a certificate is said like any other failure, and
                # tried again (it may be put back), where it used to end the fleet list without a word
                tls = self._tls_context()
                async with self.aiomqtt.Client(
                    self.url.host,
                    self.url.port,
                    username=self.username,
                    password=self.password,
                    tls_context=tls,
                    timeout=5,
                    keepalive=10,
                    logger=_client_log,
                ) as client:
                    for kind in SUBSCRIPTIONS:
                        await client.subscribe(fleet.all_topics(kind), qos=1)
                    self._client, reported, connected_once = client, None, True
                    self.model.problem = ""
                    self.backoff.succeeded()
                    log.info("fleet broker %s connected", self.url)
                    async for message in client.messages:
                        payload = message.payload if isinstance(message.payload, (bytes, str)) else None
                        self.model.message(str(message.topic), payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason = str(exc) or type(exc).__name__
                if not connected_once:  # a broker that never answered: maybe a TLS one given as mqtt://
                    reason = fleet.broker_failure(self.url, reason)
                if reason != reported:
                    log.warning("fleet broker %s: %s; trying again", self.url, reason)
                    reported = reason
                self.model.problem = f"fleet broker {self.url}: {reason}"
            self._client = None
            await asyncio.sleep(self.backoff.failed())
