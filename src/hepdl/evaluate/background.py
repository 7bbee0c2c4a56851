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
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "POISSON_UPPER_68",
    "background_measurement",
    "effective_count",
    "mean_generated_weights",
]

#: One-sided 68% upper bound on a Poisson mean when no event is seen: -ln(1 - 0.68).
POISSON_UPPER_68 = -math.log(0.32)


def effective_count(weight: ArrayLike) -> float:
    """(sum w)^2 / sum w^2 of ``weight``; 0 for no events."""
    w = np.asarray(weight, dtype=np.float64)
    squares = float(np.square(w).sum())
    return float(w.sum()) ** 2 / squares if squares > 0 else 0.0


def background_measurement(
    sample: ArrayLike,
    weight: ArrayLike,
    selected: ArrayLike,
    *,
    generated_weight: Mapping[str, float],
    min_neff: float,
) -> dict[str, Any]:
    """The background efficiency of a selection, its N_eff and errors, per sample and in all.

    Args:
        sample: Per background event of the split, its sample name.
        weight: Per background event, its physical weight.
        selected: Per background event, whether it passes the selection.
        generated_weight: Per background sample of the measurement, the mean weight of its
            generated events, used for a sample that has no event in the split; every sample
            named here counts, so one skimmed away entirely still gets its bound.
        min_neff: Below this N_eff the working point is ``unmeasured``.

    Returns:
        ``fpr``; ``fpr_err_stat`` (the ratio's statistical error); ``fpr_err_unmeasured`` (the
        unmeasured samples' bounds, added in quadrature); ``fpr_err`` (both in quadrature);
        ``fpr_rel_err``; ``n_events`` and ``n_eff`` in the region; ``unmeasured``; and per
        sample ``n_events``, ``n_selected``, ``weight_selected``, ``n_eff``, ``share`` (of the
        selected weight) and, where nothing passes, ``upper_bound`` (weighted events).
    """
    names = np.asarray(sample).astype(str)
    w = np.asarray(weight, dtype=np.float64)
    passed = np.asarray(selected).astype(bool)
    total = float(w.sum())
    if not total > 0:
        msg = "the background has no positive total weight"
        raise ValueError(msg)
    in_region = w[passed]
    region_weight = float(in_region.sum())
    per_sample: dict[str, dict[str, Any]] = {}
    bounds = []
    for name in sorted(set(names.tolist()) | set(generated_weight)):
        mine = names == name
        chosen = w[mine & passed]
        entry: dict[str, Any] = {
            "n_events": int(mine.sum()),
            "n_selected": len(chosen),
            "weight_selected": float(chosen.sum()),
            "n_eff": effective_count(chosen),
            "share": float(chosen.sum()) / region_weight if region_weight > 0 else 0.0,
        }
        if not len(chosen):
            per_event = float(w[mine].mean()) if mine.any() else float(generated_weight[name])
            entry["upper_bound"] = POISSON_UPPER_68 * per_event
            bounds.append(entry["upper_bound"])
        per_sample[name] = entry
    fraction = region_weight / total
    rest = w[~passed]
    stat = (
        math.sqrt(
            (1 - fraction) ** 2 * float(np.square(in_region).sum())
            + fraction**2 * float(np.square(rest).sum())
        )
        / total
    )
    unmeasured_err = math.sqrt(sum(b * b for b in bounds)) / total
    fpr = fraction
    error = math.hypot(stat, unmeasured_err)
    n_eff = effective_count(in_region)
    return {
        "fpr": fpr,
        "fpr_err_stat": stat,
        "fpr_err_unmeasured": unmeasured_err,
        "fpr_err": error,
        "fpr_rel_err": error / fpr if fpr > 0 else None,
        "n_events": len(in_region),
        "n_eff": n_eff,
        "unmeasured": bool(n_eff < min_neff),
        "samples": per_sample,
    }


def mean_generated_weights(
    skim: Mapping[str, Mapping[str, Any]], samples: list[str]
) -> dict[str, float]:
    """Per background sample of ``samples``, the mean weight of its generated events."""
    return {
        name: entry["weight_generated"] / entry["n_generated"]
        for name, entry in skim.items()
        if name in samples and entry["label"] == 0 and entry["n_generated"] > 0
    }
