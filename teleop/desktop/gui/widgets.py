"""Small widgets: stick views (also the on-screen virtual stick), axis bars, button lights, the connection bar."""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from teleop.desktop.gui.adapter import QtAdapter
from teleop.desktop.gui.binding import bind
from teleop.desktop.gui.pacing import Paced
from teleop.desktop.gui.pad_list import PadList
from teleop.desktop.gui.pad_view import StandardPadView
from teleop.desktop.gui.resting import RestingPicture
from teleop.desktop.gui.robot_list import RobotAddressBox
from teleop.desktop.gui.style import ACCENT, MUTED, SENT
from teleop.desktop.models.appsettings import AppSettings, parse_address
from teleop.desktop.models.connection import ConnectionModel, ConnectionState
from teleop.desktop.models.driving import DriveModel
from teleop.desktop.models.padpace import FLICKER
from teleop.wire.layout import STANDARD_AXES, STANDARD_BUTTONS, Layout
from teleop.wire.protocol import InputKind

_RING_PEN = QPen(ACCENT, 2)
_TICK_PEN = QPen(SENT, 3)
_NUMBER_ALIGN = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight


class StickView(QWidget):
    """A 2D stick: raw position as a hollow ring, the value actually sent as a filled dot.

    When ``interactive`` it is the on-screen virtual stick: drag with the mouse,
    and it springs back to the centre on release like a real stick.
    """

    moved = Signal(float, float)

    def __init__(self, title: str, interactive: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.interactive = interactive
        self.raw = (0.0, 0.0)
        self.sent: tuple[float, float] | None = None
        self.setMinimumSize(120, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        # the title, box and cross hairs over what lies behind them: a repaint copies them and draws the marks
        self._rest = RestingPicture(self, self._draw_at_rest)
        if interactive:
            self.setCursor(Qt.CursorShape.OpenHandCursor)
            self.setToolTip("Drag to drive (virtual stick); release to centre")

    def set_values(self, raw: tuple[float, float], sent: tuple[float, float] | None) -> None:
        if (raw, sent) == (self.raw, self.sent):
            return
        # only around where the ring and the dot were and are now, as one rectangle (each update is a call
        # into Qt, which costs more than the few more pixels copied); the rest of the picture is as it was
        marks = [(self.raw, self.RING), (raw, self.RING)] + [(dot, self.DOT) for dot in (self.sent, sent) if dot is not None]
        self.raw, self.sent = raw, sent
        self.update(self._covered(marks))

    #: the raw ring's and the sent dot's radius, in pixels
    RING, DOT = 9, 5

    def _area(self) -> QRectF:
        side = min(self.width(), self.height() - 18) - 8
        return QRectF((self.width() - side) / 2, 18 + (self.height() - 18 - side) / 2, side, side)

    def _travel(self) -> QRectF:
        """Where the ring's centre can go: the box less the ring, so a full deflection is drawn whole inside it."""
        inset = self.RING + 2
        return self._area().adjusted(inset, inset, -inset, -inset)

    def _point(self, x: float, y: float, travel: QRectF | None = None) -> QPointF:
        if travel is None:
            travel = self._travel()
        return QPointF(travel.center().x() + x * travel.width() / 2, travel.center().y() + y * travel.height() / 2)

    def _covered(self, marks: list[tuple[tuple[float, float], int]]) -> QRect:
        """The pixels the rings or dots (each a position and a radius) cover, with their pens and antialiasing."""
        travel = self._travel()
        reaches = [(self._point(x, y, travel), radius + 3) for (x, y), radius in marks]
        left, top = math.floor(min(p.x() - r for p, r in reaches)), math.floor(min(p.y() - r for p, r in reaches))
        right, bottom = math.ceil(max(p.x() + r for p, r in reaches)), math.ceil(max(p.y() + r for p, r in reaches))
        return QRect(left, top, right - left + 1, bottom - top + 1)

    def _draw_at_rest(self, painter: QPainter) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        area = self._area()
        painter.setPen(self.palette().text().color())
        title = painter.fontMetrics().elidedText(self.title, Qt.TextElideMode.ElideRight, self.width())  # never into its neighbour's
        painter.drawText(QRectF(0, 0, self.width(), 16), Qt.AlignmentFlag.AlignCenter, title)
        painter.setPen(QPen(MUTED, 1))
        painter.setBrush(self.palette().base())
        painter.drawRoundedRect(area, 8, 8)
        painter.drawLine(QPointF(area.center().x(), area.top()), QPointF(area.center().x(), area.bottom()))
        painter.drawLine(QPointF(area.left(), area.center().y()), QPointF(area.right(), area.center().y()))

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        self._rest.paint(painter, event.rect())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(_RING_PEN)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(self._point(*self.raw), self.RING, self.RING)
        if self.sent is not None:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(SENT)
            painter.drawEllipse(self._point(*self.sent), self.DOT, self.DOT)

    def _drag(self, event: QMouseEvent) -> None:
        travel = self._travel()
        x = (event.position().x() - travel.center().x()) / (travel.width() / 2)
        y = (event.position().y() - travel.center().y()) / (travel.height() / 2)
        self.moved.emit(max(-1.0, min(1.0, x)), max(-1.0, min(1.0, y)))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self.interactive:
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            self._drag(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self.interactive:
            self._drag(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self.interactive:
            self.setCursor(Qt.CursorShape.OpenHandCursor)
            self.moved.emit(0.0, 0.0)


#: Axis bars shown at once in the stick area; more scroll.
MAX_BARS_SHOWN = 8


class AxisBar(QWidget):
    """One axis as a centred bar: raw value in blue, sent value as a green tick, number on the right.

    The bar follows every refresh of the panel; the number changes at most every
    :data:`NUMBER_MS` (digits that change 25 times a second cannot be read, and
    laying out text is most of a bar's repaint), and always ends on the last value.
    In a narrow panel the number goes (it is in the tooltip) and the bar keeps its room.
    """

    HEIGHT = 18
    MIN_WIDTH = 100
    #: narrower than this, no number
    NUMBER_FROM = 150
    #: the number's text changes at most this often (ms)
    NUMBER_MS = 200

    def __init__(self, label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = label
        self.raw = 0.0
        self.sent: float | None = None
        #: the number as shown (or, in a narrow bar, in the tooltip)
        self.number = self._value_text()
        self._numbers = Paced(self.NUMBER_MS, self._show_number, self)
        self.setMinimumHeight(self.HEIGHT)
        self.setMinimumWidth(self.MIN_WIDTH)
        self._rest = RestingPicture(self, self._draw_at_rest)  # the label and the empty bar

    def set_values(self, raw: float, sent: float | None) -> None:
        if (raw, sent) != (self.raw, self.sent):
            self.raw, self.sent = raw, sent
            self.update(self._moving())
            self._numbers.request()

    def _value_text(self) -> str:
        return f"{self.sent:+.3f}" if self.sent is not None else f"{self.raw:+.3f}"

    def _show_number(self) -> None:
        self._show_tip()
        text = self._value_text()
        if text != self.number:
            self.number = text
            if self.width() >= self.NUMBER_FROM:
                self.update(self._number_area())

    def _show_tip(self) -> None:
        """A narrow bar has its number in the tooltip; a wide one shows it, and has none."""
        tip = ""
        if self.width() < self.NUMBER_FROM:
            tip = f"{self.label}: {self.raw:+.3f}" + (f", sent {self.sent:+.3f}" if self.sent is not None else "")
        if tip != self.toolTip():
            self.setToolTip(tip)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._show_tip()

    def _bar(self) -> QRectF:
        """The bar's frame, between the label and, where there is room, the number."""
        return QRectF(44, 4, self.width() - (106 if self.width() >= self.NUMBER_FROM else 48), self.height() - 8)

    def _moving(self) -> QRect:
        """The pixels the fill and the tick can cover: the bar, with the tick's overhang and pen."""
        return self._bar().adjusted(-2, -4, 2, 4).toAlignedRect()

    def _number_area(self) -> QRect:
        return QRect(self.width() - 56, 0, 56, self.height())

    def _draw_at_rest(self, painter: QPainter) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(self.palette().text().color())
        painter.drawText(QRectF(0, 0, 40, self.height()), Qt.AlignmentFlag.AlignVCenter, self.label)
        painter.setPen(QPen(MUTED, 1))
        painter.setBrush(self.palette().base())
        painter.drawRect(self._bar())

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        area = event.rect()
        self._rest.paint(painter, area)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self.width() >= self.NUMBER_FROM and area.intersects(self._number_area()):
            painter.setPen(self.palette().text().color())
            painter.drawText(self._number_area(), _NUMBER_ALIGN, self.number)
        bar = self._bar()
        centre = bar.center().x()
        half = bar.width() / 2
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(ACCENT)
        width = self.raw * half
        painter.drawRect(QRectF(min(centre, centre + width), bar.top() + 1, abs(width), bar.height() - 2))
        if self.sent is not None:
            painter.setPen(_TICK_PEN)
            x = centre + self.sent * half
            painter.drawLine(QPointF(x, bar.top() - 2), QPointF(x, bar.bottom() + 2))


class ButtonLights(QWidget):
    """Pressed buttons and hat directions as little lamps."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.buttons: list[int] = []
        self.hats: list[tuple[int, int]] = []
        self.setMinimumHeight(28)

    def set_values(self, buttons: list[int], hats: list[tuple[int, int]]) -> None:
        if (list(buttons), list(hats)) != (self.buttons, self.hats):
            self.buttons, self.hats = list(buttons), list(hats)
            self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        x = 2
        for i, pressed in enumerate(self.buttons[:24]):
            painter.setPen(QPen(MUTED, 1))
            painter.setBrush(SENT if pressed else self.palette().base())
            painter.drawEllipse(QRectF(x, 6, 16, 16))
            painter.setPen(self.palette().text().color() if not pressed else QColor("white"))
            painter.drawText(QRectF(x, 6, 16, 16), Qt.AlignmentFlag.AlignCenter, str(i))
            x += 20
        for i, (hx, hy) in enumerate(self.hats):
            painter.setPen(self.palette().text().color())
            arrow = {(0, 1): "↑", (0, -1): "↓", (-1, 0): "←", (1, 0): "→", (0, 0): "·"}.get((hx, hy), "↗")
            painter.drawText(QRectF(x + 6, 4, 40, 20), Qt.AlignmentFlag.AlignVCenter, f"hat{i} {arrow}")
            x += 56


class ElidedLabel(QLabel):
    """A one-line label that cuts a long text with "…" (full text in the tooltip) instead of widening the window.

    It asks its layout for its whole text's width, so labels sharing a row each get what they need
    while there is room, and are cut only when the row is too narrow for all of them."""

    MINIMUM_WIDTH = 60

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        if text != self._full:
            self._full = text
            self.updateGeometry()  # a new width to ask for
        self.setToolTip(text)
        self._elide()

    def sizeHint(self) -> QSize:
        return QSize(QFontMetrics(self.font()).horizontalAdvance(self._full) + 8, super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:
        return QSize(self.MINIMUM_WIDTH, super().minimumSizeHint().height())

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = QFontMetrics(self.font()).elidedText(self._full, Qt.TextElideMode.ElideRight, max(20, self.width() - 4))
        if shown != self.text():
            self.setText(shown)


def restyle(widget: QWidget, name: str, value: str) -> None:
    """Set a property the style sheet keys on, and repaint with it."""
    if widget.property(name) != value:
        widget.setProperty(name, value)
        widget.style().unpolish(widget)
        widget.style().polish(widget)


class ConnectionBar(QFrame):
    """Address, connect/disconnect, the connection's state in plain words, round-trip time and role."""

    def __init__(self, connection: ConnectionModel, settings: AppSettings, adapter: QtAdapter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.connection = connection
        self.settings = settings
        self.adapter = adapter
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(QLabel("Robot:"))
        self.address = RobotAddressBox(connection)  # robots on this network above the recent servers
        self.address.setMinimumWidth(220)
        self.address.setToolTip("host:port of the teleop-server; recent servers are in the list")
        self.address.lineEdit().returnPressed.connect(self._address_entered)
        layout.addWidget(self.address)
        self.connect_button = QPushButton("Connect")
        self.connect_button.clicked.connect(self._connect_clicked)
        layout.addWidget(self.connect_button)
        self.state = ElidedLabel("Not connected")
        self.state.setObjectName("connectionState")
        layout.addWidget(self.state, 1)
        self.rtt = QLabel("RTT —")
        self.rtt.setMinimumWidth(90)
        layout.addWidget(self.rtt)
        self.role = QLabel("—")  # no role until connected
        self.role.setObjectName("roleLabel")
        layout.addWidget(self.role)
        self.refresh_recent()
        self._shown_state = connection.state
        bind(connection.changed, self, self._on_change)
        bind(connection.rtt_changed, self, self._on_rtt)

    def refresh_recent(self) -> None:
        settings = self.settings
        current = f"{settings.host}:{settings.port}"
        self.address.blockSignals(True)
        self.address.clear()
        self.address.addItems([current, *[r for r in settings.recent if r != current]])
        self.address.setCurrentIndex(0)
        self.address.blockSignals(False)

    def show_connected(self) -> None:
        """Put the robot this window is connected to back in the box (the demo's server is not the saved one)."""
        if self.connection.connected and self.connection.server:
            self.address.setEditText(self.connection.server)

    def _connect_clicked(self) -> None:
        """The button: Disconnect while connected (or trying to), Connect to the robot in the box otherwise."""
        if self.adapter.model.session is not None:
            self.adapter.disconnect()
            return
        self._connect_to_typed()

    def _address_entered(self) -> None:
        """Enter in the box: connect to the robot it names, leaving the one connected first. Enter on the robot
        this window is connected to (or trying to reach) changes nothing: typing never disconnects by itself."""
        if self.adapter.model.session is not None and self._names_current_robot():
            return
        self._connect_to_typed()

    def _names_current_robot(self) -> bool:
        address = parse_address(self.address.currentText(), self.settings.port)
        if isinstance(address, str) or address.token:  # a bad address is said by the attempt; a new token reconnects
            return False
        return f"{address.host}:{address.port}" == self.connection.server

    def _connect_to_typed(self) -> None:
        address = parse_address(self.address.currentText(), self.settings.port)
        if isinstance(address, str):
            self.state.set_full_text(f"Cannot connect: {address}")
            restyle(self.state, "state", "failed")
            return
        demo = self.adapter.model.demo_address(address)
        if demo is not None:  # teleop --demo's own server: its token from this run, and not kept as a server
            self.adapter.connect_to(demo)
            return
        self.settings.use_server(address)
        self.settings.remember_server()
        self.refresh_recent()
        self.adapter.connect_to()

    def _on_change(self, connection: ConnectionModel) -> None:
        active = self.adapter.model.session is not None
        self.connect_button.setText("Disconnect" if active else "Connect")
        if connection.connected and self._shown_state is not ConnectionState.CONNECTED and connection.server:
            self.address.setEditText(connection.server)  # once, on connecting: never over what the user is typing
        self._shown_state = connection.state
        refused = connection.connected and not connection.pilot and connection.refused
        text = f"{connection.message}, watching only: {connection.refused}" if refused else connection.message
        self.state.set_full_text(text)
        restyle(self.state, "state", "refused" if refused else connection.state.value)
        role = "pilot (legacy server)" if connection.legacy and connection.connected else connection.role.value
        if not connection.connected:
            role = "—"
        self.role.setText(role)
        restyle(self.role, "role", connection.role.value)

    def _on_rtt(self, ms: float | None) -> None:
        self.rtt.setText("RTT —" if ms is None else f"RTT {ms:.1f} ms")


#: A change of a pad's input that moves every axis, as read and as sent, by less than
#: :data:`~teleop.desktop.models.padpace.FLICKER` is what a pad at rest does (an 8-bit stick flickers by 0.008 at
#: each of its 250 reports a second): the panel shows it at most every :data:`FLICKER_MS`, a glance's pace (the
#: last of it within one and a half of that), rather than at its frame rate. A button, a hat, the hold-to-drive
#: state, a larger move or a drift that adds up to one is shown at once, and so is every change of the on-screen
#: sticks, which never flicker.
FLICKER_MS = 200


@dataclass(frozen=True)
class Marks:
    """What the gamepad panel's marks show of the drive model."""

    pad: int | None
    layout: Layout
    buttons: tuple[int, ...]
    hats: tuple[tuple[int, int], ...]
    axes: tuple[float, ...]
    #: the axes as sent; None while not driving
    sent: tuple[float, ...] | None
    #: whether the hold-to-drive control is held (None: hold-to-drive is off); the pad list says so in words
    held: bool | None = None

    @classmethod
    def of(cls, drive: DriveModel) -> Marks:
        state = drive.current_input()
        sent = tuple(drive.timing.output()[0]) if drive.enabled else None
        hats = tuple((int(h[0]), int(h[1])) for h in state.hats)
        return cls(drive.selected, drive.layout, tuple(state.buttons), hats, tuple(state.axes), sent, drive.deadman_held)

    def _beside_the_axes(self) -> tuple:
        sent = None if self.sent is None else len(self.sent)  # not "is None or len": True == 1 for a pad of one axis
        return self.pad, self.layout, self.buttons, self.hats, self.held, len(self.axes), sent

    def flickers_from(self, shown: Marks | None) -> bool:
        """Whether these marks differ from those ``shown`` only by axes that moved less than :data:`FLICKER`."""
        if shown is None or self._beside_the_axes() != shown._beside_the_axes():
            return False
        pairs = zip(self.axes + (self.sent or ()), shown.axes + (shown.sent or ()), strict=True)
        return all(abs(a - b) < FLICKER for a, b in pairs)


class GamepadPanel(QGroupBox):
    """The stick area: the pad list, then the pad drawn by control name (standard layout) or its raw axes, buttons and hats.

    It takes keyboard focus (a click or Tab): while it has it, the arrow keys and
    W A S D drive the on-screen sticks. Repainted only when the input changed.
    """

    def __init__(self, drive: DriveModel, parent: QWidget | None = None) -> None:
        super().__init__("Gamepad", parent)
        self.drive = drive
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setObjectName("stickArea")
        layout = QVBoxLayout(self)
        self.pads = PadList(drive)
        layout.addWidget(self.pads)
        # A pad SDL knows is drawn as a pad, by control name; anything else as numbered sticks, bars and lamps.
        self.pad_view = StandardPadView()
        layout.addWidget(self.pad_view, 1)
        self.raw_view = QWidget()
        raw = QVBoxLayout(self.raw_view)
        raw.setContentsMargins(0, 0, 0, 0)
        sticks = QHBoxLayout()
        self.left = StickView("Left stick (axes 0, 1)", interactive=True)
        self.right = StickView("Right stick (axes 2, 3)", interactive=True)
        self.left.moved.connect(self._left_moved)
        self.right.moved.connect(self._right_moved)
        sticks.addWidget(self.left)
        sticks.addWidget(self.right)
        raw.addLayout(sticks, 1)
        # A HOTAS or button box can have 40 axes: their bars scroll here rather than stretch the window off the screen.
        bars = QWidget()
        self.bars_box = QGridLayout(bars)
        self.bars_box.setContentsMargins(0, 0, 0, 0)
        self.bars_box.setVerticalSpacing(4)
        self.bars_scroll = QScrollArea()
        self.bars_scroll.setObjectName("axisBars")
        self.bars_scroll.setWidget(bars)
        self.bars_scroll.setWidgetResizable(True)
        self.bars_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.bars_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.bars_scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # arrow keys stay with the stick area (keyboard driving)
        self.bars_scroll.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        raw.addWidget(self.bars_scroll)
        self.bars: list[AxisBar] = []
        self._bars_shown = -1  # how many of them are shown
        self.lights = ButtonLights()
        raw.addWidget(self.lights)
        layout.addWidget(self.raw_view, 1)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setObjectName("hint")
        layout.addWidget(self.hint)
        bind(drive.pads_changed, self, self.refresh_devices)
        bind(drive.input_changed, self, self._input_changed)
        bind(drive.changed, self, self._input_changed)
        # at most 25 repaints a second, 5 for a pad's flicker at rest, none while nothing moves
        self._frames = Paced(40, self.refresh_values, self, slow_ms=FLICKER_MS)
        self._dirty = True
        self._shown_marks: Marks | None = None
        self.refresh_devices(drive)

    def focusInEvent(self, event) -> None:
        super().focusInEvent(event)
        self.setTitle("Gamepad  —  keys drive here")

    def focusOutEvent(self, event) -> None:
        super().focusOutEvent(event)
        self.setTitle("Gamepad")

    def mousePressEvent(self, event) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        super().mousePressEvent(event)

    def _left_moved(self, x: float, y: float) -> None:
        self._virtual(0, x, y)

    def _right_moved(self, x: float, y: float) -> None:
        self._virtual(2, x, y)

    def _virtual(self, first_axis: int, x: float, y: float) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if self.drive.selected is None:
            self.drive.set_virtual_axes({first_axis: x, first_axis + 1: y}, InputKind.TOUCH)

    @property
    def standard(self) -> bool:
        """The pad in use has the standard layout: it is drawn as a pad."""
        return self.drive.selected is not None and self.drive.layout is Layout.STANDARD

    def refresh_devices(self, drive: DriveModel | None = None) -> None:
        drive = self.drive
        self._shown = (drive.selected, drive.layout)
        virtual = drive.selected is None
        self.pad_view.setVisible(self.standard)
        self.raw_view.setVisible(not self.standard)
        self.left.interactive = self.right.interactive = virtual
        cursor = Qt.CursorShape.OpenHandCursor if virtual else Qt.CursorShape.ArrowCursor
        self.left.setCursor(cursor)
        self.right.setCursor(cursor)
        self.hint.setText(
            "No gamepad in use: drag the sticks with the mouse, or click here and drive with the arrow keys (axes 0/1) and W A S D (axes 2/3); "
            "+ and - change the speed."
            if virtual
            else "Blue: the pad as read. Green: the value sent after deadzone, expo, inversion and calibration (while driving)."
        )
        self._dirty = True
        self._frames.request()

    def _input_changed(self, drive: DriveModel) -> None:
        self._dirty = True
        self._frames.request(slow=self._flicker_only(drive))

    def _flicker_only(self, drive: DriveModel) -> bool:
        """Whether the input changed from what the panel shows only by a pad's flicker at rest (see :class:`Marks`)."""
        shown = self._shown_marks
        if shown is None or drive.selected is None:  # the on-screen sticks move only when told to
            return False
        axes = drive.current_input().axes
        # a stick that moves, the usual news while driving, is told without building the marks
        if len(axes) != len(shown.axes) or any(abs(a - b) >= FLICKER for a, b in zip(axes, shown.axes, strict=True)):
            return False
        return Marks.of(drive).flickers_from(shown)

    def _show_bars(self, count: int) -> None:
        """A bar for each of ``count`` axes, the scroll area as high as up to :data:`MAX_BARS_SHOWN` of them."""
        while len(self.bars) < count:
            bar = AxisBar(f"axis {len(self.bars)}")
            self.bars_box.addWidget(bar, len(self.bars) // 2, len(self.bars) % 2)
            self.bars.append(bar)
        for i, bar in enumerate(self.bars):
            bar.setVisible(i < count)
        rows = (min(count, MAX_BARS_SHOWN) + 1) // 2
        self.bars_scroll.setFixedHeight(rows * (AxisBar.HEIGHT + self.bars_box.verticalSpacing()))
        self._bars_shown = count

    def refresh_values(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        drive = self.drive
        if (drive.selected, drive.layout) != self._shown:  # the pad's layout changed in Settings
            self.pads.refresh()
            self.refresh_devices()
        marks = self._shown_marks = Marks.of(drive)  # what is drawn, as the next input is compared with
        axes, buttons, hats = marks.axes, marks.buttons, marks.hats
        driving = marks.sent is not None
        sent_axes = marks.sent or ()  # neutral while hold-to-drive is let go
        state_text = self.pads.state_text()
        if state_text != self.pads.state.text():
            self.pads.state.setText(state_text)
        if self.standard:
            raw = {name: float(v) for name, v in zip(STANDARD_AXES, axes, strict=False)}
            raw.update({name: float(v) for name, v in zip(STANDARD_BUTTONS, buttons, strict=False)})
            sent = None
            if driving:
                sent = {name: float(v) for name, v in zip(STANDARD_AXES, sent_axes, strict=False)}
            self.pad_view.set_values(raw, sent)
            return
        if len(axes) != self._bars_shown:
            self._show_bars(len(axes))
        for i, value in enumerate(axes):
            self.bars[i].set_values(value, sent_axes[i] if driving and i < len(sent_axes) else None)

        def pair(values, i: int) -> tuple[float, float]:
            return (values[i] if i < len(values) else 0.0, values[i + 1] if i + 1 < len(values) else 0.0)

        self.left.set_values(pair(axes, 0), pair(sent_axes, 0) if driving else None)
        self.right.set_values(pair(axes, 2), pair(sent_axes, 2) if driving else None)
        self.lights.set_values(buttons, hats)
