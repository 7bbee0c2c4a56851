"""The convolutional network on whole-detector eta-phi images.

As in Bhimji et al. (arXiv:1711.03573): alternating blocks of a 3x3 convolution, batch norm,
ReLU, 2x2 max-pooling and dropout, then two dense layers. The published 64x64 benchmark variant
has three blocks of 128 filters and a 512-unit dense layer (about 1 GFLOP per image for a
forward and backward pass); depth and width are parameters so the demo can run a narrow version
on a laptop CPU.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["ImageCNN"]


class ImageCNN(nn.Module):
    """Conv/pool blocks and two dense layers, returning one logit per image.

    Args:
        in_channels: Channels of the input images.
        image_shape: (n_eta, n_phi) pixels.
        conv_filters: Filters of each conv block; its length is the number of blocks.
        kernel_size: Side of the square convolution kernels (odd, padded to keep the size).
        dense_units: Units of the hidden dense layer.
        dropout: Dropout probability after each block and after the dense layer.
        batch_norm: Batch normalisation after each convolution.
    """

    def __init__(
        self,
        in_channels: int,
        image_shape: Sequence[int],
        *,
        conv_filters: Sequence[int] = (128, 128, 128),
        kernel_size: int = 3,
        dense_units: int = 512,
        dropout: float = 0.5,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        height, width = image_shape
        if height >> len(conv_filters) < 1 or width >> len(conv_filters) < 1:
            msg = (
                f"{len(conv_filters)} 2x2 poolings do not fit {height}x{width} images; "
                "use fewer conv blocks or larger images"
            )
            raise ValueError(msg)
        blocks: list[nn.Module] = []
        channels = in_channels
        for filters in conv_filters:
            blocks.append(
                nn.Conv2d(
                    channels, filters, kernel_size, padding=kernel_size // 2, bias=not batch_norm
                )
            )
            if batch_norm:
                blocks.append(nn.BatchNorm2d(filters))
            blocks += [nn.ReLU(inplace=True), nn.MaxPool2d(2), nn.Dropout(dropout)]
            channels = filters
            height, width = height // 2, width // 2
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * height * width, dense_units),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(dense_units, 1),
        )

    def forward(self, images: Tensor) -> Tensor:
        """(N, C, H, W) images -> (N,) logits (log-odds of signal)."""
        logits: Tensor = self.head(self.features(images))
        return logits.squeeze(-1)
