"""A certificate file to trust, typed or chosen with Browse…: the same field wherever a page asks for one."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QWidget


class CertificateField(QWidget):
    """:attr:`path` is the line edit (its ``textChanged`` tells of every change); Browse… fills it in."""

    def __init__(self, path: str, placeholder: str, dialog_title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._dialog_title = dialog_title
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.path = QLineEdit(path)
        self.path.setPlaceholderText(placeholder)
        row.addWidget(self.path, 1)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(browse)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self._dialog_title, self.path.text(), "Certificates (*.pem *.crt *.cer);;All files (*)")
        if path:
            self.path.setText(path)
