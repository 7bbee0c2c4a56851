"""Two-sample comparisons of generated and real observables, next to the real noise floor.

For each observable: the two-sample Kolmogorov-Smirnov statistic D and its p-value, and the
1-Wasserstein distance W1 (in the observable's unit). A GAN is judged against what chance alone
gives: the real events are split in two random halves R1 and R2; the noise floor is the
distance between R2 and R1, and the generated events (as many as R2) are compared with R1, so
both numbers have the same sample sizes. Floor and generated distances are averaged over
``splits`` random half splits. An observable is flagged when the generated distance (D or W1)
exceeds ``flag_ratio`` times its floor.

The model-selection metric (:func:`ks_metric`, the authors' public code) is -ln of the KS
p-value, clipped at 700 (where p underflows), averaged over the jet multiplicity, summed jet
mass, leading-jet pT, eta and phi and the total energy (smaller is better; about 1 for two
samples of one distribution, whose p-values are uniform). The published study selected models
and epochs by it on 4,096 validation images; unlike the KS statistic it grows with the sample
size for a fixed difference, so values compare only at equal sizes. A hyper-parameter search
calls it with the observables of :func:`hepdl.gan.observables.image_observables`.

The study's targets (:data:`W1_TARGETS`, :data:`MJ_TOLERANCE`) can select instead
(:func:`target_fractions`, each as a fraction of its limit): the worst of them on the
validation events, so that the kept epoch is the one nearest to
meeting all of them rather than the one with the smallest mean -ln p, which weighs every
observable alike and ignores the cgan's mass points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

__all__ = [
    "MJ_TOLERANCE",
    "SELECTION_OBSERVABLES",
    "W1_TARGETS",
    "compare_observables",
    "ks_metric",
    "ks_metric_per_mass_point",
    "mean_image_distance",
    "neg_log_pvalue",
    "target_fractions",
    "two_sample",
]

#: Observables whose mean -ln(KS p) selects the best epoch.
SELECTION_OBSERVABLES = (
    "n_jet",
    "mj_gev",
    "jet1_pt_gev",
    "jet1_eta",
    "jet1_phi",
    "total_energy_gev",
)

#: The physics targets of the GAN study (issue 15): generated-vs-real 1-Wasserstein distance at
#: most this many times its real-vs-real noise floor.
W1_TARGETS = {
    "n_jet": 3.0,
    "mj_gev": 3.0,
    "jet1_eta": 3.0,
    "jet1_phi": 3.0,
    "jet1_pt_gev": 5.0,
    "total_energy_gev": 5.0,
}

#: The cgan's mean summed jet mass at a trained mass point within this fraction of the real one.
MJ_TOLERANCE = 0.02

#: A target fraction is clipped here (a generated set without a jet has no W1), as -ln p at
#: :data:`MAX_NEG_LOG_PVALUE`, so that every epoch has a finite selection metric.
MAX_TARGET_FRACTION = 1000.0

#: -ln p is clipped here, as in the authors' code (exp(-700) is near float64's smallest).
MAX_NEG_LOG_PVALUE = 700.0

Observables = Mapping[str, NDArray[np.float64]]


def two_sample(a: NDArray[np.floating], b: NDArray[np.floating]) -> dict[str, float]:
    """KS statistic, KS p-value and 1-Wasserstein distance of two samples (NaNs dropped).

    Two empty samples agree (distances 0, p-value 1); one empty sample against a filled one
    (e.g. no generated event with a jet) is as different as can be: KS statistic 1, p-value 0,
    and no Wasserstein distance (NaN).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) == 0 or len(b) == 0:
        same = len(a) == len(b)
        nan = float("nan")
        return {
            "ks_statistic": 0.0 if same else 1.0,
            "ks_pvalue": 1.0 if same else 0.0,
            "wasserstein": 0.0 if same else nan,
        }
    ks = stats.ks_2samp(a, b)
    return {
        "ks_statistic": float(ks.statistic),
        "ks_pvalue": float(ks.pvalue),
        "wasserstein": float(stats.wasserstein_distance(a, b)),
    }


def neg_log_pvalue(pvalue: float) -> float:
    """-ln p, clipped at :data:`MAX_NEG_LOG_PVALUE` (p = 0, or NaN, gives the clip)."""
    if not pvalue > 0.0:
        return MAX_NEG_LOG_PVALUE
    return float(min(-np.log(pvalue), MAX_NEG_LOG_PVALUE))


def ks_metric(
    generated: Observables,
    real: Observables,
    names: Sequence[str] = SELECTION_OBSERVABLES,
) -> float:
    """Mean over ``names`` of -ln(KS p-value) of generated vs real, each clipped at 700.

    Near 1 for samples of one distribution; 700 for disjoint ones.
    """
    values = [neg_log_pvalue(two_sample(generated[n], real[n])["ks_pvalue"]) for n in names]
    return float(np.mean(values))


def ks_metric_per_mass_point(
    generated: Observables,
    real: Observables,
    masses: NDArray[np.floating],
    names: Sequence[str] = SELECTION_OBSERVABLES,
) -> float:
    """Mean over the mass points of :func:`ks_metric` within each point.

    Pooled over the mass points, a cgan that ignores its masses but makes the mixture of their
    distributions scores as well as one that follows them; within each point it does not.

    Args:
        generated: Observables of generated events, event k at the masses of real event k.
        real: Observables of the real events.
        masses: (N, 2) masses of the (real and generated) events.
    """
    masses = np.asarray(masses)
    values = []
    for point in np.unique(masses, axis=0):
        chosen = np.flatnonzero(np.all(masses == point, axis=1))
        values.append(
            ks_metric(
                {name: _events(generated, chosen, name) for name in names},
                {name: _events(real, chosen, name) for name in names},
                names,
            )
        )
    return float(np.mean(values))


def _events(observables: Observables, chosen: NDArray[np.int64], name: str) -> NDArray[np.float64]:
    """Values of ``name`` for the events ``chosen`` (pixel spectra through their event index)."""
    values = observables[name]
    if name == "pixel_energy_gev":
        return values[np.isin(observables["pixel_event"], chosen)]
    return values[chosen]


def _ratio(value: float, floor: float) -> float:
    if not np.isfinite(value) or not np.isfinite(floor):
        return float("nan")
    if floor == 0.0:
        return 1.0 if value == 0.0 else float("inf")
    return value / floor


def mean_image_distance(a: NDArray[np.floating], b: NDArray[np.floating]) -> float:
    """Relative L1 distance sum|<a> - <b>| / sum<b> of two sets' mean images ((N, H, W))."""
    mean_a = np.asarray(a, dtype=np.float64).mean(axis=0)
    mean_b = np.asarray(b, dtype=np.float64).mean(axis=0)
    total = float(np.abs(mean_b).sum())
    return float(np.abs(mean_a - mean_b).sum() / total) if total > 0 else float("nan")


def compare_observables(
    generated: Observables,
    real: Observables,
    names: Sequence[str],
    *,
    n_generated: int,
    n_real: int,
    splits: int,
    flag_ratio: float,
    seed: int,
    generated_images: NDArray[np.floating] | None = None,
    real_images: NDArray[np.floating] | None = None,
) -> dict[str, Any]:
    """Generated vs real for every observable, with the real-vs-real noise floor.

    Args:
        generated: Observables of the generated events (see
            :func:`hepdl.gan.observables.image_observables`).
        real: Observables of the real events.
        names: Observables to compare.
        n_generated: Number of generated events.
        n_real: Number of real events (at least 2).
        splits: Random half splits averaged.
        flag_ratio: Flag when a distance exceeds this many times its floor.
        seed: Seed of the half splits.
        generated_images: (N, H, W) generated energies, to compare the mean image.
        real_images: (N, H, W) real energies.

    Returns:
        Per observable: ``generated`` and ``floor`` dicts of mean ``ks_statistic``,
        ``ks_pvalue`` and ``wasserstein``; ``ratio`` (generated / floor) of the KS statistic and
        of W1; ``flagged``. Plus ``mean_image`` (relative L1 distance, same layout) when images
        are given, and ``n_real_half``, ``n_generated_compared``.
    """
    if n_real < 2:
        msg = f"need at least 2 real events for a noise floor, got {n_real}"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    half = n_real // 2
    n_compared = min(half, n_generated)
    sums: dict[str, dict[str, dict[str, float]]] = {
        name: {"generated": {}, "floor": {}} for name in names
    }
    image_sums = {"generated": 0.0, "floor": 0.0}
    for _ in range(splits):
        order = rng.permutation(n_real)
        first, second = np.sort(order[:half]), np.sort(order[half : 2 * half])
        chosen = np.sort(rng.choice(n_generated, n_compared, replace=False))
        for name in names:
            reference = _events(real, first, name)
            for key, other in (
                ("generated", _events(generated, chosen, name)),
                ("floor", _events(real, second, name)),
            ):
                for metric, value in two_sample(other, reference).items():
                    sums[name][key][metric] = sums[name][key].get(metric, 0.0) + value / splits
        if generated_images is not None and real_images is not None:
            reference_images = real_images[first]
            image_sums["generated"] += (
                mean_image_distance(generated_images[chosen], reference_images) / splits
            )
            image_sums["floor"] += (
                mean_image_distance(real_images[second], reference_images) / splits
            )
    result: dict[str, Any] = {"n_real_half": half, "n_generated_compared": n_compared}
    for name, parts in sums.items():
        ratio = {
            metric: _ratio(parts["generated"][metric], parts["floor"][metric])
            for metric in ("ks_statistic", "wasserstein")
        }
        result[name] = {
            **parts,
            "ratio": ratio,
            "flagged": bool(any(not (r <= flag_ratio) for r in ratio.values())),
        }
    if generated_images is not None and real_images is not None:
        ratio_l1 = _ratio(image_sums["generated"], image_sums["floor"])
        result["mean_image"] = {
            "generated": {"relative_l1": image_sums["generated"]},
            "floor": {"relative_l1": image_sums["floor"]},
            "ratio": {"relative_l1": ratio_l1},
            "flagged": bool(not (ratio_l1 <= flag_ratio)),
        }
    return result


def target_fractions(
    generated: Observables,
    real: Observables,
    masses: NDArray[np.floating] | None = None,
    *,
    splits: int = 5,
    seed: int = 0,
) -> dict[str, float]:
    """Each of the study's targets, as a fraction of its limit: at most 1 where it is met.

    Per observable of :data:`W1_TARGETS` (keyed by its name), its generated-vs-real W1 over the
    real-vs-real floor (:func:`compare_observables`, pooled over the events) divided by its
    target and, given the events' masses (a cgan), per mass point (keyed ``mj_at_{m_gluino}``
    in GeV, ``_{m_neutralino}`` added where several neutralino masses share it), |<M_J>
    generated / <M_J> real - 1| over :data:`MJ_TOLERANCE`. Each is clipped at
    :data:`MAX_TARGET_FRACTION` (NaN: the clip). The interpolation targets need points
    between the trained ones, which are not among the real events, so they are not included.

    Args:
        generated: Observables of generated events, event k at the masses of real event k.
        real: Observables of the real events (at least 2).
        masses: (N, 2) masses of the (real and generated) events; None: no mass targets.
        splits: Random half splits averaged into the floor.
        seed: Seed of the half splits.
    """
    comparison = compare_observables(
        generated,
        real,
        list(W1_TARGETS),
        n_generated=len(generated["n_jet"]),
        n_real=len(real["n_jet"]),
        splits=splits,
        flag_ratio=1.0,
        seed=seed,
    )
    fractions = {
        name: comparison[name]["ratio"]["wasserstein"] / limit for name, limit in W1_TARGETS.items()
    }
    if masses is not None:
        masses = np.asarray(masses)
        points = np.unique(masses, axis=0)
        one_neutralino_each = len(np.unique(points[:, 0])) == len(points)
        for point in points:
            chosen = np.all(masses == point, axis=1)
            shift = np.mean(generated["mj_gev"][chosen]) / np.mean(real["mj_gev"][chosen]) - 1.0
            key = f"mj_at_{point[0]:g}" + ("" if one_neutralino_each else f"_{point[1]:g}")
            if key in fractions:  # masses a rounding apart: one key would hide a point
                msg = f"two mass points print as {key}: {points.tolist()}"
                raise ValueError(msg)
            fractions[key] = abs(shift) / MJ_TOLERANCE
    return {
        name: float(min(np.nan_to_num(value, nan=MAX_TARGET_FRACTION), MAX_TARGET_FRACTION))
        for name, value in fractions.items()
    }
