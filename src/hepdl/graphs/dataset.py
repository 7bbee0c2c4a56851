"""Loading a graph split (``graphs/{split}.h5``) into torch-geometric.

The split file already stores the graphs as an InMemoryDataset does (concatenated tensors and
per-graph offsets), so loading is one read of each array. Loading imports torch-geometric (a
dependency of hepdl, imported on use); writing the files does not.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hepdl.errors import InputFileError

__all__ = ["GraphSplit", "read_graph_split", "require_torch_geometric"]

#: Per-graph values attached to each Data object (the label as ``y``).
GRAPH_VALUES = {"y": "label", "weight": "weight", "normweight": "normweight", "psr": "psr"}
GRAPH_VALUES.update({"mg": "mg", "mn": "mn", "event_number": "event_number"})


def require_torch_geometric() -> Any:
    """Import torch_geometric, or explain how to install it."""
    try:
        with warnings.catch_warnings():
            # torch-geometric 2.8 applies torch.jit.script to a few helpers when imported, which
            # torch >= 2.10 deprecates; nothing of ours is scripted.
            warnings.filterwarnings(
                "ignore", message=r".*torch\.jit\.script.*deprecated", category=DeprecationWarning
            )
            import torch_geometric  # noqa: PLC0415 (optional dependency, imported on use)
    except ModuleNotFoundError:
        msg = "loading graphs needs torch-geometric; install it with: pip install torch_geometric"
        raise ModuleNotFoundError(msg) from None
    return torch_geometric


def read_graph_split(path: str | os.PathLike[str]) -> dict[str, np.ndarray[Any, Any]]:
    """All arrays of a graph split file, as numpy.

    Raises:
        InputFileError: naming the file, if it is unreadable or lacks a key.
    """
    names = ["x", "edge_index", "edge_weight", "node_ptr", "edge_ptr", *GRAPH_VALUES.values()]
    try:
        with h5py.File(path, "r") as h5:
            return {name: h5[name][...] for name in names}
    except (OSError, KeyError) as err:
        raise InputFileError(path, f"not a readable graph split file ({err})") from None


def _in_memory_dataset() -> type[Any]:
    torch_geometric = require_torch_geometric()
    import torch  # noqa: PLC0415 (torch-geometric depends on it)

    # torch_geometric is untyped (the module is Any here), so its base class is too.
    class _GraphSplit(torch_geometric.data.InMemoryDataset):  # type: ignore[misc,name-defined]
        """A split file as an InMemoryDataset: ``data.x``, ``edge_index``, ``edge_weight``, ``y``."""

        def __init__(
            self, path: str | os.PathLike[str], transform: Callable[[Any], Any] | None = None
        ) -> None:
            super().__init__(root=None, transform=transform)
            arrays = read_graph_split(path)
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

    return _GraphSplit


def GraphSplit(path: str | os.PathLike[str], transform: Callable[[Any], Any] | None = None) -> Any:
    """A graph split as a torch-geometric InMemoryDataset (needs the ``gnn`` extra)."""
    return _in_memory_dataset()(path, transform)
