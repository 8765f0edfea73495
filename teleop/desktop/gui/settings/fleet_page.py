"""The Fleet tab: the MQTT broker whose robots join the robot list, and the user the app signs in as."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit, QWidget

from teleop.desktop.gui.settings.certificate_field import CertificateField
from teleop.desktop.models.appsettings import AppSettings, BrokerSettings
from teleop.desktop.models.settings_draft import broker_url_problem, cafile_problem


class FleetPage(QWidget):
    """Edits :attr:`AppSettings.fleet`; says what is wrong as it is typed. An empty address: no fleet list."""

    #: something on the page changed that may make it valid or invalid
    edited = Signal()

    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        broker = settings.fleet
        form = QFormLayout(self)
        intro = QLabel(
            "Robots that publish to an MQTT broker (teleop-server --mqtt) join the robot list, wherever they are, "
            'with "Stop every robot". Leave the address empty for no fleet list. See docs/fleet.md.'
        )
        intro.setWordWrap(True)
        form.addRow(intro)
        self.url = QLineEdit(broker.url)
        self.url.setPlaceholderText("mqtt://broker.lan:1883 or mqtts://broker.example.org:8883")
        self.url.textChanged.connect(self.edited)
        form.addRow("Broker:", self.url)
        self.url_problem = QLabel("")
        self.url_problem.setObjectName("problem")
        self.url_problem.setWordWrap(True)
        form.addRow("", self.url_problem)
        self.username = QLineEdit(broker.username)
        self.username.setPlaceholderText("the broker's dashboard user (fleet.dashboard in docs/fleet.md)")
        form.addRow("User:", self.username)
        self.password = QLineEdit(broker.password)
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setToolTip("Kept in this user's teleop settings file, like the pilot tokens.")
        form.addRow("Password:", self.password)
        cafile = CertificateField(broker.cafile, "only for mqtts:// with a broker certificate from your own CA", "CA to trust")
        self.cafile = cafile.path
        self.cafile.textChanged.connect(self.edited)
        form.addRow("Trust CA:", cafile)

    def problems(self) -> list[str]:
        url_problem = broker_url_problem(self.url.text())
        self.url_problem.setText(url_problem or "")
        return [p for p in (url_problem, cafile_problem(self.cafile.text())) if p]

    def broker(self) -> BrokerSettings:
        return BrokerSettings(self.url.text().strip(), self.username.text().strip(), self.password.text(), self.cafile.text().strip())

    def collect(self, settings: AppSettings) -> None:
        settings.fleet = self.broker()
