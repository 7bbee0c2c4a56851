"""The ``predict`` stage: one trained model's score for every event of the test split.

``{results}/predictions/{model}.parquet`` has one row per test event, in the order of the split
files: ``score`` (signal probability), ``logit`` (its log-odds), the physical ``weight``,
``label``, ``passSR`` (the cut-based benchmark), the masses ``mg``, ``mn`` (GeV) and ``sample``.
Every event of the split is scored, including samples not used in training (robustness studies).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from hepdl.errors import InputFileError
from hepdl.io.atomic import atomic_path
from hepdl.io.layout import Layout
from hepdl.io.splits import FeatureSplit, GraphSplit, ImageSplit, feature_columns
from hepdl.train.settings import HPO_MODEL, base_model, cnn_of_cnn_jets, model_kind

__all__ = ["PREDICTION_COLUMNS", "PredictResult", "predict", "read_predictions", "rule_inputs"]

#: Columns of a predictions file, in order.
PREDICTION_COLUMNS = ("score", "logit", "weight", "label", "passSR", "mg", "mn", "sample")


@dataclass(frozen=True)
class PredictResult:
    """What :func:`predict` wrote: the file, its events, the wall time."""

    path: Path
    n_events: int
    seconds: float


def _sigmoid(logit: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = 0.5 * (1.0 + np.tanh(0.5 * logit))
    return out


def _write(
    path: Path, logit: NDArray[np.float64], truth: FeatureSplit | ImageSplit | GraphSplit
) -> None:
    if not np.all(np.isfinite(logit)):
        raise InputFileError(path, "some scores are not finite; the model or its inputs hold NaN")
    pass_sr = truth.pass_sr if isinstance(truth, FeatureSplit) else truth.psr
    columns = {
        "score": _sigmoid(logit),
        "logit": logit,
        "weight": truth.weight,
        "label": truth.label,
        "passSR": pass_sr,
        "mg": truth.mg,
        "mn": truth.mn,
        "sample": truth.sample.astype(object),
    }
    table = pa.table({name: pa.array(columns[name]) for name in PREDICTION_COLUMNS})
    with atomic_path(path) as temporary:
        pq.write_table(table, temporary, compression="zstd")


def read_predictions(path: str | os.PathLike[str]) -> dict[str, NDArray[Any]]:
    """Read a predictions file as numpy columns.

    Raises:
        InputFileError: naming the file, if it is missing, truncated, lacks a column or holds
            scores that are not finite (NaN sorts as neither high nor low: the ROC and AUC of
            such scores are meaningless, not an error of their own).
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "predictions file not found (run hepdl predict first)")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as err:
        raise InputFileError(path, f"not a readable predictions file ({err})") from None
    missing = [c for c in PREDICTION_COLUMNS if c not in table.column_names]
    if missing:
        raise InputFileError(path, f"predictions file lacks the columns {missing}")
    columns = {c: table.column(c).to_numpy(zero_copy_only=False) for c in table.column_names}
    for name in ("score", "logit"):
        bad = int(np.count_nonzero(~np.isfinite(np.asarray(columns[name], dtype=np.float64))))
        if bad:
            raise InputFileError(
                path,
                f"{bad} of {len(columns[name])} {name}s are not finite (NaN or inf); rerun "
                "hepdl predict",
            )
    return columns


def predict(
    config: Mapping[str, Any],
    name: str,
    *,
    model: str | os.PathLike[str] | None = None,
    images: str | os.PathLike[str] | None = None,
    features: str | os.PathLike[str] | None = None,
    graphs: str | os.PathLike[str] | None = None,
    cnn_predictions: str | os.PathLike[str] | None = None,
    output: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> PredictResult:
    """Score the test split with model ``name`` and write its predictions file.

    Args:
        config: A validated config.
        name: The model (``cnn``, ``cnn_energy``, ``gbdt``, ``mlp``, ``cnn_jets``, ``gnn``...).
        model: Its model file (default ``{results}/models/{name}/model.*``).
        images: Images test split (CNNs; default ``{results}/images/test.h5``).
        features: Features test split (default ``{results}/features/test.parquet``).
        graphs: Graph test split (graph networks; default ``{results}/graphs/test.h5``).
        cnn_predictions: For ``cnn_jets``, the test predictions of its CNN (default
            ``{results}/predictions/{cnn}.parquet``).
        output: Predictions file (default ``{results}/predictions/{name}.parquet``).
        progress: Show a progress bar while scoring images.

    Raises:
        ConfigError: for an unknown model.
        InputFileError: for missing or mismatched split files.
        CheckpointError: for a missing model file or one of another architecture.
    """
    from hepdl.train import trained  # noqa: PLC0415 (the models' code, imported on use)

    start = time.perf_counter()
    kind = model_kind(config, name)
    layout = Layout.of(config)
    model_path = Path(model or layout.model_file(name, kind))
    output = Path(output or layout.predictions(name))
    truth: FeatureSplit | ImageSplit | GraphSplit
    if kind == "gbdt":
        truth = FeatureSplit.open(
            features or layout.features_split("test"), feature_columns(config)
        )
        logit = trained.gbdt_logits(model_path, truth)
    else:
        # torch and Lightning load only for the networks.
        import torch  # noqa: PLC0415

        torch.set_num_threads(config["train"]["threads"])
        if kind == "cnn":
            truth = ImageSplit.open(images or layout.images_split("test"))
            logit = trained.cnn_logits(config, name, model_path, truth, progress=progress)
        elif kind == "gnn":
            truth = GraphSplit.open(graphs or layout.graphs_split("test"))
            logit = trained.gnn_logits(config, name, model_path, truth.path, progress=progress)
        else:
            truth = FeatureSplit.open(
                features or layout.features_split("test"), feature_columns(config)
            )
            cnn_logit = None
            if kind == "cnn_jets":
                cnn = cnn_of_cnn_jets(config, name)
                cnn_path = Path(cnn_predictions or layout.predictions(cnn))
                cnn_scores = read_predictions(cnn_path)
                check_same_events(cnn_path, cnn_scores, truth)
                cnn_logit = cnn_scores["logit"]
            logit = trained.feature_logits(config, kind, model_path, truth, cnn_logit)
    _write(output, logit, truth)
    return PredictResult(output, len(logit), time.perf_counter() - start)


def rule_inputs(config: Mapping[str, Any], name: str) -> dict[str, str]:
    """The files ``hepdl predict`` reads for model ``name``, keyed by option name.

    ``model`` (the model file), for ``cnn_hpo`` the CNN search's ``hpo_best`` settings, then
    ``images`` (the images test split, CNNs), ``graphs`` (the graph test split, graph networks)
    or ``features`` (the features test split), and for ``cnn_jets`` its CNN's
    ``cnn_predictions``.
    """
    kind = model_kind(config, name)
    layout = Layout.of(config)
    inputs = {"model": str(layout.model_file(name, kind))}
    if base_model(name) == HPO_MODEL:  # its architecture is the CNN search's best
        from hepdl.hpo.settings import best_file  # noqa: PLC0415

        inputs["hpo_best"] = str(best_file(config, "cnn"))
    if kind == "cnn":
        inputs["images"] = str(layout.images_split("test"))
    elif kind == "gnn":
        inputs["graphs"] = str(layout.graphs_split("test"))
    else:
        inputs["features"] = str(layout.features_split("test"))
    if kind == "cnn_jets":
        inputs["cnn_predictions"] = str(layout.predictions(cnn_of_cnn_jets(config, name)))
    return inputs


def input_arguments(inputs: Mapping[str, object]) -> list[str]:
    """The test-data options of ``hepdl predict`` (``--images PATH`` ...) for the files of
    :func:`rule_inputs` (all but ``model``), one list element per argument, so that the rule's
    shell command quotes each path on its own."""
    return [
        argument
        for key, path in inputs.items()
        if key != "model"
        for argument in (f"--{key.replace('_', '-')}", str(path))
    ]


def check_same_events(
    path: Path, predictions: Mapping[str, NDArray[Any]], features: FeatureSplit
) -> None:
    """Check that a predictions file covers the events of a features split, in order.

    Raises:
        InputFileError: naming both files and the first disagreement.
    """
    where = f"{path} and {features.path}"
    if len(predictions["label"]) != features.n_events:
        raise InputFileError(
            where,
            f"{len(predictions['label'])} vs {features.n_events} events; expected the same split",
        )
    same = (
        np.array_equal(predictions["label"], features.label)
        and np.array_equal(predictions["sample"].astype(str), features.sample)
        and np.allclose(predictions["weight"], features.weight, rtol=1e-6, atol=0.0)
    )
    if not same:
        raise InputFileError(
            where, "labels, samples or weights differ; expected the same events in the same order"
        )
