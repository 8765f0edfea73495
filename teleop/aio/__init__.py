"""Small asyncio helpers both sides use: stopping a task, and one timer for a sans-I/O core's deadline.

Why a folder of its own rather than a module in :mod:`teleop.common`: ``common``
(like ``wire`` and the server's ``rules``) is held by an import contract to
pure code with no event loop, so its primitives can be tested with a fake
clock and nothing else. These helpers *are* event-loop code, and both the
server and the desktop app need them, so they cannot live on either side.
``teleop.aio`` is the layer between: it may use ``common`` and ``wire``, and
both sides may use it; it imports neither side (``pyproject.toml``'s import
contracts hold all three rules).
"""
