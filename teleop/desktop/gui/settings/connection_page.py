"""The Connection tab: where the robot is, how to reach it, and the pilot token."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QLabel, QLineEdit, QSpinBox, QWidget

from teleop.desktop.gui.robot_list import RobotsOnNetwork
from teleop.desktop.gui.settings.certificate_field import CertificateField
from teleop.desktop.models.appsettings import AppSettings, check_port
from teleop.desktop.models.settings_draft import address_field_problem, cafile_problem, should_split_address, split_address


class ConnectionPage(QWidget):
    """Edits host, port, TLS, token and trusted certificate of :class:`AppSettings`; says what is wrong as it is typed."""

    #: something on the page changed that may make it valid or invalid
    edited = Signal()

    def __init__(self, settings: AppSettings, connected_to: str = "", parent: QWidget | None = None) -> None:
        """``connected_to``: the robot the window is connected to now (host:port; "" for none)."""
        super().__init__(parent)
        self.settings = settings
        form = QFormLayout(self)
        #: said when the window is connected to another robot than the one saved here (the demo's own server,
        #: an address typed in the Robot box): these fields are not that robot's
        self.elsewhere = QLabel(f"Connected now to {connected_to}. The fields below are the robot the app connects to when it starts.")
        self.elsewhere.setWordWrap(True)
        self.elsewhere.setVisible(bool(connected_to) and connected_to != f"{settings.host}:{settings.port}")
        form.addRow(self.elsewhere)
        self.host = QComboBox()
        self.host.setEditable(True)
        self.host.addItem(settings.host)
        for entry in settings.recent:
            host = entry.rpartition(":")[0]
            if self.host.findText(host) < 0:
                self.host.addItem(host)
        self.host.setCurrentText(settings.host)
        self.host.currentTextChanged.connect(self._host_edited)
        self.host.lineEdit().editingFinished.connect(self.split_host_port)
        self.host.setToolTip(
            "The robot's IP address or host name, e.g. 192.168.1.9 or raspberrypi.local.\n"
            "Pasting the address teleop-server printed (ws://...#token=...) fills in port, TLS and token too."
        )
        form.addRow("Server address:", self.host)
        self.host_problem = QLabel("")
        self.host_problem.setObjectName("problem")
        form.addRow("", self.host_problem)
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(settings.port)
        self.port.valueChanged.connect(self.edited)
        form.addRow("Port:", self.port)
        self.tls = QCheckBox("Use TLS (wss://)")
        self.tls.setChecked(settings.tls)
        form.addRow("", self.tls)
        self.token = QLineEdit(settings.token)
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("printed by teleop-server when it first started")
        self.token.setToolTip("Needed to drive; kept with this server's entry. Watching works without it unless the server says otherwise.")
        form.addRow("Pilot token:", self.token)
        cafile = CertificateField(settings.cafile, "only for a robot with its own (self-signed) certificate", "Certificate to trust")
        self.cafile = cafile.path
        self.cafile.textChanged.connect(self.edited)
        form.addRow("Trust certificate:", cafile)
        robots = RobotsOnNetwork()
        robots.chosen.connect(self.host.setCurrentText)  # a ws[s]://host:port fills host, port and TLS
        form.addRow(robots)
        recent = QLabel("Recent: " + (", ".join(settings.recent) or "none yet"))
        recent.setWordWrap(True)
        form.addRow("", recent)

    def _host_edited(self, text: str) -> None:
        """A pasted ``ws://host:port/#token=...`` is split into the fields at once; a recent server brings back its token."""
        if should_split_address(text, finished=False):
            self._split(text)
        stored = self.settings.tokens.get(f"{self.host.currentText().strip()}:{self.port.value()}")
        if stored and not ("://" in text and "token=" in text):
            self.token.setText(stored)
        self.edited.emit()

    def split_host_port(self) -> None:
        """Split a typed ``host:port`` (the field was left, or the dialog is being saved)."""
        text = self.host.currentText()
        if should_split_address(text, finished=True):
            self._split(text)
            self.edited.emit()

    def _split(self, text: str) -> None:
        address = split_address(text, self.port.value())
        if address is None:
            return
        self.host.blockSignals(True)
        self.host.setCurrentText(address.host)
        self.host.blockSignals(False)
        self.port.setValue(address.port)
        if address.tls is not None:
            self.tls.setChecked(address.tls)
        if address.token:
            self.token.setText(address.token)

    def problems(self) -> tuple[str | None, list[str]]:
        """The address field's problem (shown beside it) and every problem on the page."""
        host_problem = address_field_problem(self.host.currentText(), self.port.value())
        self.host_problem.setText(host_problem or "")
        problems = [p for p in (host_problem, check_port(self.port.value()), cafile_problem(self.cafile.text())) if p]
        return host_problem, problems

    def collect(self, settings: AppSettings) -> None:
        self.split_host_port()
        settings.host = self.host.currentText().strip()
        settings.port = self.port.value()
        settings.tls = self.tls.isChecked()
        settings.token = self.token.text().strip()
        settings.cafile = self.cafile.text().strip()
