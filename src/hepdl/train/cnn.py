"""The ``train cnn`` stage: a CNN on the whole-detector images of the train and val splits."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from hepdl.errors import ConfigError, InputFileError
from hepdl.io.layout import Layout
from hepdl.io.splits import ImageSplit
from hepdl.seeds import model_seed
from hepdl.train.checkpoint import training_record
from hepdl.train.datamodules import ImageDataModule
from hepdl.train.modules import ImageClassifier
from hepdl.train.settings import base_model, model_kind, training_settings
from hepdl.train.trainer import FitResult, fit_classifier

__all__ = ["cnn_hparams", "train_cnn"]


def cnn_hparams(config: Mapping[str, Any], name: str, split: ImageSplit) -> dict[str, Any]:
    """The :class:`ImageClassifier` hyper-parameters of CNN ``name`` for images like ``split``."""
    if model_kind(config, name) != "cnn":
        raise ConfigError("train.cnn.channels", f"{name!r} is not a CNN of this config")
    settings = config["train"]["cnn"]
    return {
        "channels": list(settings["channels"][base_model(name)]),
        "scales": list(split.scales),
        "image_shape": list(split.image_shape),
        "conv_filters": list(settings["conv_filters"]),
        "kernel_size": settings["kernel_size"],
        "dense_units": settings["dense_units"],
        "dropout": settings["dropout"],
        "batch_norm": settings["batch_norm"],
        "augment": dict(settings["augment"]),
        "learning_rate": settings["learning_rate"],
        "weight_decay": settings["weight_decay"],
    }


def check_same_images(reference: ImageSplit, other: ImageSplit) -> None:
    """Check that two split files hold images of one geometry and one channel scaling.

    Raises:
        InputFileError: naming ``other``, if its image shape or channel scales differ.
    """
    if other.image_shape != reference.image_shape:
        raise InputFileError(
            other.path,
            f"images are {other.image_shape}, but {reference.path} has {reference.image_shape}; "
            "the splits must come from one images run",
        )
    if other.scales != reference.scales:
        raise InputFileError(
            other.path,
            f"channel scales {other.scales} differ from {reference.scales} in {reference.path}; "
            "the splits must come from one images run",
        )


def train_cnn(
    config: Mapping[str, Any],
    name: str = "cnn",
    *,
    train_file: str | os.PathLike[str] | None = None,
    val_file: str | os.PathLike[str] | None = None,
    output: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool = True,
    callbacks: Sequence[pl.Callback] = (),
) -> FitResult:
    """Train CNN ``name`` (its channels from ``train.cnn.channels``) and export the best weights.

    Args:
        config: A validated config.
        name: The CNN's name (a key of ``train.cnn.channels``).
        train_file: Images training split (default ``{results}/images/train.h5``).
        val_file: Images validation split (default ``{results}/images/val.h5``).
        output: Model file (default ``{results}/models/{name}/model.ckpt``).
        resume: Continue from the model's ``checkpoints/last.ckpt`` (a training of the same
            settings and splits only).
        progress: Show a progress bar.
        callbacks: More Lightning callbacks (the hyper-parameter search's pruning).

    Raises:
        ConfigError: for an unknown model or channel.
        InputFileError: for a missing or inconsistent split file.
        TrainingError: when the loss becomes NaN.
    """
    layout = Layout.of(config)
    train_path = Path(train_file or layout.images_split("train"))
    val_path = Path(val_file or layout.images_split("val"))
    output = Path(output or layout.model_file(name, "cnn"))
    train_split = ImageSplit.open(train_path)
    check_same_images(train_split, ImageSplit.open(val_path))
    hparams = cnn_hparams(config, name, train_split)
    seed = model_seed(config, name)
    pl.seed_everything(seed, workers=True, verbose=False)
    module = ImageClassifier(**hparams)
    settings = config["train"]["cnn"]
    datamodule = ImageDataModule.for_training(config, settings, train_path, val_path, seed=seed)
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
        callbacks=callbacks,
    )
