"""How well a selection's weighted background is measured: N_eff and the FPR's error.

A selection's background efficiency (FPR) is a ratio of weighted sums over the background
events of one split, FPR = A / (A + C) with A the weight selected and C the rest. Its
statistical error, to first order in the independent sums A and C, is

    sigma(FPR)^2 = [(1 - FPR)^2 sum_A w^2 + FPR^2 sum_C w^2] / (A + C)^2,

the first term the selected events', the second the denominator's (which matters where a few
heavy events, a pT-hat-biased JZ3, carry much of the skim's weight). The number of unweighted
events the selected weight is worth is the effective number

    N_eff = (sum w)^2 / sum w^2.

One JZ5 event among JZ7 events of a hundredth of its weight makes N_eff about 1 however many
events pass, so N_eff, not the raw count, says whether the working point is measured.

A background sample (a QCD slice) with no event in the region is not measured as zero: its
one-sided 68% upper bound, :data:`POISSON_UPPER_68` events (-ln 0.32) times the sample's
per-event weight, enters the FPR's error. For a sample generated with a pT-hat bias the
per-event weight is the mean weight of its events in the split (the events the region is
drawn from); for a sample with no event left in the split at all, the mean weight of its
generated events (from the skim record). So an unmeasured slice shows as the large error it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "POISSON_UPPER_68",
    "SampleSums",
    "background_measurement",
    "effective_count",
    "mean_generated_weights",
    "measure",
    "skim_background_measurement",
]

#: One-sided 68% upper bound on a Poisson mean when no event is seen: -ln(1 - 0.68).
POISSON_UPPER_68 = -math.log(0.32)


def effective_count(weight: ArrayLike) -> float:
    """(sum w)^2 / sum w^2 of ``weight``; 0 for no events."""
    w = np.asarray(weight, dtype=np.float64)
    return _effective(float(w.sum()), float(np.square(w).sum()))


def _effective(sum_weights: float, sum_squares: float) -> float:
    """N_eff from the sums of the weights and of their squares (0 for no events)."""
    return sum_weights**2 / sum_squares if sum_squares > 0 else 0.0


@dataclass(frozen=True)
class SampleSums:
    """One background sample's weighted sums: all its events of the measurement, and those the
    selection passes. ``per_event`` is the weight its 68% upper bound is made of, should none
    pass."""

    n_events: int
    weight: float
    weight2: float
    n_selected: int
    weight_selected: float
    weight2_selected: float
    per_event: float


def measure(sums: Mapping[str, SampleSums], *, min_neff: float) -> dict[str, Any]:
    """The background efficiency of a selection from its samples' sums, with N_eff and errors.

    Returns:
        ``fpr``; ``fpr_err_stat`` (the ratio's statistical error); ``fpr_err_unmeasured`` (the
        unmeasured samples' bounds, added in quadrature); ``fpr_err`` (both in quadrature);
        ``fpr_rel_err``; ``fpr_upper`` (one-sided: the FPR with every bound added in full);
        ``n_events`` and ``n_eff`` in the region; ``unmeasured`` (N_eff below ``min_neff``);
        ``bounds_dominate`` (the bounds' error exceeds the FPR itself); and per sample
        ``n_events``, ``n_selected``, ``weight_selected``, ``n_eff``, ``share`` (of the selected
        weight) and, where nothing passes, ``upper_bound`` (weighted events).

    Raises:
        ValueError: if the background has no positive total weight.
    """
    total = sum(s.weight for s in sums.values())
    if not total > 0:
        msg = "the background has no positive total weight"
        raise ValueError(msg)
    region = sum(s.weight_selected for s in sums.values())
    region2 = sum(s.weight2_selected for s in sums.values())
    rest2 = sum(s.weight2 - s.weight2_selected for s in sums.values())
    per_sample: dict[str, dict[str, Any]] = {}
    bounds = []
    for name, s in sorted(sums.items()):
        entry: dict[str, Any] = {
            "n_events": s.n_events,
            "n_selected": s.n_selected,
            "weight_selected": s.weight_selected,
            "n_eff": _effective(s.weight_selected, s.weight2_selected),
            "share": s.weight_selected / region if region > 0 else 0.0,
        }
        if not s.n_selected:
            entry["upper_bound"] = POISSON_UPPER_68 * s.per_event
            bounds.append(entry["upper_bound"])
        per_sample[name] = entry
    fpr = region / total
    stat = math.sqrt((1 - fpr) ** 2 * region2 + fpr**2 * max(rest2, 0.0)) / total
    unmeasured_err = math.sqrt(sum(b * b for b in bounds)) / total
    error = math.hypot(stat, unmeasured_err)
    n_eff = _effective(region, region2)
    return {
        "fpr": fpr,
        "fpr_err_stat": stat,
        "fpr_err_unmeasured": unmeasured_err,
        "fpr_err": error,
        "fpr_rel_err": error / fpr if fpr > 0 else None,
        "fpr_upper": (region + sum(bounds)) / total,
        "n_events": sum(s.n_selected for s in sums.values()),
        "n_eff": n_eff,
        "unmeasured": bool(n_eff < min_neff),
        "bounds_dominate": bool(unmeasured_err > fpr),
        "samples": per_sample,
    }


def background_measurement(
    sample: ArrayLike,
    weight: ArrayLike,
    selected: ArrayLike,
    *,
    generated_weight: Mapping[str, float],
    min_neff: float,
) -> dict[str, Any]:
    """:func:`measure` on the background events of one split.

    Args:
        sample: Per background event of the split, its sample name.
        weight: Per background event, its physical weight.
        selected: Per background event, whether it passes the selection.
        generated_weight: Per background sample of the measurement, the mean weight of its
            generated events, used for a sample that has no event in the split; every sample
            named here counts, so one skimmed away entirely still gets its bound.
        min_neff: Below this N_eff the working point is ``unmeasured``.
    """
    names = np.asarray(sample).astype(str)
    w = np.asarray(weight, dtype=np.float64)
    passed = np.asarray(selected).astype(bool)
    sums = {}
    for name in set(names.tolist()) | set(generated_weight):
        mine = names == name
        chosen = w[mine & passed]
        sums[name] = SampleSums(
            n_events=int(mine.sum()),
            weight=float(w[mine].sum()),
            weight2=float(np.square(w[mine]).sum()),
            n_selected=len(chosen),
            weight_selected=float(chosen.sum()),
            weight2_selected=float(np.square(chosen).sum()),
            per_event=float(w[mine].mean()) if mine.any() else float(generated_weight[name]),
        )
    return measure(sums, min_neff=min_neff)


def skim_background_measurement(
    skim: Mapping[str, Mapping[str, Any]], samples: list[str], *, min_neff: float
) -> dict[str, Any]:
    """:func:`measure` of the cuts' signal region on every skimmed event of every split.

    The cuts need no training, so their working point can be measured on all the events the
    skim keeps (the skim record counts them), not only on the test split: about 1 / test
    fraction more events, and bounds as much tighter. A sample with no event in the skim at
    all is bounded by the mean weight of its generated events.
    """
    sums = {}
    for name, entry in skim.items():
        if name not in samples or entry["label"] != 0:
            continue
        n_baseline = int(entry["n_baseline"])
        sums[name] = SampleSums(
            n_events=n_baseline,
            weight=float(entry["weight_baseline"]),
            weight2=float(entry["weight2_baseline"]),
            n_selected=int(entry["n_signal_region"]),
            weight_selected=float(entry["weight_signal_region"]),
            weight2_selected=float(entry["weight2_signal_region"]),
            per_event=(
                entry["weight_baseline"] / n_baseline
                if n_baseline
                else entry["weight_generated"] / max(int(entry["n_generated"]), 1)
            ),
        )
    return measure(sums, min_neff=min_neff)


def mean_generated_weights(
    skim: Mapping[str, Mapping[str, Any]], samples: list[str]
) -> dict[str, float]:
    """Per background sample of ``samples``, the mean weight of its generated events."""
    return {
        name: entry["weight_generated"] / entry["n_generated"]
        for name, entry in skim.items()
        if name in samples and entry["label"] == 0 and entry["n_generated"] > 0
    }
