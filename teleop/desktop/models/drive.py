"""When to send a control message, and what it says: the pilot's side of the safety story.

Sans-I/O and Qt-free. Rules a pilot relies on:

* Nothing is sent until driving is enabled.
* While enabled, a stick movement is sent at once, within the rate cap: at
  most ``cap_hz`` movements a second, of which :data:`CAP_BURST` may go out
  back to back. A pad reports every few milliseconds, a little early or late
  each time; with room for one movement only, every early report of a stick
  in motion would wait a fraction of a millisecond, for a wakeup of its own.
  Movements that come faster than the cap for longer are coalesced to the
  newest, which goes out when the cap allows. The state is re-sent at
  ``rate_hz`` while the sticks are still, so the server's failsafe does not
  trip under a steady hand. A re-send does not count against the cap: a
  movement right after one still goes out at once (the server allows four
  times its own control rate, 250 a second by default).
* Disabling (the Enable toggle, emergency stop, gamepad unplugged, link lost,
  window closed) sends one neutral message at once.
* Hold-to-drive (``DriveSettings.deadman``, a button's source name such as
  ``"rightshoulder"``; off when empty): while enabled, the input is sent
  only while that button is held. Letting go sends neutral at once, from the
  same :meth:`DriveController.set_input` call that saw the release (the rate
  cap does not hold it back), and neutral keeps being re-sent at ``rate_hz``
  so the server's failsafe does not trip while the pilot merely let go.
* The speed scale (:attr:`DriveController.scale`, a fraction of each axis's
  travel, see :mod:`teleop.desktop.models.speed`) multiplies the shaped axes
  that are sent; a new scale while driving is sent like a movement, a lower one
  at once whatever the rate cap says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from teleop.desktop.models.shaping import AxisShape, shape_axes
from teleop.wire.layout import Layout, pressed
from teleop.wire.protocol import MAX_AXES, MAX_BUTTONS, MAX_HATS, Control, InputKind

MAX_RATE_HZ = 250.0
#: movements the rate cap lets out back to back (then one per ``1 / cap_hz``)
CAP_BURST = 2


@dataclass
class DriveSettings:
    rate_hz: float = 50.0
    cap_hz: float = MAX_RATE_HZ
    default_shape: AxisShape = field(default_factory=AxisShape)
    shapes: dict[int, AxisShape] = field(default_factory=dict)
    #: the hold-to-drive button, as a source name (teleop.wire.layout); "" = off
    deadman: str = ""


class DriveController:
    def __init__(self, settings: DriveSettings | None = None) -> None:
        self.settings = settings or DriveSettings()
        self.enabled = False
        self.axes: tuple[float, ...] = ()
        self.buttons: tuple[int, ...] = ()
        self.hats: tuple[tuple[int, int], ...] = ()
        self.shaped: tuple[float, ...] = ()
        self.layout = Layout.RAW
        #: what the shaped axes are multiplied by when sent (the speed scale)
        self.scale = 1.0
        #: what the input comes from, said in every control (every client shows what drives); None: not said
        self.input: InputKind | None = None
        #: :attr:`held` as of the last input, to see it change (a release, or hold-to-drive switched on)
        self._held_before: bool | None = None
        self._seq = 0
        self._last_sent = -math.inf
        #: the rate cap's clock (the generic cell rate algorithm): when the movements sent so far would be paid
        #: for at ``cap_hz``; the next may go out :data:`CAP_BURST` - 1 intervals before it. It spaces movements,
        #: not re-sends.
        self._movements_due = -math.inf
        #: when the last movement went out: the next never waits more than one interval after it, even when
        #: ``cap_hz`` changed since the cap's clock was set
        self._last_move = -math.inf
        self._dirty = False

    @property
    def period(self) -> float:
        return 1.0 / max(1.0, min(self.settings.rate_hz, MAX_RATE_HZ))

    @property
    def min_interval(self) -> float:
        return 1.0 / max(1.0, min(self.settings.cap_hz, MAX_RATE_HZ))

    @property
    def held(self) -> bool | None:
        """Whether the hold-to-drive button is held now (None: hold-to-drive is off)."""
        if not self.settings.deadman:
            return None
        return pressed(self.settings.deadman, self.layout, self.axes, self.buttons, self.hats)

    def set_input(
        self,
        axes: list[float] | tuple[float, ...],
        buttons: list[int] | tuple[int, ...],
        hats,
        now: float,
        layout: Layout = Layout.RAW,
    ) -> Control | None:
        """New raw input. Returns a control to send now, or None (sent later by :meth:`poll`).

        Inputs past what a control message may carry (a button box's 100 buttons) are
        dropped here: sent, they would make the server refuse every control.
        """
        was_held = self._held_before
        axes, buttons, hats = axes[:MAX_AXES], buttons[:MAX_BUTTONS], hats[:MAX_HATS]
        shaped = shape_axes(axes, self.settings.shapes, self.settings.default_shape)
        buttons = tuple(map(int, buttons))
        hats = tuple((int(h[0]), int(h[1])) for h in hats)
        changed = (shaped, buttons, hats, layout) != (self.shaped, self.buttons, self.hats, self.layout)
        self.axes = tuple(axes)
        self.shaped, self.buttons, self.hats, self.layout = shaped, buttons, hats, Layout(layout)
        held = self._held_before = self.held
        if not self.enabled or not (changed or held != was_held):
            return None
        if held is False:
            if was_held is not False:  # let go (or hold-to-drive just switched on): neutral now, whatever the cap says
                return self._emit(now, moved=True)
            return None  # still not held: neutral already went out, the re-send keeps it going
        self._dirty = True
        return self.poll(now)

    def output(self) -> tuple[tuple[float, ...], tuple[int, ...], tuple[tuple[int, int], ...]]:
        """What is sent for the input now: the shaped input, or neutral while hold-to-drive is not held."""
        if self.held is False:
            return self._neutral()
        if self.scale != 1.0:
            return tuple(a * self.scale for a in self.shaped), self.buttons, self.hats
        return self.shaped, self.buttons, self.hats

    def set_scale(self, scale: float, now: float) -> Control | None:
        """A new speed scale; while driving it goes out like a movement (None: nothing to send now)."""
        if scale == self.scale:
            return None
        slower, self.scale = scale < self.scale, scale
        if not self.enabled:
            return None
        if slower:  # slowing down goes out at once, like letting go: the rate cap never holds back a slower robot
            return self._emit(now, moved=True)
        self._dirty = True
        return self.poll(now)

    def _neutral(self) -> tuple[tuple[float, ...], tuple[int, ...], tuple[tuple[int, int], ...]]:
        return tuple(0.0 for _ in self.shaped), tuple(0 for _ in self.buttons), tuple((0, 0) for _ in self.hats)

    def _next_move_at(self) -> float:
        """The earliest time the rate cap lets a movement out."""
        interval = self.min_interval
        return min(self._movements_due - (CAP_BURST - 1) * interval, self._last_move + interval)

    def poll(self, now: float) -> Control | None:
        """Call when :meth:`deadline` passes: a deferred change or the periodic re-send."""
        if not self.enabled:
            return None
        # the same sums as deadline(): a poll at the deadline always finds what is due
        if (self._dirty and now >= self._next_move_at()) or now >= self._last_sent + self.period:
            return self._emit(now)
        return None

    def deadline(self) -> float:
        if not self.enabled:
            return math.inf
        if self._dirty:  # the held-back change goes out with the re-send at the latest
            return min(self._next_move_at(), self._last_sent + self.period)
        return self._last_sent + self.period

    def enable(self, now: float) -> Control:
        self.enabled = True
        return self._emit(now)

    def disable(self, now: float) -> Control | None:
        """Stop driving; returns the neutral message to send once (None if not driving)."""
        if not self.enabled:
            return None
        self.enabled = False
        self._seq += 1
        self._last_sent = now
        self._dirty = False
        return self._control(now, *self._neutral())

    def _emit(self, now: float, moved: bool = False) -> Control:
        self._seq += 1
        self._last_sent = now
        if moved or self._dirty or self._movements_due == -math.inf:
            # a movement, let out by the cap or one it never holds back (a release, a slower speed): either way
            # the next waits at most one interval
            interval = self.min_interval
            self._movements_due = min(max(self._movements_due, now) + interval, now + CAP_BURST * interval)
            self._last_move = now
        self._dirty = False
        return self._control(now, *self.output())

    def _control(self, now: float, axes: tuple[float, ...], buttons: tuple[int, ...], hats: tuple[tuple[int, int], ...]) -> Control:
        return Control(seq=self._seq, t=now, axes=axes, buttons=buttons, hats=hats, layout=self.layout, input=self.input)
