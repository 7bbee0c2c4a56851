"""A PyTorch dataset of contiguous batches of a split file (``images/{split}.h5``).

Item i is batch i: rows [i x batch_size, (i + 1) x batch_size) read in one HDF5 slice, so a
batch decompresses only its own chunks and a file of any size streams from disk. Use it with
``DataLoader(dataset, batch_size=None, shuffle=True)``: batches come in random order, their
events in the (already shuffled) order of the file. ``data`` is as stored (each channel divided
by the training split's ``channel_scales``), or in physical units with ``physical=True``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from hepdl.errors import InputFileError

__all__ = ["ImageBatches"]


class ImageBatches(Dataset[dict[str, torch.Tensor]]):
    """Contiguous batches of images and per-event values from one split file.

    Args:
        path: A split file written by ``hepdl merge --kind images``.
        batch_size: Events per batch (a multiple of the file's chunk size reads fastest).
        keys: Per-event datasets returned beside ``data`` (e.g. ``label``, ``weight``).
        physical: Multiply each channel by ``channel_scales``: GeV, GeV and track counts.
        drop_last: Leave out the last, smaller batch.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        batch_size: int,
        keys: Sequence[str] = ("label", "weight", "normweight"),
        *,
        physical: bool = False,
        drop_last: bool = False,
    ) -> None:
        if batch_size < 1:
            msg = f"batch_size must be positive, got {batch_size}"
            raise ValueError(msg)
        self.path = Path(path)
        self.batch_size = batch_size
        self.keys = tuple(keys)
        try:
            with h5py.File(self.path, "r") as h5:
                self.n_events = int(h5["data"].shape[0])
                missing = [key for key in self.keys if key not in h5]
                factor = np.asarray(h5.attrs["channel_scales"], dtype=np.float32)
        except (OSError, KeyError) as err:
            raise InputFileError(self.path, f"not a readable image split file ({err})") from None
        if missing:
            raise InputFileError(self.path, f"image split file lacks the keys {missing}")
        self.factor = factor.reshape(-1, 1, 1) if physical else None
        full, rest = divmod(self.n_events, batch_size)
        self.n_batches = full + (1 if rest and not drop_last else 0)
        self._h5: h5py.File | None = None

    def __len__(self) -> int:
        return self.n_batches

    def _file(self) -> h5py.File:
        # Opened lazily, so each DataLoader worker process has its own handle.
        if self._h5 is None:
            self._h5 = h5py.File(self.path, "r")
        return self._h5

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.n_batches:
            msg = f"batch {index} out of range for {self.n_batches} batches"
            raise IndexError(msg)
        h5 = self._file()
        low = index * self.batch_size
        high = min(self.n_events, low + self.batch_size)
        dataset = h5["data"]
        data = np.empty((high - low, *dataset.shape[1:]), dtype=np.float32)
        dataset.read_direct(data, np.s_[low:high])
        if self.factor is not None:
            data *= self.factor
        batch = {"data": torch.from_numpy(data)}
        for key in self.keys:
            batch[key] = torch.from_numpy(np.asarray(h5[key][low:high]))
        return batch

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_h5"] = None  # an open HDF5 handle does not cross process boundaries
        return state
