"""The signal images the GANs learn and are validated against, in physical units.

An images split file (``{results}/images/{split}.h5``) stores three channels divided by the
training split's maxima (attribute ``channel_scales``). The GANs see a subset of channels or the
total calorimeter energy (``energy`` = ECal + HCal, GeV), in physical units here and through
:class:`hepdl.gan.scaling.PixelScaling` in the networks. Events are read in blocks of
consecutive rows, so a file of any size is read once without loading the other samples' pixels.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from hepdl.errors import InputFileError
from hepdl.gan.settings import IMAGE_SIZE
from hepdl.io.splits import ImageSplit, select_samples
from hepdl.models.channels import CHANNELS, check_channels

__all__ = [
    "GanImages",
    "calorimeter_channels",
    "calorimeter_energy",
    "gan_channel_scales",
    "load_images",
    "physical_channels",
]

#: Events read from the file at once.
_BLOCK_EVENTS = 4096


def gan_channel_scales(channels: Sequence[str], stored_scales: Sequence[float]) -> list[float]:
    """E_max of each GAN channel: the stored channel's scale; ECal + HCal scales for ``energy``."""
    scales = []
    for name in check_channels(channels, key="gan.channels"):
        if name == "energy":
            scales.append(float(stored_scales[0]) + float(stored_scales[1]))
        else:
            scales.append(float(stored_scales[CHANNELS.index(name)]))
    return scales


def physical_channels(
    stored: NDArray[np.floating], stored_scales: Sequence[float], channels: Sequence[str]
) -> NDArray[np.float32]:
    """(N, 3, H, W) stored (scaled) images -> (N, C, H, W) GAN channels in GeV or tracks."""
    factor = np.asarray(stored_scales, dtype=np.float32).reshape(1, -1, 1, 1)
    physical = np.asarray(stored, dtype=np.float32) * factor
    planes = [
        physical[:, 0] + physical[:, 1] if name == "energy" else physical[:, CHANNELS.index(name)]
        for name in channels
    ]
    return np.stack(planes, axis=1).astype(np.float32, copy=False)


def calorimeter_channels(channels: Sequence[str]) -> list[int]:
    """The positions of the GAN channels whose sum is the calorimeter energy (``energy``, or
    ``ecal`` and ``hcal``).

    Raises:
        ValueError: if the channels hold no calorimeter energy (tracks only).
    """
    names = list(channels)
    if "energy" in names:
        return [names.index("energy")]
    calo = [names.index(name) for name in ("ecal", "hcal") if name in names]
    if not calo:
        msg = f"channels {names} hold no calorimeter energy to cluster jets on"
        raise ValueError(msg)
    return calo


def calorimeter_energy(
    images: NDArray[np.floating], channels: Sequence[str]
) -> NDArray[np.float32]:
    """(N, C, H, W) GAN-channel images -> (N, H, W) calorimeter energy (GeV) per pixel.

    Raises:
        ValueError: if the channels hold no calorimeter energy (tracks only).
    """
    return np.asarray(images[:, calorimeter_channels(channels)].sum(axis=1), dtype=np.float32)


@dataclass(frozen=True)
class GanImages:
    """The signal events of one split file, in the GAN's channels.

    Attributes:
        path: The split file.
        images: (N, C, 64, 64): physical units (GeV, tracks), or what ``transform`` made of them.
        masses: (N, 2) (m_gluino, m_neutralino) in GeV.
        sample: Sample name of each event.
        channels: The GAN channel names.
        scales: E_max of each GAN channel (from the training split's scales).
    """

    path: Path
    images: NDArray[np.floating]
    masses: NDArray[np.float64]
    sample: NDArray[np.str_]
    channels: tuple[str, ...]
    scales: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.sample)


def load_images(
    path: str | os.PathLike[str],
    channels: Sequence[str],
    samples: Sequence[str] | None,
    *,
    max_events: int | None = None,
    transform: Callable[[NDArray[np.float32]], NDArray[np.floating]] | None = None,
    dtype: type[np.floating] = np.float32,
) -> GanImages:
    """Read the events of ``samples`` from an images split file.

    Args:
        path: ``{results}/images/{split}.h5``.
        channels: GAN channels (see :func:`physical_channels`).
        samples: Sample names (None: every event).
        max_events: Keep at most this many (the first ones; the file is in random order).
        transform: Applied to each block of physical images (e.g. the network scaling).
        dtype: Stored dtype of the images (float16 halves a training set's memory).

    Raises:
        InputFileError: naming the file, if it is not a 64 x 64 images split.
        ConfigError: naming ``gan.samples``, if a sample has no events in it.
    """
    split = ImageSplit.open(path)
    if split.image_shape != (IMAGE_SIZE, IMAGE_SIZE):
        raise InputFileError(
            split.path,
            f"images are {split.image_shape[0]} x {split.image_shape[1]}; the GANs need "
            f"{IMAGE_SIZE} x {IMAGE_SIZE} (images.n_eta and images.n_phi = {IMAGE_SIZE})",
        )
    names = tuple(check_channels(channels, key="gan.channels"))
    index = select_samples(split.sample, samples, split.path, key="gan.samples")
    if max_events is not None:
        index = index[:max_events]
    out: NDArray[np.floating] = np.empty((len(index), len(names), *split.image_shape), dtype=dtype)
    filled = 0
    for inside, stored in split.read_blocks(index, _BLOCK_EVENTS):
        block = physical_channels(stored, split.scales, names)
        out[filled : filled + len(inside)] = transform(block) if transform else block
        filled += len(inside)
    return GanImages(
        path=split.path,
        images=out,
        masses=np.stack([split.mg[index], split.mn[index]], axis=1).astype(np.float64),
        sample=split.sample[index],
        channels=names,
        scales=tuple(gan_channel_scales(names, split.scales)),
    )
