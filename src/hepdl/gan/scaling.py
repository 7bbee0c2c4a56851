"""The pixel scaling the GAN's networks see: t = log(1 + E / E0) / log(1 + E_max / E0).

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

E_max is the channel's training-split scale, so the hottest training pixel maps to 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import NDArray

__all__ = ["PixelScaling"]

#: Largest network value mapped back to physical units: the training split's hottest pixel. The
#: exponential would turn t = 1.5 into E_max^1.5 / E0^0.5 (600 TeV for E_max = 7 TeV), so a
#: generator's overshoot is clipped here rather than trusted.
T_MAX = 1.0


class PixelScaling:
    """Forward (physical -> network) and inverse pixel scaling, per channel.

    Args:
        scales: E_max of each channel, in its physical unit (GeV or tracks).
        offset: E0 in the same units.
    """

    def __init__(self, scales: Sequence[float], offset: float) -> None:
        if offset <= 0:
            msg = f"pixel offset must be positive, got {offset}"
            raise ValueError(msg)
        self.offset = float(offset)
        self.scales = np.asarray(scales, dtype=np.float64)
        self.norm = np.log1p(self.scales / self.offset)

    def to_network(self, physical: NDArray[np.floating]) -> NDArray[np.float32]:
        """(..., C, H, W) physical pixels -> network values t (float32; 0 stays 0)."""
        norm = self.norm.reshape(-1, 1, 1)
        clipped = np.maximum(np.asarray(physical, dtype=np.float64), 0.0)
        return (np.log1p(clipped / self.offset) / norm).astype(np.float32)

    def to_physical(self, network: NDArray[np.floating]) -> NDArray[np.float32]:
        """(..., C, H, W) network values -> physical pixels (t clipped to [0, 1])."""
        norm = self.norm.reshape(-1, 1, 1)
        t = np.clip(np.asarray(network, dtype=np.float64), 0.0, T_MAX)
        return (self.offset * np.expm1(t * norm)).astype(np.float32)

    def to_network_torch(self, physical: torch.Tensor) -> torch.Tensor:
        """As :meth:`to_network`, for a tensor (same device and dtype; differentiable)."""
        norm = torch.as_tensor(self.norm, dtype=physical.dtype, device=physical.device)
        return torch.log1p(physical.clamp(min=0.0) / self.offset) / norm.view(-1, 1, 1)

    def to_physical_torch(self, network: torch.Tensor) -> torch.Tensor:
        """As :meth:`to_physical`, for a tensor (same device and dtype)."""
        norm = torch.as_tensor(self.norm, dtype=network.dtype, device=network.device)
        t = network.clamp(0.0, T_MAX)
        return self.offset * torch.expm1(t * norm.view(-1, 1, 1))
