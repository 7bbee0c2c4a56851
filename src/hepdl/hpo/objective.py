"""One trial of a search: the config with the trial's values, its training, its score.

A CNN trial trains the CNN of ``hpo.cnn.model`` (its channels) as the model ``cnn_trial{n}``
(so its seed is :func:`hepdl.train.settings.model_seed` of that name: every trial its own,
fixed by the config and the trial number) through :func:`hepdl.train.cnn.train_cnn`; a GAN
trial trains the GAN of ``hpo.gan.model`` through :func:`hepdl.gan.train.train_gan`, whose own
KS metric (``val_ks``) scores it, with the GAN's seed. Either reports its metric after every
epoch (:class:`hepdl.hpo.callbacks.TrialPruning`) and trains on one device: a worker is one
GPU job.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna

from hepdl.config import validate_config
from hepdl.gan.settings import kind_config
from hepdl.hpo.settings import VAL_EFFICIENCY, study_metric
from hepdl.hpo.space import apply_parameters, search_space

__all__ = ["run_trial", "trial_config", "trial_model"]


def trial_model(study: str, number: int) -> str:
    """The model name trial ``number`` of ``study`` trains as (``cnn_trial3``)."""
    return f"{study}_trial{number}"


def trial_config(
    config: Mapping[str, Any], study: str, values: Mapping[str, Any], number: int
) -> dict[str, Any]:
    """The validated config trial ``number`` trains with: the trial's ``values`` in its study's
    block, the study's ``max_epochs``, one device, and (CNN) the trial's model name with the
    searched CNN's channels. A GAN trial starts from the searched kind's own settings
    (``gan.per_kind``), which its values and ``max_epochs`` then replace."""
    if study == "gan":
        model = config["hpo"]["gan"]["model"]
        config = kind_config(config, model)
        config["gan"]["per_kind"] = {**config["gan"]["per_kind"], model: {}}
    updated = apply_parameters(config, study, values)
    max_epochs = config["hpo"][study]["max_epochs"]
    train = updated["train"]
    train.update({"devices": 1, "num_nodes": 1, "strategy": "auto"})
    if study == "cnn":
        cnn = train["cnn"]
        cnn["channels"] = {
            trial_model(study, number): cnn["channels"][config["hpo"]["cnn"]["model"]]
        }
        if max_epochs is not None:
            cnn["max_epochs"] = max_epochs
    elif max_epochs is not None:
        updated["gan"]["max_epochs"] = max_epochs
    return validate_config(updated, source=f"trial {number} of the {study} search")


def _value_at_best_epoch(log_file: Path, metric: str) -> float:
    """``metric`` at the epoch of the lowest validation loss (the epoch the model keeps)."""
    import pandas as pd  # noqa: PLC0415

    log = pd.read_csv(log_file)
    per_epoch = log.dropna(subset=["val_loss"])
    if metric not in per_epoch or per_epoch.empty:
        return math.nan
    best = per_epoch.loc[per_epoch["val_loss"].idxmin()]
    return float(best[metric])


def run_trial(
    config: Mapping[str, Any],
    study: str,
    trial: optuna.Trial,
    directory: Path,
    *,
    train_file: str | os.PathLike[str],
    val_file: str | os.PathLike[str],
) -> float:
    """Draw the trial's values, train in ``directory`` and return its metric.

    Raises:
        optuna.TrialPruned: when the pruner stopped it (its files are left to the caller).
        TrainingError: when its loss became NaN (a failed trial).
    """
    # Lightning and torch load with the first trial, not with the worker (or its tests).
    from hepdl.hpo.callbacks import TrialPruning, ValidationEfficiency  # noqa: PLC0415
    from hepdl.io.splits import ImageSplit  # noqa: PLC0415

    values = {parameter.name: parameter.suggest(trial) for parameter in search_space(config, study)}
    settings = trial_config(config, study, values, trial.number)
    metric = study_metric(config, study)
    pruning = TrialPruning(trial, metric)
    output = directory / "model.ckpt"
    if study == "cnn":
        from hepdl.train.cnn import train_cnn  # noqa: PLC0415

        callbacks: list[Any] = []
        if metric == VAL_EFFICIENCY:
            callbacks.append(
                ValidationEfficiency(ImageSplit.open(val_file), config["train"]["samples"])
            )
        fit = train_cnn(
            settings,
            trial_model(study, trial.number),
            train_file=train_file,
            val_file=val_file,
            output=output,
            progress=False,
            callbacks=[*callbacks, pruning],
        )
        value = (
            fit.best_val_loss
            if metric == "val_loss"
            else _value_at_best_epoch(directory / "training_log.csv", metric)
        )
    else:
        from hepdl.gan.train import train_gan  # noqa: PLC0415

        gan = train_gan(
            settings,
            config["hpo"]["gan"]["model"],
            train_file=train_file,
            val_file=val_file,
            output=output,
            progress=False,
            callbacks=[pruning],
        )
        value = gan.best_ks
    if pruning.pruned_at is not None:
        raise optuna.TrialPruned(f"pruned after epoch {pruning.pruned_at}")
    return value
