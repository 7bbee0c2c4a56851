"""The cut-based benchmark: the ATLAS-CONF-2016-057 signal region, one function.

Baseline: at least ``baseline_min_jets`` large-R jets and the leading one with pT above
``leading_jet_pt_min_gev``. Signal region: in addition |delta-eta(j1, j2)| below
``delta_eta_max`` and either exactly 4 jets with M_J above ``mj_min_gev_4_jets`` or 5 or more
jets with M_J above ``mj_min_gev_5_jets``. Every cut value comes from the config's
``selection`` block; the inequalities are strict, the jet counts inclusive, as published.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["PRESELECTIONS", "SelectionCuts", "pass_baseline", "pass_signal_region", "preselected"]

#: The skims an analysis can start from (the config's ``preselection``).
PRESELECTIONS = ("baseline", "none")


@dataclass(frozen=True)
class SelectionCuts:
    """Cut values of the benchmark selection (the config's ``selection`` block).

    Attributes:
        jet_pt_min_gev: Large-R jet pT threshold (GeV).
        jet_abs_eta_max: Large-R jet |eta| bound.
        n_jets_stored: Leading jets stored as features.
        mj_n_jets: Leading jets summed into M_J.
        baseline_min_jets: Minimum large-R jet multiplicity of the baseline.
        leading_jet_pt_min_gev: Leading-jet pT threshold of the baseline (GeV).
        delta_eta_max: Bound on |eta(j1) - eta(j2)|.
        mj_min_gev_4_jets: M_J threshold (GeV) for exactly 4 jets.
        mj_min_gev_5_jets: M_J threshold (GeV) for 5 or more jets.
        large_r_jets: ``ungroomed`` or ``trimmed`` large-R jet kinematics.
    """

    jet_pt_min_gev: float = 200.0
    jet_abs_eta_max: float = 2.0
    n_jets_stored: int = 5
    mj_n_jets: int = 4
    baseline_min_jets: int = 3
    leading_jet_pt_min_gev: float = 440.0
    delta_eta_max: float = 1.4
    mj_min_gev_4_jets: float = 800.0
    mj_min_gev_5_jets: float = 600.0
    large_r_jets: str = "ungroomed"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SelectionCuts:
        """The cuts of a validated config (its ``selection`` block)."""
        return cls(**config["selection"])


def pass_baseline(
    n_jet: ArrayLike, leading_pt_gev: ArrayLike, cuts: SelectionCuts
) -> NDArray[np.bool_]:
    """The baseline selection per event.

    Args:
        n_jet: Number of large-R jets passing the jet pT and |eta| cuts.
        leading_pt_gev: pT of the leading such jet in GeV (0 without jets).
        cuts: The cut values.

    Returns:
        True where the event has enough jets and a hard enough leading jet.
    """
    n = np.asarray(n_jet)
    pt = np.asarray(leading_pt_gev)
    result: NDArray[np.bool_] = (n >= cuts.baseline_min_jets) & (pt > cuts.leading_jet_pt_min_gev)
    return result


def pass_signal_region(
    n_jet: ArrayLike,
    leading_pt_gev: ArrayLike,
    delta_eta: ArrayLike,
    mj_gev: ArrayLike,
    cuts: SelectionCuts,
) -> NDArray[np.bool_]:
    """The signal region of ATLAS-CONF-2016-057 per event (``passSR``).

    Args:
        n_jet: Number of large-R jets passing the jet pT and |eta| cuts.
        leading_pt_gev: pT of the leading such jet in GeV.
        delta_eta: |eta(j1) - eta(j2)| of the two leading such jets.
        mj_gev: M_J, the summed mass of the (up to) ``mj_n_jets`` leading jets, in GeV.
        cuts: The cut values.

    Returns:
        True where the event passes the baseline and the signal-region cuts.
    """
    n = np.asarray(n_jet)
    mj = np.asarray(mj_gev)
    four = (n == 4) & (mj > cuts.mj_min_gev_4_jets)
    five_or_more = (n >= 5) & (mj > cuts.mj_min_gev_5_jets)
    central = np.asarray(delta_eta) < cuts.delta_eta_max
    result: NDArray[np.bool_] = (
        pass_baseline(n, leading_pt_gev, cuts) & central & (four | five_or_more)
    )
    return result


def preselected(preselection: str, pass_baseline_flags: ArrayLike) -> NDArray[np.bool_]:
    """Which events the skim keeps: those passing the baseline, or every event.

    Args:
        preselection: The config's ``preselection``, one of :data:`PRESELECTIONS`.
        pass_baseline_flags: Per event, whether it passes the baseline (``passBaseline``).

    Raises:
        ValueError: for an unknown preselection.
    """
    flags = np.asarray(pass_baseline_flags).astype(bool)
    if preselection == "baseline":
        return flags
    if preselection == "none":
        return np.ones_like(flags)
    msg = f"unknown preselection {preselection!r}; expected one of {PRESELECTIONS}"
    raise ValueError(msg)
