"""Exceptions that name what went wrong and where.

Every error a user can cause (a bad config value, a broken input file, a failing generator)
is one of these, so the command-line interface can print it as one clear line instead of a
traceback.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "ConfigError",
    "GenerationError",
    "HepdlError",
    "InputFileError",
    "NonFiniteLossError",
    "TrainingError",
]


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


class TrainingError(HepdlError):
    """Training cannot go on (the message says why and what was kept)."""


class NonFiniteLossError(TrainingError):
    """The loss became NaN or infinite; names the step where it happened.

    Args:
        stage: ``train`` or ``val``.
        value: The loss value.
        global_step: Optimiser steps taken before this batch.
        epoch: The epoch (from 0).
        batch: The batch within the epoch (from 0).
    """

    def __init__(self, stage: str, value: float, global_step: int, epoch: int, batch: int) -> None:
        self.stage = stage
        self.global_step = global_step
        super().__init__(
            f"{stage} loss is {value} at global step {global_step} (epoch {epoch}, batch {batch}); "
            "training stopped (check the inputs for NaN or lower the learning rate)"
        )


class CheckpointError(InputFileError):
    """A checkpoint is unreadable or belongs to another model or architecture."""
