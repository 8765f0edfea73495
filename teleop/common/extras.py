"""How a user adds one of the optional parts (extras) to the install they have: one wording for every message.

A plain ``pip install`` is refused by Debian's and Pi OS's Python (PEP 668), and ``pipx install`` of a
package already installed changes nothing, so the hint names the command that works for each way of
installing (docs/install.md).
"""

from __future__ import annotations

DISTRIBUTION = "teleop-robot"


def extra_hint(extra: str) -> str:
    """The commands that add the extra ``extra`` (record, mqtt, foxglove), for a message that says it is needed."""
    spec = f"'{DISTRIBUTION}[{extra}]'"
    return (
        f"pipx install --force {spec}; in a venv, pip install {spec} there; the Pi service: sudo packaging/pi/install.sh --extras {extra}"
    )
