"""Lightning modules: the networks of :mod:`hepdl.models`, their loss and their optimiser.

Every classifier minimises the per-event weighted binary cross-entropy,

    L = mean_i w_i * BCE(logit_i, y_i),

with the training weights of :func:`hepdl.train.balance.balanced_weights` (physical weights,
signal and background classes each summing to N/2), using Adam. The shared
:meth:`WeightedClassifier._common_step` logs ``{stage}_loss`` and stops training with a
:class:`~hepdl.errors.NonFiniteLossError` naming the step when the loss is NaN or infinite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hepdl.errors import NonFiniteLossError
from hepdl.models.cnn import ImageCNN
from hepdl.models.images import ChannelSelect, ImageAugment
from hepdl.models.mlp import FeatureMLP

__all__ = ["FeatureClassifier", "GraphClassifier", "ImageClassifier", "WeightedClassifier"]

Batch = dict[str, Tensor]


class WeightedClassifier(pl.LightningModule):
    """Binary classifier trained with a per-event weighted cross-entropy.

    Subclasses build ``self.net`` (inputs -> one logit per event) and list the hyper-parameters
    that fix the network's shape in :attr:`ARCHITECTURE`.
    """

    #: Hyper-parameters that define the shape of the network (checked when loading).
    ARCHITECTURE: ClassVar[tuple[str, ...]] = ()
    net: nn.Module

    def forward(self, inputs: Tensor) -> Tensor:
        """Inputs -> (N,) logits."""
        logits: Tensor = self.net(inputs)
        return logits

    def _train_inputs(self, inputs: Tensor) -> Tensor:
        return inputs

    def _common_step(self, batch: Batch, batch_idx: int, stage: str) -> Tensor:
        inputs = self._train_inputs(batch["x"]) if stage == "train" else batch["x"]
        logits = self(inputs).float()
        per_event = F.binary_cross_entropy_with_logits(logits, batch["y"], reduction="none")
        loss = (per_event * batch["w"]).mean()
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                stage, loss.detach().item(), self.global_step, self.current_epoch, batch_idx
            )
        self.log(
            f"{stage}_loss",
            loss,
            prog_bar=True,
            on_step=stage == "train",
            on_epoch=True,
            batch_size=len(logits),
            sync_dist=True,
        )
        return loss

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        """Weighted loss of one augmented training batch."""
        return self._common_step(batch, batch_idx, "train")

    def validation_step(self, batch: Batch, batch_idx: int) -> Tensor:
        """Weighted loss of one validation batch (logged as the epoch mean)."""
        return self._common_step(batch, batch_idx, "val")

    def predict_step(self, batch: Batch, batch_idx: int) -> Batch:
        """Logits of one batch, with the rows they belong to."""
        return {"logit": self(batch["x"]).float(), "index": batch["index"]}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Adam with the configured learning rate and weight decay."""
        return torch.optim.Adam(
            self.parameters(),
            lr=self.hparams["learning_rate"],
            weight_decay=self.hparams["weight_decay"],
        )


class ImageClassifier(WeightedClassifier):
    """The CNN on whole-detector images (:class:`hepdl.models.ImageCNN`).

    Args:
        channels: Channels the network sees (names of :mod:`hepdl.models.images`).
        scales: The stored channels' scales from the training split.
        image_shape: (n_eta, n_phi).
        conv_filters: Filters of each conv block.
        kernel_size: Convolution kernel side.
        dense_units: Units of the hidden dense layer.
        dropout: Dropout probability.
        batch_norm: Batch norm after each convolution.
        augment: Flags ``eta_flip``, ``phi_flip``, ``phi_roll`` of the training augmentation.
        learning_rate: Adam learning rate.
        weight_decay: Adam (L2) weight decay.
    """

    ARCHITECTURE = (
        "channels",
        "image_shape",
        "conv_filters",
        "kernel_size",
        "dense_units",
        "batch_norm",
    )

    def __init__(
        self,
        channels: Sequence[str],
        scales: Sequence[float],
        image_shape: Sequence[int],
        *,
        conv_filters: Sequence[int] = (128, 128, 128),
        kernel_size: int = 3,
        dense_units: int = 512,
        dropout: float = 0.5,
        batch_norm: bool = True,
        augment: Mapping[str, bool] | None = None,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.select = ChannelSelect(channels, scales)
        self.augment = ImageAugment(**dict(augment or {}))
        self.net = ImageCNN(
            self.select.out_channels,
            image_shape,
            conv_filters=conv_filters,
            kernel_size=kernel_size,
            dense_units=dense_units,
            dropout=dropout,
            batch_norm=batch_norm,
        )

    def forward(self, inputs: Tensor) -> Tensor:
        """(N, 3, H, W) stored images -> (N,) logits."""
        logits: Tensor = self.net(self.select(inputs))
        return logits

    def _train_inputs(self, inputs: Tensor) -> Tensor:
        augmented: Tensor = self.augment(inputs)
        return augmented


class FeatureClassifier(WeightedClassifier):
    """The one-hidden-layer network on event-level inputs (:class:`hepdl.models.FeatureMLP`).

    Args:
        input_names: Names of the inputs, in order (jet variables, optionally the CNN logit).
        mean: Per-input training-split mean.
        std: Per-input training-split standard deviation.
        hidden_units: Units of the hidden layer.
        dropout: Dropout probability after the hidden layer.
        learning_rate: Adam learning rate.
        weight_decay: Adam (L2) weight decay.
    """

    ARCHITECTURE = ("input_names", "hidden_units")

    def __init__(
        self,
        input_names: Sequence[str],
        mean: Sequence[float],
        std: Sequence[float],
        *,
        hidden_units: int = 64,
        dropout: float = 0.0,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = FeatureMLP(mean, std, hidden_units, dropout)


class GraphClassifier(WeightedClassifier):
    """A graph network on the event graphs (:mod:`hepdl.models.gnn`; needs the ``gnn`` extra).

    Args:
        architecture: ``gcn`` (kernel-weighted graph convolutions, the IceCube GraphCNN) or
            ``edgeconv`` (dynamic-graph EdgeConv, ParticleNet-style).
        node_features: The stored node features the network reads, in order (checked against
            the graph files' ``node_features``).
        channels: Output features of each graph layer or block.
        k_neighbours: Feature-space neighbours of the EdgeConv blocks after the first.
        dense_units: Units of the hidden dense layer after pooling.
        dropout: Dropout probability before the output layer.
        batch_norm: Batch normalisation in the graph layers.
        pooling: Global poolings over the nodes (``mean``, ``max``, ``sum``), concatenated.
        augment: Flags ``eta_flip``, ``phi_rotate`` of the training augmentation.
        learning_rate: Adam learning rate.
        weight_decay: Adam (L2) weight decay.
    """

    ARCHITECTURE = (
        "architecture",
        "node_features",
        "channels",
        "k_neighbours",
        "dense_units",
        "batch_norm",
        "pooling",
    )

    def __init__(
        self,
        architecture: str,
        node_features: Sequence[str],
        *,
        channels: Sequence[int] = (64, 64, 64),
        k_neighbours: int = 16,
        dense_units: int = 64,
        dropout: float = 0.1,
        batch_norm: bool = True,
        pooling: Sequence[str] = ("mean", "max"),
        augment: Mapping[str, bool] | None = None,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
    ) -> None:
        from hepdl.io.splits import NODE_FEATURES  # noqa: PLC0415
        from hepdl.models.gnn import GraphAugment, build_graph_network  # noqa: PLC0415

        super().__init__()
        self.save_hyperparameters()
        if tuple(node_features) != NODE_FEATURES:
            msg = f"node features {list(node_features)}; this network reads {list(NODE_FEATURES)}"
            raise ValueError(msg)
        self.augment = GraphAugment(**dict(augment or {}))
        self.net = build_graph_network(
            architecture,
            channels,
            k_neighbours=k_neighbours,
            dense_units=dense_units,
            dropout=dropout,
            batch_norm=batch_norm,
            pooling=pooling,
        )

    def forward(self, inputs: Any) -> Tensor:
        """A :class:`hepdl.models.gnn.GraphInputs` batch -> (num_graphs,) logits."""
        logits: Tensor = self.net(inputs)
        return logits

    def _train_inputs(self, inputs: Any) -> Any:
        return self.augment(inputs)


def hparams_of(module: pl.LightningModule) -> dict[str, Any]:
    """The module's hyper-parameters as a plain dict."""
    return dict(module.hparams)
