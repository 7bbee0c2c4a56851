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
    path: str | os.PathLike[str], collections: Mapping[str, Sequence[str]]
) -> ak.Array:
    """Read ``collections`` (name -> fields) of the ``Delphes`` tree of ``path``.

    Uses :mod:`hepdl.io.delphes`, the project's one Delphes reader (hepdl's files and real
    Delphes output alike).

    Returns:
        One record per event with one field per collection, each a list of records.

    Raises:
        InputFileError: naming the file, if it is missing, unreadable or lacks a branch.
    """
    from hepdl.io.delphes import read_collections as read  # noqa: PLC0415 (uproot is slow)

    return read(path, collections)


def read_deposits(path: str | os.PathLike[str]) -> ak.Array:
    """``Event``, ``Tower`` and ``Track`` of every event: what images and graphs are built from."""
    return read_collections(
        path, {"Event": EVENT_FIELDS, "Tower": TOWER_FIELDS, "Track": TRACK_FIELDS}
    )


def event_column(events: ak.Array, field: str) -> NDArray[np.float64]:
    """``Event.<field>`` per event as a flat float64 array."""
    values = events.Event[field]
    if values.ndim > 1:
        values = ak.firsts(values, axis=1)
    return np.asarray(ak.to_numpy(values), dtype=np.float64)
