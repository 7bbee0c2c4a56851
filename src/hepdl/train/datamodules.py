"""Lightning DataModules that stream the split files in batches.

Image files are too large to load whole at paper scale, and compressed HDF5 is read a chunk
(``images.chunk_events`` events) at a time, so reading events at random would decompress each
chunk once per event in it. :class:`BlockBatchSampler` therefore shuffles *blocks* of
consecutive events (one chunk long) and cuts the shuffled sequence into batches: every chunk is
decompressed about once per epoch, and the batch composition still changes every epoch. The split
files are already in a seeded random event order (``hepdl.reco.assign_splits``), so a block is a random
sample of events.

The sampler shards batches over distributed ranks itself (so the Trainer runs with
``use_distributed_sampler=False``), giving every rank the same number of batches.
"""

from __future__ import annotations

import math
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import lightning.pytorch as pl
import numpy as np
import torch
from numpy.typing import NDArray
from torch.utils.data import DataLoader, Dataset, Sampler

from hepdl.io.splits import ImageSplit, LazyH5, read_rows, select_samples
from hepdl.train.balance import balanced_weights

if TYPE_CHECKING:
    from typing import Self

__all__ = [
    "BlockBatchSampler",
    "FeatureBatches",
    "FeatureDataModule",
    "ImageBatches",
    "ImageDataModule",
    "SplitFile",
    "SplitFileDataModule",
]

Batch = dict[str, torch.Tensor]

#: HDF5 chunk cache per open file (bytes): a few chunks of 64 events of 3 x 64 x 64 floats.
_CHUNK_CACHE_BYTES = 64 * 1024**2


def _distributed() -> tuple[int, int]:
    """(rank, world size) of the current process group, (0, 1) without one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class BlockBatchSampler(Sampler[NDArray[np.int64]]):
    """Batches of event positions, drawn as shuffled blocks of consecutive events.

    Each item is a sorted array of positions (0 .. n_events - 1) forming one batch.

    Args:
        n_events: Events to draw from.
        batch_size: Events per batch.
        block_size: Consecutive events kept together (the HDF5 chunk length); 1 shuffles
            event by event.
        shuffle: Shuffle the block order (every epoch anew) or keep the file order.
        seed: Seed of the shuffle; epoch e uses (seed, e).
        drop_last: Drop the last, incomplete batch (training) or keep it (evaluation).
    """

    def __init__(
        self,
        n_events: int,
        batch_size: int,
        block_size: int = 1,
        *,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = True,
    ) -> None:
        if n_events < 1 or batch_size < 1 or block_size < 1:
            msg = f"need positive sizes, got {n_events} events, batch {batch_size}, block {block_size}"
            raise ValueError(msg)
        self.n_events = n_events
        self.batch_size = batch_size
        self.block_size = min(block_size, batch_size)
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the shuffle of ``epoch`` (Lightning calls this before every epoch)."""
        self.epoch = epoch

    def _batches(self) -> list[NDArray[np.int64]]:
        positions = np.arange(self.n_events, dtype=np.int64)
        if self.shuffle:
            rng = np.random.default_rng([self.seed, self.epoch])
            n_blocks = math.ceil(self.n_events / self.block_size)
            order = rng.permutation(n_blocks)
            positions = np.concatenate(
                [positions[b * self.block_size : (b + 1) * self.block_size] for b in order]
            )
        n_full, rest = divmod(self.n_events, self.batch_size)
        n_batches = n_full if self.drop_last or rest == 0 else n_full + 1
        if n_batches == 0:  # fewer events than one batch: use them all rather than nothing
            n_batches = 1
        batches = [
            np.sort(positions[i * self.batch_size : (i + 1) * self.batch_size])
            for i in range(n_batches)
        ]
        rank, world = _distributed()
        if world > 1:
            if self.drop_last:
                batches = batches[: max(len(batches) // world, 1) * world]
            else:  # pad by repeating batches so every rank runs the same number of steps
                padding = -len(batches) % world
                batches += batches[:padding]
            batches = batches[rank::world]
        return batches

    def __iter__(self) -> Iterator[NDArray[np.int64]]:
        return iter(self._batches())

    def __len__(self) -> int:
        return len(self._batches())


class ImageBatches(Dataset[Batch]):
    """Batches of images read from an HDF5 split file; the file opens lazily in each worker.

    Args:
        path: The images split file.
        rows: The file rows (sorted) this dataset covers.
        weight: Training weight of each of ``rows``.
        label: Label of each of ``rows``.
        chunk_events: Events per HDF5 chunk: rows closer than this are read in one slice.
    """

    def __init__(
        self,
        path: Path,
        rows: NDArray[np.int64],
        weight: NDArray[np.float32],
        label: NDArray[np.integer[Any]],
        chunk_events: int = 1,
    ) -> None:
        self.path = path
        self.rows = rows
        self.weight = torch.from_numpy(np.asarray(weight, dtype=np.float32))
        self.label = torch.from_numpy(np.asarray(label, dtype=np.float32))
        self.chunk_events = chunk_events
        self._file = LazyH5(path, _CHUNK_CACHE_BYTES)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, positions: NDArray[np.int64]) -> Batch:
        positions = np.asarray(positions, dtype=np.int64)
        rows = self.rows[positions]
        images = torch.from_numpy(read_rows(self._file()["data"], rows, self.chunk_events))
        index = torch.from_numpy(positions)
        return {"x": images, "y": self.label[index], "w": self.weight[index], "index": index}


class FeatureBatches(Dataset[Batch]):
    """Batches of in-memory event-level inputs.

    Args:
        inputs: (N, n_inputs) inputs.
        weight: Training weight per event.
        label: Label per event.
    """

    def __init__(
        self, inputs: NDArray[np.float32], weight: NDArray[np.float32], label: NDArray[Any]
    ) -> None:
        self.inputs = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
        self.weight = torch.from_numpy(np.asarray(weight, dtype=np.float32))
        self.label = torch.from_numpy(np.asarray(label, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.label)

    def __getitem__(self, positions: NDArray[np.int64]) -> Batch:
        index = torch.from_numpy(np.asarray(positions, dtype=np.int64))
        return {
            "x": self.inputs[index],
            "y": self.label[index],
            "w": self.weight[index],
            "index": index,
        }


class _BatchDataModule(pl.LightningDataModule, ABC):
    """Data loaders over datasets of whole batches (``BlockBatchSampler`` items)."""

    def __init__(
        self,
        batch_size: int,
        eval_batch_size: int | None,
        num_workers: int,
        seed: int,
        per_sample: bool,
    ) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.per_sample = per_sample
        self.datasets: dict[str, Dataset[Batch]] = {}

    def _block_size(self, stage: str) -> int:
        return 1

    @abstractmethod
    def _dataset(self, stage: str, selected: bool) -> Dataset[Batch]:
        """The batches of ``stage``: the events of the configured samples if ``selected``
        (training, validation), else every event (scoring)."""

    def _weights(
        self,
        stage: str,
        weight: NDArray[np.float64],
        label: NDArray[Any],
        sample: NDArray[np.str_] | None,
        *,
        source: object,
        selected: bool,
    ) -> NDArray[np.float32]:
        """Balanced training weights for training and validation, the physical ones to score."""
        if not selected:
            return np.asarray(weight, dtype=np.float32)
        return balanced_weights(
            weight,
            label,
            source,
            require_both=stage == "train",
            sample=sample if self.per_sample else None,
        )

    def setup(self, stage: str) -> None:
        """Build the datasets of ``stage`` (``fit``, ``validate`` or ``predict``)."""
        if stage in ("fit", "validate"):
            if stage == "fit":
                self.datasets["train"] = self._dataset("train", selected=True)
            self.datasets["val"] = self._dataset("val", selected=True)
        if stage == "predict":
            self.datasets["predict"] = self._dataset("predict", selected=False)

    def _loader(self, stage: str, *, train: bool) -> DataLoader[Batch]:
        dataset = self.datasets[stage]
        sampler = BlockBatchSampler(
            len(dataset),  # type: ignore[arg-type]  # torch's Dataset declares no __len__
            self.batch_size if train else self.eval_batch_size,
            self._block_size(stage),
            shuffle=train,
            seed=self.seed,
            drop_last=train,
        )
        trainer = self.trainer
        pin = trainer is not None and trainer.strategy.root_device.type == "cuda"
        workers = self.num_workers
        return DataLoader(
            dataset,
            batch_size=None,
            sampler=sampler,
            num_workers=workers,
            pin_memory=pin,
            persistent_workers=workers > 0 and train,
            prefetch_factor=4 if workers > 0 else None,
        )

    def train_dataloader(self) -> DataLoader[Batch]:
        """Shuffled blocks, incomplete last batch dropped."""
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader[Batch]:
        """Every validation event, in file order."""
        return self._loader("val", train=False)

    def predict_dataloader(self) -> DataLoader[Batch]:
        """Every event of the predicted split, in file order (``batch['index']`` is the row)."""
        return self._loader("predict", train=False)


class SplitFile(Protocol):
    """What a split file opened for training offers (:class:`~hepdl.io.splits.ImageSplit`,
    :class:`~hepdl.io.splits.GraphSplit`): per-event truth in memory, inputs on disk."""

    @property
    def path(self) -> Path: ...
    @property
    def n_events(self) -> int: ...
    @property
    def chunk_events(self) -> int: ...
    @property
    def label(self) -> NDArray[np.int8]: ...
    @property
    def weight(self) -> NDArray[np.float64]: ...
    @property
    def sample(self) -> NDArray[np.str_]: ...


SplitT = TypeVar("SplitT", bound=SplitFile)


class SplitFileDataModule(_BatchDataModule, Generic[SplitT]):
    """Split files for training (``train``, ``val``) or scoring (``predict``), read in blocks.

    Subclasses say how a file opens (:meth:`_open`) and how rows of it become batches
    (:meth:`_batches`).

    Args:
        train: Training split file (needed for ``fit``).
        val: Validation split file (needed for ``fit``).
        predict: The split file to score (needed for ``predict``); all its events are scored.
        batch_size: Training batch size.
        eval_batch_size: Batch size for validation and scoring (default: ``batch_size``).
        num_workers: Data-loading worker processes (0: load in the main process).
        samples: Samples whose events are used for training and validation; None: all.
        seed: Seed of the batch shuffling.
        per_sample: Scale every background sample to the same total training weight.
    """

    def __init__(
        self,
        train: str | os.PathLike[str] | None = None,
        val: str | os.PathLike[str] | None = None,
        predict: str | os.PathLike[str] | None = None,
        *,
        batch_size: int = 512,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        samples: Sequence[str] | None = None,
        seed: int = 0,
        per_sample: bool = False,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, num_workers, seed, per_sample)
        self.paths = {"train": train, "val": val, "predict": predict}
        self.samples = list(samples) if samples is not None else None
        self.files: dict[str, SplitT] = {}

    @classmethod
    def for_training(
        cls,
        config: Mapping[str, Any],
        settings: Mapping[str, Any],
        train: str | os.PathLike[str],
        val: str | os.PathLike[str],
        *,
        seed: int,
    ) -> Self:
        """The training and validation files of a network, as the config's ``train`` block and
        the network's own ``settings`` (batch sizes) ask."""
        return cls(
            train,
            val,
            batch_size=settings["batch_size"],
            eval_batch_size=settings["eval_batch_size"],
            num_workers=config["train"]["num_workers"],
            samples=config["train"]["samples"],
            seed=seed,
            per_sample=config["train"]["background_weights"] == "per_sample",
        )

    @abstractmethod
    def _open(self, path: str | os.PathLike[str]) -> SplitT:
        """The split file at ``path``, opened and checked."""

    @abstractmethod
    def _batches(
        self,
        split: SplitT,
        rows: NDArray[np.int64],
        weight: NDArray[np.float32],
        label: NDArray[Any],
    ) -> Dataset[Batch]:
        """The dataset of batches of ``rows`` of ``split``, with their weights and labels."""

    def _block_size(self, stage: str) -> int:
        return self.files[stage].chunk_events

    def _dataset(self, stage: str, selected: bool) -> Dataset[Batch]:
        path = self.paths[stage]
        if path is None:
            msg = f"{type(self).__name__} needs the '{stage}' split file for this stage"
            raise ValueError(msg)
        split = self._open(path)
        self.files[stage] = split
        if selected:
            rows = select_samples(split.sample, self.samples, split.path)
        else:
            rows = np.arange(split.n_events, dtype=np.int64)
        label = split.label[rows]
        weight = self._weights(
            stage,
            split.weight[rows],
            label,
            split.sample[rows],
            source=split.path,
            selected=selected,
        )
        return self._batches(split, rows, weight, label)


class ImageDataModule(SplitFileDataModule[ImageSplit]):
    """Images split files (:class:`SplitFileDataModule`), batches of (N, C, H, W) images."""

    def _open(self, path: str | os.PathLike[str]) -> ImageSplit:
        return ImageSplit.open(path)

    def _batches(
        self,
        split: ImageSplit,
        rows: NDArray[np.int64],
        weight: NDArray[np.float32],
        label: NDArray[Any],
    ) -> ImageBatches:
        return ImageBatches(split.path, rows, weight, label, split.chunk_events)


class FeatureDataModule(_BatchDataModule):
    """In-memory event-level inputs (jet variables, or CNN score and jet variables).

    Args:
        inputs: Per stage (``train``, ``val``, ``predict``), the (N, n_inputs) inputs, labels and
            physical weights, and the file they came from (for messages).
        batch_size: Training batch size.
        eval_batch_size: Batch size for validation and scoring.
        samples: Per stage, the sample names, to select the events of ``select``.
        select: Samples used for training and validation; None: all.
        seed: Seed of the batch shuffling.
        per_sample: Scale every background sample to the same total training weight.
    """

    def __init__(
        self,
        inputs: Mapping[str, tuple[NDArray[np.float32], NDArray[Any], NDArray[np.float64], object]],
        *,
        batch_size: int = 512,
        eval_batch_size: int | None = None,
        samples: Mapping[str, NDArray[np.str_]] | None = None,
        select: Sequence[str] | None = None,
        seed: int = 0,
        per_sample: bool = False,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, 0, seed, per_sample)
        self.inputs = inputs
        self.samples = samples or {}
        self.select = list(select) if select is not None else None

    def _dataset(self, stage: str, selected: bool) -> FeatureBatches:
        if stage not in self.inputs:
            msg = f"FeatureDataModule needs the '{stage}' inputs for this stage"
            raise ValueError(msg)
        inputs, label, weight, source = self.inputs[stage]
        sample = self.samples.get(stage)
        if selected and sample is not None:
            rows = select_samples(sample, self.select, source)
            inputs, label, weight, sample = inputs[rows], label[rows], weight[rows], sample[rows]
        train_weight = self._weights(stage, weight, label, sample, source=source, selected=selected)
        return FeatureBatches(inputs, train_weight, label)
