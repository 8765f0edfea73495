"""The one way to find a file the app ships (icons, the style sheet, an extra gamepad database).

``importlib.resources`` finds ``teleop.resources`` wherever it was installed: a checkout
(the folder resources/), a wheel in a venv, or the PyInstaller bundle, which ships the
folder as ``teleop/resources`` (packaging/teleop.spec). A path built from ``__file__``
works in the checkout only.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def resource_path(name: str) -> Path:
    """Where the shipped file ``name`` is (it may not exist: an optional file, say)."""
    return Path(str(resources.files("teleop.resources").joinpath(name)))
