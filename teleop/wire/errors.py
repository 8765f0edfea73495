"""The one root exception of teleop, so callers can catch everything of ours in one place."""


class TeleopError(Exception):
    """Base of every exception teleop raises on purpose."""


class ConfigError(TeleopError):
    """A configuration file or flag is wrong; the message says where and why."""
