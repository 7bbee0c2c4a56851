"""The ``train mlp`` and ``train cnn_jets`` stages: one-hidden-layer networks on event variables.

``mlp`` sees the 23 jet variables of the shallow baseline (:func:`hepdl.io.splits.feature_names`),
standardised with the training split's mean and standard deviation. ``cnn_jets`` sees a trained
CNN's logit and the same variables: the paper's test of whether the jet variables add anything
to the CNN. Its CNN logits on the train and val splits are computed here from the CNN's model
file (the CNN has seen the training events, as in the paper's combination).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
from numpy.typing import NDArray

from hepdl.io.layout import Layout
from hepdl.io.splits import FeatureSplit, ImageSplit, check_aligned, feature_columns, select_samples
from hepdl.seeds import model_seed
from hepdl.train.checkpoint import load_model, training_record
from hepdl.train.datamodules import FeatureDataModule
from hepdl.train.modules import FeatureClassifier, ImageClassifier
from hepdl.train.score import score_images
from hepdl.train.settings import cnn_of_cnn_jets, training_settings
from hepdl.train.trainer import FitResult, fit_classifier

__all__ = ["cnn_jets_inputs", "mlp_hparams", "train_cnn_jets", "train_mlp"]


def mlp_hparams(
    settings: Mapping[str, Any], names: Sequence[str], train_inputs: NDArray[np.float32]
) -> dict[str, Any]:
    """Hyper-parameters of a :class:`FeatureClassifier` standardised on ``train_inputs``."""
    inputs = train_inputs.astype(np.float64)
    return {
        "input_names": list(names),
        "mean": inputs.mean(axis=0).tolist(),
        "std": inputs.std(axis=0).tolist(),
        "hidden_units": settings["hidden_units"],
        "dropout": settings["dropout"],
        "learning_rate": settings["learning_rate"],
        "weight_decay": settings["weight_decay"],
    }


def _fit_features(
    config: Mapping[str, Any],
    name: str,
    *,
    settings: Mapping[str, Any],
    names: Sequence[str],
    inputs: dict[str, NDArray[np.float32]],
    splits: dict[str, FeatureSplit],
    files: Mapping[str, Path],
    output: Path,
    resume: bool,
    progress: bool,
) -> FitResult:
    samples = config["train"]["samples"]
    rows = select_samples(splits["train"].sample, samples, splits["train"].path)
    seed = model_seed(config, name)
    pl.seed_everything(seed, workers=True, verbose=False)
    module = FeatureClassifier(**mlp_hparams(settings, names, inputs["train"][rows]))
    datamodule = FeatureDataModule(
        {k: (inputs[k], s.label, s.weight, s.path) for k, s in splits.items()},
        samples={k: s.sample for k, s in splits.items()},
        select=samples,
        per_sample=config["train"]["background_weights"] == "per_sample",
        batch_size=settings["batch_size"],
        eval_batch_size=settings["eval_batch_size"],
        seed=seed,
    )
    return fit_classifier(
        module,
        datamodule,
        config,
        settings,
        model_dir=output.parent,
        output=output,
        record=training_record(training_settings(config, name), files),
        resume=resume,
        progress=progress,
    )


def train_mlp(
    config: Mapping[str, Any],
    name: str = "mlp",
    *,
    train_file: str | os.PathLike[str] | None = None,
    val_file: str | os.PathLike[str] | None = None,
    output: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool = True,
) -> FitResult:
    """Train the one-hidden-layer MLP on the jet variables and export the best weights.

    Args:
        config: A validated config (``train.mlp`` block).
        name: ``mlp`` or one of its seed replicas.
        train_file: Features training split (default ``{results}/features/train.parquet``).
        val_file: Features validation split (default ``{results}/features/val.parquet``).
        output: Model file (default ``{results}/models/mlp/model.ckpt``).
        resume: Continue from ``checkpoints/last.ckpt`` (a training of the same settings and
            inputs only).
        progress: Show a progress bar.
    """
    names = feature_columns(config)
    layout = Layout.of(config)
    splits = {
        "train": FeatureSplit.open(train_file or layout.features_split("train"), names),
        "val": FeatureSplit.open(val_file or layout.features_split("val"), names),
    }
    inputs = {k: s.inputs for k, s in splits.items()}
    output = Path(output or layout.model_file(name, "mlp"))
    return _fit_features(
        config,
        name,
        settings=config["train"]["mlp"],
        names=names,
        inputs=inputs,
        splits=splits,
        files={split: s.path for split, s in splits.items()},
        output=output,
        resume=resume,
        progress=progress,
    )


def cnn_jets_inputs(cnn_logit: NDArray[np.float64], features: FeatureSplit) -> NDArray[np.float32]:
    """The combination's inputs: the CNN logit, then the jet variables."""
    return np.column_stack([cnn_logit.astype(np.float32), features.inputs]).astype(np.float32)


def cnn_jets_names(config: Mapping[str, Any]) -> list[str]:
    """Input names of ``cnn_jets``: ``{cnn}_logit`` and the jet variables."""
    return [f"{config['train']['cnn_jets']['cnn']}_logit", *feature_columns(config)]


def train_cnn_jets(
    config: Mapping[str, Any],
    name: str = "cnn_jets",
    *,
    cnn_model: str | os.PathLike[str] | None = None,
    images: Mapping[str, str | os.PathLike[str]] | None = None,
    features: Mapping[str, str | os.PathLike[str]] | None = None,
    output: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool = True,
) -> FitResult:
    """Train the network combining a CNN's logit with the jet variables.

    Args:
        config: A validated config (``train.cnn_jets`` block; its ``cnn`` names the CNN).
        name: ``cnn_jets`` or one of its seed replicas, which reads the same replica of its CNN.
        cnn_model: The CNN's model file (default that of
            :func:`hepdl.train.settings.cnn_of_cnn_jets`).
        images: Images split files by split (``train``, ``val``); default the contract paths.
        features: Features split files by split; default the contract paths.
        output: Model file (default ``{results}/models/cnn_jets/model.ckpt``).
        resume: Continue from ``checkpoints/last.ckpt`` (a training of the same settings and
            inputs only).
        progress: Show a progress bar.

    Raises:
        InputFileError: if the images and features splits do not hold the same events.
        CheckpointError: for a missing or wrong CNN model file.
    """
    settings = config["train"]["cnn_jets"]
    layout = Layout.of(config)
    cnn_path = Path(cnn_model or layout.model_file(cnn_of_cnn_jets(config, name), "cnn"))
    cnn = load_model(cnn_path, ImageClassifier)
    splits: dict[str, FeatureSplit] = {}
    inputs: dict[str, NDArray[np.float32]] = {}
    files = {"cnn": cnn_path}
    for split in ("train", "val"):
        image_path = Path((images or {}).get(split) or layout.images_split(split))
        feature_path = Path((features or {}).get(split) or layout.features_split(split))
        files |= {f"images.{split}": image_path, f"features.{split}": feature_path}
        splits[split] = FeatureSplit.open(feature_path, feature_columns(config))
        check_aligned(ImageSplit.open(image_path), splits[split])
        logits = score_images(
            cnn, image_path, config, batch_size=config["train"]["cnn"]["eval_batch_size"]
        )
        inputs[split] = cnn_jets_inputs(logits, splits[split])
    output = Path(output or layout.model_file(name, "cnn_jets"))
    return _fit_features(
        config,
        name,
        settings=settings,
        names=cnn_jets_names(config),
        inputs=inputs,
        splits=splits,
        files=files,
        output=output,
        resume=resume,
        progress=progress,
    )
