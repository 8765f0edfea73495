"""Small widgets: stick views (also the on-screen virtual stick), axis bars, button lights, the connection bar."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from teleop.appsettings import parse_address
from teleop.client import run_in_background

from .controller import TeleopController
from .robot_list import RobotAddressBox

ACCENT = QColor("#2f80ed")
SENT = QColor("#27ae60")
MUTED = QColor("#9aa5b1")


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
        if interactive:
            self.setCursor(Qt.CursorShape.OpenHandCursor)
            self.setToolTip("Drag to drive (virtual stick); release to centre")

    def set_values(self, raw: tuple[float, float], sent: tuple[float, float] | None) -> None:
        if (raw, sent) != (self.raw, self.sent):
            self.raw, self.sent = raw, sent
            self.update()

    def _area(self) -> QRectF:
        side = min(self.width(), self.height() - 18) - 8
        return QRectF((self.width() - side) / 2, 18 + (self.height() - 18 - side) / 2, side, side)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        area = self._area()
        painter.setPen(self.palette().text().color())
        painter.drawText(QRectF(0, 0, self.width(), 16), Qt.AlignmentFlag.AlignCenter, self.title)
        painter.setPen(QPen(MUTED, 1))
        painter.setBrush(self.palette().base())
        painter.drawRoundedRect(area, 8, 8)
        painter.drawLine(QPointF(area.center().x(), area.top()), QPointF(area.center().x(), area.bottom()))
        painter.drawLine(QPointF(area.left(), area.center().y()), QPointF(area.right(), area.center().y()))

        def point(x: float, y: float) -> QPointF:
            return QPointF(area.center().x() + x * area.width() / 2, area.center().y() + y * area.height() / 2)

        painter.setPen(QPen(ACCENT, 2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(point(*self.raw), 9, 9)
        if self.sent is not None:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(SENT)
            painter.drawEllipse(point(*self.sent), 5, 5)

    def _drag(self, event: QMouseEvent) -> None:
        area = self._area()
        x = (event.position().x() - area.center().x()) / (area.width() / 2)
        y = (event.position().y() - area.center().y()) / (area.height() / 2)
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


class AxisBar(QWidget):
    """One axis as a centred bar: raw value in blue, sent value as a green tick, number on the right."""

    def __init__(self, label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = label
        self.raw = 0.0
        self.sent: float | None = None
        self.setMinimumHeight(18)
        self.setMinimumWidth(160)

    def set_values(self, raw: float, sent: float | None) -> None:
        if (raw, sent) != (self.raw, self.sent):
            self.raw, self.sent = raw, sent
            self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        text = self.palette().text().color()
        painter.setPen(text)
        painter.drawText(QRectF(0, 0, 40, self.height()), Qt.AlignmentFlag.AlignVCenter, self.label)
        value_text = f"{self.sent:+.3f}" if self.sent is not None else f"{self.raw:+.3f}"
        painter.drawText(
            QRectF(self.width() - 56, 0, 56, self.height()), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, value_text
        )
        bar = QRectF(44, 4, self.width() - 106, self.height() - 8)
        painter.setPen(QPen(MUTED, 1))
        painter.setBrush(self.palette().base())
        painter.drawRect(bar)
        centre = bar.center().x()
        half = bar.width() / 2
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(ACCENT)
        width = self.raw * half
        painter.drawRect(QRectF(min(centre, centre + width), bar.top() + 1, abs(width), bar.height() - 2))
        if self.sent is not None:
            painter.setPen(QPen(SENT, 3))
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


class ConnectionBar(QFrame):
    """Address, connect/disconnect, state with the reason, round-trip time and role."""

    def __init__(self, controller: TeleopController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(QLabel("Robot:"))
        self.address = RobotAddressBox(controller)  # robots on this network above the recent servers
        self.address.setMinimumWidth(220)
        self.address.setToolTip("host:port of the teleop-server; recent servers are in the list")
        self.address.lineEdit().returnPressed.connect(self._connect_clicked)
        layout.addWidget(self.address)
        self.connect_button = QPushButton("Connect")
        self.connect_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.connect_button.clicked.connect(self._connect_clicked)
        layout.addWidget(self.connect_button)
        self.state = QLabel("disconnected")
        self.state.setObjectName("connectionState")
        self.state.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.state, 1)
        self.rtt = QLabel("RTT —")
        self.rtt.setMinimumWidth(90)
        layout.addWidget(self.rtt)
        self.role = QLabel("observer")
        self.role.setObjectName("roleLabel")
        layout.addWidget(self.role)
        self.take = QPushButton("Take control")
        self.take.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.take.setToolTip("Become pilot, taking over from the current pilot if there is one (announced to everyone)")
        self.take.clicked.connect(self._take_control)
        layout.addWidget(self.take)
        self.refresh_recent()
        controller.connectionChanged.connect(self._on_state)
        controller.accessRefused.connect(self._on_refused)
        controller.rttChanged.connect(self._on_rtt)
        controller.roleChanged.connect(self._on_role)
        self._connected = False

    def _take_control(self) -> None:
        self.controller.request_control(takeover=True)

    def refresh_recent(self) -> None:
        settings = self.controller.settings
        current = f"{settings.host}:{settings.port}"
        self.address.blockSignals(True)
        self.address.clear()
        self.address.addItems([current, *[r for r in settings.recent if r != current]])
        self.address.setCurrentIndex(0)
        self.address.blockSignals(False)

    def _connect_clicked(self) -> None:
        if self._connected or self.controller.session is not None:
            run_in_background(self.controller.disconnect_from_server())
            self._on_state("disconnected", "disconnected by user")
            return
        address = parse_address(self.address.currentText(), self.controller.settings.port)
        if isinstance(address, str):
            self.state.setText(f"cannot connect: {address}")
            return
        settings = self.controller.settings
        settings.use_server(address)
        settings.remember_server()
        self.refresh_recent()
        run_in_background(self.controller.connect_to_server())

    def _on_state(self, state: str, detail: str) -> None:
        self._connected = state in ("connected", "connecting", "reconnecting")
        session = self.controller.session
        if session is not None and state == "connected":
            shown = session.url.split("://", 1)[-1].rstrip("/")
            if self.address.currentText() != shown:
                self.address.setEditText(shown)
        self.connect_button.setText("Disconnect" if self._connected else "Connect")
        self.state.setText(f"{state}: {detail}" if detail and detail != state else state)
        self.state.setProperty("state", state)
        self.state.style().unpolish(self.state)
        self.state.style().polish(self.state)
        if state != "connected":
            self.rtt.setText("RTT —")

    def _on_refused(self, why: str) -> None:
        """Shown in the state label, which stays readable until the role changes."""
        if why:
            self.state.setText(f"connected, but may not drive: {why}")
            self.state.setProperty("state", "refused")
            self.state.style().unpolish(self.state)
            self.state.style().polish(self.state)

    def _on_rtt(self, ms: float) -> None:
        self.rtt.setText(f"RTT {ms:.1f} ms")

    def _on_role(self, role: str) -> None:
        legacy = self.controller.session is not None and self.controller.session.legacy
        self.role.setText("pilot (legacy server)" if legacy else role)
        self.role.setProperty("role", role)
        self.role.style().unpolish(self.role)
        self.role.style().polish(self.role)
        self.take.setEnabled(role != "pilot")


class GamepadPanel(QGroupBox):
    """Device picker, live axes (raw and as sent), sticks, buttons and hats; refreshed at 25 Hz."""

    def __init__(self, controller: TeleopController, parent: QWidget | None = None) -> None:
        super().__init__("Gamepad", parent)
        self.controller = controller
        layout = QVBoxLayout(self)
        picker_row = QHBoxLayout()
        picker_row.addWidget(QLabel("Device:"))
        self.picker = QComboBox()
        self.picker.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.picker.currentIndexChanged.connect(self._picked)
        picker_row.addWidget(self.picker, 1)
        layout.addLayout(picker_row)
        sticks = QHBoxLayout()
        self.left = StickView("Left stick (axes 0, 1)", interactive=True)
        self.right = StickView("Right stick (axes 2, 3)", interactive=True)
        self.left.moved.connect(self._left_moved)
        self.right.moved.connect(self._right_moved)
        sticks.addWidget(self.left)
        sticks.addWidget(self.right)
        layout.addLayout(sticks, 1)
        self.bars_box = QGridLayout()
        layout.addLayout(self.bars_box)
        self.bars: list[AxisBar] = []
        self.lights = ButtonLights()
        layout.addWidget(self.lights)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setObjectName("hint")
        layout.addWidget(self.hint)
        controller.gamepadsChanged.connect(self.refresh_devices)
        self.refresh_devices()
        self._timer = QTimer(self)
        self._timer.setInterval(40)  # 25 Hz: smooth to the eye; painting is most of the GUI's CPU
        self._timer.timeout.connect(self.refresh_values)
        self._timer.start()

    def _left_moved(self, x: float, y: float) -> None:
        self._virtual(0, x, y)

    def _right_moved(self, x: float, y: float) -> None:
        self._virtual(2, x, y)

    def _virtual(self, first_axis: int, x: float, y: float) -> None:
        if self.controller.selected is None:
            self.controller.set_virtual_axis(first_axis, x)
            self.controller.set_virtual_axis(first_axis + 1, y)

    def refresh_devices(self) -> None:
        self.picker.blockSignals(True)
        self.picker.clear()
        self.picker.addItem("On-screen sticks and keyboard", None)
        for info in self.controller.gamepad_infos():
            self.picker.addItem(info.label, info.instance_id)
        index = self.picker.findData(self.controller.selected)
        self.picker.setCurrentIndex(max(0, index))
        self.picker.blockSignals(False)
        virtual = self.controller.selected is None
        self.left.interactive = self.right.interactive = virtual
        cursor = Qt.CursorShape.OpenHandCursor if virtual else Qt.CursorShape.ArrowCursor
        self.left.setCursor(cursor)
        self.right.setCursor(cursor)
        self.hint.setText(
            "No gamepad in use: drag the sticks with the mouse, or drive with the arrow keys (axes 0/1) and W A S D (axes 2/3)."
            if virtual
            else "Blue: the stick as read. Green: the value sent after deadzone, expo, inversion and calibration."
        )

    def _picked(self, index: int) -> None:
        self.controller.select_gamepad(self.picker.itemData(index))

    def refresh_values(self) -> None:
        axes, buttons, hats = self.controller.current_input()
        shaped = self.controller.drive.shaped
        driving = self.controller.drive.enabled
        while len(self.bars) < len(axes):
            bar = AxisBar(f"axis {len(self.bars)}")
            self.bars_box.addWidget(bar, len(self.bars) // 2, len(self.bars) % 2)
            self.bars.append(bar)
        for i, bar in enumerate(self.bars):
            bar.setVisible(i < len(axes))
            if i < len(axes):
                bar.set_values(axes[i], shaped[i] if driving and i < len(shaped) else None)

        def pair(values, i: int) -> tuple[float, float]:
            return (values[i] if i < len(values) else 0.0, values[i + 1] if i + 1 < len(values) else 0.0)

        self.left.set_values(pair(axes, 0), pair(shaped, 0) if driving else None)
        self.right.set_values(pair(axes, 2), pair(shaped, 2) if driving else None)
        self.lights.set_values(buttons, hats)
