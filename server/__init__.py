"""The Pi bridge server (``teleop-server``): WebSocket clients on one side, the Arduino on the other.

Installs and runs without Qt or pygame. It imports only the Qt-free shared
modules of :mod:`teleop` (``teleop.protocol``, ``teleop.devicelines``).
"""
