"""The merged split files every model trains and is evaluated on: one reader per format.

``{results}/images/{split}.h5`` (HDF5, :class:`ImageSplit`) holds the events' images and
per-event truth; ``{results}/features/{split}.parquet`` (:class:`FeatureSplit`) the same
events, in the same order, with the jet variables of the shallow baselines;
``{results}/graphs/{split}.h5`` (:class:`GraphSplit`) their graphs, concatenated with per-graph
offsets (torch-geometric's InMemoryDataset layout). Each reader checks its file against the
format's key list, reads the per-event truth into memory and leaves pixels, nodes and edges on
disk: they are read in blocks of nearby rows (:meth:`ImageSplit.read_blocks`,
:func:`read_rows`, :meth:`GraphSplit.read_graphs`). The writers are the merges
(:mod:`hepdl.images.merge`, :mod:`hepdl.graphs.merge`, :mod:`hepdl.reco.merge`). No torch here.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

from hepdl.errors import ConfigError, InputFileError
from hepdl.models.channels import CHANNELS

__all__ = [
    "FEATURE_TRUTH",
    "GRAPH_KEYS",
    "IMAGE_KEYS",
    "JET_FIELDS",
    "NODE_FEATURES",
    "SCALES_ATTR",
    "FeatureSplit",
    "GraphSplit",
    "ImageSplit",
    "LazyH5",
    "check_aligned",
    "decode_samples",
    "event_truth",
    "feature_columns",
    "feature_names",
    "ragged_arange",
    "read_rows",
    "row_runs",
    "select_samples",
]

#: The datasets every images split file holds (see DESIGN.md).
IMAGE_KEYS = ("data", "label", "weight", "normweight", "psr", "mg", "mn", "sample")

#: Attribute of an images split file with the per-channel scales (training-split maxima).
SCALES_ATTR = "channel_scales"

#: The per-event truth columns of a features split file, besides the input variables.
FEATURE_TRUTH = ("label", "weight", "passSR", "mg", "mn", "sample")

#: Per-jet quantities of the features table, as (Delphes field, feature-name suffix).
JET_FIELDS = (("PT", "pt_gev"), ("Eta", "eta"), ("Phi", "phi"), ("Mass", "mass_gev"))

#: The columns of a graph split's node features ``x``, in order.
NODE_FEATURES = ("eta", "phi", "energy_gev", "eem_gev", "ehad_gev", "is_track")

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


def feature_names(n_jets_stored: int = 5) -> list[str]:
    """Names of the shallow-baseline inputs, in their fixed order (23 for 5 jets)."""
    per_jet = [f"jet{i}_{suffix}" for i in range(1, n_jets_stored + 1) for _, suffix in JET_FIELDS]
    return ["n_jet", "mj_gev", "delta_eta", *per_jet]


def feature_columns(config: Mapping[str, Any]) -> list[str]:
    """The shallow-baseline input names of a config (``selection.n_jets_stored`` jets)."""
    return feature_names(int(config["selection"]["n_jets_stored"]))


def decode_samples(values: NDArray[Any]) -> NDArray[np.str_]:
    """Sample names stored as bytes (HDF5) or str (Parquet) as a numpy str array."""
    if values.dtype.kind in "SO":
        return np.array(
            [v.decode() if isinstance(v, bytes) else str(v) for v in values], dtype=np.str_
        )
    return values.astype(np.str_)


def event_truth(columns: Mapping[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
    """The per-event truth of a split file (``label``, ``weight``, ``psr``, ``mg``, ``mn``,
    ``sample``) in the dtypes of the contract, from the arrays read."""
    return {
        "label": np.asarray(columns["label"], dtype=np.int8),
        "weight": np.asarray(columns["weight"], dtype=np.float64),
        "psr": np.asarray(columns["psr"], dtype=bool),
        "mg": np.asarray(columns["mg"], dtype=np.float64),
        "mn": np.asarray(columns["mn"], dtype=np.float64),
        "sample": decode_samples(np.asarray(columns["sample"])),
    }


def row_runs(rows: NDArray[np.int64], max_gap: int) -> list[tuple[int, int]]:
    """Split sorted ``rows`` into (start, stop) index ranges whose rows lie close together."""
    breaks = np.flatnonzero(np.diff(rows) > max_gap) + 1
    edges = [0, *breaks.tolist(), len(rows)]
    return list(itertools.pairwise(edges))


def ragged_arange(starts: NDArray[np.int64], counts: NDArray[np.int64]) -> NDArray[np.int64]:
    """Concatenated ranges starts[i] .. starts[i] + counts[i] - 1, without a loop."""
    total = int(np.sum(counts))
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    shift = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    result: NDArray[np.int64] = np.arange(total, dtype=np.int64) + shift.astype(np.int64)
    return result


def read_rows(dataset: h5py.Dataset, rows: NDArray[np.int64], max_gap: int) -> NDArray[Any]:
    """``dataset[rows]`` for sorted ``rows``, one slice per run of rows closer than ``max_gap``
    (a chunked, compressed dataset then decompresses each chunk once)."""
    parts = []
    for start, stop in row_runs(rows, max_gap):
        first, last = int(rows[start]), int(rows[stop - 1])
        span = dataset[first : last + 1]
        parts.append(span[rows[start:stop] - first])
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


class LazyH5:
    """An HDF5 file opened for reading on first use in each process.

    h5py handles do not survive fork nor pickling, so each DataLoader worker opens its own.

    Args:
        path: The file.
        cache_bytes: HDF5 chunk cache of the handle (bytes).
    """

    def __init__(self, path: str | os.PathLike[str], cache_bytes: int = 64 * 1024**2) -> None:
        self.path = Path(path)
        self.cache_bytes = cache_bytes
        self._file: h5py.File | None = None
        self._pid = -1

    def __call__(self) -> h5py.File:
        """The open file of this process."""
        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r", rdcc_nbytes=self.cache_bytes)
            self._pid = os.getpid()
        return self._file

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_file"] = None  # an open HDF5 handle does not cross process boundaries
        return state


@dataclass(frozen=True)
class ImageSplit:
    """An images split file: per-event truth in memory, the pixels left on disk.

    Attributes:
        path: The HDF5 file.
        n_events: Events in the file.
        image_shape: (n_eta, n_phi) pixels.
        chunk_events: Events per HDF5 chunk of ``data`` (1 if not chunked).
        scales: Per stored channel, the scale the pixels were divided by.
        label: 1 signal, 0 background.
        weight: Physical event weight (cross-section x luminosity share).
        psr: Whether the event passes the cut-based signal region.
        mg: Gluino mass (GeV; 0 for background).
        mn: Neutralino mass (GeV; 0 for background).
        sample: Sample name of each event.
    """

    path: Path
    n_events: int
    image_shape: tuple[int, int]
    chunk_events: int
    scales: tuple[float, ...]
    label: NDArray[np.int8]
    weight: NDArray[np.float64]
    psr: NDArray[np.bool_]
    mg: NDArray[np.float64]
    mn: NDArray[np.float64]
    sample: NDArray[np.str_]

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> ImageSplit:
        """Read and check an images split file.

        Raises:
            InputFileError: naming the file, if it is missing, lacks a key of
                :data:`IMAGE_KEYS`, has images not shaped (N, 3, H, W) or per-event arrays of
                another length.
        """
        path = Path(path)
        if not path.is_file():
            raise InputFileError(path, "images split file not found (run the images stage first)")
        try:
            with h5py.File(path, "r") as file:
                missing = [key for key in IMAGE_KEYS if key not in file]
                if missing:
                    raise InputFileError(
                        path,
                        f"images split file lacks the datasets {missing}; expected {IMAGE_KEYS}",
                    )
                data = file["data"]
                if data.ndim != 4 or data.shape[1] != len(CHANNELS):
                    raise InputFileError(
                        path,
                        f"'data' has shape {data.shape}; expected (N, {len(CHANNELS)}, n_eta, n_phi)",
                    )
                n_events = int(data.shape[0])
                columns = {key: file[key][()] for key in IMAGE_KEYS if key != "data"}
                chunk_events = int(data.chunks[0]) if data.chunks else 1
                scales = cls._scales(path, file)
                image_shape = (int(data.shape[2]), int(data.shape[3]))
        except OSError as err:
            raise InputFileError(path, f"not a readable HDF5 file ({err})") from None
        for key, values in columns.items():
            if len(values) != n_events:
                raise InputFileError(
                    path, f"'{key}' has {len(values)} entries but 'data' has {n_events} events"
                )
        return cls(
            path=path,
            n_events=n_events,
            image_shape=image_shape,
            chunk_events=chunk_events,
            scales=scales,
            **event_truth(columns),
        )

    @staticmethod
    def _scales(path: Path, file: h5py.File) -> tuple[float, ...]:
        if SCALES_ATTR not in file.attrs:
            raise InputFileError(
                path, f"images split file lacks the attribute '{SCALES_ATTR}' (channel scales)"
            )
        scales = tuple(float(s) for s in np.ravel(file.attrs[SCALES_ATTR]))
        if len(scales) != len(CHANNELS) or not all(np.isfinite(s) and s > 0 for s in scales):
            raise InputFileError(
                path,
                f"attribute '{SCALES_ATTR}' is {scales}; expected {len(CHANNELS)} positive "
                f"scales ({', '.join(CHANNELS)})",
            )
        return scales

    def read_blocks(
        self, rows: NDArray[np.int64] | None = None, block_events: int = 4096
    ) -> Iterator[tuple[NDArray[np.int64], NDArray[np.float32]]]:
        """The stored images (each channel divided by :attr:`scales`) of sorted ``rows`` (all
        events if None), as (rows, images) per block of ``block_events`` consecutive file rows
        holding any of them: a file of any size is read once, a block at a time."""
        if rows is None:
            rows = np.arange(self.n_events, dtype=np.int64)
        last = int(rows[-1]) + 1 if len(rows) else 0
        with h5py.File(self.path, "r") as file:
            data = file["data"]
            for low in range(0, last, block_events):
                high = min(low + block_events, last)
                inside = rows[(rows >= low) & (rows < high)]
                if len(inside) == 0:
                    continue
                block = data[low:high]
                yield inside, block if len(inside) == high - low else block[inside - low]

    def read_events(self, rows: Sequence[int]) -> list[NDArray[np.float32]]:
        """The stored images of a few events, one (3, n_eta, n_phi) array each."""
        with h5py.File(self.path, "r") as file:
            return [file["data"][int(row)] for row in rows]


@dataclass(frozen=True)
class FeatureSplit:
    """A features split file, loaded into memory (a few dozen numbers per event).

    Attributes:
        path: The Parquet file.
        names: The input variables, in column order of ``inputs``.
        inputs: (N, len(names)) float32 inputs.
        label: 1 signal, 0 background.
        weight: Physical event weight.
        pass_sr: Whether the event passes the cut-based signal region.
        mg: Gluino mass (GeV; 0 for background).
        mn: Neutralino mass (GeV; 0 for background).
        sample: Sample name of each event.
    """

    path: Path
    names: tuple[str, ...]
    inputs: NDArray[np.float32]
    label: NDArray[np.int8]
    weight: NDArray[np.float64]
    pass_sr: NDArray[np.bool_]
    mg: NDArray[np.float64]
    mn: NDArray[np.float64]
    sample: NDArray[np.str_]

    @property
    def n_events(self) -> int:
        """Events in the file."""
        return len(self.label)

    @classmethod
    def open(cls, path: str | os.PathLike[str], names: Sequence[str]) -> FeatureSplit:
        """Read a features split file: the input variables ``names`` and :data:`FEATURE_TRUTH`.

        Raises:
            InputFileError: naming the file, if it is missing or lacks a column.
        """
        import pyarrow as pa  # noqa: PLC0415 (only the features readers need it)
        import pyarrow.parquet as pq  # noqa: PLC0415

        path = Path(path)
        if not path.is_file():
            raise InputFileError(path, "features split file not found (run the merge stage first)")
        truth = list(FEATURE_TRUTH)
        try:
            schema = pq.read_schema(path)
            missing = [name for name in [*names, *truth] if name not in schema.names]
            if missing:
                raise InputFileError(path, f"features split file lacks the columns {missing}")
            table = pq.read_table(path, columns=[*names, *truth])
        except (OSError, pa.ArrowInvalid) as err:  # truncated: no footer, or a damaged page
            raise InputFileError(path, f"not a readable Parquet file ({err})") from None
        column = {
            name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names
        }
        inputs = np.stack([np.asarray(column[n], dtype=np.float32) for n in names], axis=1)
        return cls(
            path=path,
            names=tuple(names),
            inputs=inputs.reshape(len(table), len(names)),
            label=np.asarray(column["label"], dtype=np.int8),
            weight=np.asarray(column["weight"], dtype=np.float64),
            pass_sr=np.asarray(column["passSR"], dtype=bool),
            mg=np.asarray(column["mg"], dtype=np.float64),
            mn=np.asarray(column["mn"], dtype=np.float64),
            sample=decode_samples(np.asarray(column["sample"])),
        )


@dataclass(frozen=True)
class GraphSplit:
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
    def open(cls, path: str | os.PathLike[str]) -> GraphSplit:
        """Read and check a graph split file.

        Raises:
            InputFileError: naming the file, if it is missing or unreadable, lacks a key of
                :data:`GRAPH_KEYS`, has node features other than :data:`NODE_FEATURES`, or
                inconsistent offsets or lengths.
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

    def read_graphs(
        self, h5: h5py.File, rows: NDArray[np.int64]
    ) -> tuple[NDArray[Any], NDArray[np.int64], NDArray[Any]]:
        """The graphs of sorted file ``rows``, concatenated as one batch.

        Reads one slice per run of nearby graphs from the open file ``h5`` (this split's).

        Returns:
            ``x`` (nodes, 6), ``edge_index`` (2, edges) numbered within the batch (each
            graph's node numbers shifted by the nodes of the graphs before it), ``edge_weight``.
        """
        node_ptr, edge_ptr = self.node_ptr, self.edge_ptr
        xs, edges, weights = [], [], []
        for start, stop in row_runs(rows, self.chunk_events):
            run = rows[start:stop]
            first, last = int(run[0]), int(run[-1])
            n0, n1 = int(node_ptr[first]), int(node_ptr[last + 1])
            e0, e1 = int(edge_ptr[first]), int(edge_ptr[last + 1])
            nodes = ragged_arange(node_ptr[run] - n0, node_ptr[run + 1] - node_ptr[run])
            kept = ragged_arange(edge_ptr[run] - e0, edge_ptr[run + 1] - edge_ptr[run])
            xs.append(h5["x"][n0:n1][nodes])
            edges.append(h5["edge_index"][:, e0:e1][:, kept])
            weights.append(h5["edge_weight"][e0:e1][kept])
        n_nodes = node_ptr[rows + 1] - node_ptr[rows]
        n_edges = edge_ptr[rows + 1] - edge_ptr[rows]
        offset = np.concatenate([[0], np.cumsum(n_nodes)[:-1]]).astype(np.int64)
        edge_index = np.concatenate(edges, axis=1).astype(np.int64) + np.repeat(offset, n_edges)
        return np.concatenate(xs), edge_index, np.concatenate(weights)

    def read_all(self) -> dict[str, NDArray[Any]]:
        """Every dataset of :data:`GRAPH_KEYS` (and ``normweight``, ``event_number``), whole.

        Raises:
            InputFileError: naming the file, if a dataset is missing.
        """
        names = [*GRAPH_KEYS, "normweight", "event_number"]
        try:
            with h5py.File(self.path, "r") as h5:
                return {name: h5[name][...] for name in names}
        except (OSError, KeyError) as err:
            raise InputFileError(self.path, f"not a readable graph split file ({err})") from None


def check_aligned(images: ImageSplit, features: FeatureSplit) -> None:
    """Check that an images and a features split file hold the same events in the same order.

    Raises:
        InputFileError: naming both files and the first disagreement.
    """
    where = f"{images.path} and {features.path}"
    if images.n_events != features.n_events:
        raise InputFileError(
            where, f"{images.n_events} vs {features.n_events} events; they must be the same split"
        )
    for name, a, b in [
        ("sample", images.sample, features.sample),
        ("label", images.label, features.label),
        ("passes-SR flag", images.psr, features.pass_sr),
    ]:
        bad = np.flatnonzero(a != b)
        if len(bad):
            raise InputFileError(
                where,
                f"{name} differs at event {bad[0]} ({a[bad[0]]!r} vs {b[bad[0]]!r}); "
                "they must hold the same events in the same order",
            )
    if not np.allclose(images.weight, features.weight, rtol=1e-6, atol=0.0):
        first = int(np.flatnonzero(~np.isclose(images.weight, features.weight, rtol=1e-6))[0])
        raise InputFileError(
            where, f"event weight differs at event {first}; they must hold the same events"
        )


def select_samples(
    sample: NDArray[np.str_],
    samples: Sequence[str] | None,
    source: object,
    key: str = "train.samples",
) -> NDArray[np.int64]:
    """Indices (sorted) of the events of ``samples``; all events when ``samples`` is None.

    Raises:
        ConfigError: naming ``key``, if a listed sample has no event in the file ``source``.
    """
    if samples is None:
        return np.arange(len(sample), dtype=np.int64)
    present = set(np.unique(sample).tolist())
    absent = [name for name in samples if name not in present]
    if absent:
        raise ConfigError(
            key, f"samples {absent} have no events in {source}; it holds {sorted(present)}"
        )
    return np.flatnonzero(np.isin(sample, list(samples))).astype(np.int64)
