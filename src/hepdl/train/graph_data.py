"""The graph split files (``{results}/graphs/{split}.h5``) as batches for the graph networks.

A split file stores the graphs concatenated (``x``, ``edge_index``, ``edge_weight``) with their
offsets (``node_ptr``, ``edge_ptr``), torch-geometric's InMemoryDataset layout, and per graph
the truth of the images contract (``label``, ``weight``, ``psr``, ``mg``, ``mn``, ``sample``), in
the same event order as the images and features splits (:mod:`hepdl.graphs.merge`).

:class:`hepdl.io.splits.GraphSplit` reads the per-graph arrays only; :class:`GraphBatches` has
the nodes and edges of a batch read from the (compressed, chunked) file when asked, one slice per run of nearby
events, and batches them as torch-geometric does (node numbers shifted by each graph's offset,
a ``batch`` vector), without building one object per graph. Batches are drawn by the shared
:class:`hepdl.train.datamodules.BlockBatchSampler` in blocks of about one HDF5 chunk, as for the
images, so a paper-scale split is never loaded whole.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch.utils.data import Dataset

from hepdl.io.splits import GraphSplit, LazyH5
from hepdl.models.gnn import GraphInputs
from hepdl.train.datamodules import SplitFileDataModule

__all__ = ["GraphBatches", "GraphDataModule"]

Batch = dict[str, Any]

#: HDF5 chunk cache per open file (bytes).
_CHUNK_CACHE_BYTES = 64 * 1024**2


class GraphBatches(Dataset[Batch]):
    """Batches of graphs read from a split file; the file opens lazily in each worker.

    Each item, for a sorted array of positions, is ``{"x": GraphInputs, "y", "w", "index"}``.

    Args:
        graphs: The split file.
        rows: The file rows (sorted) this dataset covers.
        weight: Training weight of each of ``rows``.
        label: Label of each of ``rows``.
    """

    def __init__(
        self,
        graphs: GraphSplit,
        rows: NDArray[np.int64],
        weight: NDArray[np.float32],
        label: NDArray[np.integer[Any]],
    ) -> None:
        self.graphs = graphs
        self.rows = rows
        self.weight = torch.from_numpy(np.asarray(weight, dtype=np.float32))
        self.label = torch.from_numpy(np.asarray(label, dtype=np.float32))
        self._file = LazyH5(graphs.path, _CHUNK_CACHE_BYTES)

    def __len__(self) -> int:
        return len(self.rows)

    def read(self, rows: NDArray[np.int64]) -> GraphInputs:
        """The graphs of file ``rows`` (sorted), batched."""
        x, edge_index, edge_weight = self.graphs.read_graphs(self._file(), rows)
        n_nodes = self.graphs.node_ptr[rows + 1] - self.graphs.node_ptr[rows]
        return GraphInputs(
            x=torch.from_numpy(x.astype(np.float32, copy=False)),
            edge_index=torch.from_numpy(edge_index),
            edge_weight=torch.from_numpy(edge_weight.astype(np.float32, copy=False)),
            batch=torch.from_numpy(np.repeat(np.arange(len(rows), dtype=np.int64), n_nodes)),
            num_graphs=len(rows),
        )

    def __getitem__(self, positions: NDArray[np.int64]) -> Batch:
        positions = np.asarray(positions, dtype=np.int64)
        index = torch.from_numpy(positions)
        return {
            "x": self.read(self.rows[positions]),
            "y": self.label[index],
            "w": self.weight[index],
            "index": index,
        }


class GraphDataModule(SplitFileDataModule[GraphSplit]):
    """Graph split files (:class:`~hepdl.train.datamodules.SplitFileDataModule`), batches of
    graphs as torch-geometric batches them."""

    def _open(self, path: str | os.PathLike[str]) -> GraphSplit:
        return GraphSplit.open(path)

    def _batches(
        self,
        split: GraphSplit,
        rows: NDArray[np.int64],
        weight: NDArray[np.float32],
        label: NDArray[Any],
    ) -> GraphBatches:
        return GraphBatches(split, rows, weight, label)
