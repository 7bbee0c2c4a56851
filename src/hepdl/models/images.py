"""Input-side pieces of the image networks: channel selection and augmentation.

The stored channels and the names a network may ask for are in :mod:`hepdl.models.channels`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from hepdl.models.channels import CHANNELS, check_channels

__all__ = ["ChannelSelect", "ImageAugment"]


class ChannelSelect(nn.Module):
    """Pick (or combine) channels of the stored 3-channel images.

    Args:
        names: The channels the network sees, in order (see :func:`check_channels`).
        scales: The stored channels' scales (the training-split maxima: GeV for ECal and HCal,
            tracks for the track count), used to add ECal and HCal energies for ``energy``.
    """

    def __init__(self, names: Sequence[str], scales: Sequence[float]) -> None:
        super().__init__()
        self.names = check_channels(names)
        if len(scales) != len(CHANNELS):
            msg = f"expected {len(CHANNELS)} channel scales ({', '.join(CHANNELS)}), got {scales}"
            raise ValueError(msg)
        rows = []
        for name in self.names:
            row = [0.0] * len(CHANNELS)
            if name == "energy":
                # (E_ecal + E_hcal) / (s_ecal + s_hcal): GeV summed, then scaled back to ~[0, 1].
                total = scales[0] + scales[1]
                row[0], row[1] = scales[0] / total, scales[1] / total
            else:
                row[CHANNELS.index(name)] = 1.0
            rows.append(row)
        self.register_buffer("mixing", torch.tensor(rows, dtype=torch.float32), persistent=False)

    @property
    def out_channels(self) -> int:
        """Number of channels the network receives."""
        return len(self.names)

    def forward(self, images: Tensor) -> Tensor:
        """(N, 3, H, W) stored images -> (N, C, H, W) network input."""
        if images.shape[1] != len(CHANNELS):
            msg = f"expected images with {len(CHANNELS)} channels, got shape {tuple(images.shape)}"
            raise ValueError(msg)
        mixing = self.get_buffer("mixing")
        return torch.einsum("oc,nchw->nohw", mixing.to(images.dtype), images)


class ImageAugment(nn.Module):
    """Random symmetry transformations of each image, active in training mode only.

    The detector (and the physics) is symmetric under eta -> -eta, phi -> -phi and rotations in
    phi, so each event is independently flipped in eta and in phi with probability 1/2 and
    rolled in phi by a random multiple of n_phi / 8, as in the paper. Images are (N, C, H, W)
    with H along eta and W along phi. Randomness comes from torch's global generator, which
    ``lightning.seed_everything`` seeds.

    Args:
        eta_flip: Flip in eta.
        phi_flip: Flip in phi.
        phi_roll: Roll in phi by multiples of n_phi / 8.
    """

    def __init__(self, eta_flip: bool = True, phi_flip: bool = True, phi_roll: bool = True) -> None:
        super().__init__()
        self.eta_flip = eta_flip
        self.phi_flip = phi_flip
        self.phi_roll = phi_roll

    def forward(self, images: Tensor) -> Tensor:
        """Augmented copy of ``images`` in training mode, ``images`` itself in eval mode."""
        if not self.training:
            return images
        n, _, _, n_phi = images.shape
        shape = (n, 1, 1, 1)
        if self.eta_flip:
            flip = torch.rand(n, device=images.device) < 0.5
            images = torch.where(flip.view(shape), images.flip(-2), images)
        if self.phi_flip:
            flip = torch.rand(n, device=images.device) < 0.5
            images = torch.where(flip.view(shape), images.flip(-1), images)
        if self.phi_roll and n_phi >= 8:
            step = n_phi // 8
            shift = torch.randint(0, 8, (n,), device=images.device) * step
            columns = torch.arange(n_phi, device=images.device)
            index = (columns.view(1, -1) - shift.view(-1, 1)) % n_phi  # out[j] = in[j - shift]
            index = index.view(n, 1, 1, n_phi).expand_as(images)
            images = torch.gather(images, -1, index)
        return images
