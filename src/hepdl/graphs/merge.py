"""``hepdl merge --kind graphs``: the per-shard graphs gathered into ``graphs/{split}.h5``.

Each split file holds, in the split's (shuffled) order, the concatenated graphs (``x``,
``edge_index``, ``edge_weight``, ``node_ptr``, ``edge_ptr``: torch-geometric's
InMemoryDataset layout, edge numbers local to each graph) and per graph ``label``, ``weight``,
``normweight``, ``psr``, ``mg``, ``mn``, ``sample``, ``shard``, ``event_number``, as the image
splits. Writing needs neither torch nor torch-geometric; :mod:`hepdl.graphs.dataset` loads a
split into torch-geometric in one read.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

from hepdl.errors import InputFileError
from hepdl.graphs.build import NODE_FEATURES, GraphBatch, GraphSpec
from hepdl.graphs.stage import graph_attributes, read_shard_graphs
from hepdl.images.merge import EVENT_KEYS, MergeResult, sample_bytes
from hepdl.io.atomic import atomic_path
from hepdl.io.layout import SPLITS
from hepdl.io.splits import ragged_arange
from hepdl.reco.merge import MergedEvents, check_event_numbers, event_blocks

__all__ = ["concatenate_graphs", "merge_graphs", "take_graphs"]

_COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
_CHUNK_ROWS = 65536


def take_graphs(graphs: GraphBatch, index: NDArray[np.int64]) -> GraphBatch:
    """The graphs ``index`` (in that order) of a batch."""
    node_counts = np.diff(graphs.node_ptr)[index]
    edge_counts = np.diff(graphs.edge_ptr)[index]
    nodes = ragged_arange(graphs.node_ptr[index], node_counts)
    edges = ragged_arange(graphs.edge_ptr[index], edge_counts)
    return GraphBatch(
        x=graphs.x[nodes],
        edge_index=graphs.edge_index[:, edges],
        edge_weight=graphs.edge_weight[edges],
        node_ptr=np.concatenate([[0], np.cumsum(node_counts)]).astype(np.int64),
        edge_ptr=np.concatenate([[0], np.cumsum(edge_counts)]).astype(np.int64),
    )


def concatenate_graphs(parts: Sequence[GraphBatch], n_features: int) -> GraphBatch:
    """Several batches as one (graphs in order)."""
    if not parts:
        return GraphBatch(
            x=np.zeros((0, n_features), np.float32),
            edge_index=np.zeros((2, 0), np.int32),
            edge_weight=np.zeros(0, np.float32),
            node_ptr=np.zeros(1, np.int64),
            edge_ptr=np.zeros(1, np.int64),
        )

    def ptr(name: str) -> NDArray[np.int64]:
        counts = np.concatenate([np.diff(getattr(part, name)) for part in parts])
        return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    return GraphBatch(
        x=np.concatenate([part.x for part in parts]),
        edge_index=np.concatenate([part.edge_index for part in parts], axis=1),
        edge_weight=np.concatenate([part.edge_weight for part in parts]),
        node_ptr=ptr("node_ptr"),
        edge_ptr=ptr("edge_ptr"),
    )


def _check_graph_files(merged: MergedEvents, graph_files: Sequence[str | os.PathLike[str]]) -> int:
    """Check every graph file against its feature table; returns their bytes per event."""
    if len(graph_files) != len(merged.files):
        raise InputFileError(
            ", ".join(map(str, graph_files)),
            f"{len(graph_files)} graph files for {len(merged.files)} feature tables; "
            "expected one per shard",
        )
    total_bytes, total_events = 0, 0
    for table, path in enumerate(graph_files):
        try:
            with h5py.File(path, "r") as h5:
                event_number = h5["event_number"][...]
                total_bytes += sum(h5[name].size * h5[name].dtype.itemsize for name in h5)
        except (OSError, KeyError) as err:
            raise InputFileError(path, f"not a readable graph file ({err})") from None
        check_event_numbers(merged, table, path, event_number)
        total_events += len(event_number)
    return max(1, total_bytes // max(1, total_events))


class _GraphWriter:
    """Appends graphs to the resizable datasets of one split file."""

    def __init__(self, h5: h5py.File) -> None:
        self.h5 = h5
        h5.create_dataset(
            "x",
            shape=(0, len(NODE_FEATURES)),
            maxshape=(None, len(NODE_FEATURES)),
            dtype=np.float32,
            chunks=(_CHUNK_ROWS // 4, len(NODE_FEATURES)),
            **_COMPRESSION,
        )
        h5.create_dataset(
            "edge_index",
            shape=(2, 0),
            maxshape=(2, None),
            dtype=np.int32,
            chunks=(2, _CHUNK_ROWS),
            **_COMPRESSION,
        )
        h5.create_dataset(
            "edge_weight",
            shape=(0,),
            maxshape=(None,),
            dtype=np.float32,
            chunks=(_CHUNK_ROWS,),
            **_COMPRESSION,
        )
        self.node_counts: list[NDArray[np.int64]] = []
        self.edge_counts: list[NDArray[np.int64]] = []

    def append(self, graphs: GraphBatch) -> None:
        for name, axis in (("x", 0), ("edge_index", 1), ("edge_weight", 0)):
            values = getattr(graphs, name)
            dataset = self.h5[name]
            old = dataset.shape[axis]
            dataset.resize(old + values.shape[axis], axis=axis)
            if axis == 0:
                dataset[old:] = values
            else:
                dataset[:, old:] = values
        self.node_counts.append(np.diff(graphs.node_ptr))
        self.edge_counts.append(np.diff(graphs.edge_ptr))

    def close(self) -> None:
        for name, counts in (("node_ptr", self.node_counts), ("edge_ptr", self.edge_counts)):
            flat = np.concatenate(counts) if counts else np.zeros(0, np.int64)
            self.h5.create_dataset(
                name, data=np.concatenate([[0], np.cumsum(flat)]).astype(np.int64)
            )


def merge_graphs(
    merged: MergedEvents,
    graph_files: Sequence[str | os.PathLike[str]],
    outputs: Mapping[str, str | os.PathLike[str]],
    config: Mapping[str, Any],
) -> MergeResult:
    """Write ``graphs/{split}.h5`` for every split from the per-shard graph files.

    Args:
        merged: The events and their assignment (:func:`hepdl.reco.merge.load_events`).
        graph_files: The per-shard graph files, in the order of ``merged.files``.
        outputs: Target file per split name.
        config: A validated config.

    Raises:
        InputFileError: if the graph files and feature tables disagree (naming the files).
    """
    start = time.perf_counter()
    bytes_per_event = _check_graph_files(merged, graph_files)
    spec = GraphSpec.from_config(config)
    buffer_mb = config["splits"]["merge_buffer_mb"]
    # All splits in one pass, train | val | test in written order, so each block reads the
    # shard files it needs once (once in all when everything fits the buffer).
    located = [merged.assignment.locate(split) for split in SPLITS]
    table = np.concatenate([t for t, _ in located])
    row = np.concatenate([r for _, r in located])
    split_id = np.concatenate([np.full(len(t), k) for k, (t, _) in enumerate(located)])
    with ExitStack() as stack:
        files = {
            split: stack.enter_context(h5py.File(stack.enter_context(atomic_path(path)), "w"))
            for split, path in ((s, outputs[s]) for s in SPLITS)
        }
        writers = {split: _GraphWriter(h5) for split, h5 in files.items()}
        for low, high in event_blocks(len(table), bytes_per_event, buffer_mb):
            block_table, block_row = table[low:high], row[low:high]
            parts, positions = [], []
            for t in np.unique(block_table):
                graphs, _ = read_shard_graphs(graph_files[t])
                here = np.flatnonzero(block_table == t)
                parts.append(take_graphs(graphs, block_row[here]))
                positions.append(here)
            block = concatenate_graphs(parts, len(NODE_FEATURES))
            # Graph j of ``block`` belongs at block position ``where[j]``: put them in order.
            where = np.concatenate(positions or [np.zeros(0, np.int64)])
            ordered = take_graphs(block, np.argsort(where).astype(np.int64))
            block_split = split_id[low:high]
            for k, split in enumerate(SPLITS):
                here = np.flatnonzero(block_split == k)
                if len(here):
                    writers[split].append(take_graphs(ordered, here.astype(np.int64)))
        for split, h5 in files.items():
            writers[split].close()
            columns = merged.split_columns(split)
            for key, column, dtype in EVENT_KEYS:
                h5.create_dataset(key, data=columns[column].astype(dtype))
            h5.create_dataset("sample", data=sample_bytes(columns["sample"]))
            h5.attrs.update(graph_attributes(spec))
            h5.attrs.update(
                {"split": split, "n_events": len(columns["label"]), "seed": config["seed"]}
            )
    return MergeResult(
        sizes=merged.assignment.sizes(),
        paths={split: Path(outputs[split]) for split in SPLITS},
        seconds=time.perf_counter() - start,
    )
