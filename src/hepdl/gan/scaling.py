"""The pixel scaling the GAN's networks see: linear, t = E / E_max (the authors' public code,
E_max = 4 TeV), or logarithmic, t = log(1 + E / E0) / log(1 + E_max / E0).

Both map 0 to 0 and E_max to 1; pixels above E_max are clipped to 1, so that the generator's
sigmoid output (never above 1) can match every real pixel. The logarithm was this project's
earlier default; ``config/gan.yaml``'s study compares the two (docs/gans.md).

Whole-detector images are sparse (about 2% of the pixels of a 64 x 64 calorimeter image are
filled) and span four decades (0.5 GeV ECal towers to TeV cores of jets). Linear scaling
(E / E_max, as the classifiers see) leaves every soft deposit at ~1e-4, so a generator
learns the few hard pixels and ignores the rest, and the jet masses built from the soft
radiation come out wrong. The logarithm spreads the decades evenly over [0, 1]; ``log1p`` keeps
empty pixels exactly at zero (the generator's ReLU output can produce them, so sparsity is
learnt, not thresholded), is linear below E0 (``gan.pixel_offset``, 1 GeV: the tower
thresholds' scale), so it does not amplify the softest noise, and is exactly invertible. A power
law (E^0.25) was the alternative; it compresses less (a decade is a factor 1.8 instead of an
even step) and has an infinite slope at zero.

E_max is ``gan.pixel_scale_gev`` for the energy channels (the training split's hottest pixel
where it is null, and for the track count).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import NDArray

__all__ = ["SCALING_KINDS", "PixelScaling"]

#: The pixel scalings (``gan.pixel_scaling``).
SCALING_KINDS = ("linear", "log")

#: Largest network value mapped back to physical units: the training split's hottest pixel. The
#: exponential would turn t = 1.5 into E_max^1.5 / E0^0.5 (600 TeV for E_max = 7 TeV), so a
#: generator's overshoot is clipped here rather than trusted.
T_MAX = 1.0


class PixelScaling:
    """Forward (physical -> network) and inverse pixel scaling, per channel.

    Args:
        scales: E_max of each channel, in its physical unit (GeV or tracks).
        offset: E0 in the same units (logarithmic scaling only).
        kind: ``linear`` or ``log``.
    """

    def __init__(self, scales: Sequence[float], offset: float, kind: str = "log") -> None:
        if offset <= 0:
            msg = f"pixel offset must be positive, got {offset}"
            raise ValueError(msg)
        if kind not in SCALING_KINDS:
            msg = f"pixel scaling must be one of {SCALING_KINDS}, got {kind!r}"
            raise ValueError(msg)
        self.kind = kind
        self.offset = float(offset)
        self.scales = np.asarray(scales, dtype=np.float64)
        self.norm = np.log1p(self.scales / self.offset) if kind == "log" else self.scales

    def to_network(self, physical: NDArray[np.floating]) -> NDArray[np.float32]:
        """(..., C, H, W) physical pixels -> network values t in [0, 1] (float32; 0 stays 0)."""
        norm = self.norm.reshape(-1, 1, 1)
        clipped = np.maximum(np.asarray(physical, dtype=np.float64), 0.0)
        lifted = np.log1p(clipped / self.offset) if self.kind == "log" else clipped
        return np.minimum(lifted / norm, T_MAX).astype(np.float32)

    def to_physical(self, network: NDArray[np.floating]) -> NDArray[np.float32]:
        """(..., C, H, W) network values -> physical pixels (t clipped to [0, 1])."""
        norm = self.norm.reshape(-1, 1, 1)
        t = np.clip(np.asarray(network, dtype=np.float64), 0.0, T_MAX)
        physical = self.offset * np.expm1(t * norm) if self.kind == "log" else t * norm
        return physical.astype(np.float32)

    def to_network_torch(self, physical: torch.Tensor, clip: bool = True) -> torch.Tensor:
        """As :meth:`to_network`, for a tensor (same device and dtype; differentiable).

        ``clip=False`` leaves values above E_max above 1 (an image's total energy).
        """
        norm = torch.as_tensor(self.norm, dtype=physical.dtype, device=physical.device)
        clipped = physical.clamp(min=0.0)
        lifted = torch.log1p(clipped / self.offset) if self.kind == "log" else clipped
        network = lifted / norm.view(-1, 1, 1)
        return network.clamp(max=T_MAX) if clip else network

    def to_physical_torch(self, network: torch.Tensor) -> torch.Tensor:
        """As :meth:`to_physical`, for a tensor (same device and dtype)."""
        norm = torch.as_tensor(self.norm, dtype=network.dtype, device=network.device).view(-1, 1, 1)
        t = network.clamp(0.0, T_MAX)
        return self.offset * torch.expm1(t * norm) if self.kind == "log" else t * norm
