"""The DCGAN of the whole-detector GAN studies, for 64 x 64 images.

Generator: the latent vector (and, for the conditional GAN, the scaled masses) is a 1 x 1 map
that five transposed convolutions grow 4 -> 8 -> 16 -> 32 -> 64, with batch norm and ReLU
between them and a ReLU output (exact zeros: empty pixels; see :mod:`hepdl.gan.scaling`).
Discriminator: four strided 4 x 4 convolutions 64 -> 32 -> 16 -> 8 -> 4 with LeakyReLU 0.2
and batch norm (none after the first, as DCGAN), then one dense layer to a logit. The
conditional discriminator receives the scaled masses as constant extra input planes, so its
convolutions can check an image against its masses (a condition joined only at the dense
layer could add a bias but never interact with the image). For WGAN-GP the critic normalises
with a per-sample layer norm (GroupNorm with one group) instead of batch norm, which would
couple the samples the gradient penalty treats one at a time.

Energy summary (``gan.energy_summary``, after CaloGAN): convolutions on log-scaled pixels judge
shapes well but the energy scale poorly, since an error dt on a hot pixel is an error of
log(1 + E_max / E0) dt (about 9 dt) in log E. The discriminator can also be given, per
channel, the image's total energy and its hottest pixel, both in the pixel scaling's log units,
and (for the BCE discriminator, not the WGAN-GP critic) the spread of the totals over the batch
(a minibatch feature: a generator that collapses to one energy is caught). They join the
convolutional features at the dense layer.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hepdl.gan.scaling import PixelScaling

__all__ = ["Discriminator", "EnergySummary", "Generator", "init_weights"]


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation: convolutions N(0, 0.02), norm scales N(1, 0.02), biases 0."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d | nn.GroupNorm):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def _up(inputs: int, outputs: int, first: bool = False) -> list[nn.Module]:
    stride, padding = (1, 0) if first else (2, 1)
    return [
        nn.ConvTranspose2d(inputs, outputs, 4, stride, padding, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
    ]


class Generator(nn.Module):
    """Latent vector (+ conditions) -> (N, channels, 64, 64) images in network units.

    Args:
        latent_dim: Size of the latent vector.
        n_conditions: Number of conditioning values (0: unconditional).
        channels: Image channels.
        filters: Filters at 32 x 32; 2x, 4x, 8x towards 4 x 4.
    """

    def __init__(self, latent_dim: int, n_conditions: int, channels: int, filters: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.n_conditions = n_conditions
        f = filters
        self.net = nn.Sequential(
            *_up(latent_dim + n_conditions, 8 * f, first=True),  # 4 x 4
            *_up(8 * f, 4 * f),  # 8 x 8
            *_up(4 * f, 2 * f),  # 16 x 16
            *_up(2 * f, f),  # 32 x 32
            nn.ConvTranspose2d(f, channels, 4, 2, 1),  # 64 x 64
            nn.ReLU(),
        )
        self.apply(init_weights)

    def forward(self, latent: Tensor, conditions: Tensor | None = None) -> Tensor:
        """(N, latent_dim) noise and (N, n_conditions) conditions -> images."""
        inputs = latent if conditions is None else torch.cat([latent, conditions], dim=1)
        out: Tensor = self.net(inputs.view(len(inputs), -1, 1, 1))
        return out


class EnergySummary(nn.Module):
    """Images in network units -> per channel the total and hottest pixel (and the batch spread).

    Args:
        scaling: The pixel scaling the images are in; the total is summed in physical units and
            scaled back, so it is the network value of one pixel holding the whole image.
        batch_spread: Add the spread of the totals over the batch (a minibatch feature). Off for
            the WGAN-GP critic, whose gradient penalty treats samples one at a time.
    """

    def __init__(self, scaling: PixelScaling, batch_spread: bool = True) -> None:
        super().__init__()
        self.scaling = scaling
        self.batch_spread = batch_spread

    @property
    def n_features(self) -> int:
        """Features per image: total and hottest pixel per channel (and the batch spread)."""
        return 2 * len(self.scaling.scales) + int(self.batch_spread)

    def forward(self, images: Tensor) -> Tensor:
        """(N, C, H, W) network values -> (N, n_features) features."""
        physical = self.scaling.to_physical_torch(images)
        total = self.scaling.to_network_torch(physical.sum(dim=(2, 3), keepdim=True)).flatten(1)
        features = [total, images.amax(dim=(2, 3))]
        if self.batch_spread:
            spread = total.std(dim=0, correction=0).mean()
            features.append(spread.expand(len(images), 1))
        return torch.cat(features, dim=1)


class Discriminator(nn.Module):
    """(N, channels, 64, 64) images (+ conditions) -> (N,) logits (or critic values).

    Args:
        channels: Image channels.
        n_conditions: Number of conditioning values (0: unconditional), given as planes.
        filters: Filters of the first convolution; doubled per layer.
        norm: ``batch`` (BCE loss) or ``layer`` (WGAN-GP critic).
        energy_scaling: The pixel scaling of the images, to give the dense layer the
            :class:`EnergySummary` of each image (None: none).
    """

    def __init__(
        self,
        channels: int,
        n_conditions: int,
        filters: int,
        norm: str = "batch",
        energy_scaling: PixelScaling | None = None,
    ) -> None:
        super().__init__()
        if norm not in ("batch", "layer"):
            msg = f"norm must be 'batch' or 'layer', got {norm!r}"
            raise ValueError(msg)
        self.n_conditions = n_conditions
        f = filters
        layers: list[nn.Module] = [
            nn.Conv2d(channels + n_conditions, f, 4, 2, 1),  # 32 x 32
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for inputs, outputs in ((f, 2 * f), (2 * f, 4 * f), (4 * f, 8 * f)):  # 16, 8, 4
            layers += [
                nn.Conv2d(inputs, outputs, 4, 2, 1, bias=False),
                nn.BatchNorm2d(outputs) if norm == "batch" else nn.GroupNorm(1, outputs),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.energy = None
        if energy_scaling is not None:
            if len(energy_scaling.scales) != channels:
                msg = f"{channels} channels but a pixel scaling of {len(energy_scaling.scales)}"
                raise ValueError(msg)
            self.energy = EnergySummary(energy_scaling, batch_spread=norm == "batch")
        extra = self.energy.n_features if self.energy is not None else 0
        self.dense = nn.Linear(8 * f * 4 * 4 + extra, 1)
        self.apply(init_weights)

    def forward(self, images: Tensor, conditions: Tensor | None = None) -> Tensor:
        """Images and conditions -> one logit per image."""
        inputs = images
        if conditions is not None:
            n, _, height, width = images.shape
            planes = conditions.view(n, -1, 1, 1).expand(n, conditions.shape[1], height, width)
            inputs = torch.cat([images, planes.to(images.dtype)], dim=1)
        features = self.features(inputs)
        if self.energy is not None:
            features = torch.cat([features, self.energy(images)], dim=1)
        out: Tensor = self.dense(features).squeeze(1)
        return out
