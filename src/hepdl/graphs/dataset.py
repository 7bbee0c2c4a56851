"""A graph split (``graphs/{split}.h5``) as a torch-geometric InMemoryDataset.

The split file already stores the graphs as an InMemoryDataset does (concatenated tensors and
per-graph offsets), so loading is one read of each array (:meth:`hepdl.io.splits.GraphSplit.read_all`,
which checks the file first). Loading imports torch-geometric (a
dependency of hepdl, imported on use); writing the files does not.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hepdl.extras import require_torch_geometric
from hepdl.io.splits import GraphSplit

__all__ = ["graph_dataset"]

#: Per-graph values attached to each Data object (the label as ``y``).
GRAPH_VALUES = {"y": "label", "weight": "weight", "normweight": "normweight", "psr": "psr"}
GRAPH_VALUES.update({"mg": "mg", "mn": "mn", "event_number": "event_number"})


def _in_memory_dataset() -> type[Any]:
    torch_geometric = require_torch_geometric()
    import torch  # noqa: PLC0415 (torch-geometric depends on it)

    # torch_geometric is untyped (the module is Any here), so its base class is too.
    class _GraphDataset(torch_geometric.data.InMemoryDataset):  # type: ignore[misc,name-defined]
        """A split file as an InMemoryDataset: ``data.x``, ``edge_index``, ``edge_weight``, ``y``."""

        def __init__(
            self, path: str | os.PathLike[str], transform: Callable[[Any], Any] | None = None
        ) -> None:
            super().__init__(root=None, transform=transform)
            arrays = GraphSplit.open(path).read_all()
            self.path = Path(path)
            n_graphs = len(arrays["node_ptr"]) - 1
            per_graph = torch.arange(n_graphs + 1)
            data = torch_geometric.data.Data(
                x=torch.from_numpy(arrays["x"]),
                edge_index=torch.from_numpy(arrays["edge_index"].astype(np.int64)),
                edge_weight=torch.from_numpy(arrays["edge_weight"]),
            )
            slices = {
                "x": torch.from_numpy(arrays["node_ptr"]),
                "edge_index": torch.from_numpy(arrays["edge_ptr"]),
                "edge_weight": torch.from_numpy(arrays["edge_ptr"]),
            }
            for name, key in GRAPH_VALUES.items():
                values = arrays[key]
                dtype = np.int64 if name in {"y", "event_number"} else np.float32
                data[name] = torch.from_numpy(values.astype(dtype))
                slices[name] = per_graph
            self._data, self.slices = data, slices

    return _GraphDataset


def graph_dataset(
    path: str | os.PathLike[str], transform: Callable[[Any], Any] | None = None
) -> Any:
    """A graph split as a torch-geometric InMemoryDataset (needs the ``gnn`` extra)."""
    return _in_memory_dataset()(path, transform)
