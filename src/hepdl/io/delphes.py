"""Delphes-schema detector files: ``results/detector/{sample}/{shard}.root``.

The one place that knows the Delphes branch names. A file holds the tree ``Delphes`` with one
entry per event and, per collection, a counter branch ``<Collection>_size`` and one branch per
field named ``<Collection>.<Field>``, as Delphes' TreeWriter writes them, so code written for
real Delphes output (``tree["Tower.Eta"]``, ``tree["Jet_size"]``) reads these files unchanged,
and :func:`read_delphes` reads real Delphes files too. ``Event`` is, as in Delphes, a list with one
entry per event. hepdl's own files also carry a JSON document ``hepdl_metadata`` (a TObjString)
with the shard's provenance.

Collections and fields written by hepdl (a subset of Delphes' classes; floats are float32 as in
Delphes, energies and momenta in GeV, positions in mm):

- ``Event``: ``Number``, ``Weight``;
- ``Tower`` (ECal towers first, then HCal towers): ``ET``, ``Eta``, ``Phi``, ``E``, ``T``,
  ``Eem``, ``Ehad``;
- ``Track``: ``PID``, ``Charge``, ``P``, ``PT``, ``Eta``, ``Phi``, ``CtgTheta``, ``Mass``,
  ``EtaOuter``, ``PhiOuter``, ``XOuter``, ``YOuter``, ``ZOuter``;
- ``Jet``, ``GenJet`` (small-R): ``PT``, ``Eta``, ``Phi``, ``Mass``;
- ``FatJet``, ``GenFatJet`` (large-R): ``PT``, ``Eta``, ``Phi``, ``Mass`` of the ungroomed jet, as
  Delphes writes them, and ``TrimmedPT``, ``TrimmedEta``, ``TrimmedPhi``, ``TrimmedMass`` (Delphes
  keeps these in ``TrimmedP4[0]``, a TLorentzVector that uproot cannot write).

A file need not hold every collection: with ``detector.fatjet.truth: false`` hepdl writes no
``GenFatJet`` branches, as Delphes' ATLAS card writes none. Readers ask only for what they use,
and asking for a collection the file lacks is an :class:`~hepdl.errors.InputFileError`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import awkward as ak
import numpy as np

from hepdl.errors import InputFileError
from hepdl.io.atomic import atomic_path

if TYPE_CHECKING:
    from typing import Self

__all__ = [
    "COLLECTIONS",
    "METADATA_KEY",
    "TREE_NAME",
    "DelphesFile",
    "DelphesWriter",
    "conform",
    "read_collections",
    "read_delphes",
]

#: Name of the tree, as Delphes writes it.
TREE_NAME = "Delphes"
#: Title of the tree, as Delphes writes it.
TREE_TITLE = "Analysis tree"
#: Key of hepdl's provenance document (JSON in a TObjString).
METADATA_KEY = "hepdl_metadata"
#: ZSTD level of the baskets: as small as ZLIB's files, five times faster to write (ROOT reads
#: ZSTD since 6.20).
COMPRESSION_LEVEL = 1

_FLOAT = np.dtype(np.float32)
_INT = np.dtype(np.int32)
_JET_FIELDS = {"PT": _FLOAT, "Eta": _FLOAT, "Phi": _FLOAT, "Mass": _FLOAT}
_FAT_JET_FIELDS = {**_JET_FIELDS, **{f"Trimmed{name}": _FLOAT for name in _JET_FIELDS}}

#: The collections hepdl writes: name -> field -> dtype (Delphes' ROOT types).
COLLECTIONS: dict[str, dict[str, np.dtype[Any]]] = {
    "Event": {"Number": np.dtype(np.int64), "Weight": _FLOAT},
    "Tower": {
        "ET": _FLOAT,
        "Eta": _FLOAT,
        "Phi": _FLOAT,
        "E": _FLOAT,
        "T": _FLOAT,
        "Eem": _FLOAT,
        "Ehad": _FLOAT,
    },
    "Track": {
        "PID": _INT,
        "Charge": _INT,
        "P": _FLOAT,
        "PT": _FLOAT,
        "Eta": _FLOAT,
        "Phi": _FLOAT,
        "CtgTheta": _FLOAT,
        "Mass": _FLOAT,
        "EtaOuter": _FLOAT,
        "PhiOuter": _FLOAT,
        "XOuter": _FLOAT,
        "YOuter": _FLOAT,
        "ZOuter": _FLOAT,
    },
    "Jet": dict(_JET_FIELDS),
    "GenJet": dict(_JET_FIELDS),
    "FatJet": dict(_FAT_JET_FIELDS),
    "GenFatJet": dict(_FAT_JET_FIELDS),
}


def branch_name(collection: str, field: str) -> str:
    """The Delphes branch name of a field, e.g. ``Tower.Eta``."""
    return f"{collection}.{field}"


def counter_name(collection: str) -> str:
    """The Delphes counter branch of a collection, e.g. ``Tower_size``."""
    return f"{collection}_size"


def _empty(collection: str) -> ak.Array:
    fields = COLLECTIONS[collection]
    record = ak.zip({name: np.zeros(0, dtype=dtype) for name, dtype in fields.items()})
    return ak.unflatten(record, np.zeros(0, dtype=np.int64))


def conform(collection: str, records: ak.Array) -> ak.Array:
    """Cast a collection's records to the schema's fields and dtypes (extra fields dropped):
    what a file holds of them."""
    fields = COLLECTIONS[collection]
    missing = [name for name in fields if name not in records.fields]
    if missing:
        msg = f"collection {collection} lacks the fields {missing}"
        raise ValueError(msg)
    return ak.zip({name: ak.values_astype(records[name], dtype) for name, dtype in fields.items()})


class DelphesWriter:
    """Writes a Delphes-schema file atomically, batch by batch.

    Use as a context manager; the file appears at ``path`` only when the block ends without an
    exception (otherwise nothing is left behind)::

        with DelphesWriter(path, metadata) as writer:
            for batch in batches:
                writer.extend(batch)

    Args:
        path: The ``.root`` file to write.
        metadata: Provenance stored as JSON under :data:`METADATA_KEY`; may be updated (e.g.
            with timings) until the block ends.
        collections: The collections to write (default: all of :data:`COLLECTIONS`).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        metadata: dict[str, Any] | None = None,
        collections: Sequence[str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.collections = tuple(collections or COLLECTIONS)
        self.n_events = 0
        self._atomic: Any = None
        self._file: Any = None
        self._tree: Any = None

    def __enter__(self) -> Self:
        import uproot  # noqa: PLC0415 (uproot is slow to import; only writers and readers need it)

        self._atomic = atomic_path(self.path)
        temporary = self._atomic.__enter__()
        try:
            self._file = uproot.recreate(temporary, compression=uproot.ZSTD(COMPRESSION_LEVEL))
            self._tree = self._file.mktree(
                TREE_NAME,
                {name: _empty(name).type.content for name in self.collections},
                title=TREE_TITLE,
                counter_name=counter_name,
                field_name=branch_name,
            )
        except BaseException as err:
            self._abort(err)
            raise
        return self

    def extend(self, batch: Mapping[str, ak.Array]) -> None:
        """Append a batch of events: one array of records per collection, equal lengths."""
        missing = [name for name in self.collections if name not in batch]
        if missing:
            msg = f"batch lacks the collections {missing} this file was opened with"
            raise ValueError(msg)
        lengths = {len(batch[name]) for name in self.collections}
        if len(lengths) != 1:
            msg = f"collections of one batch differ in length: {lengths}"
            raise ValueError(msg)
        self._tree.extend({name: conform(name, batch[name]) for name in self.collections})
        self.n_events += lengths.pop()

    def _abort(self, err: BaseException) -> None:
        if self._file is not None:
            self._file.close()
        self._atomic.__exit__(type(err), err, err.__traceback__)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is not None:
            self._abort(exc)
            return
        try:
            self._file[METADATA_KEY] = json.dumps(self.metadata, sort_keys=True)
            self._file.close()
        except BaseException as err:
            self._abort(err)
            raise
        self._atomic.__exit__(None, None, None)


@dataclass(frozen=True)
class DelphesFile:
    """The content of a Delphes-schema file.

    Attributes:
        events: One record per event, one field per collection read (a list of records each).
        metadata: hepdl's provenance document, or None for a file written by Delphes itself.
    """

    events: ak.Array
    metadata: dict[str, Any] | None


def _requested(
    tree: Any, collections: Mapping[str, Sequence[str]] | Sequence[str] | None, path: object
) -> dict[str, list[str]]:
    """Collections and fields to read; missing branches are an error naming the file."""
    if collections is None:
        present = {
            name: [f for f in fields if branch_name(name, f) in tree]
            for name, fields in COLLECTIONS.items()
        }
        return {name: fields for name, fields in present.items() if fields}
    if not isinstance(collections, Mapping):
        collections = {name: list(COLLECTIONS.get(name, ())) for name in collections}
    wanted = {name: list(fields) for name, fields in collections.items()}
    missing = [
        branch_name(name, field)
        for name, fields in wanted.items()
        for field in fields
        if branch_name(name, field) not in tree
    ]
    if missing:
        raise InputFileError(path, f"Delphes tree lacks the branches {missing}")
    return wanted


def _decompression_errors() -> tuple[type[BaseException], ...]:
    """What uproot's decompressors raise on a damaged basket: none derives from OSError or
    ValueError (zlib.error, cramjam's DecompressionError for LZMA and others; uproot itself
    raises NotImplementedError for a basket header naming no known algorithm)."""
    import zlib  # noqa: PLC0415

    import cramjam  # noqa: PLC0415 (uproot's own dependency: its LZ4, ZSTD and LZMA codecs)

    return (zlib.error, cramjam.DecompressionError, NotImplementedError)


def read_delphes(
    path: str | os.PathLike[str],
    collections: Mapping[str, Sequence[str]] | Sequence[str] | None = None,
) -> DelphesFile:
    """Read a Delphes-schema file (hepdl's or real Delphes output) into awkward arrays.

    Args:
        path: The ``.root`` file.
        collections: What to read: a mapping collection -> fields, a list of collections (all
            their :data:`COLLECTIONS` fields), or None for every known collection present.

    Returns:
        The events (one record per event with one field per collection) and the metadata.

    Raises:
        InputFileError: naming the file, if it is missing, truncated, not a ROOT file, has
            damaged (undecompressable) baskets, has no ``Delphes`` tree or lacks a requested
            branch.
    """
    import uproot  # noqa: PLC0415 (see DelphesWriter.__enter__)

    try:
        with uproot.open(path) as root_file:
            if TREE_NAME not in root_file:
                raise InputFileError(path, f"no '{TREE_NAME}' tree; not a Delphes file")
            tree = root_file[TREE_NAME]
            wanted = _requested(tree, collections, path)
            arrays = {
                name: ak.zip(
                    {field: tree[branch_name(name, field)].array(library="ak") for field in fields}
                )
                for name, fields in wanted.items()
            }
            metadata = None
            if METADATA_KEY in root_file:
                metadata = json.loads(str(root_file[METADATA_KEY]))
    except InputFileError:
        raise
    except (
        OSError,
        ValueError,
        KeyError,
        uproot.deserialization.DeserializationError,
        *_decompression_errors(),
    ) as err:
        raise InputFileError(path, f"not a readable Delphes ROOT file ({err})") from None
    events = ak.zip(arrays, depth_limit=1) if arrays else ak.Array([])
    return DelphesFile(events=events, metadata=metadata)


def read_collections(
    path: str | os.PathLike[str], collections: Mapping[str, Sequence[str]]
) -> ak.Array:
    """The events of ``path`` with the given collections and fields (see :func:`read_delphes`)."""
    return read_delphes(path, collections).events
