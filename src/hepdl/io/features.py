"""Feature tables (Parquet), per shard (``features/{sample}/{shard}.parquet``, written by the
features stage, :mod:`hepdl.reco.stage`) and per split (``features/{split}.parquet``, written by
the features merge): one row per event, numpy columns in and out; the provenance is a JSON
document in the Parquet key-value metadata under ``hepdl``. Training and evaluation read the
splits through :class:`hepdl.io.splits.FeatureSplit`, which checks the columns they need.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from hepdl.errors import InputFileError
from hepdl.io.atomic import atomic_path

__all__ = ["FEATURES_METADATA_KEY", "read_features", "write_features"]

FEATURES_METADATA_KEY = b"hepdl"


def write_features(
    path: str | os.PathLike[str], columns: dict[str, NDArray[Any]], metadata: dict[str, Any]
) -> Path:
    """Write a feature table atomically as Parquet, ``metadata`` as JSON under ``hepdl``."""
    table = pa.table({name: pa.array(values) for name, values in columns.items()})
    payload = json.dumps(metadata, sort_keys=True).encode()
    table = table.replace_schema_metadata({FEATURES_METADATA_KEY: payload})
    with atomic_path(path) as temporary:
        pq.write_table(table, temporary, compression="zstd")
    return Path(path)


def read_features(
    path: str | os.PathLike[str], columns: list[str] | None = None
) -> dict[str, NDArray[Any]]:
    """Read a feature table (per shard or per split) as numpy columns.

    Raises:
        InputFileError: naming the file, if it is missing or not a feature table.
    """
    try:
        table = pq.read_table(path, columns=columns)
    except (OSError, pa.ArrowInvalid, KeyError) as err:
        raise InputFileError(path, f"not a readable feature table ({err})") from None
    return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
