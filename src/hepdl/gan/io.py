"""GAN files: the exported model (weights only) and the generated images (HDF5).

``model.ckpt`` holds the best epoch's ``state_dict`` and hyper-parameters, read back with
``torch.load(weights_only=True)`` (:func:`hepdl.train.checkpoint.load_checkpoint`) and checked to
be an :class:`~hepdl.gan.module.ImageGAN`. ``generated.h5`` follows the images contract where it
can: ``data`` (N, C, 64, 64) float32 divided by the per-channel ``channel_scales`` attribute,
``mg`` and ``mn`` per image (0 for an unconditional GAN), plus attributes naming the channels,
the model and the seed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from numpy.typing import NDArray

from hepdl.errors import CheckpointError, InputFileError
from hepdl.gan.module import ImageGAN
from hepdl.io.atomic import atomic_path
from hepdl.train.checkpoint import HEPDL_KEY, load_checkpoint

__all__ = ["GeneratedImages", "export_gan", "load_gan", "read_generated", "write_generated"]


def export_gan(
    best: str | os.PathLike[str], output: str | os.PathLike[str], extra: Mapping[str, Any]
) -> Path:
    """Write the best checkpoint's weights and hyper-parameters (no optimiser state) atomically."""
    checkpoint = load_checkpoint(best)
    slim: dict[str, Any] = {
        key: checkpoint[key]
        for key in ("state_dict", "hyper_parameters", "epoch", "global_step")
        if key in checkpoint
    }
    slim[HEPDL_KEY] = {"class": ImageGAN.__name__, **dict(extra)}
    with atomic_path(output) as temporary:
        torch.save(slim, temporary)
    return Path(output)


def load_gan(path: str | os.PathLike[str]) -> ImageGAN:
    """Rebuild a trained GAN from a model file or Lightning checkpoint, in evaluation mode.

    Raises:
        CheckpointError: for a missing or unreadable file, or a checkpoint of another model.
    """
    checkpoint = load_checkpoint(path)
    record = checkpoint.get(HEPDL_KEY, {})
    if record and record.get("class") != ImageGAN.__name__:
        raise CheckpointError(
            path, f"checkpoint of a {record.get('class')}, expected a GAN ({ImageGAN.__name__})"
        )
    hparams = dict(checkpoint.get("hyper_parameters") or {})
    if "loss" in hparams:  # a GAN saved before the option existed
        hparams.setdefault("energy_summary", False)
        hparams.setdefault("jet_summary", False)
        hparams.setdefault("discriminator_views", None)
        hparams.setdefault("generator_conditioning", "input")
        hparams.setdefault("discriminator_norm", "batch")
    missing = [key for key in ImageGAN.ARCHITECTURE if key not in hparams]
    if missing:
        raise CheckpointError(path, f"not a GAN checkpoint (no hyper-parameters {missing})")
    try:
        module = ImageGAN(**hparams)
        module.load_state_dict(checkpoint["state_dict"])
    except (TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(
            path, f"does not hold an {ImageGAN.__name__} ({str(err).splitlines()[0]})"
        ) from None
    return module.eval()


@dataclass(frozen=True)
class GeneratedImages:
    """Images read from a generated file.

    Attributes:
        path: The file.
        images: (N, C, 64, 64) in physical units (GeV, tracks).
        masses: (N, 2) (m_gluino, m_neutralino) in GeV (0 for an unconditional GAN).
        channels: Channel names.
        conditional: Whether the GAN was conditional.
        model: The GAN's name.
    """

    path: Path
    images: NDArray[np.float32]
    masses: NDArray[np.float64]
    channels: tuple[str, ...]
    conditional: bool
    model: str


def write_generated(
    path: str | os.PathLike[str],
    images: NDArray[np.float32],
    masses: NDArray[np.float64],
    *,
    channels: Sequence[str],
    scales: Sequence[float],
    attrs: Mapping[str, Any],
) -> Path:
    """Write generated images (physical units) atomically, scaled as the real split files."""
    factor = np.asarray(scales, dtype=np.float32).reshape(1, -1, 1, 1)
    with atomic_path(path) as temporary, h5py.File(temporary, "w") as file:
        chunk = (min(64, max(len(images), 1)), *images.shape[1:])
        file.create_dataset(
            "data", data=(images / factor).astype(np.float32), chunks=chunk, compression="lzf"
        )
        file.create_dataset("mg", data=masses[:, 0].astype(np.float32))
        file.create_dataset("mn", data=masses[:, 1].astype(np.float32))
        file.attrs["channel_scales"] = np.asarray(scales, dtype=np.float64)
        file.attrs["channels"] = np.asarray(list(channels), dtype=object)
        for key, value in attrs.items():
            file.attrs[key] = value
    return Path(path)


def read_generated(path: str | os.PathLike[str]) -> GeneratedImages:
    """Read a file of :func:`write_generated`, back in physical units.

    Raises:
        InputFileError: naming the file, if it is missing or not a generated-images file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "generated images not found (run hepdl generate-gan first)")
    try:
        with h5py.File(path, "r") as file:
            scales = np.asarray(file.attrs["channel_scales"], dtype=np.float32)
            data = file["data"][()] * scales.reshape(1, -1, 1, 1)
            masses = np.stack([file["mg"][()], file["mn"][()]], axis=1).astype(np.float64)
            channels = tuple(
                c.decode() if isinstance(c, bytes) else str(c) for c in file.attrs["channels"]
            )
            conditional = bool(file.attrs["conditional"])
            model = str(file.attrs["model"])
    except (OSError, KeyError) as err:
        raise InputFileError(path, f"not a generated-images file ({err})") from None
    return GeneratedImages(path, data.astype(np.float32), masses, channels, conditional, model)
