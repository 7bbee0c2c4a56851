"""Event graphs of towers and tracks for graph networks (``hepdl graphs``).

- :mod:`~hepdl.graphs.build`: nodes, k-nearest-neighbour edges and Gaussian weights, vectorised.
- :mod:`~hepdl.graphs.stage`: one shard to ``graphs/{sample}/{shard}.h5``.
- :mod:`~hepdl.graphs.merge`: the shards gathered into ``graphs/{split}.h5``.
- :mod:`~hepdl.graphs.dataset`: a split as a torch-geometric InMemoryDataset (extra ``gnn``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hepdl.lazy import lazy_exports

if TYPE_CHECKING:
    from hepdl.graphs.build import NODE_FEATURES, GraphBatch, GraphSpec, build_graphs

__all__ = ["NODE_FEATURES", "GraphBatch", "GraphSpec", "build_graphs"]

#: The submodule of each public name: imported on first use, so that importing the package (or
#: one of its light submodules) loads nothing heavy it does not need.
_HOMES = {
    "GraphBatch": "build",
    "GraphSpec": "build",
    "NODE_FEATURES": "build",
    "build_graphs": "build",
}


__getattr__ = lazy_exports(__name__, _HOMES)
