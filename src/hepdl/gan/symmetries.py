"""Exact symmetries of the whole-detector images, applied to the GANs' images (``gan.symmetries``).

A proton-proton collision has no preferred azimuth, and its two beams are alike, so the
distribution of events is unchanged by a rotation in phi and by the reflection eta -> -eta; the
detector (the calorimeter grid of the images) is symmetric under both. A generator that must
learn them spends steps on placing its jets uniformly in phi, and a discriminator that judges
one image at a time hardly sees that it does not (a leading jet piling up at one phi is a
statement about the whole sample). With ``phi_rotation`` each image is rolled by a uniform
whole number of phi pixels (the image's phi axis is periodic), with ``eta_reflection`` it is
reflected in eta with probability 1/2:

- in training, both the real and the generated images of every batch (the real ones an exact
  augmentation of the training data);
- in generation, every generated image, so that the samples are symmetric by construction.

Images are (N, C, n_eta, n_phi), phi the last axis (:class:`hepdl.images.histogram.ImageSpec`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["SYMMETRIES", "check_symmetries", "symmetrise"]

#: The symmetries ``gan.symmetries`` may name.
SYMMETRIES = ("phi_rotation", "eta_reflection")


def check_symmetries(names: Sequence[str]) -> list[str]:
    """``names`` as a list, each one of :data:`SYMMETRIES`.

    Raises:
        ValueError: naming an unknown symmetry.
    """
    unknown = [name for name in names if name not in SYMMETRIES]
    if unknown:
        msg = f"unknown symmetries {unknown}; expected some of {list(SYMMETRIES)}"
        raise ValueError(msg)
    return list(names)


def symmetrise(
    images: Tensor, symmetries: Sequence[str], generator: torch.Generator | None = None
) -> Tensor:
    """Each image rotated in phi and/or reflected in eta, independently at random.

    Args:
        images: (N, C, n_eta, n_phi).
        symmetries: Some of :data:`SYMMETRIES` (none: ``images`` itself).
        generator: Random-number generator (on the CPU) of the rotations and reflections; None:
            torch's global one.
    """
    if not symmetries:
        return images
    n, channels, n_eta, n_phi = images.shape
    out = images
    if "phi_rotation" in symmetries:
        shift = torch.randint(0, n_phi, (n, 1), generator=generator).to(images.device)
        columns = (torch.arange(n_phi, device=images.device).view(1, -1) - shift) % n_phi
        index = columns.view(n, 1, 1, n_phi).expand(n, channels, n_eta, n_phi)
        out = torch.gather(out, 3, index)
    if "eta_reflection" in symmetries:
        flip = (torch.rand(n, generator=generator) < 0.5).to(images.device)
        out = torch.where(flip.view(n, 1, 1, 1), out.flip(2), out)
    return out
