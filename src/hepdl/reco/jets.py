"""The 23 large-R jet variables of the published shallow baselines.

From the ``FatJet`` collection (anti-kt R = 1.0), with the kinematics the config's
``selection.large_r_jets`` names: ``ungroomed`` (Delphes' ``FatJet.PT``, ``FatJet.Mass``, which the
published code read) or ``trimmed`` (R_sub = 0.2, f_cut = 0.05, as ATLAS-CONF-2016-057 defines
its jets), keeping jets with pT and |eta| inside the config's bounds, ordered by decreasing pT:

- ``n_jet``: number of such jets;
- ``mj_gev``: M_J, the summed mass of the (up to) ``mj_n_jets`` leading jets;
- ``delta_eta``: |eta(j1) - eta(j2)| (0 with fewer than two jets);
- ``jet{i}_pt_gev``, ``jet{i}_eta``, ``jet{i}_phi``, ``jet{i}_mass_gev`` for i = 1 ..
  ``n_jets_stored`` (5 by default), zero where the event has fewer jets.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
from numpy.typing import NDArray

from hepdl.io.splits import JET_FIELDS, feature_names
from hepdl.reco.selection import SelectionCuts

__all__ = ["JET_FIELDS", "fatjet_fields", "feature_names", "jet_features", "select_jets"]


def fatjet_fields(cuts: SelectionCuts) -> tuple[str, ...]:
    """The ``FatJet`` fields holding the kinematics the selection uses (``cuts.large_r_jets``)."""
    prefix = "Trimmed" if cuts.large_r_jets == "trimmed" else ""
    return tuple(f"{prefix}{field}" for field, _ in JET_FIELDS)


def select_jets(fatjets: ak.Array, cuts: SelectionCuts) -> ak.Array:
    """Jets with pT > ``jet_pt_min_gev`` and |eta| < ``jet_abs_eta_max``, by decreasing pT.

    Args:
        fatjets: Per event, a list of ``FatJet`` records with (at least) the fields of
            :func:`fatjet_fields`, in GeV.
        cuts: The cut values and which large-R jet kinematics to use.

    Returns:
        Records with ``PT``, ``Eta``, ``Phi``, ``Mass`` of the chosen kinematics.
    """
    fields = zip((field for field, _ in JET_FIELDS), fatjet_fields(cuts), strict=True)
    fatjets = ak.zip({field: fatjets[source] for field, source in fields})
    good = (fatjets["PT"] > cuts.jet_pt_min_gev) & (abs(fatjets["Eta"]) < cuts.jet_abs_eta_max)
    jets = fatjets[good]
    return jets[ak.argsort(jets.PT, axis=1, ascending=False, stable=True)]


def _padded(values: ak.Array, n: int) -> NDArray[np.float64]:
    """The first ``n`` entries per event as an (events, n) array, zero-padded."""
    padded = ak.fill_none(ak.pad_none(values, n, axis=1, clip=True), 0.0)
    return np.asarray(ak.to_numpy(padded), dtype=np.float64).reshape(-1, n)


def jet_features(fatjets: ak.Array, cuts: SelectionCuts) -> dict[str, NDArray[np.float64]]:
    """The shallow-baseline variables of every event, as columns.

    Args:
        fatjets: Per event, a list of ``FatJet`` records (see :func:`select_jets`).
        cuts: Jet thresholds, kinematics and the numbers of jets stored and summed into M_J.

    Returns:
        One float64 array per name of :func:`feature_names`, each of length the number of
        events; ``n_jet`` holds integral values.
    """
    jets = select_jets(fatjets, cuts)
    n_events = len(jets)
    n_jet = np.asarray(ak.to_numpy(ak.num(jets, axis=1)), dtype=np.float64).reshape(n_events)
    mass = ak.values_astype(jets.Mass, np.float64)
    mj = np.asarray(ak.to_numpy(ak.sum(mass[:, : cuts.mj_n_jets], axis=1)), dtype=np.float64)
    n_store = max(cuts.n_jets_stored, 2)
    per_field = {field: _padded(jets[field], n_store) for field, _ in JET_FIELDS}
    eta = per_field["Eta"]
    delta_eta = np.where(n_jet >= 2, np.abs(eta[:, 0] - eta[:, 1]), 0.0)
    columns = {"n_jet": n_jet, "mj_gev": mj.reshape(n_events), "delta_eta": delta_eta}
    for i in range(cuts.n_jets_stored):
        for field, suffix in JET_FIELDS:
            columns[f"jet{i + 1}_{suffix}"] = per_field[field][:, i]
    return columns
