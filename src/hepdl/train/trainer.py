"""One Lightning fit for every network: Trainer from the config, checkpoints, logs, resume.

The ``train`` block of the config chooses the hardware (``accelerator``, ``devices``,
``num_nodes``, ``strategy``, ``precision``), so the same call runs on a CPU, one GPU or many
(DDP, srun-launched on Slurm) without code changes; ``train.lr_scaling`` adapts the learning
rate to the global batch (:mod:`hepdl.train.distributed`). Each model's folder receives:

- ``checkpoints/best.ckpt`` and ``checkpoints/last.ckpt`` (atomic; ``last`` is the resume point),
- ``model.ckpt``: the best weights (:func:`hepdl.train.checkpoint.export_model`),
- ``logs/version_*/metrics.csv`` (CSV) and ``tensorboard/``, joined into ``training_log.csv``,
- ``config.yaml``: the config the model was trained with,
- ``costs.json``: parameters, time per training step, memory per batch
  (:mod:`hepdl.train.costs`).
"""

from __future__ import annotations

import shutil
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
import yaml
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from hepdl.errors import NonFiniteLossError, TrainingError
from hepdl.io.atomic import write_text_atomic
from hepdl.train.checkpoint import (
    AtomicCheckpointIO,
    TrainingRecord,
    check_architecture,
    export_model,
    load_checkpoint,
    resume_point,
)
from hepdl.train.costs import CostMeter
from hepdl.train.distributed import LearningRateScaling
from hepdl.train.modules import WeightedClassifier, hparams_of

__all__ = [
    "FitResult",
    "best_and_last_checkpoints",
    "build_trainer",
    "determinism",
    "fit_classifier",
    "join_training_logs",
    "quiet_lightning",
]


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Silence Lightning's advice about choices the config makes on purpose."""
    with warnings.catch_warnings():
        # The number of loader workers is a config choice (0 on purpose for small inputs), and
        # tiny (CI) trainings have fewer batches per epoch than the logging interval.
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
        # A fresh training empties checkpoints/ first, so a non-empty one means a resume.
        warnings.filterwarnings("ignore", message=".*Checkpoint directory .* is not empty.*")
        # Lightning 2.6 builds torch pytree LeafSpecs, which torch >= 2.10 deprecates; harmless.
        warnings.filterwarnings(
            "ignore", message=r".*isinstance\(treespec, LeafSpec\).*", category=FutureWarning
        )
        yield


@dataclass(frozen=True)
class FitResult:
    """What a training run produced.

    Attributes:
        model_file: The exported best model (written by global rank 0 only).
        best_val_loss: Lowest validation loss reached.
        epochs: Epochs completed (over all resumed runs).
        global_step: Optimiser steps taken (over all resumed runs).
        seconds: Wall time of this run.
        resumed_from: The checkpoint this run resumed from, if any.
        is_global_zero: Whether this process is the one that writes outputs.
    """

    model_file: Path
    best_val_loss: float
    epochs: int
    global_step: int
    seconds: float
    resumed_from: Path | None
    is_global_zero: bool


def best_and_last_checkpoints(
    model_dir: Path, monitor: str, **options: Any
) -> tuple[ModelCheckpoint, ModelCheckpoint]:
    """Checkpoints ``checkpoints/best.ckpt`` (lowest ``monitor``) and ``checkpoints/last.ckpt``
    (the resume point, every epoch) of a model folder, overwritten in place.

    Two callbacks, because Lightning (2.6) writes ``save_last``'s file only at an epoch that
    also saved a best checkpoint: a training that stopped improving would resume from its
    last improvement, not from the epoch it reached.

    Returns:
        The best checkpoint's callback and the last one's; both go in the Trainer's callbacks.
    """
    common = {"dirpath": model_dir / "checkpoints", "enable_version_counter": False, **options}
    best = ModelCheckpoint(
        filename="best",
        monitor=monitor,
        mode="min",
        save_top_k=1,
        auto_insert_metric_name=False,
        **common,
    )
    last = ModelCheckpoint(filename="last", monitor=None, save_top_k=1, **common)
    return best, last


def determinism(enabled: bool) -> bool:
    """The Trainer's ``deterministic`` flag, and torch set up for it.

    Deterministic algorithms would also fill every new tensor with NaN, a debugging aid against
    reads of uninitialised memory that costs ~25% of a CPU training step; that stays off.
    """
    if enabled:
        torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]  # not in torch's stubs
    return enabled


def build_trainer(
    train: Mapping[str, Any],
    settings: Mapping[str, Any],
    model_dir: Path,
    *,
    progress: bool = True,
    extra_callbacks: Sequence[pl.Callback] = (),
) -> tuple[pl.Trainer, ModelCheckpoint]:
    """A Trainer with early stopping, best/last checkpoints and CSV + TensorBoard logs.

    Args:
        train: The config's ``train`` block (hardware, logging).
        settings: The model's own block (``max_epochs``, ``limit_train_batches``, ``patience``).
        model_dir: The model's output folder.
        progress: Show a progress bar.
        extra_callbacks: More callbacks (e.g. :class:`hepdl.train.costs.CostMeter`).
    """
    checkpoint, last = best_and_last_checkpoints(model_dir, "val_loss")
    callbacks: list[pl.Callback] = [
        checkpoint,
        last,
        EarlyStopping(
            monitor="val_loss", mode="min", patience=settings["patience"], check_finite=True
        ),
        LearningRateScaling(train["lr_scaling"], settings.get("batch_size")),
    ]
    if progress:
        callbacks.append(TQDMProgressBar(refresh_rate=train["progress_refresh_steps"]))
    callbacks += extra_callbacks
    loggers = [
        CSVLogger(model_dir, name="logs"),
        TensorBoardLogger(model_dir, name="tensorboard", default_hp_metric=False),
    ]
    trainer = pl.Trainer(
        accelerator=train["accelerator"],
        devices=train["devices"],
        num_nodes=train["num_nodes"],
        strategy=train["strategy"],
        precision=train["precision"],
        deterministic=determinism(train["deterministic"]),
        max_epochs=settings["max_epochs"],
        limit_train_batches=settings["limit_train_batches"],
        log_every_n_steps=train["log_every_n_steps"],
        num_sanity_val_steps=0,
        callbacks=callbacks,
        logger=loggers,
        plugins=[AtomicCheckpointIO()],
        enable_progress_bar=progress,
        use_distributed_sampler=False,  # BlockBatchSampler shards over ranks itself
        default_root_dir=model_dir,
    )
    return trainer, checkpoint


def join_training_logs(model_dir: Path) -> None:
    """Concatenate the CSV logs of all (resumed) runs into ``training_log.csv``."""
    import pandas as pd  # noqa: PLC0415

    parts = [
        pd.read_csv(path)
        for path in sorted(
            (model_dir / "logs").glob("version_*/metrics.csv"),
            key=lambda p: int(p.parent.name.split("_")[1]),
        )
    ]
    if parts:
        log = pd.concat(parts, ignore_index=True)
        write_text_atomic(model_dir / "training_log.csv", log.to_csv(index=False))


def fit_classifier(
    module: WeightedClassifier,
    datamodule: pl.LightningDataModule,
    config: Mapping[str, Any],
    settings: Mapping[str, Any],
    *,
    model_dir: Path,
    output: Path,
    record: Mapping[str, Any],
    resume: bool = False,
    progress: bool = True,
    callbacks: Sequence[pl.Callback] = (),
) -> FitResult:
    """Train ``module`` with early stopping and export the best weights to ``output``.

    Args:
        module: The freshly built (seeded) module.
        datamodule: Its data.
        config: The validated config (its ``train`` block; saved beside the model).
        settings: The model's block of ``train`` (epochs, steps, patience).
        model_dir: The model's folder (checkpoints, logs).
        output: The model file to export.
        record: What the training depends on
            (:func:`hepdl.train.checkpoint.training_record`), stored in every checkpoint.
        resume: Continue from ``checkpoints/last.ckpt`` if it exists and holds a training of
            the same ``record`` (:func:`hepdl.train.checkpoint.resume_point`); otherwise old
            checkpoints and logs in ``model_dir`` are removed first.
        progress: Show a progress bar.
        callbacks: More Lightning callbacks (the hyper-parameter search's pruning).

    Raises:
        CheckpointError: if ``last.ckpt`` of the same record holds another architecture.
        TrainingError: if the loss becomes NaN (naming the step; ``last.ckpt`` is kept).
    """
    start = time.perf_counter()
    last = model_dir / "checkpoints" / "last.ckpt"
    resumed_from = resume_point(last, record, resume)
    if resumed_from is not None:
        check_architecture(load_checkpoint(last), type(module), hparams_of(module), last)
    else:  # a fresh training: no old checkpoint may become its best, no old log its history
        for stale in ("checkpoints", "logs", "tensorboard"):
            shutil.rmtree(model_dir / stale, ignore_errors=True)
    torch.set_num_threads(config["train"]["threads"])
    meter = CostMeter()
    trainer, checkpoint = build_trainer(
        config["train"],
        settings,
        model_dir,
        progress=progress,
        extra_callbacks=[meter, TrainingRecord(record), *callbacks],
    )
    with quiet_lightning():
        try:
            trainer.fit(module, datamodule=datamodule, ckpt_path=resumed_from, weights_only=True)
        except NonFiniteLossError as err:
            kept = f"the last good checkpoint is {last}" if last.exists() else "no checkpoint yet"
            raise TrainingError(f"{model_dir}: {err}; {kept}") from None
    best_path = Path(checkpoint.best_model_path) if checkpoint.best_model_path else last
    best_score = checkpoint.best_model_score
    best_loss = float(best_score) if best_score is not None else float("nan")
    if trainer.is_global_zero:
        if not best_path.exists():
            raise TrainingError(f"{model_dir}: training ended without a checkpoint")
        export_model(
            best_path,
            output,
            type(module),
            {"best_val_loss": best_loss, "epochs": trainer.current_epoch},
        )
        join_training_logs(model_dir)
        if meter.batches or not (model_dir / "costs.json").exists():  # a resume may train no step
            meter.write(module, model_dir / "costs.json")
        write_text_atomic(model_dir / "config.yaml", yaml.safe_dump(dict(config), sort_keys=True))
    return FitResult(
        model_file=output,
        best_val_loss=best_loss,
        epochs=trainer.current_epoch,
        global_step=trainer.global_step,
        seconds=time.perf_counter() - start,
        resumed_from=resumed_from,
        is_global_zero=trainer.is_global_zero,
    )
