"""Drive > Drive from a phone…: a QR code of the connected robot's pilot page, token included, to scan with a phone.

What the code says and what to warn about is :func:`teleop.desktop.models.pilot_link.pilot_link`;
this dialog only draws it (segno makes the PNG, no Qt painting of modules) and
follows the connection while it is open. Not modal: the emergency stop stays in reach.
"""

from __future__ import annotations

import io
from html import escape

import segno
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from teleop.desktop.gui.binding import bind
from teleop.desktop.models.pilot_link import PilotLink, pilot_link
from teleop.desktop.session.teleop_model import TeleopModel

#: pixels per module: about 300 px for an address with a token, easy for a phone camera at arm's length
MODULE_PIXELS = 6
#: the light margin a scanner needs around the code, in modules (the QR standard's quiet zone)
QUIET_ZONE = 4


def qr_pixmap(text: str, scale: int = MODULE_PIXELS) -> QPixmap:
    """``text`` as a black-on-white QR code (medium error correction, as the server's own codes)."""
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="png", scale=scale, border=QUIET_ZONE, dark="#000000", light="#ffffff")
    pixmap = QPixmap()
    pixmap.loadFromData(out.getvalue(), "PNG")
    return pixmap


class PilotQrDialog(QDialog):
    """The code, the address it opens (without the token) and the notes; redrawn when the connection changes."""

    def __init__(self, model: TeleopModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.setWindowTitle("Drive from a phone")
        layout = QVBoxLayout(self)
        self.heading = QLabel("Scan this code with the phone's camera: it opens the robot's pilot page, ready to drive.")
        self.heading.setWordWrap(True)
        self.code = QLabel()
        self.code.setObjectName("pilotQr")
        self.code.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.address = QLabel()
        self.address.setObjectName("pilotAddress")
        self.address.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.address.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.address.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.notes = QLabel()
        self.notes.setObjectName("pilotNotes")
        self.notes.setWordWrap(True)
        self.notes.setTextFormat(Qt.TextFormat.RichText)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        for widget in (self.heading, self.code, self.address, self.notes):
            layout.addWidget(widget)
        layout.addWidget(buttons)
        self.setMinimumWidth(460)
        self.link = PilotLink(None)
        bind(model.connection.changed, self, lambda _connection: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        session = self.model.session
        link = pilot_link(session.url if session else None, session.token if session else None)
        if link == self.link:
            return
        self.link = link
        self.code.setVisible(link.url is not None)
        self.address.setVisible(link.url is not None)
        self.heading.setVisible(link.url is not None)
        if link.url is not None:
            self.code.setPixmap(qr_pixmap(link.url))
            self.address.setText(link.address + ("  (+ the pilot token)" if link.has_token else ""))
        else:
            self.code.clear()
        bold = [link.problem, *link.warnings] if link.problem else link.warnings
        paragraphs = [f"<p><b>{escape(text)}</b></p>" for text in bold] + [f"<p>{escape(text)}</p>" for text in link.hints]
        self.notes.setText("".join(paragraphs))
        self.adjustSize()


def show_pilot_qr(parent: QWidget, model: TeleopModel) -> PilotQrDialog:
    """Open the dialog, or raise the one already open (closing only hides it)."""
    dialog = parent.findChild(PilotQrDialog)
    if dialog is None:
        dialog = PilotQrDialog(model, parent)
    dialog.refresh()
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog
