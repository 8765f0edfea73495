"""``--foxglove PORT``: the session live in Foxglove, Lichtblick or PlotJuggler, through the official ``foxglove-sdk``.

The channels and their JSON schemas are the MCAP recording's
(:mod:`teleop_server.rules.recording`): what Foxglove shows live is what it shows
when it opens a recording. The endpoint is one more sink of the bridge's
:class:`~teleop_server.record.tap.Tap`. The SDK runs its own server threads;
what a client publishes is judged by :mod:`teleop_server.rules.foxglove` on the
asyncio loop: an e-stop reaches the device through the bridge's remote e-stop
(the core every stop goes through), anything else is refused.

The SDK has no token check: the port is bound to 127.0.0.1 unless
``--foxglove-host`` says otherwise (docs/recording.md: an SSH tunnel, or TLS).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from teleop.common.extras import extra_hint
from teleop.wire.errors import ConfigError
from teleop.wire.protocol import ReplayControl
from teleop_server.config import ServerConfig
from teleop_server.rules import recording
from teleop_server.rules.foxglove import ESTOP, PublishRules
from teleop_server.rules.recording import CHANNELS, MESSAGE_ENCODING, SCHEMA_ENCODING, ns

log = logging.getLogger("teleop.server.foxglove")

#: During a replay, Foxglove's player is told the position this often (and after every request).
PLAYBACK_INTERVAL = 0.5


class Robot(Protocol):
    """What the endpoint needs of the bridge."""

    def remote_estop(self, who: str) -> None: ...


def _sdk() -> Any:
    try:
        import foxglove
    except ImportError:
        raise ConfigError(f"--foxglove needs the Foxglove SDK, the foxglove extra: {extra_hint('foxglove')}") from None
    return foxglove


class FoxgloveEndpoint:
    """A tap sink that logs every stream to a Foxglove WebSocket server, and takes e-stops from its clients."""

    kinds = frozenset({"reading", "command", "control", "event", "frame"})

    def __init__(self, robot: Robot, host: str, port: int, *, name: str = "teleop-server", replay: Any = None) -> None:
        foxglove = _sdk()
        from foxglove.websocket import Capability

        self.robot = robot
        #: the bridge's replay (teleop_server.record.replay.Replayer), or None when live
        self.replay = replay
        self._follower: asyncio.Task[None] | None = None
        self.rules = PublishRules()
        self.loop = asyncio.get_running_loop()
        self.context = foxglove.Context()
        self.channels = {
            spec.topic: foxglove.Channel(
                spec.topic,
                schema=foxglove.Schema(name=spec.schema_name, encoding=SCHEMA_ENCODING, data=spec.schema_bytes),
                message_encoding=MESSAGE_ENCODING,
                context=self.context,
            )
            for spec in CHANNELS
            if spec is not recording.GAPS  # the live view loses nothing to a disk
        }
        #: (client id, its channel id) -> the topic it advertised
        self.advertised: dict[tuple[int, int], str] = {}
        # during a replay Foxglove's own player controls (play, pause, seek, speed) steer it
        playback = (replay.source.start_ns, replay.source.end_ns) if replay is not None else None
        try:
            self.server = foxglove.start_server(
                name=name,
                host=host,
                port=port,
                capabilities=[Capability.ClientPublish],
                supported_encodings=[MESSAGE_ENCODING],
                server_listener=self,
                context=self.context,
                playback_time_range=playback,
            )
        except Exception as exc:  # the SDK reports a taken port as a plain RuntimeError
            raise ConfigError(f"cannot start the Foxglove endpoint on {host}:{port}: {exc}") from None
        if replay is not None:
            self._follower = self.loop.create_task(self._follow_replay(), name="foxglove-playback")

    @property
    def port(self) -> int:
        return int(self.server.port)

    def stop(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
        self.server.stop()

    # -- the tap's calls (on the loop) ------------------------------------------------------

    def _stamp(self, t: float) -> int:
        """Log time: the receive time live; during a replay the recording's time, so Foxglove's timeline is the file's."""
        return self.replay.now_ns() if self.replay is not None else ns(t)

    def _log(self, spec: recording.ChannelSpec, t: float, data: bytes) -> None:
        self.channels[spec.topic].log(data, log_time=self._stamp(t))

    def reading(self, values: dict[str, int | float], seq: int = 0) -> None:
        t = time.time()
        self._log(recording.READINGS, t, recording.reading_message(t, values, seq))

    def command(self, line: str) -> None:
        t = time.time()
        self._log(recording.COMMANDS, t, recording.command_message(t, line))

    def event(self, text: str, level: str = "info") -> None:
        t = time.time()
        self._log(recording.EVENTS, t, recording.log_message(t, level, text))

    def control(self, client: int, frame: str | bytes) -> None:
        t = time.time()
        self._log(recording.CONTROLS, t, recording.control_message(t, client, frame))

    def frame(self, jpeg: bytes, t: float) -> None:
        channel = self.channels[recording.VIDEO.topic]
        if channel.base.has_sinks():  # base64 of every frame only while someone watches
            channel.log(recording.image_message(t, jpeg), log_time=self._stamp(t))

    def metadata(self, name: str, values: dict[str, Any]) -> None:
        pass  # Foxglove's live protocol has no metadata records

    # -- the SDK's calls (on its own threads) -----------------------------------------------

    # The SDK calls every callback of its ServerListener protocol, not only the ones a listener has: a missing one
    # is an error in its log for every subscription. Subscriptions need nothing from us (the channels log to
    # whoever subscribed).

    def on_subscribe(self, client: Any, channel: Any) -> None:
        return None

    def on_unsubscribe(self, client: Any, channel: Any) -> None:
        return None

    def on_client_advertise(self, client: Any, channel: Any) -> None:
        self.advertised[(client.id, channel.id)] = str(channel.topic)

    def on_client_unadvertise(self, client: Any, client_channel_id: int) -> None:
        self.advertised.pop((client.id, client_channel_id), None)

    def on_message_data(self, client: Any, client_channel_id: int, data: bytes) -> None:
        topic = self.advertised.get((client.id, client_channel_id), "?")
        self.loop.call_soon_threadsafe(self._published, int(client.id), topic, bytes(data))

    def on_playback_control_request(self, request: Any) -> None:
        """Foxglove's player asked to play, pause, seek or change speed (during a replay); answered from the loop."""
        self.loop.call_soon_threadsafe(
            self._playback, request.playback_command.name, float(request.playback_speed), request.seek_time, str(request.request_id)
        )
        return None

    def _playback(self, command: str, speed: float, seek_ns: int | None, request_id: str) -> None:
        replay = self.replay
        if replay is None:
            return
        playing = command == "Play"
        if not playing and replay.clock.playing:  # pause first: a seek asked with it lands exactly there
            replay.steer(ReplayControl("pause"))
        if seek_ns is not None:
            replay.steer(ReplayControl("seek", position=(seek_ns - replay.source.start_ns) / 1e9))
        if speed > 0 and abs(speed - replay.clock.speed) > 1e-6:
            replay.steer(ReplayControl("speed", speed=speed))
        if playing and not replay.clock.playing:
            replay.steer(ReplayControl("play"))
        self._tell_playback(request_id, did_seek=seek_ns is not None)

    def _tell_playback(self, request_id: str | None = None, *, did_seek: bool = False) -> None:
        from foxglove.websocket import PlaybackState, PlaybackStatus

        replay = self.replay
        now = replay.monotonic()
        clock = replay.clock
        status = PlaybackStatus.Playing if clock.playing else PlaybackStatus.Ended if clock.at_end(now) else PlaybackStatus.Paused
        self.server.broadcast_playback_state(PlaybackState(status, clock.due_ns(now), clock.speed, did_seek, request_id))

    async def _follow_replay(self) -> None:
        """Foxglove's player follows the replay however it is steered (the dashboard, the app, Foxglove)."""
        while True:
            self._tell_playback()
            await asyncio.sleep(PLAYBACK_INTERVAL)

    def _published(self, client: int, topic: str, data: bytes) -> None:
        verdict = self.rules.judge(client, topic, data)
        if verdict.estop:
            self.robot.remote_estop(f"Foxglove client {client}")
        elif verdict.refusal is not None:
            log.warning("%s", verdict.refusal)
            from foxglove import StatusLevel

            self.server.publish_status(verdict.refusal, StatusLevel.Warning)


def start_foxglove(robot: Robot, tap: Any, config: ServerConfig, replay: Any = None) -> FoxgloveEndpoint | None:
    """The endpoint on ``config.foxglove_port`` (None without ``--foxglove``), added to ``tap``; call on the loop."""
    if config.foxglove_port is None:
        return None
    endpoint = FoxgloveEndpoint(
        robot, config.foxglove_host, config.foxglove_port, name=config.announce_name or "teleop-server", replay=replay
    )
    tap.add(endpoint)
    log.info("Foxglove endpoint on ws://%s:%d (e-stop topic %s)", config.foxglove_host, endpoint.port, ESTOP.topic)
    return endpoint
