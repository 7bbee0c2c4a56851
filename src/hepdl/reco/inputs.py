"""The detector-level collections each preprocessing stage reads from a Delphes-schema file.

Every stage asks for the collections it needs as awkward records, one entry per event:
``Event`` (``Number``, ``Weight``), ``Tower`` (``Eta``, ``Phi``, ``E``, ``Eem``, ``Ehad``),
``Track`` (``PT``, ``Eta``, ``Phi``), ``FatJet`` (the fields of
:func:`hepdl.reco.jets.fatjet_fields`: ungroomed or trimmed kinematics, as the selection asks).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import awkward as ak
import numpy as np
from numpy.typing import NDArray

from hepdl.errors import InputFileError

__all__ = [
    "EVENT_FIELDS",
    "TOWER_FIELDS",
    "TRACK_FIELDS",
    "event_column",
    "read_collections",
    "read_deposits",
]

EVENT_FIELDS = ("Number", "Weight")
TOWER_FIELDS = ("Eta", "Phi", "E", "Eem", "Ehad")
TRACK_FIELDS = ("PT", "Eta", "Phi")


def read_collections(
    path: str | os.PathLike[str],
    collections: Mapping[str, Sequence[str]],
    *,
    sample: str,
    shard: int,
) -> ak.Array:
    """Read ``collections`` (name -> fields) of shard ``shard`` of ``sample``'s detector file.

    Uses :mod:`hepdl.io.delphes`, the project's one Delphes reader (hepdl's files and real
    Delphes output alike). The file must hold events, and, where it carries hepdl's provenance
    (every file ``hepdl simulate`` writes, with either backend), they must be of this sample and
    shard: the stages take the label, masses and cross-section from ``sample``, so another
    sample's file would silently give its signal background labels and weights. A file Delphes
    wrote outside hepdl carries no provenance and is taken as the shard it is given for.

    A shard has at least one event (the config allows no more shards than events), so a file
    without events is damaged or truncated, never a legitimate shard: it is an error here. Zero
    events per shard do legitimately reach the image and graph files when the skim rejects all
    of a shard's events, and the merges take those.

    Returns:
        One record per event with one field per collection, each a list of records.

    Raises:
        InputFileError: naming the file, if it is missing, unreadable, lacks a branch, holds
            no events or holds another sample's or shard's events.
    """
    from hepdl.io.delphes import read_delphes  # noqa: PLC0415 (uproot is slow)

    content = read_delphes(path, collections)
    provenance = content.metadata or {}
    for key, expected in (("sample", sample), ("shard", shard)):
        found = provenance.get(key)
        if found is not None and found != expected:
            raise InputFileError(path, f"detector file of {key} {found!r}, not {expected!r}")
    if len(content.events) == 0:
        raise InputFileError(
            path, f"detector file without events; every shard of {sample} has some (rerun simulate)"
        )
    return content.events


def read_deposits(path: str | os.PathLike[str], *, sample: str, shard: int) -> ak.Array:
    """``Event``, ``Tower`` and ``Track`` of every event: what images and graphs are built from
    (see :func:`read_collections`)."""
    return read_collections(
        path,
        {"Event": EVENT_FIELDS, "Tower": TOWER_FIELDS, "Track": TRACK_FIELDS},
        sample=sample,
        shard=shard,
    )


def event_column(events: ak.Array, field: str) -> NDArray[np.float64]:
    """``Event.<field>`` per event as a flat float64 array."""
    values = events.Event[field]
    if values.ndim > 1:
        values = ak.firsts(values, axis=1)
    return np.asarray(ak.to_numpy(values), dtype=np.float64)
