"""Scoring trained networks on a split file: logits per event, in file order."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from numpy.typing import NDArray

from hepdl.train.datamodules import ImageDataModule, SplitFileDataModule
from hepdl.train.modules import WeightedClassifier
from hepdl.train.trainer import quiet_lightning

__all__ = ["score_features", "score_graphs", "score_images"]


def _predict(
    module: WeightedClassifier,
    datamodule: pl.LightningDataModule,
    train: Mapping[str, Any],
    n_events: int,
    progress: bool,
) -> NDArray[np.float64]:
    """Run ``Trainer.predict`` on one device and put the logits back in file order."""
    trainer = pl.Trainer(
        accelerator=train["accelerator"],
        devices=1,
        precision=train["precision"],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=progress,
        enable_model_summary=False,
        use_distributed_sampler=False,
    )
    with quiet_lightning():
        batches = trainer.predict(module, datamodule=datamodule)
    logits = np.full(n_events, np.nan)
    for batch in batches or []:
        assert isinstance(batch, dict)
        logits[batch["index"].numpy()] = batch["logit"].double().numpy()
    return logits


def _predict_split(
    module: WeightedClassifier,
    datamodule: SplitFileDataModule[Any],
    train: Mapping[str, Any],
    progress: bool,
) -> NDArray[np.float64]:
    """Logits of every event of the datamodule's ``predict`` split file, in file order."""
    datamodule.setup("predict")
    return _predict(module, datamodule, train, datamodule.files["predict"].n_events, progress)


def score_images(
    module: WeightedClassifier,
    path: str | os.PathLike[str],
    config: Mapping[str, Any],
    *,
    batch_size: int = 1024,
    progress: bool = False,
) -> NDArray[np.float64]:
    """Logits of every event of an images split file, in file order.

    Args:
        module: A trained image classifier.
        path: The images split file.
        config: The validated config (``train`` block: hardware, loader workers).
        batch_size: Events per forward pass.
        progress: Show a progress bar.
    """
    datamodule = ImageDataModule(
        predict=path, eval_batch_size=batch_size, num_workers=config["train"]["num_workers"]
    )
    return _predict_split(module, datamodule, config["train"], progress)


def score_graphs(
    module: WeightedClassifier,
    path: str | os.PathLike[str],
    config: Mapping[str, Any],
    *,
    batch_size: int = 512,
    progress: bool = False,
) -> NDArray[np.float64]:
    """Logits of every event of a graph split file, in file order.

    Args:
        module: A trained graph classifier.
        path: The graph split file.
        config: The validated config (``train`` block: hardware, loader workers).
        batch_size: Graphs per forward pass.
        progress: Show a progress bar.
    """
    from hepdl.train.graph_data import GraphDataModule  # noqa: PLC0415 (with the graph networks)

    datamodule = GraphDataModule(
        predict=path, eval_batch_size=batch_size, num_workers=config["train"]["num_workers"]
    )
    return _predict_split(module, datamodule, config["train"], progress)


def score_features(
    module: WeightedClassifier,
    inputs: NDArray[np.float32],
    *,
    batch_size: int = 8192,
) -> NDArray[np.float64]:
    """Logits of event-level ``inputs`` ((N, n_inputs), in memory), in input order.

    Feature networks are small: they are scored on the CPU whatever the accelerator.
    """
    with torch.inference_mode():
        module = module.eval()
        logits = [
            module(torch.from_numpy(np.ascontiguousarray(inputs[i : i + batch_size]))).double()
            for i in range(0, len(inputs), batch_size)
        ]
    return torch.cat(logits).numpy() if logits else np.zeros(0)
