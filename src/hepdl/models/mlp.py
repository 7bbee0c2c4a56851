"""One-hidden-layer network on standardised event-level variables.

The shallow baseline of the paper on the 23 jet variables, and, with the CNN's logit as one
more input, the network that combines the CNN with the jet variables.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["FeatureMLP"]


class FeatureMLP(nn.Module):
    """Standardise the inputs, one hidden ReLU layer, one logit out.

    Args:
        mean: Per-input mean over the training split (the standardisation).
        std: Per-input standard deviation over the training split (zeros are replaced by 1).
        hidden_units: Units of the hidden layer.
        dropout: Dropout probability after the hidden layer.
    """

    def __init__(
        self,
        mean: Sequence[float],
        std: Sequence[float],
        hidden_units: int = 64,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if len(mean) != len(std):
            msg = f"{len(mean)} means but {len(std)} standard deviations"
            raise ValueError(msg)
        scale = torch.tensor([s if s > 0 else 1.0 for s in std], dtype=torch.float32)
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32))
        self.register_buffer("scale", scale)
        self.net = nn.Sequential(
            nn.Linear(len(mean), hidden_units),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_units, 1),
        )

    def forward(self, inputs: Tensor) -> Tensor:
        """(N, n_inputs) raw inputs -> (N,) logits."""
        mean = self.get_buffer("mean")
        scale = self.get_buffer("scale")
        logits: Tensor = self.net((inputs - mean) / scale)
        return logits.squeeze(-1)
