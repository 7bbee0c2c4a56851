"""The ``graphs`` stage: one detector shard to its event graphs (HDF5).

``results/graphs/{sample}/{shard}.h5`` holds the concatenated graphs of the shard
(:class:`hepdl.graphs.build.GraphBatch`: ``x``, ``edge_index``, ``edge_weight``, ``node_ptr``,
``edge_ptr``) and ``event_number``, in the order of the detector file; ``hepdl merge --kind
graphs`` gathers them into the splits.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

import hepdl
from hepdl.errors import InputFileError
from hepdl.graphs.build import NODE_FEATURES, GraphBatch, GraphSpec, build_graphs
from hepdl.io.atomic import atomic_path, check_output_path
from hepdl.io.layout import Layout
from hepdl.reco.inputs import event_column
from hepdl.reco.stage import skimmed_deposits
from hepdl.samples import get_sample

__all__ = [
    "GRAPH_ARRAYS",
    "GraphsResult",
    "graph_attributes",
    "graphs_shard",
    "read_shard_graphs",
    "write_shard_graphs",
]

#: The arrays of a :class:`GraphBatch`, as stored.
GRAPH_ARRAYS = ("x", "edge_index", "edge_weight", "node_ptr", "edge_ptr")


@dataclass(frozen=True)
class GraphsResult:
    """What :func:`graphs_shard` wrote and how fast."""

    path: Path
    n_events: int
    n_nodes: int
    n_edges: int
    seconds: float


def graph_attributes(spec: GraphSpec) -> dict[str, Any]:
    """HDF5 attributes describing how the graphs were built."""
    return {
        "node_features": list(NODE_FEATURES),
        "edge_weight": "exp(-d^2 / (2 kernel_sigma^2)), d the (eta, phi) distance, phi periodic",
        "edge_index": "row 0 source (neighbour), row 1 target; numbered from the graph's first node",
        **asdict(spec),
        "hepdl_version": hepdl.__version__,
    }


_COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}


def write_shard_graphs(
    path: str | os.PathLike[str],
    graphs: GraphBatch,
    event_number: NDArray[np.int64],
    spec: GraphSpec,
) -> Path:
    """Write one shard's graphs atomically (compressed)."""
    if len(event_number) != graphs.n_graphs:
        msg = f"{graphs.n_graphs} graphs but {len(event_number)} event numbers"
        raise ValueError(msg)
    with atomic_path(path) as temporary, h5py.File(temporary, "w") as h5:
        for name in GRAPH_ARRAYS:
            values = getattr(graphs, name)
            chunked = values.size > 0 and name in {"x", "edge_index", "edge_weight"}
            h5.create_dataset(name, data=values, **(_COMPRESSION if chunked else {}))
        h5.create_dataset("event_number", data=event_number)
        h5.attrs.update(graph_attributes(spec))
    return Path(path)


def read_shard_graphs(path: str | os.PathLike[str]) -> tuple[GraphBatch, NDArray[np.int64]]:
    """Read one shard's graphs and event numbers.

    Raises:
        InputFileError: naming the file, if it is unreadable, lacks a key or is inconsistent.
    """
    try:
        with h5py.File(path, "r") as h5:
            arrays = {name: h5[name][...] for name in GRAPH_ARRAYS}
            event_number = h5["event_number"][...].astype(np.int64)
    except (OSError, KeyError) as err:
        raise InputFileError(path, f"not a readable graph file ({err})") from None
    graphs = GraphBatch(**arrays)
    if (
        graphs.n_graphs != len(event_number)
        or graphs.node_ptr[-1] != len(graphs.x)
        or graphs.edge_ptr[-1] != graphs.edge_index.shape[1]
        or len(graphs.edge_weight) != graphs.edge_index.shape[1]
    ):
        raise InputFileError(
            path, "node, edge and event counts disagree; the file is damaged (rerun the shard)"
        )
    return graphs, event_number


def graphs_shard(
    config: dict[str, Any],
    sample_name: str,
    shard: int,
    detector_file: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    features_file: str | os.PathLike[str] | None = None,
) -> GraphsResult:
    """Build the graphs of one shard and write them atomically.

    Only the events the skim keeps (the config's ``preselection``, read from the shard's
    feature table ``features_file``) are built.

    Raises:
        ConfigError: for an unknown sample or shard, or a skim without a feature table.
        InputFileError: naming a missing or malformed detector or feature file, or a
            detector file without events or of another sample or shard.
    """
    start = time.perf_counter()
    sample = get_sample(config, sample_name)
    sample.shard_events(shard)
    path = check_output_path(
        Path(output) if output is not None else Layout.of(config).graphs_shard(sample.name, shard)
    )
    events = skimmed_deposits(
        config, detector_file, sample=sample.name, shard=shard, features_file=features_file
    )
    spec = GraphSpec.from_config(config)
    try:
        graphs = build_graphs(events.Tower, events.Track, spec)
    except ValueError as err:
        raise InputFileError(detector_file, str(err)) from None
    number = event_column(events, "Number").astype(np.int64)
    write_shard_graphs(path, graphs, number, spec)
    return GraphsResult(
        path=path,
        n_events=graphs.n_graphs,
        n_nodes=len(graphs.x),
        n_edges=graphs.edge_index.shape[1],
        seconds=time.perf_counter() - start,
    )
