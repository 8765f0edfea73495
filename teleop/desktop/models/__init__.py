"""The desktop app's models: plain Python objects with typed events, no Qt, no pygame, no sockets.

Napari style: the Qt layer (``teleop.desktop.gui``) is a thin adapter that owns the
timers and the gamepad poll and feeds the models; each widget receives the
sub-model it shows (:class:`~.connection.ConnectionModel`, :class:`~.driving.DriveModel`,
:class:`~.readings.ReadingsModel`), listens to its events and writes back through its
methods. Enums, not strings, travel between them.
"""
