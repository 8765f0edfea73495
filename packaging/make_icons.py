"""Render resources/teleop.svg into the Windows .ico and macOS .icns the installers need.

    .venv/bin/python packaging/make_icons.py

Uses Qt's own image plugins (qsvg, qico, qicns), so no other tool is needed.
The outputs are committed; run this again only when the SVG changes.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parent.parent


def render(size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    QSvgRenderer(str(ROOT / "resources" / "teleop.svg")).render(painter)
    painter.end()
    return image


def main() -> int:
    QGuiApplication(sys.argv)
    targets = {ROOT / "packaging" / "windows" / "teleop.ico": 256, ROOT / "packaging" / "macos" / "teleop.icns": 512}
    for path, size in targets.items():
        if not render(size).save(str(path)):
            print(f"could not write {path} (is the Qt image plugin for {path.suffix} present?)", file=sys.stderr)
            return 1
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
