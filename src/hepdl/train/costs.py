"""What a network costs to train: parameters, time per training step, memory per batch.

:class:`CostMeter` rides along every Lightning fit (:func:`hepdl.train.trainer.fit_classifier`)
and the result is written beside the model as ``costs.json``, so the evaluation can put each
network's cost next to its signal efficiency (CNN against graph network on the same events;
read back by :func:`hepdl.evaluate.stage.read_costs`):

- ``parameters``: trainable parameters;
- ``step_seconds``: median wall time of a training step (forward, weighted loss, backward,
  optimiser step; data loading not included), over the steps after the first;
- ``memory_per_batch_mb``: the batch's input tensors plus every tensor autograd keeps for the
  backward pass (the activations), counted once per storage during one training step. This
  depends only on the network and the batch, not on the device or allocator, so it is
  reproducible on a CPU; on a GPU ``peak_device_memory_mb`` adds the allocator's peak for the
  same step (weights, gradients and optimiser state included).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch import Tensor

from hepdl.io.atomic import write_json_atomic

__all__ = ["CostMeter", "ModelCosts", "count_parameters", "saved_tensor_bytes", "tensor_bytes"]

_MB = 2**20


@dataclass(frozen=True)
class ModelCosts:
    """A network's training cost (see the module docstring).

    Attributes:
        parameters: Trainable parameters.
        batch_size: Events in the measured batch.
        step_seconds: Median training-step time (s) over ``steps_timed`` steps.
        steps_timed: Steps in the median.
        memory_per_batch_mb: Input plus saved activations of one batch (MiB).
        input_mb: The batch's input tensors (MiB).
        activation_mb: Tensors saved for the backward pass (MiB).
        peak_device_memory_mb: CUDA allocator peak during the step (MiB); None on a CPU.
        device: Where it ran (``cpu``, ``cuda:0``, with the GPU's name).
        threads: torch intra-op threads.
    """

    parameters: int
    batch_size: int
    step_seconds: float
    steps_timed: int
    memory_per_batch_mb: float
    input_mb: float
    activation_mb: float
    peak_device_memory_mb: float | None
    device: str
    threads: int


def count_parameters(module: torch.nn.Module) -> int:
    """Trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def tensor_bytes(value: Any) -> int:
    """Bytes of every tensor in ``value`` (nested tuples, lists, dicts, named tuples)."""
    if isinstance(value, Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, Mapping):
        return sum(tensor_bytes(v) for v in value.values())
    if isinstance(value, tuple | list):
        return sum(tensor_bytes(v) for v in value)
    return 0


class _SavedTensors:
    """Counts the storages autograd saves for backward while active (once each)."""

    def __init__(self) -> None:
        self.storages: dict[tuple[str, int], int] = {}
        self._hooks: Any = None

    def _pack(self, tensor: Tensor) -> Tensor:
        storage = tensor.untyped_storage()
        self.storages[(str(tensor.device), storage.data_ptr())] = storage.nbytes()
        return tensor

    def start(self) -> None:
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)
        self._hooks.__enter__()

    def stop(self) -> int:
        if self._hooks is not None:
            self._hooks.__exit__(None, None, None)
            self._hooks = None
        return sum(self.storages.values())


class CostMeter(pl.Callback):
    """Times every training step and measures the memory of one batch (the second).

    Args:
        measure_batch: Training batch (counted from 0 over the whole fit) whose memory is
            measured; the first is skipped as it pays one-off costs.
    """

    def __init__(self, measure_batch: int = 1) -> None:
        self.measure_batch = measure_batch
        self.step_seconds: list[float] = []
        self.batches = 0
        self.input_bytes = 0
        self.activation_bytes = 0
        self.batch_size = 0
        self.peak_bytes: int | None = None
        self.device = "cpu"
        self._start = 0.0
        self._saved: _SavedTensors | None = None

    @staticmethod
    def _sync(trainer: pl.Trainer) -> None:
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize()

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        """Start the clock (and, for the measured batch, the memory counters)."""
        device = trainer.strategy.root_device
        if self.batches == min(self.measure_batch, trainer.num_training_batches - 1):
            self.input_bytes = tensor_bytes(batch.get("x") if isinstance(batch, dict) else batch)
            self.batch_size = len(batch["y"]) if isinstance(batch, dict) else 0
            self._saved = _SavedTensors()
            self._saved.start()
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
        self._sync(trainer)
        self._start = time.perf_counter()

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        """Stop the clock (and the memory counters)."""
        self._sync(trainer)
        self.step_seconds.append(time.perf_counter() - self._start)
        self.batches += 1
        device = trainer.strategy.root_device
        self.device = str(device)
        if device.type == "cuda":
            self.device += f" ({torch.cuda.get_device_name(device)})"
        if self._saved is not None:
            self.activation_bytes = self._saved.stop()
            self._saved = None
            if device.type == "cuda":
                self.peak_bytes = int(torch.cuda.max_memory_allocated(device))

    def costs(self, module: torch.nn.Module) -> ModelCosts:
        """The measured costs of ``module``'s training."""
        if self._saved is not None:  # the fit ended inside the measured step
            self.activation_bytes = self._saved.stop()
            self._saved = None
        timed = self.step_seconds[1:] or self.step_seconds
        return ModelCosts(
            parameters=count_parameters(module),
            batch_size=self.batch_size,
            step_seconds=float(np.median(timed)) if timed else float("nan"),
            steps_timed=len(timed),
            memory_per_batch_mb=(self.input_bytes + self.activation_bytes) / _MB,
            input_mb=self.input_bytes / _MB,
            activation_mb=self.activation_bytes / _MB,
            peak_device_memory_mb=self.peak_bytes / _MB if self.peak_bytes is not None else None,
            device=self.device,
            threads=torch.get_num_threads(),
        )

    def write(self, module: torch.nn.Module, path: Path) -> ModelCosts:
        """Write the costs of ``module`` as JSON to ``path`` (atomically)."""
        costs = self.costs(module)
        write_json_atomic(path, asdict(costs))
        return costs


def saved_tensor_bytes(step: Callable[[], Any]) -> int:
    """Bytes of the tensors autograd keeps for backward while ``step()`` runs (once each)."""
    saved = _SavedTensors()
    saved.start()
    try:
        step()
    finally:
        total = saved.stop()
    return total
