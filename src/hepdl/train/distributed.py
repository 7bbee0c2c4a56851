"""Data-parallel training: the learning rate as the global batch grows.

Every process of a DDP run (``train.devices`` per node x ``train.num_nodes``; on Slurm, one
task per GPU launched by ``srun``) trains on ``batch_size`` events per step, so the global batch
is ``world_size x batch_size`` and the configured ``learning_rate`` is the one for a single
process. ``train.lr_scaling`` says how the rate follows the global batch:

- ``none``: unchanged (the same rate for a larger batch: fewer, larger steps per epoch);
- ``linear``: times ``world_size`` (Goyal et al. 2017, arXiv:1706.02677), the usual choice for
  SGD, best with a warm-up at large scale;
- ``sqrt``: times ``sqrt(world_size)`` (keeps the gradient-noise scale; often better for Adam).

The scaling is applied to the optimisers' parameter groups when training starts, from the base
rate kept in each group, so a resumed run on another number of GPUs rescales rather than
compounds it. It works for any LightningModule, one optimiser or several (the GAN).
"""

from __future__ import annotations

import logging
import math

import lightning.pytorch as pl

__all__ = ["BASE_LR_KEY", "LR_SCALINGS", "LearningRateScaling", "lr_scale"]

#: The choices of ``train.lr_scaling``.
LR_SCALINGS = ("none", "linear", "sqrt")

log = logging.getLogger(__name__)

#: Key of the unscaled learning rate in each optimiser parameter group (saved in checkpoints).
BASE_LR_KEY = "hepdl_base_lr"


def lr_scale(scaling: str, world_size: int) -> float:
    """Factor on the single-process learning rate for ``world_size`` data-parallel processes.

    Raises:
        ValueError: for an unknown rule or a world size below 1.
    """
    if world_size < 1:
        msg = f"world size must be at least 1, got {world_size}"
        raise ValueError(msg)
    if scaling == "none":
        return 1.0
    if scaling == "linear":
        return float(world_size)
    if scaling == "sqrt":
        return math.sqrt(world_size)
    msg = f"train.lr_scaling: unknown rule {scaling!r}; expected one of {', '.join(LR_SCALINGS)}"
    raise ValueError(msg)


class LearningRateScaling(pl.Callback):
    """Scale every optimiser's learning rate by :func:`lr_scale` for the run's world size.

    Args:
        scaling: ``none``, ``linear`` or ``sqrt``.
        batch_size: Events per process and step (for the message only).
    """

    def __init__(self, scaling: str, batch_size: int | None = None) -> None:
        lr_scale(scaling, 1)  # fail on an unknown rule when the Trainer is built
        self.scaling = scaling
        self.batch_size = batch_size
        self.factor = 1.0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Rescale the (possibly restored) optimisers from their base rates."""
        self.factor = lr_scale(self.scaling, trainer.world_size)
        for optimizer in trainer.optimizers:
            for group in optimizer.param_groups:
                base = group.setdefault(BASE_LR_KEY, group["lr"])
                group["lr"] = base * self.factor
        if trainer.world_size == 1 or not trainer.is_global_zero:
            return
        batch = (
            f", global batch {trainer.world_size} x {self.batch_size}" if self.batch_size else ""
        )
        log.info(
            f"data parallel: {trainer.num_nodes} node(s) x {trainer.num_devices} process(es)"
            f"{batch}; learning rate x {self.factor:.4g} ({self.scaling})"
        )
