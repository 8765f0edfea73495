"""The desktop GUI (PySide6). Only this package, :mod:`teleop.desktop.app` and :mod:`teleop.desktop.sdl.gamepad` import Qt or pygame."""
