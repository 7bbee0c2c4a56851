"""Reconstruction-level event tables: jet features, the cut-based selection and the splits.

- :mod:`~hepdl.reco.jets`: the 23 large-R jet variables of the shallow baselines.
- :mod:`~hepdl.reco.selection`: the ATLAS-CONF-2016-057 signal region (``passSR``).
- :mod:`~hepdl.reco.inputs`: the detector collections each stage reads.
- :mod:`~hepdl.reco.stage`: ``hepdl features``, one shard to ``features/{sample}/{shard}.parquet``.
- :mod:`~hepdl.reco.assign_splits`: the seeded train/val/test assignment shared by every model.
- :mod:`~hepdl.reco.merge`: the per-shard tables merged into ``features/{split}.parquet``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hepdl.lazy import lazy_exports

if TYPE_CHECKING:
    from hepdl.reco.assign_splits import assign_splits
    from hepdl.reco.jets import feature_names, jet_features, select_jets
    from hepdl.reco.selection import SelectionCuts, pass_baseline, pass_signal_region

__all__ = [
    "SelectionCuts",
    "assign_splits",
    "feature_names",
    "jet_features",
    "pass_baseline",
    "pass_signal_region",
    "select_jets",
]

#: The submodule of each public name: imported on first use, so that importing the package (or
#: one of its light submodules) loads nothing heavy it does not need.
_HOMES = {
    "SelectionCuts": "selection",
    "assign_splits": "assign_splits",
    "feature_names": "jets",
    "jet_features": "jets",
    "pass_baseline": "selection",
    "pass_signal_region": "selection",
    "select_jets": "jets",
}


__getattr__ = lazy_exports(__name__, _HOMES)
