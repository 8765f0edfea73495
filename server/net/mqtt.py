"""The robot's link to the fleet broker (``--mqtt``): presence, state, readings and events out; the fleet e-stop in.

A thin asyncio shell over aiomqtt (the optional extra ``teleop-robot[mqtt]``);
every decision is :mod:`teleop_server.rules.fleet`'s. The broker can never slow
or stop driving:

* the bridge's callbacks only put a message in the bounded, newest-wins
  :class:`~teleop_server.rules.fleet.Outbox` and return; one task sends from it,
  one message at a time, so a slow broker leaves at most one message on the
  socket and the rest are replaced by newer ones;
* connecting (DNS, TCP, TLS) runs on aiomqtt's executor thread, not the loop;
* a broker that is down, refusing or slow is logged once and retried with the
  one backoff rule, while the robot drives on.

The broker holds ``teleop/<robot>/connection = offline`` as this client's last
will, so a robot that dies or loses its network shows offline by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import ssl
import time
from pathlib import Path
from typing import Any, Protocol

from teleop import __version__
from teleop.aio.tasks import cancel_and_wait, raise_lost_cancel
from teleop.common.extras import extra_hint
from teleop.wire import fleet
from teleop.wire.errors import ConfigError
from teleop.wire.protocol import Event
from teleop_server.config import ServerConfig
from teleop_server.net.announce import short_hostname
from teleop_server.rules.fleet import BrokerLink, Discovery, EstopInbox, Message, Outbox, ReadingsPace, TwinWatch, robot_state
from teleop_server.rules.serial_protocol import REPORT_UNITS

log = logging.getLogger("teleop.server")
#: the MQTT client's own log: it says every failed receive at ERROR, again on every retry, while the link
#: below reports each reason once (fleet.md); only what it calls critical gets through
_client_log = logging.getLogger("teleop.server.mqtt")
_client_log.setLevel(logging.CRITICAL)

#: A publish the broker has not taken in this time means the link is stuck: reconnect.
PUBLISH_TIMEOUT = 10.0
#: How long a connection attempt may take (TCP, TLS, CONNACK).
CONNECT_TIMEOUT = 5.0


class Robot(Protocol):
    """What the link needs of the bridge (:class:`teleop_server.bridge.Bridge`)."""

    recorder: Any
    on_status: Any
    on_event: Any
    on_readings: Any

    def status(self) -> dict[str, object]: ...

    def remote_estop(self, who: str) -> None: ...

    def warn(self, text: str) -> None: ...


def _client_module():
    try:
        import aiomqtt
    except ImportError:
        raise ConfigError(f"--mqtt needs the MQTT client, the mqtt extra: {extra_hint('mqtt')}") from None
    return aiomqtt


class FleetLink:
    """Publishes one robot to the broker and takes fleet e-stops from it. :meth:`start`, then :meth:`stop`."""

    def __init__(self, robot: Robot, config: ServerConfig, address: str) -> None:
        assert config.mqtt is not None
        self.aiomqtt = _client_module()
        self.robot = robot
        self.config = config
        self.url = fleet.parse_broker_url(config.mqtt)
        self.name = config.announce_name or short_hostname()
        self.id = fleet.robot_id(self.name)
        #: this run's own: the broker's client id (two robots given one name must not take each other's
        #: connection) and the state's instance (they tell each other apart by it)
        self.instance = secrets.token_hex(4)
        self.twins = TwinWatch(self.instance, self.name)
        self.address = config.mqtt_address or address
        self.server = f"teleop-server {__version__}"
        self.password = self._password()
        self.outbox = Outbox()
        self.pace = ReadingsPace(config.mqtt_readings_rate)
        self.inbox = EstopInbox(self.id)
        self.link = BrokerLink(self.url)
        self.discovery = (
            Discovery(self.id, self.name, self.server, dict(REPORT_UNITS), config.mqtt_discovery_prefix) if config.mqtt_discovery else None
        )
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: Any = None
        self._readings_timer: asyncio.TimerHandle | None = None
        self.published = 0  #: messages the broker took (tests and the bench read it)

    def _password(self) -> str | None:
        if not self.config.mqtt_password_file:
            return None
        path = Path(self.config.mqtt_password_file).expanduser()
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"mqtt.password_file {path}: {exc.strerror or exc}") from None

    def _tls(self) -> ssl.SSLContext | None:
        if not self.url.tls:
            return None
        try:
            return ssl.create_default_context(cafile=self.config.mqtt_cafile)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"mqtt.cafile {self.config.mqtt_cafile}: {getattr(exc, 'strerror', None) or exc}") from None

    def topic(self, kind: str) -> str:
        return fleet.topic(self.id, kind)

    # -- the bridge's side: each returns at once -------------------------------------------

    def start(self) -> None:
        self._tls_context = self._tls()
        self.robot.on_status = self.status_changed
        self.robot.on_event = self.event
        self.robot.on_readings = self.readings
        self.status_changed()
        self._task = asyncio.create_task(self._run(), name="mqtt-link")

    def status_changed(self) -> None:
        state = robot_state(
            name=self.name,
            address=self.address,
            token=self.config.auth,
            server=self.server,
            status=self.robot.status(),
            recording=self.robot.recorder is not None,
            instance=self.instance,
        )
        self._put(self.outbox.latest, Message(self.topic(fleet.STATE), state.to_json(), qos=1, retain=True))

    def event(self, event: Event) -> None:
        self._put(self.outbox.event, Message(self.topic(fleet.EVENTS), fleet.event_payload(event.level, event.text, event.t)))

    def readings(self, values: dict[str, int | float]) -> None:
        self.pace.update(values)
        if self._readings_timer is not None:
            return
        delay = self.pace.delay(time.monotonic())
        if delay is not None:
            self._readings_timer = asyncio.get_running_loop().call_later(delay, self._flush_readings)

    def _flush_readings(self) -> None:
        self._readings_timer = None
        values = self.pace.take(time.monotonic())
        if self.discovery is not None:
            for message in self.discovery.new_keys(values):
                self.outbox.latest(message)
        self._put(self.outbox.readings, Message(self.topic(fleet.READINGS), fleet.readings_payload(time.time(), values)))

    def _put(self, put, message: Message) -> None:
        put(message)
        self._wake.set()

    # -- the broker's side -------------------------------------------------------------------

    async def _run(self) -> None:
        will = self.aiomqtt.Will(self.topic(fleet.CONNECTION), fleet.OFFLINE, qos=1, retain=True)
        while True:
            try:
                async with self.aiomqtt.Client(
                    self.url.host,
                    self.url.port,
                    username=self.config.mqtt_username,
                    password=self.password,
                    identifier=f"teleop-{self.id}-{self.instance}",
                    will=will,
                    clean_session=True,
                    keepalive=self.config.mqtt_keepalive,
                    timeout=CONNECT_TIMEOUT,
                    tls_context=self._tls_context,
                    logger=_client_log,
                ) as client:
                    log.info("%s", self.link.succeeded())
                    self._client = client
                    await self._session(client)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # aiomqtt.MqttError, and whatever a broken TLS or DNS raises
                self._client = None
                retry = self.link.failed(str(exc) or type(exc).__name__)
                if retry.report:
                    log.warning("%s", retry.report)
                self.outbox.drop_transient()
                await asyncio.sleep(retry.delay)

    async def _session(self, client: Any) -> None:
        # a stop that came as the broker accepted the connection or a subscription (their acknowledgements are
        # awaited through asyncio.wait_for) ends the session here, not at the stop's second cancel
        raise_lost_cancel()
        self.outbox.latest(Message(self.topic(fleet.CONNECTION), fleet.ONLINE, qos=1, retain=True))
        self.status_changed()
        if self.discovery is not None:
            for message in self.discovery.all():
                self.outbox.latest(message)
        await client.subscribe(self.topic(fleet.ESTOP), qos=1)
        await client.subscribe(self.topic(fleet.STATE), qos=1)  # another robot with this name (TwinWatch)
        await client.subscribe(self.topic(fleet.CONNECTION), qos=1)  # an old connection's will, after we came back
        raise_lost_cancel()
        receiver = asyncio.create_task(self._receive(client), name="mqtt-receive")
        sender = asyncio.create_task(self._send(client), name="mqtt-send")
        try:
            done, _ = await asyncio.wait({receiver, sender}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # the one that ended raised: the link broke
            raise ConnectionError("the broker closed the connection")
        finally:
            await cancel_and_wait(receiver, sender)

    async def _send(self, client: Any) -> None:
        while True:
            message = self.outbox.take()
            if message is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            await client.publish(message.topic, message.payload, qos=message.qos, retain=message.retain, timeout=PUBLISH_TIMEOUT)
            self.published += 1
            raise_lost_cancel()  # a stop that came as the broker acknowledged: ended now, not at the second cancel

    async def _receive(self, client: Any) -> None:
        """What the broker sends this robot: its fleet stop, and its own topics as others write them."""
        estop, state, connection = self.topic(fleet.ESTOP), self.topic(fleet.STATE), self.topic(fleet.CONNECTION)
        async for message in client.messages:
            topic, retained = str(message.topic), bool(message.retain)
            payload = message.payload if isinstance(message.payload, (bytes, str)) else None
            if topic == estop:
                decision = self.inbox.receive(payload, time.monotonic(), time.time())
                if decision.stop:
                    self.robot.remote_estop(f"{decision.who} (fleet broker)")
                self._put(self.outbox.ack, Message(self.topic(fleet.ESTOP_ACK), decision.ack.to_json(), qos=1))
            elif topic == state:
                warning = self.twins.heard(fleet.parse_state(payload), retained)
                if warning is not None:
                    log.warning("%s", warning)
                    self.robot.warn(warning)
            elif topic == connection:
                self._offline_heard(payload, retained)

    def _offline_heard(self, payload: bytes | str | None, retained: bool) -> None:
        """``offline`` published live under this robot while it is online: the last will of a connection the
        broker had not dropped yet (the Pi lost power and came back within 1.5 times the keepalive), fired after
        this run's ``online``. Said again, or the fleet shows a driving robot offline until it reconnects."""
        text = payload.decode(errors="replace") if isinstance(payload, bytes) else payload
        if text == fleet.OFFLINE and not retained and not self.outbox.closed:  # not the echo of stop()'s own
            log.info(
                "the broker said %s offline while it is connected (an old connection's last will, or the broker going down): online again",
                self.name,
            )
            self._put(self.outbox.latest, Message(self.topic(fleet.CONNECTION), fleet.ONLINE, qos=1, retain=True))

    async def stop(self) -> None:
        """Say ``offline`` ourselves (a clean disconnect does not fire the will), then close."""
        self.outbox.close()  # this `offline` is the last word: the sender takes nothing more
        if self._readings_timer is not None:
            self._readings_timer.cancel()
        client = self._client
        if client is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await client.publish(self.topic(fleet.CONNECTION), fleet.OFFLINE, qos=1, retain=True)
        await cancel_and_wait(self._task)


def start_fleet(robot: Robot, config: ServerConfig, address: str) -> FleetLink | None:
    """Link ``robot`` (a started bridge) to the broker ``config.mqtt``; None without ``--mqtt``."""
    if config.mqtt is None:
        return None
    link = FleetLink(robot, config, address)
    link.start()
    return link
