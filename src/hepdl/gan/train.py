"""The ``train gan`` stage: a DCGAN (or conditional DCGAN) on the signal images.

Writes ``{results}/gan/{model}/``: ``checkpoints/last.ckpt`` (every epoch, best or not: the
resume point) and ``checkpoints/best.ckpt`` (the epoch with the lowest KS metric),
``model.ckpt`` (the best weights, no optimiser state), ``training_log.csv`` and
``config.yaml``.

Model selection: after every epoch :class:`KSSelection` generates ``gan.select_events`` images
(a fixed latent seed, evaluation mode, the validation events' masses) and logs ``val_ks``, the
mean -ln(KS p-value) of the jet observables and total energy against the real validation-split
events (:func:`hepdl.gan.metrics.ks_metric`). The published study chose its best model and
epoch by it; the BCE losses of a GAN say little about quality.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import yaml
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, TensorDataset

from hepdl.errors import ConfigError, InputFileError, NonFiniteLossError, TrainingError
from hepdl.gan.data import GanImages, calorimeter_energy, load_images
from hepdl.gan.io import export_gan
from hepdl.gan.metrics import ks_metric, ks_metric_per_mass_point, target_fractions
from hepdl.gan.module import ImageGAN
from hepdl.gan.observables import ImageJets, image_observables
from hepdl.gan.scaling import PixelScaling
from hepdl.gan.settings import (
    gan_samples,
    gan_training_settings,
    is_conditional,
    kind_config,
    mass_grid,
)
from hepdl.io.atomic import write_text_atomic
from hepdl.io.layout import Layout
from hepdl.io.splits import ImageSplit
from hepdl.seeds import model_seed
from hepdl.train.checkpoint import (
    AtomicCheckpointIO,
    TrainingRecord,
    resume_point,
    training_record,
)
from hepdl.train.trainer import (
    best_and_last_checkpoints,
    determinism,
    join_training_logs,
    quiet_lightning,
)

__all__ = ["GanFitResult", "KSSelection", "gan_hparams", "train_gan"]


@dataclass(frozen=True)
class GanFitResult:
    """What a GAN training produced.

    Attributes:
        model_file: The exported best model.
        best_ks: The best epoch's KS metric.
        best_epoch: That epoch (from 0).
        epochs: Epochs completed.
        global_step: Optimiser steps taken (both networks).
        n_train: Training images.
        seconds: Wall time.
    """

    model_file: Path
    best_ks: float
    best_epoch: int
    epochs: int
    global_step: int
    n_train: int
    seconds: float


#: GAN channels in GeV, whose pixel scale is ``gan.pixel_scale_gev`` (not the track count).
ENERGY_CHANNELS = ("energy", "ecal", "hcal")


def gan_hparams(config: Mapping[str, Any], name: str, scales: Sequence[float]) -> dict[str, Any]:
    """The :class:`ImageGAN` hyper-parameters of GAN ``name``.

    Args:
        config: A validated config.
        name: ``gan``, ``cgan`` or a seed replica; its kind's ``gan.per_kind`` settings apply.
        scales: The training split's E_max per GAN channel; an energy channel's pixel scale is
            ``gan.pixel_scale_gev`` instead, unless that is null.
    """
    gan = kind_config(config, name)["gan"]
    fixed = gan["pixel_scale_gev"]
    jets = ImageJets.from_config(config)
    return {
        "channels": list(gan["channels"]),
        "scales": [
            float(fixed) if fixed is not None and channel in ENERGY_CHANNELS else float(scale)
            for channel, scale in zip(gan["channels"], scales, strict=True)
        ],
        "conditional": is_conditional(name),
        "mass_points": mass_grid(config),
        "mass_scale_gev": gan["mass_scale_gev"],
        "centre_masses": gan["centre_masses"],
        "pixel_offset": gan["pixel_offset"],
        "pixel_scaling": gan["pixel_scaling"],
        "pixel_threshold": gan["pixel_threshold_gev"],
        "discriminator_conditioning": gan["discriminator_conditioning"],
        "discriminator_views": gan["discriminator_views"],
        "generator_conditioning": gan["generator_conditioning"],
        "label_flip": gan["label_flip"],
        "symmetries": list(gan["symmetries"]),
        "latent_dim": gan["latent_dim"],
        "generator_filters": gan["generator_filters"],
        "discriminator_filters": gan["discriminator_filters"],
        "loss": gan["loss"],
        "gradient_penalty": gan["gradient_penalty"],
        "critic_steps": gan["critic_steps"],
        "r1_penalty": gan["r1_penalty"],
        "r1_interval": gan["r1_interval"],
        "discriminator_norm": gan["discriminator_norm"],
        "energy_summary": gan["energy_summary"],
        "jet_summary": gan["jet_summary"],
        "eta_max": jets.spec.eta_max,
        "jet_radius": jets.radius,
        "jet_pt_min_gev": jets.pt_min_gev,
        "jet_abs_eta_max": jets.abs_eta_max,
        "learning_rate": gan["learning_rate"],
        "discriminator_learning_rate": gan["discriminator_learning_rate"],
        "beta1": gan["beta1"],
        "beta2": gan["beta2"],
        "lr_patience_epochs": gan["lr_patience_epochs"],
        "lr_decay_factor": gan["lr_decay_factor"],
        "min_learning_rate": gan["min_learning_rate"],
    }


class KSSelection(pl.Callback):
    """After each epoch, log the selection metric ``val_ks`` of generated vs real validation
    events, and what each way of selecting would have scored: ``val_ks_pooled`` (the KS metric
    over every event, the authors'), ``val_targets`` (the worst of the study's targets as a
    fraction of its limit, :func:`~hepdl.gan.metrics.target_fractions`, each of which is logged
    as ``val_target_{name}``) and, for a cgan, ``val_ks_per_mass_point``. ``val_ks`` is one of
    them.

    Args:
        real: The real validation events (physical units).
        jets: Jet clustering on images.
        seed: Seed of the latent vectors (the same images' noise every epoch) and of the
            targets' half splits.
        per_mass_point: For a conditional GAN, the mean of the metric within each mass point
            (:func:`~hepdl.gan.metrics.ks_metric_per_mass_point`) instead of pooled.
        by_targets: Select by ``val_targets`` instead of a KS metric.
    """

    def __init__(
        self,
        real: GanImages,
        jets: ImageJets,
        seed: int,
        per_mass_point: bool = False,
        by_targets: bool = False,
    ) -> None:
        self.real = real
        self.jets = jets
        self.seed = seed
        self.per_mass_point = per_mass_point
        self.by_targets = by_targets
        self.real_observables = image_observables(
            calorimeter_energy(real.images, real.channels), jets
        )
        self.history: list[float] = []

    @classmethod
    def from_config(cls, config: Mapping[str, Any], real: GanImages, seed: int) -> KSSelection:
        """The selection of ``gan.select_per_mass_point`` and ``gan.select_by_targets``.

        Raises:
            ConfigError: naming ``gan.select_by_targets`` when both are set.
        """
        gan = config["gan"]
        if gan["select_by_targets"] and gan["select_per_mass_point"]:
            raise ConfigError(
                "gan.select_by_targets",
                "true together with gan.select_per_mass_point, which picks a KS metric; "
                "the targets already judge the cgan's M_J at each mass point: set one of them",
            )
        return cls(
            real,
            ImageJets.from_config(config),
            seed,
            per_mass_point=gan["select_per_mass_point"],
            by_targets=gan["select_by_targets"],
        )

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Generate, cluster, compare, log ``val_ks``."""
        assert isinstance(pl_module, ImageGAN)
        generator = torch.Generator().manual_seed(self.seed)
        masses = torch.as_tensor(self.real.masses, dtype=torch.float32)
        images = pl_module.generate(len(self.real), masses, generator=generator).numpy()
        observables = image_observables(calorimeter_energy(images, self.real.channels), self.jets)
        metric = ks_metric(observables, self.real_observables)
        # every candidate, so that a log shows what the other selections would have kept
        pl_module.log("val_ks_pooled", metric, on_epoch=True)
        if pl_module.conditional:
            per_point = ks_metric_per_mass_point(
                observables, self.real_observables, self.real.masses
            )
            pl_module.log("val_ks_per_mass_point", per_point, on_epoch=True)
            if self.per_mass_point:
                metric = per_point
        fractions = target_fractions(
            observables,
            self.real_observables,
            self.real.masses if pl_module.conditional else None,
            seed=self.seed,
        )
        # each target beside the worst, so that a log says which one held an epoch back
        for target, fraction in fractions.items():
            pl_module.log(f"val_target_{target}", fraction, on_epoch=True)
        targets = max(fractions.values())
        pl_module.log("val_targets", targets, on_epoch=True)
        if self.by_targets:
            metric = targets
        self.history.append(metric)
        pl_module.log("val_ks", metric, on_epoch=True, prog_bar=True)


def _loader(train: GanImages, batch_size: int, seed: int, conditional: bool) -> DataLoader[Any]:
    images = torch.from_numpy(np.ascontiguousarray(train.images))
    tensors = [images]
    if conditional:  # masses in GeV: ImageGAN.conditions scales them
        tensors.append(torch.as_tensor(train.masses, dtype=torch.float32))
    dataset = TensorDataset(*tensors)
    keys = ("x", "c")

    def collate(items: list[tuple[torch.Tensor, ...]]) -> dict[str, torch.Tensor]:
        return {keys[k]: torch.stack([item[k] for item in items]) for k in range(len(tensors))}

    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        drop_last=len(dataset) > batch_size,
        generator=torch.Generator().manual_seed(seed),
        collate_fn=collate,
    )


def train_gan(
    config: Mapping[str, Any],
    name: str = "gan",
    *,
    train_file: str | os.PathLike[str] | None = None,
    val_file: str | os.PathLike[str] | None = None,
    output: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool = True,
    callbacks: Sequence[pl.Callback] = (),
) -> GanFitResult:
    """Train GAN ``name`` (``gan`` or ``cgan``) and export the best epoch's weights.

    Args:
        config: A validated config.
        name: ``gan`` (unconditional) or ``cgan`` (conditional on the masses), or a seed
            replica; its kind's ``gan.per_kind`` settings apply (:func:`kind_config`).
        train_file: Images training split (default ``{results}/images/train.h5``).
        val_file: Images validation split (default ``{results}/images/val.h5``).
        output: Model file (default ``{results}/gan/{name}/model.ckpt``).
        resume: Continue from ``checkpoints/last.ckpt`` (a training of the same settings and
            inputs only).
        progress: Show a progress bar.
        callbacks: Extra Lightning callbacks (monitoring, tests).

    Raises:
        ConfigError: for an unknown GAN, channel or sample, or two ways of selecting.
        InputFileError: for a missing split or images that are not 64 x 64.
        TrainingError: when a loss becomes NaN (naming the step; ``last.ckpt`` is kept).
    """
    start = time.perf_counter()
    conditional = is_conditional(name)
    config = kind_config(config, name)
    gan = config["gan"]
    layout = Layout.of(config)
    train_path = Path(train_file or layout.images_split("train"))
    val_path = Path(val_file or layout.images_split("val"))
    output = Path(output or layout.gan_model(name))
    model_dir = output.parent
    samples = gan_samples(config)
    scales = ImageSplit.open(train_path).scales
    val_scales = ImageSplit.open(val_path).scales
    if tuple(val_scales) != tuple(scales):
        raise InputFileError(
            val_path, f"channel scales {val_scales} differ from {scales} in {train_path}"
        )
    seed = model_seed(config, name)
    pl.seed_everything(seed, workers=True, verbose=False)
    torch.set_num_threads(config["train"]["threads"])
    probe = load_images(val_path, gan["channels"], samples, max_events=gan["select_events"])
    selection = KSSelection.from_config(config, probe, seed)
    hparams = gan_hparams(config, name, probe.scales)
    scaling = PixelScaling(hparams["scales"], gan["pixel_offset"], gan["pixel_scaling"])
    train = load_images(
        train_path, gan["channels"], samples, transform=scaling.to_network, dtype=np.float16
    )
    module = ImageGAN(**hparams)
    last = model_dir / "checkpoints" / "last.ckpt"
    record = training_record(
        gan_training_settings(config, name), {"train": train_path, "val": val_path}
    )
    resumed_from = resume_point(last, record, resume)
    if resumed_from is None:  # a fresh training: no old checkpoint may become its best
        for stale in ("checkpoints", "logs"):
            shutil.rmtree(model_dir / stale, ignore_errors=True)
    checkpoint, every_epoch = best_and_last_checkpoints(
        model_dir, "val_ks", save_on_train_epoch_end=True
    )
    extra: list[pl.Callback] = [
        selection,
        *callbacks,
        checkpoint,
        every_epoch,
        TrainingRecord(record),
    ]
    if progress:
        extra.append(TQDMProgressBar(refresh_rate=config["train"]["progress_refresh_steps"]))
    hardware = config["train"]
    trainer = pl.Trainer(
        accelerator=hardware["accelerator"],
        devices=1,  # one device: a DCGAN step is ~11 ms on a GPU, DDP would not pay
        precision=hardware["precision"],
        deterministic=determinism(hardware["deterministic"]),
        max_epochs=gan["max_epochs"],
        max_time=None if gan["max_minutes"] is None else timedelta(minutes=gan["max_minutes"]),
        limit_train_batches=gan["limit_train_batches"],
        limit_val_batches=0,
        log_every_n_steps=hardware["log_every_n_steps"],
        num_sanity_val_steps=0,
        callbacks=extra,
        logger=CSVLogger(model_dir, name="logs"),
        plugins=[AtomicCheckpointIO()],
        enable_progress_bar=progress,
        enable_model_summary=False,
        default_root_dir=model_dir,
    )
    loader = _loader(train, gan["batch_size"], seed, conditional)
    with quiet_lightning():
        try:
            trainer.fit(module, train_dataloaders=loader, ckpt_path=resumed_from, weights_only=True)
        except NonFiniteLossError as err:
            kept = f"the last good checkpoint is {last}" if last.exists() else "no checkpoint yet"
            raise TrainingError(f"{model_dir}: {err}; {kept}") from None
    best = Path(checkpoint.best_model_path) if checkpoint.best_model_path else last
    if not best.exists():
        raise TrainingError(f"{model_dir}: training ended without a checkpoint")
    best_ks = (
        float(checkpoint.best_model_score)
        if checkpoint.best_model_score is not None
        else float("nan")
    )
    best_epoch = int(torch.load(best, map_location="cpu", weights_only=True)["epoch"])
    export_gan(
        best,
        output,
        {
            "best_ks": best_ks,
            "best_epoch": best_epoch,
            "ks_history": selection.history,
            "samples": samples,
        },
    )
    join_training_logs(model_dir)
    write_text_atomic(model_dir / "config.yaml", yaml.safe_dump(dict(config), sort_keys=True))
    return GanFitResult(
        model_file=output,
        best_ks=best_ks,
        best_epoch=best_epoch,
        epochs=trainer.current_epoch,
        global_step=trainer.global_step,
        n_train=len(train),
        seconds=time.perf_counter() - start,
    )
