"""The trained classifiers, loaded from their model files and scored: the public API through which
other stages (``hepdl predict``, :mod:`hepdl.evaluate.predict`) use a model trained here.

Each function loads one kind's model file, checks it against the config's architecture and
returns its logits per event of a split, in file order. torch and xgboost are imported inside,
on use, so that importing this module costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hepdl.io.splits import FeatureSplit, ImageSplit

__all__ = ["cnn_logits", "feature_logits", "gbdt_logits", "gnn_logits"]


def gbdt_logits(model_path: Path, truth: FeatureSplit) -> NDArray[np.float64]:
    """The GBDT's margins (logits) on the events of a features split."""
    import xgboost as xgb  # noqa: PLC0415

    from hepdl.train.gbdt import load_gbdt  # noqa: PLC0415

    matrix = xgb.DMatrix(truth.inputs, feature_names=list(truth.names))
    return np.asarray(load_gbdt(model_path).predict(matrix, output_margin=True), dtype=np.float64)


def cnn_logits(
    config: Mapping[str, Any], name: str, model_path: Path, truth: ImageSplit, *, progress: bool
) -> NDArray[np.float64]:
    """A CNN's logits on the events of an images split (its model file checked against the
    config's architecture, channels included)."""
    from hepdl.train.checkpoint import load_model  # noqa: PLC0415
    from hepdl.train.cnn import cnn_hparams  # noqa: PLC0415
    from hepdl.train.modules import ImageClassifier  # noqa: PLC0415
    from hepdl.train.score import score_images  # noqa: PLC0415

    module = load_model(model_path, ImageClassifier, cnn_hparams(config, name, truth))
    return score_images(
        module,
        truth.path,
        config,
        batch_size=config["train"]["cnn"]["eval_batch_size"],
        progress=progress,
    )


def gnn_logits(
    config: Mapping[str, Any], name: str, model_path: Path, path: Path, *, progress: bool
) -> NDArray[np.float64]:
    """A graph network's logits on the events of the graph split ``path``."""
    from hepdl.train.checkpoint import load_model  # noqa: PLC0415
    from hepdl.train.gnn import gnn_hparams  # noqa: PLC0415
    from hepdl.train.modules import GraphClassifier  # noqa: PLC0415
    from hepdl.train.score import score_graphs  # noqa: PLC0415

    module = load_model(model_path, GraphClassifier, gnn_hparams(config, name))
    return score_graphs(
        module,
        path,
        config,
        batch_size=config["train"]["gnn"]["eval_batch_size"],
        progress=progress,
    )


def feature_logits(
    config: Mapping[str, Any],
    kind: str,
    model_path: Path,
    truth: FeatureSplit,
    cnn_logit: NDArray[Any] | None,
) -> NDArray[np.float64]:
    """The logits of an MLP (``cnn_logit`` None) or of ``cnn_jets`` (given its CNN's logits)
    on the events of a features split."""
    from hepdl.train.checkpoint import load_model  # noqa: PLC0415
    from hepdl.train.mlp import cnn_jets_inputs, cnn_jets_names  # noqa: PLC0415
    from hepdl.train.modules import FeatureClassifier  # noqa: PLC0415
    from hepdl.train.score import score_features  # noqa: PLC0415

    if cnn_logit is None:
        names, inputs = list(truth.names), truth.inputs
    else:
        names, inputs = cnn_jets_names(config), cnn_jets_inputs(cnn_logit, truth)
    expected = {"input_names": names, "hidden_units": config["train"][kind]["hidden_units"]}
    module = load_model(model_path, FeatureClassifier, expected)
    return score_features(module, inputs)
