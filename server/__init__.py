"""The Pi bridge server (``teleop-server``): WebSocket clients on one side, the Arduino on the other.

Installs and runs without Qt or pygame. It imports only the Qt-free shared
wire protocol of :mod:`teleop` (``teleop.wire.protocol``); the serial line protocol
to the device is the server's own (:mod:`teleop_server.rules.serial_protocol`).
"""
