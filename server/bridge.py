"""The bridge: many WebSocket clients on one side, one serial device on the other.

This module is the thin asyncio layer. The rules (who drives, e-stop,
failsafe, tokens, flooding) live in :class:`teleop_server.rules.control.ControlRules`, what
to write to the device and when in :class:`teleop_server.rules.commandqueue.CommandQueue`;
both are plain objects fed events with the time. The bridge feeds them what
happens on the sockets and the serial port and runs the effects they return.

* Readings are merged newest-per-key (:mod:`teleop_server.rules.readings`) and pushed to
  every client at most :data:`READINGS_RATE` times a second (a few back to
  back are let through at once, so a report's jitter costs no delay), so a chatty device
  cannot flood clients or delay the pilot; a new client gets the snapshot in
  its ``welcome``.
* Readings, status and events are framed once and written to every client
  whose socket drains (:mod:`teleop_server.net.fanout`); one that does not skips to the
  newest state, and is dropped once it has taken nothing for a while.
* Who gets a seat at all is :mod:`teleop_server.rules.admission`'s rule, applied to every
  socket from accept to close by :mod:`teleop_server.net.gate` (the pilot-token holder
  always gets in); every HTTP request is checked by :mod:`teleop_server.net.httpgate`.
* The camera (:mod:`teleop_server.camera.capture`), if there is one, is served at
  ``/video.mjpg`` on the same port by :mod:`teleop_server.net.video`; its state is the
  ``camera`` field of the status, and it never holds up the loop above.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import ssl
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from teleop import __version__
from teleop.aio.tasks import cancel_and_wait
from teleop.aio.timers import DeadlineTimer
from teleop.common.throttle import Notice, times
from teleop.wire import protocol
from teleop.wire.errors import ConfigError
from teleop.wire.protocol import CloseCode, Event, EventKind, EventLevel, MessageType, Outputs, Reading, Status, Welcome
from teleop_server.camera.capture import Camera
from teleop_server.config import ServerConfig
from teleop_server.device.link import DeviceLink, LinkState, Profile
from teleop_server.device.simulated import SimulatedDevice
from teleop_server.net.fanout import Fanout
from teleop_server.net.gate import Gate, GuardedConnection, file_limit
from teleop_server.net.httpgate import RequestGate
from teleop_server.net.video import VideoServer
from teleop_server.record.formats import open_recorder
from teleop_server.record.replay import Replayer
from teleop_server.record.snapshot import open_snapshots, snapshot_folder
from teleop_server.record.tap import Tap, session_metadata
from teleop_server.rules import control, device_events, recording
from teleop_server.rules.admission import PENDING_PER_ADDRESS, Admission, socket_budget
from teleop_server.rules.auth import Access, ObserverAccess
from teleop_server.rules.camerasource import CameraState
from teleop_server.rules.control import Arrival, ControlRules
from teleop_server.rules.mapping import CommandMapper
from teleop_server.rules.notices import printable
from teleop_server.rules.readings import Pace, ReadingsBook
from teleop_server.rules.recording import TripWatch
from teleop_server.rules.serial_protocol import REPORT_UNITS

log = logging.getLogger("teleop.server")

#: How long a new connection may stay silent before it is treated as a plain
#: (seed-style) observer: the seed's browser page never sends anything.
HELLO_TIMEOUT = 0.5
#: A client whose socket accepts nothing for this long is stuck (a frozen app, a phone that
#: left the Wi-Fi): drop it rather than wait for its queue to fill, which can take a minute.
SEND_STALL_TIMEOUT = 5.0
#: Kernel send buffer per client (Linux doubles it). Linux grows it to megabytes on its own,
#: which at telemetry rates would hide a stuck client for minutes and keep a slow one
#: seconds behind; past this the fan-out skips to the newest reading instead.
SEND_BUFFER_BYTES = 16 * 1024
#: A WebSocket handshake (the HTTP request) must be complete within this time.
OPEN_TIMEOUT = 5.0
OUTPUTS_INTERVAL = 0.1
#: Readings go to clients at most this many times a second; faster reports are merged, newest wins.
READINGS_RATE = 100.0
#: ... of which this many may go back to back (reports arriving with jitter are not held back).
READINGS_BURST = 3


@dataclass(eq=False)
class Client:
    """One connection's outgoing side; what the rules know of it lives in :class:`teleop_server.rules.control.Member`."""

    ws: GuardedConnection
    id: int
    #: broadcasts start after the welcome, which must be the first thing a client hears of the server
    welcomed: bool = False
    #: set when the rules closed this client: the handler waits for it, else websockets closes with 1000
    closing: asyncio.Task[None] | None = None
    #: the streams its hello asked not to be sent (``skip``)
    skip: frozenset[MessageType] = frozenset()

    @property
    def label(self) -> str:
        return f"#{self.id} ({_host(self.ws)})"


class Bridge:
    """Owns the device link, the clients and the control state. Start it with :meth:`start`."""

    def __init__(self, config: ServerConfig, *, sim: SimulatedDevice | None = None) -> None:
        self.config = config
        if config.auth and not config.token:
            raise ConfigError(
                "authentication is on but no pilot token was given (load it with teleop_server.rules.auth.load_or_create_token)"
            )
        recording.keep_out(config.token)  # never in a recording, a snapshot or the Foxglove stream, under any key
        self.mapper = CommandMapper(config.outputs)
        self.rules = ControlRules(
            Access(config.token if config.auth else None, ObserverAccess(config.observers)),
            self.mapper,
            failsafe_timeout=config.failsafe_timeout,
            keepalive=config.keepalive_interval,
            control_hz=config.control_hz,
            max_speed=config.max_speed,
        )
        self.recorder = open_recorder(config, on_trouble=self._on_recording_trouble)
        #: the recorder was started by a client's record button (so a client may stop it), not by --record
        self._recording_asked = False
        #: everything recorded goes through here: the --record file, and the snapshot ring and Foxglove when on
        self.tap = Tap([self.recorder] if self.recorder else [])
        self.snapshots = open_snapshots(config)
        if self.snapshots is not None:
            self.tap.add(self.snapshots)
        self.trips = TripWatch(config.snapshot_on_estop, config.snapshot_on_failsafe)
        #: --replay: a recording is played to clients instead of a device's readings (no device is opened)
        self.replay = (
            Replayer(
                config.replay,
                on_reading=self._on_replayed,
                on_event=self._on_replayed_event,
                on_frame=self._on_replayed_frame,
                on_changed=self._mark_status,
            )
            if config.replay
            else None
        )
        #: the link's state when it last told us (a lost link is announced when it is lost, not at every retry)
        self._link_state: LinkState | None = None
        self.link = DeviceLink(
            config.serial,
            config.baud,
            ready_timeout=config.ready_timeout,
            reply_timeout=config.reply_timeout,
            max_in_flight=config.max_in_flight,
            profile=Profile(config.device),
            columns=config.columns,
            on_report=self._on_report,
            on_state=self._on_link_state,
            on_event=self._on_device_event,
            on_written=self._on_written,
            on_accepted=self._on_accepted,
            sim=sim,
        )
        self.clients: dict[int, Client] = {}
        self.book = ReadingsBook(config.max_reading_keys)
        self.accepted: dict[str, str] = {}
        self._reading_seq = 0
        self._readings_pace = Pace(READINGS_RATE, READINGS_BURST)
        self._readings_timer: asyncio.TimerHandle | None = None
        self._key_notice = Notice(60.0)
        self._ids = itertools.count(1)
        self._status_dirty = False
        self._outputs_timer: asyncio.TimerHandle | None = None
        self._watch_timer = DeadlineTimer(self._on_watch_timer)
        self._link_task: asyncio.Task[None] | None = None
        self._server: Server | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self.gate = Gate(
            Admission(
                config.max_clients,
                max_sockets=socket_budget(file_limit(), config.max_clients),
                sessions_per_address=config.max_per_address,
                pending_per_address=max(PENDING_PER_ADDRESS, config.max_per_address),
            ),
            outbox_limit=config.client_queue,
        )
        self.gate.on_drained = self._on_drained
        self.gate.on_control_frame = self._on_control_frame
        self._urgent: GuardedConnection | None = None  # the pilot's connection, marked urgent at the gate
        self.requests = RequestGate(tls=bool(config.certfile), allow_hosts=config.allow_hosts, allow_origins=config.allow_origins)
        camera = config.camera_settings
        self.camera = Camera(camera, self._on_camera_frame, self._on_camera_state) if camera else None
        self.video = VideoServer(
            self.gate,
            self.requests,
            self.rules.tokens,
            camera=self.camera is not None or (self.replay is not None and self.replay.has_video),
            stall_timeout=config.camera_viewer_timeout,
        )
        self.gate.diverter = self.video
        self._camera_task: asyncio.Task[None] | None = None
        self.fanout = Fanout(
            stall_timeout=SEND_STALL_TIMEOUT, on_stuck=self._on_stuck, schedule=lambda step: asyncio.get_running_loop().call_soon(step)
        )
        self.gate.on_urgent_data = self.fanout.let_input_first
        #: the welcomed clients' connections: what a broadcast goes to
        self.audience: dict[int, GuardedConnection] = {}
        self._stall_timer: asyncio.TimerHandle | None = None
        self.session = f"{int(time.time()):x}"
        self.tap.metadata("session", session_metadata(config, self.session))
        #: Called with the device's info (name, version) when it changes; the mDNS announcer listens.
        self.on_device_info: Callable[[dict[str, str]], None] = lambda info: None
        #: What the fleet broker link (:mod:`teleop_server.net.mqtt`) listens to: each must return at once.
        self.on_status: Callable[[], None] = lambda: None
        self.on_event: Callable[[Event], None] = lambda event: None
        self.on_readings: Callable[[dict[str, int | float]], None] = lambda values: None

    @property
    def readings(self) -> dict[str, int | float]:
        return self.book.latest

    @property
    def pilot(self) -> control.Member | None:
        return self.rules.pilot

    @property
    def estop(self) -> bool:
        return self.rules.estop

    def neutral_now(self, why: str = "the server was told to stop", *, for_good: bool = True) -> None:
        """Every output to neutral at once (signal handlers call this before anything else); ``for_good``: the server
        is stopping, and no control drives again while it closes its connections."""
        self._run(self.rules.stop_all(why, for_good=for_good))

    def remote_estop(self, who: str) -> None:
        """An emergency stop from the fleet broker: the same rule as a client's stop; only the pilot releases it."""
        self._run(self.rules.remote_estop(who))

    def warn(self, text: str) -> None:
        """A problem with the robot's setup found while it runs (the fleet link's): every client is told."""
        self._announce(EventLevel.WARNING, EventKind.CONFIG, text)

    def status(self) -> dict[str, object]:
        """The status clients get, as a dict (the fleet broker publishes it without the token)."""
        return protocol.to_dict(self._status())

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> Server:
        tls = self._tls_context()
        # TLS is done per socket by the gate (teleop_server.net.tlsdoor), so a handshake in progress is counted
        self.gate.tls, self.gate.tls_timeout, self.gate.port_hint = tls, OPEN_TIMEOUT, f" ({self.config.port})"
        device = self.link.run() if self.replay is None else self.replay.run()
        self._link_task = asyncio.create_task(device, name="device-link" if self.replay is None else "replay")
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            max_size=protocol.MAX_MESSAGE_BYTES,
            max_queue=32,
            open_timeout=OPEN_TIMEOUT,
            # a client that stops answering pings (a frozen app, a phone gone from the Wi-Fi) is
            # closed within 10 s, long before its queue and the kernel's buffers would fill
            ping_interval=5,
            ping_timeout=5,
            close_timeout=2,
            compression=None,
            server_header=f"teleop-server/{__version__}",
            process_request=self.requests,
            create_connection=self.gate.connection,  # type: ignore[arg-type]  # a factory, as websockets calls it; typed as a class
        )
        if self.camera is not None:
            self._camera_task = asyncio.create_task(self.camera.run(), name="camera")
        return self._server

    def _tls_context(self) -> ssl.SSLContext | None:
        if not self.config.certfile:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(self.config.certfile, self.config.keyfile)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot use certificate {self.config.certfile} with key {self.config.keyfile}: {getattr(exc, 'strerror', None) or exc}"
            ) from None
        return context

    @property
    def tls(self) -> bool:
        return bool(self.config.certfile)

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for timer in (self._readings_timer, self._outputs_timer):
            if timer is not None:
                timer.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self.video.close()
        await cancel_and_wait(self._link_task, self._camera_task)
        await self.link.close()
        if self.recorder:
            await asyncio.to_thread(self.recorder.close)  # up to 1 s on a stalled disk: off the loop

    # -- connection handling -------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        assert isinstance(ws, GuardedConnection)  # start() makes every connection one
        sock = ws.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        client = Client(ws, next(self._ids))
        ws.client_id = client.id
        try:
            try:
                async with asyncio.timeout(HELLO_TIMEOUT):  # not wait_for: it can swallow a cancel on 3.11
                    first = await ws.recv()
            except TimeoutError:
                first = None
            arrival = await self._seat(client, first)
            if arrival is None:
                return
            client.skip = frozenset(arrival.hello.skip) if arrival.hello is not None else frozenset()
            self.clients[client.id] = client
            self._run(self.rules.join(client.id, ws.peer, first, time.monotonic(), arrival))
            if client.closing is None:
                async for frame in ws:
                    self._run(self.rules.frame(client.id, frame, time.monotonic()))
                    if self.rules.pilot is not None and self.rules.pilot.id == client.id:
                        self.tap.control(client.id, frame)
                    if client.closing is not None:
                        break
            if client.closing is not None:
                await asyncio.shield(client.closing)
        except ConnectionClosed:
            pass
        finally:
            self._forget(client)
            self._run(self.rules.leave(client.id, time.monotonic()))

    async def _seat(self, client: Client, first: str | bytes | None) -> Arrival | None:
        """Give a new client a seat (:mod:`teleop_server.rules.admission`), or close it with the reason (None).

        What its first frame says (its hello, its token's judgement, whether it
        gets the pilot's seats) is decided once by the rules
        (:meth:`~teleop_server.rules.control.ControlRules.arrive`), and :meth:`ControlRules.join`
        takes the same answer. A client the rules will refuse anyway (no token
        where watching needs one, a locked-out address) is let through to be told why.
        """
        ws = client.ws
        arrival = self.rules.arrive(client.id, ws.peer, first, time.monotonic())
        if not arrival.welcome:
            return arrival
        seat = self.gate.admit(ws, trusted=arrival.trusted)
        if not seat.admitted:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):  # a client that reads nothing cannot hold its socket by not taking the close
                    await ws.close(CloseCode.TRY_AGAIN_LATER, seat.reason[:120])
            return None
        return arrival

    def _forget(self, client: Client) -> None:
        self.clients.pop(client.id, None)
        self.audience.pop(client.id, None)

    # -- running the rules' effects ----------------------------------------------------

    def _run(self, effects: list[control.Effect]) -> None:
        for effect in effects:
            if isinstance(effect, control.Send):
                client = self.clients.get(effect.client)
                if client is not None:
                    self._send(client, effect.message)
            elif isinstance(effect, control.Broadcast):
                self._broadcast(protocol.encode(effect.message))
                if isinstance(effect.message, Event):
                    self.tap.event(effect.message.text, effect.message.level)  # the recording keeps every event told
                    self.on_event(effect.message)
            elif self.replay is not None and isinstance(effect, control.Drive | control.Neutral | control.Keepalive):
                self._drives_nothing()
            elif isinstance(effect, control.Drive):
                self.link.submit(effect.lines)
                self._arm_watch()
            elif isinstance(effect, control.Neutral):
                self.link.neutral(self.mapper.neutral())
            elif isinstance(effect, control.Keepalive):
                self.link.heartbeat()
            elif isinstance(effect, control.StatusChanged):
                self._mark_status()
            elif isinstance(effect, control.SendWelcome):
                client = self.clients.get(effect.client)
                if client is not None:
                    self._send(client, self._welcome(client))
                    client.welcomed = True
                    self.audience[client.id] = client.ws
            elif isinstance(effect, control.Hold):
                client = self.clients.get(effect.client)
                if client is not None:
                    client.ws.hold(effect.until)
            elif isinstance(effect, control.Close):
                client = self.clients.get(effect.client)
                if client is not None:
                    self._forget(client)
                    client.closing = self._closing_task(self._close_with(client, effect.code, effect.reason))
            elif isinstance(effect, control.Snapshot):
                self.save_snapshot(effect.client, effect.seconds, effect.reason)
            elif isinstance(effect, control.RecordRequest):
                self.record_on_request(effect)
            elif isinstance(effect, control.SteerReplay):
                if self.replay is not None:
                    steered = self.replay.steer(effect.message)
                    if steered.changed:
                        self._announce(EventLevel.INFO, EventKind.RECORDING, steered.text)
                    else:
                        self._tell(effect.client, EventLevel.WARNING, EventKind.RECORDING, steered.text)
                else:
                    self._tell(effect.client, EventLevel.WARNING, EventKind.RECORDING, "this server is not replaying a recording")
        self._mark_pilot()
        trip = self.trips.changed(self.rules.estop, self.rules.watch.failsafe)
        if trip is not None:
            self.save_snapshot(0, None, trip)

    def save_snapshot(self, client: int, seconds: float | None, reason: str) -> None:
        """Write the last seconds kept in memory to a file (teleop_server.record.snapshot); everyone is told where."""
        snapshots = self.snapshots
        if snapshots is None:
            text = "snapshots are off on this server ([snapshot] seconds = 0, or MCAP support is not installed)"
            self._tell(client, EventLevel.WARNING, EventKind.RECORDING, text)
            return

        async def save() -> None:
            saved = await snapshots.save(seconds)
            level = EventLevel.WARNING if saved.problem else EventLevel.INFO
            self._announce(level, EventKind.RECORDING, f"{saved.describe()}; {reason}")

        self._closing_task(save())

    def record_on_request(self, request: control.RecordRequest) -> None:
        """A client's record button: start a recording beside the snapshots, stop the one it started, or mark a moment.

        A recording the server was started with (``--record``) is the operator's: a client
        marks it but never stops it. A new one is MCAP where the ``record`` extra is
        installed, JSON lines otherwise, named by the time it starts.
        """
        command, who = request.command, request.who
        if command is protocol.RecordCommand.MARK:
            self._announce(EventLevel.INFO, EventKind.RECORDING, f"mark by {who}" + (f": {request.note}" if request.note else ""))
            return
        if command is protocol.RecordCommand.START:
            if self.recorder is not None:
                self._tell(request.client, EventLevel.INFO, EventKind.RECORDING, f"already recording to {self.recorder.path}")
                return
            stamp = time.strftime("teleop-%Y%m%d-%H%M%S")
            recorder = None
            for suffix in (".mcap", ".jsonl"):  # MCAP needs the record extra; JSON lines always works
                path = snapshot_folder(self.config) / f"{stamp}{suffix}"
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    recorder = open_recorder(
                        replace(self.config, record=str(path), record_video=False), on_trouble=self._on_recording_trouble
                    )
                    break
                except (ConfigError, OSError) as exc:
                    problem = str(exc)
            if recorder is None:
                self._tell(request.client, EventLevel.WARNING, EventKind.RECORDING, f"cannot start a recording: {problem}")
                return
            self.recorder, self._recording_asked = recorder, True
            self.tap.add(recorder)
            recorder.metadata("session", session_metadata(self.config, self.session))
            self._announce(EventLevel.INFO, EventKind.RECORDING, f"recording to {recorder.path}, started by {who}")
            return
        if self.recorder is None:
            self._tell(request.client, EventLevel.INFO, EventKind.RECORDING, "not recording")
            return
        if not self._recording_asked:
            text = f"the server's own recording ({self.recorder.path}, --record) is not stopped from a client"
            self._tell(request.client, EventLevel.WARNING, EventKind.RECORDING, text)
            return
        recorder, self.recorder, self._recording_asked = self.recorder, None, False
        self.tap.sinks.remove(recorder)

        async def finish() -> None:
            await asyncio.to_thread(recorder.close)  # up to 1 s on a stalled disk: off the loop
            self._announce(EventLevel.INFO, EventKind.RECORDING, f"recording stopped by {who}: {recorder.path}")

        self._closing_task(finish())

    def _drives_nothing(self) -> None:
        """During a replay the rules' drive and neutral lines go nowhere; the pilot is told so once."""
        pilot, replay = self.rules.pilot, self.replay
        if pilot is not None and replay is not None and pilot.id not in replay.told:
            replay.told.add(pilot.id)
            text = f"this server is replaying {replay.file}: no device is driven, your commands go nowhere"
            self._tell(pilot.id, EventLevel.WARNING, EventKind.RECORDING, text)

    def _on_replayed(self, values: dict[str, int | float]) -> None:
        self._on_report(values, time.monotonic())

    def _on_replayed_event(self, level: str, text: str) -> None:
        """An event from the recording (or about the replay), told as it was: the file keeps no kind."""
        self._announce(EventLevel(level) if level in EventLevel.__members__.values() else EventLevel.INFO, EventKind.OTHER, text)

    def _on_replayed_frame(self, jpeg: bytes) -> None:
        self._on_camera_frame(jpeg, time.time())

    def _tell(self, client_id: int, level: EventLevel, kind: EventKind, text: str) -> None:
        client = self.clients.get(client_id)
        if client is not None:
            self._send(client, Event(level, text, time.time(), kind))

    def _mark_pilot(self) -> None:
        """Whoever the rules now call pilot has their controls read before the rest of a fan-out (:mod:`teleop_server.net.fanout`)."""
        pilot = self.rules.pilot
        client = self.clients.get(pilot.id) if pilot is not None else None
        ws = client.ws if client is not None else None
        if ws is not self._urgent:
            if self._urgent is not None:
                self._urgent.urgent = False
            if ws is not None:
                ws.urgent = True
            self._urgent = ws

    async def _close_with(self, client: Client, code: CloseCode, reason: str) -> None:
        """Close ``client`` with ``code``; the explanation before it is already written (or held, if it is not reading).

        A client whose socket takes nothing would never see the close either:
        it is cut at once, as is one that has not finished the close in a second.
        """
        if client.ws.outbox.blocked_since is not None:
            client.ws.transport.abort()
            return
        try:
            async with asyncio.timeout(1):
                await client.ws.close(code, reason)
        except ConnectionClosed:
            pass
        except TimeoutError:
            client.ws.transport.abort()

    def _on_control_frame(self, ws: GuardedConnection) -> bool:
        """A ping or pong from ``ws``, before websockets answers it: counted toward the client's rate limit (:mod:`teleop_server.rules.control`)."""
        client = self.clients.get(ws.client_id) if ws.client_id is not None else None
        if client is None:
            # Before its hello a client has nothing to ping for (nor after the rules closed it): not
            # answered, and nothing more of it is read until the hello wait is over; then the rules count.
            ws.hold(time.monotonic() + HELLO_TIMEOUT)
            return False
        answer, effects = self.rules.control_frame(client.id, time.monotonic())
        if effects:
            ws.hold(next((e.until for e in effects if isinstance(e, control.Hold)), 0.0))
            # not from inside websockets' parser, which is where this is asked from
            asyncio.get_running_loop().call_soon(self._run, effects)
        return answer

    def _closing_task(self, coro) -> asyncio.Task[None]:
        # keep a reference: asyncio holds tasks weakly, and a close may take up to close_timeout
        closing = asyncio.get_running_loop().create_task(coro)
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
        return closing

    def _arm_watch(self) -> None:
        self._watch_timer.arm(self.rules.deadline())  # lazy: a later deadline waits for the armed timer (500 Hz, no churn)

    def _on_watch_timer(self) -> None:
        self._run(self.rules.tick(time.monotonic()))
        self._arm_watch()

    # -- device callbacks ----------------------------------------------------------------

    def _on_report(self, values: dict[str, int | float], t: float) -> None:
        refused = self.book.update(values)
        if refused:
            self._refused_keys(refused, t)
        if not self.book.fresh or self._readings_timer is not None:
            return
        wait = self._readings_pace.delay(t)
        if wait <= 0:
            self._flush_readings()
        else:
            self._readings_timer = asyncio.get_running_loop().call_later(wait, self._flush_readings)

    def _flush_readings(self) -> None:
        self._readings_timer = None
        values = self.book.take()
        if not values:
            return
        self._readings_pace.sent(time.monotonic())
        self._reading_seq += 1
        self.tap.reading(values, self._reading_seq)
        self._broadcast(protocol.encode(Reading(time.time(), values, self._reading_seq)), MessageType.READING)
        self.on_readings(values)

    def _refused_keys(self, keys: list[str], now: float) -> None:
        first_time = self.book.refused_keys == len(keys)
        count = self._key_notice.due(now)
        if count is None:
            return
        text = (
            f"device reports more than {self.book.max_keys} different readings; ignoring new ones such as {printable(keys[0], 32)!r}"
            + times(count, self._key_notice.interval)
        )
        log.warning("%s", text)
        if first_time:
            self._announce(EventLevel.WARNING, EventKind.DEVICE, text)

    def _on_link_state(self, state: LinkState, detail: str) -> None:
        entered, self._link_state = state is not self._link_state, state
        if state is LinkState.READY:
            self._announce(EventLevel.INFO, EventKind.DEVICE, f"device ready: {detail}")
            self.on_device_info(dict(self.link.info))
            self.tap.metadata("device", dict(self.link.info))
            self._run(self.rules.device_ready())
        elif state is LinkState.LOST and entered:  # a new reason while still lost (ENOENT, then EACCES) is in the status
            self._announce(EventLevel.WARNING, EventKind.DEVICE, f"serial link lost: {detail}")
        elif state is LinkState.FAILED:
            self._announce(EventLevel.WARNING, EventKind.DEVICE, detail)
        self.tap.event(f"serial {state.value}: {detail}")
        self._mark_status()

    def _on_device_event(self, name: str, text: str) -> None:
        if name == "info":
            self.on_device_info(dict(self.link.info))
            self._mark_status()
            return
        said = device_events.announce(name, text, held_stopped=self.rules.watch.failsafe)
        if said is None:
            log.debug("device %s %s: not announced (the server holds the robot stopped)", name, text)
            return
        self._announce(said.level, said.kind, said.text)

    def _on_written(self, line: str, t: float) -> None:
        self.rules.written(t)
        self.tap.command(line)

    def _on_accepted(self, key: str, line: str) -> None:
        self.accepted[key] = line
        if self._outputs_timer is None:  # a timer only while outputs change: an idle server does not wake for them
            self._outputs_timer = asyncio.get_running_loop().call_later(OUTPUTS_INTERVAL, self._flush_outputs)

    # -- outgoing ------------------------------------------------------------------------

    def _welcome(self, client: Client) -> Welcome:
        member = self.rules.members.get(client.id)
        return Welcome(
            protocol=protocol.PROTOCOL_VERSION,
            server=f"teleop-server {__version__}",
            session=self.session,
            role=member.role if member else protocol.Role.OBSERVER,
            status=self._status(),
            readings=dict(self.readings),
            limits={
                "max_message_bytes": protocol.MAX_MESSAGE_BYTES,
                "failsafe_ms": round(self.rules.watch.timeout * 1000),
                # how many of the last seconds a save_snapshot can write (0: snapshots are off here)
                "snapshot_seconds": self.snapshots.ring.seconds if self.snapshots is not None else 0,
            },
            client_id=client.id,
            units=dict(REPORT_UNITS),
        )

    def _status(self) -> Status:
        return Status(
            serial=self.link.snapshot() if self.replay is None else self.replay.serial(),
            pilot=self.pilot.describe() if self.pilot else None,
            failsafe=self.rules.watch.failsafe,
            estop=self.estop,
            clients=len(self.rules.members),
            camera=self.camera.snapshot() if self.camera else self.replay.camera() if self.replay else None,
            speed_cap=self.rules.speed_cap,
            replay=self.replay.describe() if self.replay is not None else None,
        )

    def _mark_status(self) -> None:
        if not self._status_dirty:
            self._status_dirty = True
            asyncio.get_running_loop().call_soon(self._flush_status)

    def _flush_status(self) -> None:
        self._status_dirty = False
        self._broadcast(protocol.encode(self._status()))
        self.on_status()

    def _on_camera_frame(self, jpeg: bytes, capture_time: float) -> None:
        self.video.publish(jpeg, capture_time)
        self.tap.frame(jpeg, capture_time)

    def _on_camera_state(self, state: CameraState, detail: str) -> None:
        if state is CameraState.LIVE:
            self._announce(EventLevel.INFO, EventKind.CAMERA, f"camera live: {detail}")
        elif state is CameraState.LOST:
            self._announce(EventLevel.WARNING, EventKind.CAMERA, f"camera lost: {detail}")
        self._mark_status()

    def _on_recording_trouble(self, level: str, text: str) -> None:
        """The recorder's trouble, and its recovery, told to every client."""
        self._announce(EventLevel(level) if level in tuple(EventLevel) else EventLevel.WARNING, EventKind.RECORDING, text)

    def _announce(self, level: EventLevel, kind: EventKind, text: str) -> None:
        event = Event(level, text, time.time(), kind)
        self._broadcast(protocol.encode(event))
        self.tap.event(text, level)
        self.on_event(event)

    def _flush_outputs(self) -> None:
        self._outputs_timer = None
        self._broadcast(protocol.encode(Outputs(time.time(), dict(self.accepted))), MessageType.OUTPUTS)

    def _send(self, client: Client, message: protocol.ServerMessage) -> None:
        self._enqueue(client, protocol.encode(message))

    def _broadcast(self, text: str, stream: MessageType | None = None) -> None:
        """``text`` to every welcomed client; a ``stream`` (:data:`~teleop.wire.protocol.SKIPPABLE`) not to those that skip it."""
        audience: Collection[GuardedConnection] = self.audience.values()
        if stream is not None:
            audience = [ws for client_id, ws in self.audience.items() if stream not in self.clients[client_id].skip]
        self.fanout.broadcast(audience, text)
        if self._stall_timer is None and self.audience:
            self._stall_timer = asyncio.get_running_loop().call_later(1.0, self._check_stalls)

    def _enqueue(self, client: Client, text: str) -> None:
        self.fanout.send(client.ws, text)

    def _on_drained(self, ws: GuardedConnection) -> None:
        self.fanout.drained(ws)

    def _check_stalls(self) -> None:
        """Readings may stop (device unplugged): stuck clients are still found, once a second."""
        self._stall_timer = None
        self.fanout.check_stalls(list(self.audience.values()))
        if self.audience:
            self._stall_timer = asyncio.get_running_loop().call_later(1.0, self._check_stalls)

    def _on_stuck(self, ws: object, reason: str) -> None:
        client = self.clients.get(getattr(ws, "client_id", None))  # type: ignore[arg-type]
        if client is not None:
            self._drop_slow(client, reason)

    def _drop_slow(self, client: Client, reason: str = "client too slow") -> None:
        if client.id not in self.clients:
            return
        self.gate.log.warning("slow", client.ws.peer, "client %s is not reading (%s); disconnecting it", client.label, reason)
        self._forget(client)
        # its socket has taken nothing for a while: a close frame would never get through either
        client.ws.transport.abort()
        self._run(self.rules.leave(client.id, time.monotonic(), "stopped reading and was disconnected"))


def _host(ws: ServerConnection) -> str:
    return ws.remote_address[0] if ws.remote_address else "?"
