"""The generator-level event files: ``results/events/{sample}/{shard}.parquet``.

One row per event: ``event_number``, the generator ``weight``, the number of overlaid
pile-up interactions ``n_pileup`` and ``particles``, a list of final-state particle records
(``px``, ``py``, ``pz``, ``E`` in GeV, ``pid``, ``charge``, ``pileup``). The shard's metadata
(cross-section, seeds, settings, versions) is a JSON document in the Parquet key-value metadata
under the key ``hepdl``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import pyarrow as pa
import pyarrow.parquet as pq

from hepdl.errors import InputFileError
from hepdl.io.atomic import atomic_path

__all__ = ["EventFile", "read_event_metadata", "read_events", "write_events"]

_METADATA_KEY = b"hepdl"
_REQUIRED_FIELDS = ("event_number", "weight", "particles")


@dataclass(frozen=True)
class EventFile:
    """The content of one event file: the events and the shard's metadata."""

    events: ak.Array
    metadata: dict[str, Any]


def write_events(path: str | os.PathLike[str], events: ak.Array, metadata: dict[str, Any]) -> Path:
    """Write ``events`` with ``metadata`` atomically as zstd-compressed Parquet.

    The bytes depend only on the content, so the same events and metadata give the same file.
    """
    table = ak.to_arrow_table(events, extensionarray=False)
    payload = json.dumps(metadata, sort_keys=True).encode()
    table = table.replace_schema_metadata({_METADATA_KEY: payload})
    with atomic_path(path) as temporary:
        # Dictionary encoding buys nothing on float momenta and doubles the writing time.
        pq.write_table(
            table, temporary, compression="zstd", use_dictionary=False, row_group_size=1000
        )
    return Path(path)


def read_event_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The shard metadata of an event file, without reading its events."""
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowInvalid) as err:
        raise InputFileError(path, f"not a readable Parquet event file ({err})") from None
    raw = (schema.metadata or {}).get(_METADATA_KEY)
    if raw is None:
        raise InputFileError(
            path, "Parquet file without hepdl metadata; not written by hepdl generate"
        )
    metadata: dict[str, Any] = json.loads(raw)
    return metadata


def read_events(path: str | os.PathLike[str], columns: list[str] | None = None) -> EventFile:
    """Read an event file into awkward arrays.

    Args:
        path: The ``.parquet`` file.
        columns: Top-level fields to read (default: all).

    Raises:
        InputFileError: naming the file, if it is missing, truncated or not an event file.
    """
    metadata = read_event_metadata(path)
    try:
        events = ak.from_parquet(path, columns=columns)
    except (OSError, pa.ArrowInvalid) as err:
        raise InputFileError(path, f"cannot read events ({err})") from None
    missing = [
        field for field in _REQUIRED_FIELDS if columns is None and field not in events.fields
    ]
    if missing:
        raise InputFileError(path, f"event file lacks the fields {missing}")
    return EventFile(events=events, metadata=metadata)
