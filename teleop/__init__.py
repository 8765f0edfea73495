"""teleop: drive a robot from a gamepad over WebSocket and watch its sensors live.

This package must stay importable without Qt or pygame: the Pi bridge server
imports the wire protocol (``teleop.wire.protocol``) from here. Qt, qasync and pygame
are allowed only in the GUI layer (``teleop.desktop.gui``, ``teleop.desktop.app``,
``teleop.desktop.sdl.gamepad``); tests/test_code_rules.py enforces it.
"""

__version__ = "0.1.0"
