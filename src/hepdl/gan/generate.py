"""The ``generate-gan`` stage: images from a trained GAN, at any mass point for the cgan.

The unconditional GAN draws ``n`` images. The conditional GAN draws ``n`` images per mass point:
by default its trained grid plus ``gan.interpolate``; any (m_gluino, m_neutralino) may be asked
for. Points between trained ones are interpolation; a point outside the trained grid's range
(in either mass) is extrapolation, which the GAN was never shown: it is generated with an
:class:`ExtrapolationWarning`, never silently. Latent vectors come from a seeded generator, so
the same config and model give the same images.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hepdl.errors import CheckpointError
from hepdl.gan.io import load_gan, write_generated
from hepdl.gan.settings import is_conditional
from hepdl.io.layout import Layout
from hepdl.seeds import model_seed

__all__ = [
    "ExtrapolationWarning",
    "GenerateResult",
    "check_mass_point",
    "generate_gan",
    "generator_device",
]


class ExtrapolationWarning(UserWarning):
    """A conditional GAN asked for masses outside its trained grid."""


def check_mass_point(point: Sequence[float], grid: Sequence[Sequence[float]]) -> bool:
    """Whether ``point`` lies inside the trained grid's range; warn if not.

    Args:
        point: (m_gluino, m_neutralino) in GeV.
        grid: The trained points.

    Returns:
        True inside (a trained point or interpolation), False outside (after warning).
    """
    values = np.asarray(grid, dtype=np.float64).reshape(-1, 2)
    low, high = values.min(axis=0), values.max(axis=0)
    inside = bool(np.all((np.asarray(point) >= low) & (np.asarray(point) <= high)))
    if not inside:
        warnings.warn(
            f"(m_gluino, m_neutralino) = ({point[0]:g}, {point[1]:g}) GeV is outside the trained "
            f"grid (m_gluino {low[0]:g}-{high[0]:g}, m_neutralino {low[1]:g}-{high[1]:g} GeV): "
            "extrapolation, the GAN never saw such events",
            ExtrapolationWarning,
            stacklevel=2,
        )
    return inside


def generator_device(config: Mapping[str, Any]) -> str:
    """Where a trained generator runs: a GPU if there is one and ``train.accelerator`` allows
    it, else the CPU."""
    gpu = config["train"]["accelerator"] in ("auto", "gpu", "cuda")
    return "cuda" if gpu and torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class GenerateResult:
    """What ``generate-gan`` wrote.

    Attributes:
        path: The generated file.
        n_images: Images written.
        mass_points: The mass points (empty for the unconditional GAN).
        seconds: Wall time of the generation (loading excluded).
    """

    path: Path
    n_images: int
    mass_points: list[list[float]]
    seconds: float

    @property
    def images_per_second(self) -> float:
        """Generation rate."""
        return self.n_images / self.seconds if self.seconds > 0 else float("inf")


def generate_gan(
    config: Mapping[str, Any],
    name: str,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    output: str | os.PathLike[str] | None = None,
    n_events: int | None = None,
    masses: Sequence[Sequence[float]] | None = None,
    device: str | None = None,
) -> GenerateResult:
    """Generate images with GAN ``name`` and write them to ``generated.h5``.

    Args:
        config: A validated config.
        name: ``gan`` or ``cgan``.
        checkpoint: Model file (default ``{results}/gan/{name}/model.ckpt``).
        output: Output file (default ``{results}/gan/{name}/generated.h5``).
        n_events: Images (per mass point); default ``gan.generate_events``.
        masses: (m_gluino, m_neutralino) points in GeV (cgan only); default its trained grid
            and ``gan.interpolate``.
        device: Torch device of the generator (default: a GPU if there is one and
            ``train.accelerator`` allows it, else the CPU).

    Raises:
        CheckpointError: for a model of another kind than ``name``, or an unconditional
            checkpoint given masses.
    """
    layout = Layout.of(config)
    checkpoint = Path(checkpoint or layout.gan_model(name))
    output = Path(output or layout.gan_generated(name))
    n = int(n_events or config["gan"]["generate_events"])
    module = load_gan(checkpoint).to(device or generator_device(config))
    if masses and not module.conditional:
        raise CheckpointError(
            checkpoint,
            "holds an unconditional GAN, which cannot generate at given masses; leave out "
            "the masses or use a conditional (cgan) checkpoint",
        )
    if module.conditional != is_conditional(name):
        kind = "conditional" if module.conditional else "unconditional"
        raise CheckpointError(checkpoint, f"holds a {kind} GAN, but {name!r} is not {kind}")
    points: list[list[float]] = []
    if module.conditional:
        grid = [list(map(float, p)) for p in module.hparams["mass_points"]]
        wanted = masses if masses else [*grid, *config["gan"]["interpolate"]]
        for point in wanted:
            check_mass_point(point, grid)
            if list(map(float, point)) not in points:
                points.append([float(point[0]), float(point[1])])
    per_point = np.repeat(np.asarray(points or [[0.0, 0.0]], dtype=np.float64), n, axis=0)
    generator = torch.Generator().manual_seed(model_seed(config, f"{name}-generate"))
    start = time.perf_counter()
    images = module.generate(
        len(per_point), torch.as_tensor(per_point, dtype=torch.float32), generator=generator
    ).numpy()
    seconds = time.perf_counter() - start
    write_generated(
        output,
        images,
        per_point,
        channels=module.hparams["channels"],
        scales=module.hparams["scales"],
        attrs={
            "model": name,
            "conditional": module.conditional,
            "checkpoint": str(checkpoint),
            "seed": model_seed(config, f"{name}-generate"),
            "n_eta": images.shape[2],
            "n_phi": images.shape[3],
            "eta_range": [-config["images"]["eta_max"], config["images"]["eta_max"]],
            "trained_mass_points": np.asarray(
                module.hparams["mass_points"], dtype=np.float64
            ).reshape(-1, 2),
        },
    )
    return GenerateResult(output, len(images), points, seconds)
