"""Exceptions that name what went wrong and where.

Every error a user can cause (a bad config value, a broken input file, a failing generator)
is one of these, so the command-line interface can print it as one clear line instead of a
traceback.
"""

from __future__ import annotations

__all__ = ["ConfigError", "GenerationError", "HepdlError", "InputFileError"]


class HepdlError(Exception):
    """Base class of the errors hepdl reports to users."""


class ConfigError(HepdlError):
    """A config value is missing, of the wrong kind or physically inconsistent.

    Args:
        key: Dotted path of the offending key, e.g. ``samples.JZ4.events``.
        message: What is wrong and what was expected.
        source: The config file(s) the value came from.
    """

    def __init__(self, key: str, message: str, source: str = "config") -> None:
        self.key = key
        self.source = source
        super().__init__(f"{source}: config key '{key}': {message}")


class InputFileError(HepdlError):
    """An input file is missing, truncated or not what the stage expects."""

    def __init__(self, path: object, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


class GenerationError(HepdlError):
    """Pythia refused to initialise or to generate events; carries Pythia's own messages."""
