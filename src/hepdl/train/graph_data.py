"""The graph split files (``{results}/graphs/{split}.h5``) as batches for the graph networks.

A split file stores the graphs concatenated (``x``, ``edge_index``, ``edge_weight``) with their
offsets (``node_ptr``, ``edge_ptr``), torch-geometric's InMemoryDataset layout, and per graph
the truth of the images contract (``label``, ``weight``, ``psr``, ``mg``, ``mn``, ``sample``), in
the same event order as the images and features splits (:mod:`hepdl.graphs.merge`).

:class:`GraphFile` reads the per-graph arrays only; :class:`GraphBatches` reads the nodes and
edges of a batch from the (compressed, chunked) file when asked, one slice per run of nearby
events, and batches them as torch-geometric does (node numbers shifted by each graph's offset,
a ``batch`` vector), without building one object per graph. Batches are drawn by the shared
:class:`hepdl.train.datamodules.BlockBatchSampler` in blocks of about one HDF5 chunk, as for the
images, so a paper-scale split is never loaded whole.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from numpy.typing import NDArray
from torch.utils.data import Dataset

from hepdl.errors import InputFileError
from hepdl.graphs.build import NODE_FEATURES
from hepdl.graphs.merge import _ragged_arange
from hepdl.models.gnn import GraphInputs
from hepdl.train.datamodules import SplitFileDataModule, _runs
from hepdl.train.splits import event_truth

__all__ = ["GRAPH_KEYS", "GraphBatches", "GraphDataModule", "GraphFile"]

#: The datasets every graph split file holds.
GRAPH_KEYS = (
    "x",
    "edge_index",
    "edge_weight",
    "node_ptr",
    "edge_ptr",
    "label",
    "weight",
    "psr",
    "mg",
    "mn",
    "sample",
)

Batch = dict[str, Any]

#: HDF5 chunk cache per open file (bytes).
_CHUNK_CACHE_BYTES = 64 * 1024**2


@dataclass(frozen=True)
class GraphFile:
    """A graph split file: offsets and per-graph truth in memory, nodes and edges on disk.

    Attributes:
        path: The HDF5 file.
        n_events: Graphs (events) in the file.
        node_features: Names of the columns of ``x``.
        node_ptr: (n_events + 1,) graph g owns nodes node_ptr[g]:node_ptr[g + 1].
        edge_ptr: (n_events + 1,) graph g owns edges edge_ptr[g]:edge_ptr[g + 1].
        chunk_events: About how many consecutive graphs one HDF5 chunk of ``x`` holds.
        label: 1 signal, 0 background.
        weight: Physical event weight.
        psr: Whether the event passes the cut-based signal region.
        mg: Gluino mass (GeV; 0 for background).
        mn: Neutralino mass (GeV; 0 for background).
        sample: Sample name of each event.
    """

    path: Path
    n_events: int
    node_features: tuple[str, ...]
    node_ptr: NDArray[np.int64]
    edge_ptr: NDArray[np.int64]
    chunk_events: int
    label: NDArray[np.int8]
    weight: NDArray[np.float64]
    psr: NDArray[np.bool_]
    mg: NDArray[np.float64]
    mn: NDArray[np.float64]
    sample: NDArray[np.str_]

    @property
    def n_nodes(self) -> NDArray[np.int64]:
        """Nodes of each graph."""
        return np.diff(self.node_ptr)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> GraphFile:
        """Read and check a graph split file.

        Raises:
            InputFileError: naming the file, if it is missing or unreadable, lacks a key of
                :data:`GRAPH_KEYS`, has node features other than
                :data:`hepdl.graphs.NODE_FEATURES`, or inconsistent offsets or lengths.
        """
        path = Path(path)
        if not path.is_file():
            raise InputFileError(
                path, "graph split file not found (run hepdl merge --kind graphs first)"
            )
        try:
            with h5py.File(path, "r") as h5:
                missing = [key for key in GRAPH_KEYS if key not in h5]
                if missing:
                    raise InputFileError(
                        path,
                        f"graph split file lacks the datasets {missing}; expected {GRAPH_KEYS}",
                    )
                names = tuple(
                    v.decode() if isinstance(v, bytes) else str(v)
                    for v in np.ravel(h5.attrs.get("node_features", []))
                )
                x_shape, x_chunks = h5["x"].shape, h5["x"].chunks
                n_edges = int(h5["edge_index"].shape[1])
                n_weights = int(h5["edge_weight"].shape[0])
                columns = {key: h5[key][()] for key in GRAPH_KEYS[3:]}
        except OSError as err:
            raise InputFileError(path, f"not a readable HDF5 file ({err})") from None
        if names != NODE_FEATURES or len(x_shape) != 2 or x_shape[1] != len(NODE_FEATURES):
            raise InputFileError(
                path,
                f"node features {list(names)} (x of shape {x_shape}); expected "
                f"{list(NODE_FEATURES)}: rebuild the graphs with this version",
            )
        node_ptr = np.asarray(columns.pop("node_ptr"), dtype=np.int64)
        edge_ptr = np.asarray(columns.pop("edge_ptr"), dtype=np.int64)
        n_events = len(node_ptr) - 1
        if (
            len(edge_ptr) != n_events + 1
            or node_ptr[-1] != x_shape[0]
            or edge_ptr[-1] != n_edges
            or n_weights != n_edges
            or any(len(v) != n_events for v in columns.values())
        ):
            raise InputFileError(
                path, "node, edge and event counts disagree; the file is damaged (rerun the merge)"
            )
        mean_nodes = max(1.0, float(node_ptr[-1]) / max(n_events, 1))
        chunk_rows = int(x_chunks[0]) if x_chunks else 1
        return cls(
            path=path,
            n_events=n_events,
            node_features=names,
            node_ptr=node_ptr,
            edge_ptr=edge_ptr,
            chunk_events=max(1, int(chunk_rows / mean_nodes)),
            **event_truth(columns),
        )


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
        graphs: GraphFile,
        rows: NDArray[np.int64],
        weight: NDArray[np.float32],
        label: NDArray[np.integer[Any]],
    ) -> None:
        self.graphs = graphs
        self.rows = rows
        self.weight = torch.from_numpy(np.asarray(weight, dtype=np.float32))
        self.label = torch.from_numpy(np.asarray(label, dtype=np.float32))
        self._file: h5py.File | None = None
        self._pid = -1

    def __len__(self) -> int:
        return len(self.rows)

    def _h5(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():  # h5py handles do not survive fork
            self._file = h5py.File(self.graphs.path, "r", rdcc_nbytes=_CHUNK_CACHE_BYTES)
            self._pid = os.getpid()
        return self._file

    def read(self, rows: NDArray[np.int64]) -> GraphInputs:
        """The graphs of file ``rows`` (sorted), batched."""
        h5 = self._h5()
        node_ptr, edge_ptr = self.graphs.node_ptr, self.graphs.edge_ptr
        xs, edges, weights = [], [], []
        for start, stop in _runs(rows, self.graphs.chunk_events):
            run = rows[start:stop]
            first, last = int(run[0]), int(run[-1])
            n0, n1 = int(node_ptr[first]), int(node_ptr[last + 1])
            e0, e1 = int(edge_ptr[first]), int(edge_ptr[last + 1])
            nodes = _ragged_arange(node_ptr[run] - n0, node_ptr[run + 1] - node_ptr[run])
            kept = _ragged_arange(edge_ptr[run] - e0, edge_ptr[run + 1] - edge_ptr[run])
            xs.append(h5["x"][n0:n1][nodes])
            edges.append(h5["edge_index"][:, e0:e1][:, kept])
            weights.append(h5["edge_weight"][e0:e1][kept])
        n_nodes = node_ptr[rows + 1] - node_ptr[rows]
        n_edges = edge_ptr[rows + 1] - edge_ptr[rows]
        offset = np.concatenate([[0], np.cumsum(n_nodes)[:-1]]).astype(np.int64)
        edge_index = np.concatenate(edges, axis=1).astype(np.int64) + np.repeat(offset, n_edges)
        return GraphInputs(
            x=torch.from_numpy(np.concatenate(xs).astype(np.float32, copy=False)),
            edge_index=torch.from_numpy(edge_index),
            edge_weight=torch.from_numpy(np.concatenate(weights).astype(np.float32, copy=False)),
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


class GraphDataModule(SplitFileDataModule[GraphFile]):
    """Graph split files (:class:`~hepdl.train.datamodules.SplitFileDataModule`), batches of
    graphs as torch-geometric batches them."""

    def _open(self, path: str | os.PathLike[str]) -> GraphFile:
        return GraphFile.open(path)

    def _batches(
        self,
        split: GraphFile,
        rows: NDArray[np.int64],
        weight: NDArray[np.float32],
        label: NDArray[Any],
    ) -> GraphBatches:
        return GraphBatches(split, rows, weight, label)
