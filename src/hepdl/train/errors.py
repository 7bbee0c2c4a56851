"""Errors of the training and scoring stages (subclasses of :class:`hepdl.errors.HepdlError`)."""

from __future__ import annotations

from hepdl.errors import HepdlError, InputFileError

__all__ = ["CheckpointError", "NonFiniteLossError", "TrainingError"]


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
