"""Icons, the desktop entry and styles, installed as ``teleop.resources`` (see pyproject.toml)."""
