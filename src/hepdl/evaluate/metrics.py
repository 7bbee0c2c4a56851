"""Weighted ROC curves and the working point of the cut-based benchmark.

All efficiencies are weighted with the physical event weights: the signal efficiency (true
positive rate, TPR) is the passing fraction of the signal's expected yield, the background
efficiency (false positive rate, FPR) that of the background's. The benchmark is the cut-based
signal region, a single (FPR, TPR) point. A classifier is compared with it at the same background
efficiency: its TPR there (the loosest cut on its score whose background efficiency does not
exceed the benchmark's) and the significance gain

    (S / sqrt(B))_classifier / (S / sqrt(B))_cuts = TPR_classifier / TPR_cuts,

taking B as the same at that working point (the paper's 0.77 / 0.41, about 1.8; the
classifier's B is at most the cuts', so this is conservative).
Uncertainties come from a Poisson bootstrap of the test events: each replicate reweights every
event by a Poisson(1) count and redoes the whole comparison, the benchmark point included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "Roc",
    "WorkingPoint",
    "benchmark_point",
    "bootstrap_metrics",
    "classifier_metrics",
    "roc_band",
    "roc_curve",
    "tpr_at_fpr",
]

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Roc:
    """A weighted ROC curve, one point per distinct score threshold (from high to low).

    Attributes:
        fpr: Background efficiency at each threshold, from 0 to 1.
        tpr: Signal efficiency at each threshold, from 0 to 1.
        threshold: Events with score >= threshold pass (the first is +inf: nothing passes).
    """

    fpr: Array
    tpr: Array
    threshold: Array

    @property
    def auc(self) -> float:
        """Area under the curve (trapezoidal; 0.5 for a random score)."""
        return float(np.trapezoid(self.tpr, self.fpr))


@dataclass(frozen=True)
class WorkingPoint:
    """The benchmark's weighted efficiencies: ``tpr`` for signal, ``fpr`` for background."""

    tpr: float
    fpr: float


def _check(
    score: ArrayLike, label: ArrayLike, weight: ArrayLike
) -> tuple[Array, NDArray[np.bool_], Array]:
    s = np.asarray(score, dtype=np.float64)
    y = np.asarray(label).astype(bool)
    w = np.asarray(weight, dtype=np.float64)
    if not s.shape == y.shape == w.shape or s.ndim != 1:
        msg = f"score, label and weight must be 1-d of one length, got {s.shape}, {y.shape}, {w.shape}"
        raise ValueError(msg)
    if not (w[y].sum() > 0 and w[~y].sum() > 0):
        msg = "need signal and background events with positive total weight"
        raise ValueError(msg)
    return s, y, w


def _roc_sorted(s: Array, y: NDArray[np.bool_], w: Array) -> Roc:
    """ROC of events already sorted by decreasing score."""
    signal = np.cumsum(np.where(y, w, 0.0))
    background = np.cumsum(np.where(y, 0.0, w))
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last event of each distinct score
    return Roc(
        fpr=np.r_[0.0, background[last] / background[-1]],
        tpr=np.r_[0.0, signal[last] / signal[-1]],
        threshold=np.r_[np.inf, s[last]],
    )


def roc_curve(score: ArrayLike, label: ArrayLike, weight: ArrayLike) -> Roc:
    """The weighted ROC curve of ``score`` (higher: more signal-like).

    Args:
        score: Classifier output per event.
        label: 1 (or True) for signal, 0 for background.
        weight: Physical event weight (non-negative).
    """
    s, y, w = _check(score, label, weight)
    order = np.argsort(-s, kind="stable")
    return _roc_sorted(s[order], y[order], w[order])


def tpr_at_fpr(roc: Roc, fpr: float) -> float:
    """Signal efficiency of the loosest score cut whose background efficiency is <= ``fpr``.

    A real cut on the score, no interpolation between operating points: with few weighted
    background events in the tail the ROC curve is a staircase, and interpolating along it
    would credit the classifier with efficiency no single cut reaches. A relative tolerance
    of 1e-9 absorbs the rounding of the benchmark's own efficiency.
    """
    index = int(np.searchsorted(roc.fpr, fpr * (1 + 1e-9) + 1e-300, side="right")) - 1
    return float(roc.tpr[max(index, 0)])


def benchmark_point(pass_sr: ArrayLike, label: ArrayLike, weight: ArrayLike) -> WorkingPoint:
    """Weighted signal and background efficiencies of the cut-based selection."""
    p = np.asarray(pass_sr).astype(bool)
    _, y, w = _check(p.astype(np.float64), label, weight)
    return WorkingPoint(
        tpr=float(w[y & p].sum() / w[y].sum()), fpr=float(w[~y & p].sum() / w[~y].sum())
    )


def classifier_metrics(roc: Roc, cuts: WorkingPoint) -> dict[str, float]:
    """AUC, TPR at the benchmark's FPR and significance gain over the cuts."""
    tpr = tpr_at_fpr(roc, cuts.fpr)
    return {
        "auc": roc.auc,
        "tpr_at_benchmark_fpr": tpr,
        "significance_gain": tpr / cuts.tpr if cuts.tpr > 0 else float("nan"),
    }


def bootstrap_metrics(
    scores: Mapping[str, ArrayLike],
    label: ArrayLike,
    weight: ArrayLike,
    pass_sr: ArrayLike,
    *,
    replicates: int,
    seed: int,
) -> dict[str, dict[str, Any]]:
    """Metrics of every classifier and of the cuts, with bootstrap uncertainties.

    Args:
        scores: Per classifier, its score per event (all on the same events).
        label: 1 signal, 0 background.
        weight: Physical event weight.
        pass_sr: Whether each event passes the cut-based signal region.
        replicates: Bootstrap replicates (0: no uncertainties).
        seed: Seed of the Poisson draws.

    Returns:
        Per classifier and for ``cuts``: ``auc``, ``tpr_at_benchmark_fpr``,
        ``significance_gain`` and their standard deviations over the replicates (``*_err``);
        ``cuts`` also has ``tpr`` and ``fpr``, and the number of replicates in ``bootstrap``.
    """
    y = np.asarray(label).astype(bool)
    w = np.asarray(weight, dtype=np.float64)
    p = np.asarray(pass_sr).astype(bool)
    sorted_inputs = {}
    for name, score in scores.items():
        s = np.asarray(score, dtype=np.float64)
        order = np.argsort(-s, kind="stable")
        sorted_inputs[name] = (order, s[order], y[order])
    names = ["cuts", *scores]

    def evaluate(wt: Array) -> dict[str, dict[str, float]]:
        cuts = benchmark_point(p, y, wt)
        out = {
            "cuts": {
                **classifier_metrics(roc_curve(p, y, wt), cuts),
                "tpr": cuts.tpr,
                "fpr": cuts.fpr,
            }
        }
        out["cuts"]["tpr_at_benchmark_fpr"] = cuts.tpr  # the cuts' own point, exactly
        out["cuts"]["significance_gain"] = 1.0
        for name, (order, s, ys) in sorted_inputs.items():
            out[name] = classifier_metrics(_roc_sorted(s, ys, wt[order]), cuts)
        return out

    nominal = evaluate(w)
    rng = np.random.default_rng(seed)
    samples: dict[str, dict[str, list[float]]] = {n: {} for n in names}
    for _ in range(replicates):
        try:
            result = evaluate(w * rng.poisson(1.0, size=len(w)))
        except ValueError:  # a replicate without signal or background (tiny test splits)
            continue
        for name in names:
            for key, value in result[name].items():
                samples[name].setdefault(key, []).append(value)
    metrics: dict[str, dict[str, Any]] = {}
    for name in names:
        metrics[name] = dict(nominal[name])
        for key in ("auc", "tpr_at_benchmark_fpr", "significance_gain", "tpr", "fpr"):
            if key in nominal[name]:
                values = np.asarray(samples[name].get(key, []), dtype=np.float64)
                finite = values[np.isfinite(values)]
                metrics[name][f"{key}_err"] = (
                    float(np.std(finite, ddof=1)) if len(finite) > 1 else None
                )
        metrics[name]["bootstrap"] = replicates
    return metrics


def roc_band(
    score: ArrayLike,
    label: ArrayLike,
    weight: ArrayLike,
    fpr_grid: ArrayLike,
    *,
    replicates: int,
    seed: int,
) -> tuple[Array, Array]:
    """The 68% band (16th and 84th percentiles) of the signal efficiency at each background
    efficiency of ``fpr_grid``, over Poisson-bootstrap replicates of the events.

    Returns:
        Lower and upper signal efficiency per grid point (NaN without replicates).
    """
    s, y, w = _check(score, label, weight)
    grid = np.asarray(fpr_grid, dtype=np.float64)
    order = np.argsort(-s, kind="stable")
    s, y, w = s[order], y[order], w[order]
    rng = np.random.default_rng(seed)
    curves = []
    for _ in range(replicates):
        wt = w * rng.poisson(1.0, size=len(w))
        if not (wt[y].sum() > 0 and wt[~y].sum() > 0):
            continue
        roc = _roc_sorted(s, y, wt)
        index = np.searchsorted(roc.fpr, grid * (1 + 1e-9) + 1e-300, side="right") - 1
        curves.append(roc.tpr[np.maximum(index, 0)])
    if not curves:
        nan = np.full(len(grid), np.nan)
        return nan, nan.copy()
    low, high = np.percentile(np.asarray(curves), [16, 84], axis=0)
    return low, high
