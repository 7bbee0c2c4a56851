"""Lightning callbacks of a trial: its per-epoch metric to Optuna (pruning) and, for the CNN,
the signal efficiency at the cuts' background efficiency on the validation split."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import lightning.pytorch as pl
import numpy as np
import torch

from hepdl.evaluate.metrics import benchmark_point, roc_curve, tpr_at_fpr
from hepdl.hpo.settings import VAL_EFFICIENCY
from hepdl.io.splits import ImageSplit, select_samples

__all__ = ["TrialPruning", "ValidationEfficiency"]


class ReportingTrial(Protocol):
    """The part of :class:`optuna.trial.Trial` the pruning callback uses."""

    def report(self, value: float, step: int) -> None: ...

    def should_prune(self) -> bool: ...


class TrialPruning(pl.Callback):
    """After every epoch, report ``monitor`` to the trial and stop the training if Optuna's
    pruner says so.

    The training stops at the end of the epoch (``trainer.should_stop``) rather than through an
    exception inside Lightning, so its files are complete and the trial's worker removes them
    (:mod:`hepdl.hpo.worker`); :attr:`pruned_at` tells it that the trial was pruned.

    Args:
        trial: The running Optuna trial.
        monitor: The logged metric (``val_loss``, ``val_tpr_at_cuts_fpr``, ``val_ks``).
    """

    def __init__(self, trial: ReportingTrial, monitor: str) -> None:
        self.trial = trial
        self.monitor = monitor
        self.pruned_at: int | None = None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Report this epoch's value (after the validation, which runs first) and prune."""
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return
        epoch = trainer.current_epoch
        self.trial.report(float(value), step=epoch)
        if self.trial.should_prune():
            self.pruned_at = epoch
            trainer.should_stop = True


class ValidationEfficiency(pl.Callback):
    """Log ``val_tpr_at_cuts_fpr`` after every validation: the signal efficiency of the network's
    score at the background efficiency of the cut-based signal region, both weighted with the
    physical event weights of the validation events of ``samples`` (as the evaluation does on
    the test split, :mod:`hepdl.evaluate.metrics`).

    The logits come from one more forward pass of each validation batch (in evaluation mode,
    without gradients), put in place by the batch's ``index``.

    Args:
        split: The validation split file.
        samples: The samples the network trains and validates on (``train.samples``).
    """

    def __init__(self, split: ImageSplit, samples: Sequence[str] | None) -> None:
        rows = select_samples(split.sample, samples, split.path)
        self.label = split.label[rows]
        self.weight = split.weight[rows]
        self.cuts_fpr = benchmark_point(split.psr[rows], self.label, self.weight).fpr
        self.logits = np.full(len(rows), np.nan)

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Forget the previous epoch's scores."""
        self.logits[:] = np.nan

    def on_validation_batch_end(  # noqa: PLR0917 (Lightning's hook signature)
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Score the batch."""
        with torch.no_grad():
            logits = pl_module(batch["x"]).float()
        self.logits[batch["index"].cpu().numpy()] = logits.cpu().numpy()

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Log the efficiency once every validation event is scored."""
        if np.isnan(self.logits).any():
            return
        roc = roc_curve(self.logits, self.label, self.weight)
        pl_module.log(VAL_EFFICIENCY, tpr_at_fpr(roc, self.cuts_fpr), on_epoch=True)
