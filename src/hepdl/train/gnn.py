"""The ``train gnn`` stage: a graph network on the event graphs of the train and val splits.

The graphs (``{results}/graphs/{split}.h5``) hold the same events, in the same order, as the
images and features splits, so the graph network is trained, validated and scored on exactly the
events of the CNN. Needs the optional extra ``gnn`` (torch-geometric).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from hepdl.errors import ConfigError
from hepdl.extras import require_torch_geometric
from hepdl.io.layout import Layout
from hepdl.io.splits import NODE_FEATURES, GraphSplit
from hepdl.seeds import model_seed
from hepdl.train.checkpoint import training_record
from hepdl.train.graph_data import GraphDataModule
from hepdl.train.modules import GraphClassifier
from hepdl.train.settings import model_kind, training_settings
from hepdl.train.trainer import FitResult, fit_classifier

__all__ = ["gnn_hparams", "train_gnn"]


def gnn_hparams(config: Mapping[str, Any], name: str = "gnn") -> dict[str, Any]:
    """The :class:`GraphClassifier` hyper-parameters of graph network ``name`` (``train.gnn``).

    Raises:
        ConfigError: naming ``train.models`` if ``name`` is not a graph network.
    """
    if model_kind(config, name) != "gnn":
        raise ConfigError("train.models", f"{name!r} is not a graph network of this config")
    settings = config["train"]["gnn"]
    return {
        "architecture": settings["architecture"],
        "node_features": list(NODE_FEATURES),
        "channels": list(settings["channels"]),
        "k_neighbours": settings["k_neighbours"],
        "dense_units": settings["dense_units"],
        "dropout": settings["dropout"],
        "batch_norm": settings["batch_norm"],
        "pooling": list(settings["pooling"]),
        "augment": dict(settings["augment"]),
        "learning_rate": settings["learning_rate"],
        "weight_decay": settings["weight_decay"],
    }


def train_gnn(
    config: Mapping[str, Any],
    name: str = "gnn",
    *,
    train_file: str | os.PathLike[str] | None = None,
    val_file: str | os.PathLike[str] | None = None,
    output: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool = True,
) -> FitResult:
    """Train the graph network (``train.gnn``) and export the best weights.

    Args:
        config: A validated config.
        train_file: Graph training split (default ``{results}/graphs/train.h5``).
        val_file: Graph validation split (default ``{results}/graphs/val.h5``).
        output: Model file (default ``{results}/models/gnn/model.ckpt``).
        resume: Continue from the model's ``checkpoints/last.ckpt`` (a training of the same
            settings and splits only).
        progress: Show a progress bar.

    Raises:
        ModuleNotFoundError: without torch-geometric (saying how to install it).
        InputFileError: for a missing or malformed graph split file.
        TrainingError: when the loss becomes NaN.
    """
    require_torch_geometric()
    layout = Layout.of(config)
    train_path = Path(train_file or layout.graphs_split("train"))
    val_path = Path(val_file or layout.graphs_split("val"))
    output = Path(output or layout.model_file(name, "gnn"))
    GraphSplit.open(train_path)
    GraphSplit.open(val_path)
    seed = model_seed(config, name)
    pl.seed_everything(seed, workers=True, verbose=False)
    module = GraphClassifier(**gnn_hparams(config, name))
    settings = config["train"]["gnn"]
    datamodule = GraphDataModule.for_training(config, settings, train_path, val_path, seed=seed)
    return fit_classifier(
        module,
        datamodule,
        config,
        settings,
        model_dir=output.parent,
        output=output,
        record=training_record(
            training_settings(config, name), {"train": train_path, "val": val_path}
        ),
        resume=resume,
        progress=progress,
    )
