"""teleop: drive a robot from a gamepad over WebSocket and watch its sensors live.

This package must stay importable without Qt or pygame: the Pi bridge server
imports the wire protocol (``teleop.protocol``) from here. Qt, qasync and pygame
are allowed only in the GUI layer (``teleop.gui``, ``teleop.app``,
``teleop.gamepad``); tests/test_code_rules.py enforces it.
"""

__version__ = "0.1.0"
