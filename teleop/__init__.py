"""teleop: drive a robot from a gamepad over WebSocket and watch its sensors live.

This package must stay importable without Qt or pygame: the Pi bridge server
imports the shared protocol modules (``teleop.protocol``, ``teleop.devicelines``)
from here. The GUI lives in ``teleop.gui`` and is only imported by the desktop app.
"""

__version__ = "0.1.0"
