"""The "robots on this network" list that the address box and the Settings dialog show.

The model is :class:`teleop.desktop.net.discovery.RobotDirectory`; one per app, fed by one
browser (:func:`start_browsing`). The widgets only listen to its events and
say which robot was chosen, as a ``ws://`` or ``wss://`` address that the
existing address parsing already understands (it sets host, port and TLS).
"""

from __future__ import annotations

import time
from functools import partial

import shiboken6
from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from teleop.desktop.gui.binding import bind
from teleop.desktop.models.appsettings import BrokerSettings
from teleop.desktop.models.connection import ConnectionModel, ConnectionState
from teleop.desktop.models.fleet import StopRound
from teleop.desktop.net.discovery import RobotBrowser, RobotDirectory
from teleop.desktop.net.fleet import FleetClient
from teleop.wire.errors import ConfigError
from teleop.wire.mdns import Robot

_directory: RobotDirectory | None = None
_browser: RobotBrowser | None = None
_fleet: FleetClient | None = None
#: the broker settings ``_fleet`` was started with
_fleet_broker: BrokerSettings | None = None


def network_robots() -> RobotDirectory:
    """The app's one list of robots on this network (empty until :func:`start_browsing`)."""
    global _directory
    if _directory is None:
        _directory = RobotDirectory()
    return _directory


async def start_browsing() -> RobotBrowser:
    """Start looking for robots on the running (qasync) loop; a network without multicast only logs a line."""
    global _browser
    if _browser is None:
        _browser = RobotBrowser(network_robots())
        await _browser.start()
    return _browser


async def stop_browsing() -> None:
    global _browser
    if _browser is not None:
        browser, _browser = _browser, None
        await browser.stop()


async def start_fleet(url: str, *, username: str | None = None, password: str | None = None, cafile: str | None = None) -> FleetClient:
    """Add the robots on a fleet broker to the app's robot list (docs/fleet.md); the list offers "Stop every robot"."""
    global _fleet, _fleet_broker
    if _fleet is None:
        _fleet = FleetClient(url, network_robots(), username=username, password=password, cafile=cafile)
        _fleet_broker = BrokerSettings(url, username or "", password or "", cafile or "")
        await _fleet.start()
    return _fleet


async def stop_fleet() -> None:
    """Leave the fleet broker; its robots stay listed, greyed out, like robots that stopped announcing."""
    global _fleet, _fleet_broker
    if _fleet is not None:
        client, _fleet, _fleet_broker = _fleet, None, None
        await client.stop()
        directory = network_robots()
        for robot in directory.robots():
            if robot.via == "broker":
                directory.lost(robot.key)


async def use_fleet(broker: BrokerSettings) -> str | None:
    """Follow the broker the Fleet settings give (no address: no fleet list), leaving the one followed before.

    Returns why the list cannot follow it (the MQTT client is not installed), or None."""
    if broker == _fleet_broker or (not broker.url and _fleet is None):
        return None
    await stop_fleet()
    if not broker.url:
        return None
    try:
        await start_fleet(broker.url, username=broker.username or None, password=broker.password or None, cafile=broker.cafile or None)
    except ConfigError as exc:
        return str(exc)
    return None


def fleet_client() -> FleetClient | None:
    return _fleet


def _listen(directory: RobotDirectory, callback, *, owner: QWidget) -> None:
    """Call ``callback`` on every change of ``directory`` until ``owner`` is destroyed."""
    events = (directory.events.appeared, directory.events.updated, directory.events.gone, directory.events.removed)
    for event in events:
        event.connect(callback)
    owner.destroyed.connect(partial(_unlisten, events, callback))


def _unlisten(events, callback, *_args) -> None:
    for event in events:
        event.disconnect(callback)


def age_text(seconds: float) -> str:
    if seconds < 60:
        return f"{max(0, int(seconds))} s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    return f"{int(seconds // 3600)} h ago"


def needs_text(robot: Robot) -> str:
    needs = [n for n, on in (("TLS", robot.tls), ("token", robot.token)) if on]
    return " + ".join(needs) if needs else "nothing (open)"


class RobotsOnNetwork(QWidget):
    """The robots announced on this network: name, address, what connecting needs, last seen.

    Robots that stopped announcing stay listed, greyed out. Double-click or
    Enter on one emits :attr:`chosen` with its address.
    """

    chosen = Signal(str)  #: ``ws://host:port`` or ``wss://host:port``
    COLUMNS = ("Name", "Address", "Needs", "Driving", "Via", "Last seen")

    def __init__(self, directory: RobotDirectory | None = None, parent: QWidget | None = None, fleet: FleetClient | None = None) -> None:
        super().__init__(parent)
        self.directory = directory or network_robots()
        self.fleet = fleet or (fleet_client() if directory is None else None)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel("Robots on this network and the fleet broker" if self.fleet is not None else "Robots on this network")
        self.title.setStyleSheet("font-weight: bold")
        layout.addWidget(self.title)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(self.COLUMNS))
        self.tree.setHeaderLabels(self.COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(self.COLUMNS)):
            self.tree.header().setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setToolTip(
            "Robots whose teleop-server announces itself (mDNS) or publishes to the fleet broker. Double-click one to use its address."
        )
        self.tree.itemActivated.connect(self._activated)
        self.tree.setMaximumHeight(130)
        layout.addWidget(self.tree)
        self.empty = QLabel("")
        self.empty.setWordWrap(True)
        layout.addWidget(self.empty)
        self.stop_all = QPushButton("Stop every robot")
        self.stop_all.setToolTip("Send the emergency stop to every robot on the fleet broker; each one's acknowledgement shows below")
        self.stop_all.setStyleSheet("QPushButton { background: #b00020; color: white; font-weight: bold; padding: 4px 10px }")
        self.stop_all.clicked.connect(self._stop_all)
        self.stop_result = QLabel("")
        self.stop_result.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.stop_all)
        row.addWidget(self.stop_result, 1)
        layout.addLayout(row)
        self.stop_all.setVisible(self.fleet is not None)
        self.stop_result.setVisible(self.fleet is not None)
        if self.fleet is not None:
            self.fleet.model.round_changed.connect(self._round_changed)
            self.destroyed.connect(partial(_unlisten, (self.fleet.model.round_changed,), self._round_changed))
        self._items: dict[str, QTreeWidgetItem] = {}
        _listen(self.directory, self._changed, owner=self)
        self._ages = QTimer(self, interval=1000, timeout=self._refresh_ages)
        self._ages.start()
        self._rebuild()

    def _changed(self, _robot: Robot) -> None:
        if shiboken6.isValid(self):
            self._rebuild()

    def _rebuild(self) -> None:
        selected = self.tree.currentItem().data(0, Qt.ItemDataRole.UserRole) if self.tree.currentItem() else None
        self.tree.clear()
        self._items.clear()
        for robot in self.directory.robots():
            driving = robot.pilot if robot.pilot is not None else ""
            item = QTreeWidgetItem([robot.name, robot.address, needs_text(robot), driving, robot.via, ""])
            item.setData(0, Qt.ItemDataRole.UserRole, robot.key)
            details = [f"device: {robot.device or 'not reported yet'}", f"server: {robot.server or '?'}", f"service: {robot.key}"]
            if len(robot.addresses) > 1:
                details.append("also at " + ", ".join(robot.addresses[1:]))
            item.setToolTip(0, "\n".join(details))
            item.setDisabled(not robot.present)  # greyed out: gone from the network
            self.tree.addTopLevelItem(item)
            self._items[robot.key] = item
            if robot.key == selected:
                self.tree.setCurrentItem(item)
        self._refresh_ages()
        if self.directory.problem:
            self.empty.setText(f"{self.directory.problem}. Type the address instead.")
        elif not self._items:
            self.empty.setText("None found yet. Type the robot's address, its name.local, or the address teleop-server printed.")
        self.empty.setVisible(bool(self.directory.problem) or not self._items)

    def _refresh_ages(self) -> None:
        now = self.directory.clock()
        for key, item in self._items.items():
            robot = self.directory.get(key)
            if robot is not None:
                item.setText(len(self.COLUMNS) - 1, "now" if robot.present else age_text(now - robot.last_seen))

    def _stop_all(self) -> None:
        if self.fleet is not None:
            self._round_changed(self.fleet.stop_all())

    def _round_changed(self, stop_round: StopRound) -> None:
        """The last press and how it went, with its time: a round that never went out is not read as news later."""
        if shiboken6.isValid(self):
            self.stop_result.setText(f"{time.strftime('%H:%M:%S', time.localtime(stop_round.pressed_at))}  {stop_round.text()}")

    def _activated(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        robot = self.directory.get(item.data(0, Qt.ItemDataRole.UserRole))
        if robot is not None:
            self.chosen.emit(robot.url())

    def rows(self) -> list[dict[str, object]]:
        """What the list shows, row by row (for tests and screenshots' captions)."""
        return [
            {
                "name": item.text(0),
                "address": item.text(1),
                "needs": item.text(2),
                "driving": item.text(3),
                "via": item.text(4),
                "last_seen": item.text(5),
                "greyed": item.isDisabled(),
            }
            for item in (self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount()))
        ]


class AddressPopup(QFrame):
    """The address box's drop-down: robots on this network above the recent servers."""

    def __init__(self, box: RobotAddressBox) -> None:
        super().__init__(box, Qt.WindowType.Popup)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.box = box
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.robots = RobotsOnNetwork(box.directory, self, fleet=fleet_client())
        self.robots.chosen.connect(self._robot_chosen)
        layout.addWidget(self.robots)
        layout.addWidget(QLabel("Recent servers"))
        self.recent = QListWidget()
        self.recent.addItems([box.itemText(i) for i in range(box.count())])
        self.recent.setMaximumHeight(110)
        self.recent.itemActivated.connect(self._recent_chosen)
        self.recent.itemClicked.connect(self._recent_chosen)
        layout.addWidget(self.recent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def _robot_chosen(self, url: str) -> None:
        self.close()
        self.box.choose(url)

    def _recent_chosen(self, item) -> None:
        index = self.recent.row(item)
        self.close()
        self.box.setCurrentIndex(index)


class RobotAddressBox(QComboBox):
    """An editable address box whose drop-down lists the robots on this network above its own items.

    The owner fills the items (recent servers) as with any QComboBox; choosing
    a robot sets the text to its ``ws[s]://host:port`` and emits :attr:`chosen`.
    Given the connection model, the robot it is connected to stays listed while gone.
    """

    chosen = Signal(str)

    def __init__(
        self, connection: ConnectionModel | None = None, directory: RobotDirectory | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setEditable(True)
        self.directory = directory or network_robots()
        self.popup: AddressPopup | None = None
        if connection is not None:
            bind(connection.changed, self, self._connection_changed)

    def showPopup(self) -> None:
        popup = AddressPopup(self)
        popup.resize(max(self.width(), 560), popup.sizeHint().height())
        popup.move(self.mapToGlobal(QPoint(0, self.height())))
        popup.show()
        popup.robots.tree.setFocus()
        if popup.robots.tree.topLevelItemCount():
            popup.robots.tree.setCurrentItem(popup.robots.tree.topLevelItem(0))
        self.popup = popup

    def hidePopup(self) -> None:
        if self.popup is not None and shiboken6.isValid(self.popup):
            self.popup.close()
        self.popup = None
        super().hidePopup()

    def choose(self, url: str) -> None:
        self.setEditText(url)
        self.chosen.emit(url)

    def _connection_changed(self, connection: ConnectionModel) -> None:
        if connection.state is ConnectionState.CONNECTED and connection.server:
            self.directory.set_connected(connection.server)
        elif connection.state is ConnectionState.DISCONNECTED:
            self.directory.set_connected(None)


__all__ = [
    "RobotAddressBox",
    "RobotsOnNetwork",
    "network_robots",
    "start_browsing",
    "start_fleet",
    "stop_browsing",
    "stop_fleet",
    "use_fleet",
]
