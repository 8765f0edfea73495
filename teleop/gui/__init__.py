"""The desktop GUI (PySide6). Only this package, :mod:`teleop.app` and :mod:`teleop.gamepad` import Qt or pygame."""
