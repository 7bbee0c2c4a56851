"""The ``train gbdt`` stage: gradient-boosted trees (xgboost, ``hist``) on the jet variables.

Trained with the same class-balanced physical weights as the networks
(:func:`hepdl.train.balance.balanced_weights`), stopping when the weighted validation log-loss
has not improved for ``early_stopping_rounds`` rounds; the model is cut at its best round and
saved as xgboost JSON.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hepdl.io.atomic import atomic_path, write_text_atomic
from hepdl.io.layout import Layout
from hepdl.io.splits import FeatureSplit, feature_columns, select_samples
from hepdl.seeds import model_seed
from hepdl.train.balance import balanced_weights

__all__ = ["GbdtResult", "load_gbdt", "train_gbdt"]


@dataclass(frozen=True)
class GbdtResult:
    """What :func:`train_gbdt` wrote.

    Attributes:
        model_file: The xgboost JSON model.
        best_round: Boosting rounds kept (the best validation log-loss).
        best_val_loss: Weighted validation log-loss at that round.
        seconds: Wall time.
    """

    model_file: Path
    best_round: int
    best_val_loss: float
    seconds: float


def _matrix(
    split: FeatureSplit,
    rows: np.ndarray[Any, Any],
    names: list[str],
    *,
    train: bool,
    per_sample: bool,
) -> Any:
    import xgboost as xgb  # noqa: PLC0415

    label = split.label[rows]
    weight = balanced_weights(
        split.weight[rows],
        label,
        split.path,
        require_both=train,
        sample=split.sample[rows] if per_sample else None,
    )
    return xgb.DMatrix(split.inputs[rows], label=label, weight=weight, feature_names=names)


def train_gbdt(
    config: Mapping[str, Any],
    name: str = "gbdt",
    *,
    train_file: str | os.PathLike[str] | None = None,
    val_file: str | os.PathLike[str] | None = None,
    output: str | os.PathLike[str] | None = None,
    threads: int = 1,
    progress: bool = True,
) -> GbdtResult:
    """Train the GBDT on the jet variables and save it as xgboost JSON.

    Args:
        config: A validated config (``train.gbdt`` block).
        name: ``gbdt`` or one of its seed replicas (:func:`hepdl.train.settings.replica_names`).
        train_file: Features training split (default ``{results}/features/train.parquet``).
        val_file: Features validation split (default ``{results}/features/val.parquet``).
        output: Model file (default ``{results}/models/gbdt/model.json``).
        threads: CPU threads for xgboost.
        progress: Print the losses every 50 rounds.
    """
    import xgboost as xgb  # noqa: PLC0415

    start = time.perf_counter()
    settings = config["train"]["gbdt"]
    names = feature_columns(config)
    layout = Layout.of(config)
    output = Path(output or layout.model_file(name, "gbdt"))
    matrices = {}
    for split, path in (
        ("train", train_file or layout.features_split("train")),
        ("val", val_file or layout.features_split("val")),
    ):
        data = FeatureSplit.open(path, names)
        rows = select_samples(data.sample, config["train"]["samples"], data.path)
        matrices[split] = _matrix(
            data,
            rows,
            names,
            train=split == "train",
            per_sample=config["train"]["background_weights"] == "per_sample",
        )
    params = {
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "tree_method": "hist",
        "max_depth": settings["max_depth"],
        "eta": settings["learning_rate"],
        "subsample": settings["subsample"],
        "colsample_bytree": settings["colsample_bytree"],
        "min_child_weight": settings["min_child_weight"],
        "lambda": settings["reg_lambda"],
        "max_bin": settings["max_bin"],
        "seed": model_seed(config, name),
        "nthread": threads,
    }
    history: dict[str, Any] = {}
    booster = xgb.train(
        params,
        matrices["train"],
        num_boost_round=settings["max_rounds"],
        evals=[(matrices["train"], "train"), (matrices["val"], "val")],
        early_stopping_rounds=settings["early_stopping_rounds"],
        evals_result=history,
        verbose_eval=50 if progress else False,
    )
    best_round = int(booster.best_iteration) + 1
    best = booster[:best_round]
    with atomic_path(output) as temporary:
        temporary.write_bytes(bytes(best.save_raw(raw_format="json")))
    log = ["round,train_loss,val_loss"] + [
        f"{i},{t:.6g},{v:.6g}"
        for i, (t, v) in enumerate(
            zip(history["train"]["logloss"], history["val"]["logloss"], strict=True)
        )
    ]
    write_text_atomic(output.parent / "training_log.csv", "\n".join(log) + "\n")
    write_text_atomic(output.parent / "config.yaml", yaml.safe_dump(dict(config), sort_keys=True))
    return GbdtResult(
        model_file=output,
        best_round=best_round,
        best_val_loss=float(history["val"]["logloss"][best_round - 1]),
        seconds=time.perf_counter() - start,
    )


def load_gbdt(path: str | os.PathLike[str]) -> Any:
    """Read a GBDT saved by :func:`train_gbdt`.

    Raises:
        CheckpointError: naming the file, if it is missing or not an xgboost model.
    """
    import xgboost as xgb  # noqa: PLC0415

    from hepdl.errors import CheckpointError  # noqa: PLC0415

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "GBDT model not found")
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(path.read_bytes()))
    except xgb.core.XGBoostError as err:
        raise CheckpointError(path, f"not an xgboost model ({str(err).splitlines()[0]})") from None
    return booster
