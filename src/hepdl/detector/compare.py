"""The fast simulation against real Delphes on the same events (``hepdl compare-detectors``).

Both backends run, in one process, on the first ``compare_detectors.events`` generated events
of each sample (fast simulation: :func:`~hepdl.detector.fastsim.simulate_events` in batches of
``detector.batch_size``; Delphes: one run per ``compare_detectors.chunk_events`` events, seeded
per chunk as the backend seeds its chunks,
:func:`~hepdl.detector.delphes.simulate_with_delphes`), with the config's
jets clustered the same way on each backend's towers. Compared, per sample:

- per event (paired, the same event on both sides): tower multiplicity and summed tower E,
  Eem and Ehad; track multiplicity and summed track pT; Jet and FatJet multiplicity; M_J (the
  summed mass of the leading large-R jets of the selection): means with their errors, the mean
  per-event difference, the median per-event ratio fast / Delphes (bootstrap error, seeded), and
  the two-sample Kolmogorov-Smirnov test of the two distributions;
- per object: Jet and FatJet pT and mass (means, ratio of means, KS test);
- the signal-region pass rate (the benchmark selection, :mod:`hepdl.reco.selection`) of each,
  with binomial errors, and their difference with its paired error sqrt(n01 + n10) / N;
- the jet response pT(Jet) / pT(GenJet) of each (matched within Delta R < 0.3, |eta| < 1).

The targets of issue 14 are checked and reported (``targets``): the median per-event ratio of
summed tower energy within 0.5% of 1; the mean large-R jet pT and mass within 1%; the
signal-region efficiencies equal within the statistical error of Delphes' (binomial, with
(k + 1) / (N + 2) for the rate, so that zero passing events still give an error).

Written: ``comparison.json`` and, per sample, ``<sample>.png`` (the distributions of both
backends) in the output folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
from numpy.typing import NDArray
from scipy import stats

from hepdl.detector.card import DetectorCard, load_card
from hepdl.detector.delphes import DelphesRun, delphes_chunks, simulate_with_delphes
from hepdl.detector.fastsim import SimulationSettings, StepTimer, simulate_events
from hepdl.detector.rng import CounterRNG, detector_seed
from hepdl.detector.stage import stdout_to_stderr
from hepdl.detector.validate import CENTRAL_ABS_ETA, PT_EDGES_GEV, binned_response, match_jets
from hepdl.io.atomic import atomic_path, ensure_writable_dir, write_json_atomic
from hepdl.io.delphes import conform
from hepdl.io.events import read_events
from hepdl.reco.jets import jet_features
from hepdl.reco.selection import SelectionCuts, pass_signal_region

__all__ = [
    "BACKENDS",
    "OBJECT_QUANTITIES",
    "PER_EVENT_QUANTITIES",
    "TARGETS",
    "compare_detectors",
    "compare_objects",
    "compare_per_event",
    "object_quantities",
    "per_event_quantities",
    "signal_region_comparison",
]

#: The two backends, in the order of every pair of numbers.
BACKENDS = ("fastsim", "delphes")
#: Per-event quantities: name -> axis label.
PER_EVENT_QUANTITIES = {
    "tower_count": "towers per event",
    "tower_e_gev": r"$\sum$ tower E [GeV]",
    "tower_eem_gev": r"$\sum$ tower $E_{em}$ [GeV]",
    "tower_ehad_gev": r"$\sum$ tower $E_{had}$ [GeV]",
    "track_count": "tracks per event",
    "track_pt_gev": r"$\sum$ track $p_T$ [GeV]",
    "jet_count": "jets per event",
    "fatjet_count": "large-R jets per event",
    "mj_gev": r"$M_J$ [GeV]",
}
#: Per-object quantities: name -> axis label.
OBJECT_QUANTITIES = {
    "jet_pt_gev": r"jet $p_T$ [GeV]",
    "jet_mass_gev": "jet mass [GeV]",
    "fatjet_pt_gev": r"large-R jet $p_T$ [GeV]",
    "fatjet_mass_gev": "large-R jet mass [GeV]",
}
#: Targets (issue 14): the median per-event tower-energy ratio, the large-R jets' mean pT and
#: mass ratios (largest |value - 1|).
TARGETS = {
    "tower_e_median_ratio": 0.005,
    "fatjet_mean_pt_ratio": 0.01,
    "fatjet_mean_mass_ratio": 0.01,
}
#: Bootstrap resamples of the median ratio's error.
BOOTSTRAP = 200
#: Truth-jet pT (GeV) above which the jet response is averaged.
RESPONSE_PT_MIN_GEV = 50.0

FloatArray = NDArray[np.float64]


def _summed(collection: ak.Array, field: str) -> FloatArray:
    return np.asarray(ak.to_numpy(ak.sum(collection[field], axis=1)), dtype=np.float64)


def _counted(collection: ak.Array) -> FloatArray:
    return np.asarray(ak.to_numpy(ak.num(collection, axis=1)), dtype=np.float64)


def per_event_quantities(
    collections: dict[str, ak.Array], cuts: SelectionCuts
) -> dict[str, FloatArray]:
    """The quantities of :data:`PER_EVENT_QUANTITIES` of each event, and ``pass_sr``."""
    towers, tracks = collections["Tower"], collections["Track"]
    features = jet_features(collections["FatJet"], cuts)
    pass_sr = pass_signal_region(
        features["n_jet"], features["jet1_pt_gev"], features["delta_eta"], features["mj_gev"], cuts
    )
    return {
        "tower_count": _counted(towers),
        "tower_e_gev": _summed(towers, "E"),
        "tower_eem_gev": _summed(towers, "Eem"),
        "tower_ehad_gev": _summed(towers, "Ehad"),
        "track_count": _counted(tracks),
        "track_pt_gev": _summed(tracks, "PT"),
        "jet_count": _counted(collections["Jet"]),
        "fatjet_count": _counted(collections["FatJet"]),
        "mj_gev": features["mj_gev"],
        "pass_sr": pass_sr.astype(np.float64),
    }


def object_quantities(collections: dict[str, ak.Array]) -> dict[str, FloatArray]:
    """The quantities of :data:`OBJECT_QUANTITIES`: every jet's and large-R jet's pT and mass."""

    def flat(collection: str, field: str) -> FloatArray:
        values = ak.flatten(collections[collection][field], axis=None)
        return np.asarray(ak.to_numpy(values), dtype=np.float64)

    return {
        "jet_pt_gev": flat("Jet", "PT"),
        "jet_mass_gev": flat("Jet", "Mass"),
        "fatjet_pt_gev": flat("FatJet", "PT"),
        "fatjet_mass_gev": flat("FatJet", "Mass"),
    }


def _mean(values: FloatArray) -> tuple[float, float]:
    """Mean and its standard error (NaN for fewer than two values)."""
    if values.size < 2:
        return (float(values.mean()) if values.size else float("nan")), float("nan")
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(values.size))


def _ks(fast: FloatArray, delphes: FloatArray) -> dict[str, float]:
    if fast.size == 0 or delphes.size == 0:
        return {"ks_statistic": float("nan"), "ks_p_value": float("nan")}
    result = stats.ks_2samp(fast, delphes, method="asymp")  # exact fails on ties (counts)
    return {"ks_statistic": float(result.statistic), "ks_p_value": float(result.pvalue)}


def _ratio_of_means(fast: FloatArray, delphes: FloatArray, paired: bool) -> tuple[float, float]:
    """mean(fast) / mean(delphes) and its error (delta method; with the covariance of the
    two means where the values are paired, per event)."""
    mean_fast, error_fast = _mean(fast)
    mean_delphes, error_delphes = _mean(delphes)
    if not mean_delphes:
        return float("nan"), float("nan")
    ratio = mean_fast / mean_delphes
    covariance = 0.0
    if paired and fast.size >= 2:
        covariance = float(np.cov(fast, delphes)[0, 1]) / fast.size
    relative2 = ((error_fast / mean_fast) ** 2 if mean_fast else 0.0) + (
        error_delphes / mean_delphes
    ) ** 2
    if mean_fast:
        relative2 -= 2.0 * covariance / (mean_fast * mean_delphes)
    return ratio, float(abs(ratio) * np.sqrt(max(relative2, 0.0)))


def compare_objects(fast: FloatArray, delphes: FloatArray) -> dict[str, Any]:
    """Means of both (errors), the ratio of means and the KS test, for unpaired values."""
    (mean_fast, error_fast), (mean_delphes, error_delphes) = _mean(fast), _mean(delphes)
    ratio, ratio_error = _ratio_of_means(fast, delphes, paired=False)
    return {
        "n": [int(fast.size), int(delphes.size)],
        "mean": [mean_fast, mean_delphes],
        "mean_error": [error_fast, error_delphes],
        "ratio_of_means": ratio,
        "ratio_of_means_error": ratio_error,
        **_ks(fast, delphes),
    }


def compare_per_event(
    fast: FloatArray, delphes: FloatArray, rng: np.random.Generator
) -> dict[str, Any]:
    """:func:`compare_objects` of per-event values, and the paired comparisons: the mean
    per-event difference fast - Delphes and the median per-event ratio fast / Delphes over
    the events where Delphes' value is positive (its error from :data:`BOOTSTRAP` resamples)."""
    result = compare_objects(fast, delphes)
    result["ratio_of_means"], result["ratio_of_means_error"] = _ratio_of_means(
        fast, delphes, paired=True
    )
    difference, difference_error = _mean(fast - delphes)
    positive = delphes > 0
    ratios = fast[positive] / delphes[positive]
    median, median_error = float("nan"), float("nan")
    if ratios.size:
        median = float(np.median(ratios))
        resampled = rng.choice(ratios, size=(BOOTSTRAP, ratios.size), replace=True)
        median_error = float(np.std(np.median(resampled, axis=1), ddof=1))
    result.update(
        {
            "mean_difference": difference,
            "mean_difference_error": difference_error,
            "median_ratio": median,
            "median_ratio_error": median_error,
        }
    )
    return result


def signal_region_comparison(fast: FloatArray, delphes: FloatArray) -> dict[str, Any]:
    """Signal-region pass rates of both backends on the same events (pass flags 0/1)."""
    n = int(fast.size)
    k_fast, k_delphes = int(fast.sum()), int(delphes.sum())

    def binomial_error(k: int) -> float:
        rate = (k + 1) / (n + 2)  # never zero: an empty signal region still has an error
        return float(np.sqrt(rate * (1.0 - rate) / max(n, 1)))

    only_one = int(np.sum(fast != delphes))
    difference = (k_fast - k_delphes) / max(n, 1)
    return {
        "n_events": n,
        "passed": [k_fast, k_delphes],
        "efficiency": [k_fast / max(n, 1), k_delphes / max(n, 1)],
        "efficiency_error": [binomial_error(k_fast), binomial_error(k_delphes)],
        "difference": difference,
        "difference_error": float(np.sqrt(max(only_one, 1))) / max(n, 1),
        "events_passing_one_only": only_one,
    }


def jet_response(collections: dict[str, ak.Array]) -> tuple[FloatArray, FloatArray]:
    """Truth pT (GeV) and response pT(Jet) / pT(GenJet) of the matched central truth jets."""
    matched = match_jets(collections["Jet"], collections["GenJet"])
    central = np.abs(matched.truth_eta) < CENTRAL_ABS_ETA
    return matched.truth_pt[central], matched.response[central]


def _response_summary(truth_pt: FloatArray, response: FloatArray) -> tuple[float, float, int]:
    """Mean response above :data:`RESPONSE_PT_MIN_GEV`, its error and the number of jets."""
    chosen = truth_pt > RESPONSE_PT_MIN_GEV
    mean, error = _mean(response[chosen])
    return mean, error, int(chosen.sum())


@dataclass(frozen=True)
class _Backends:
    """What running both backends needs."""

    card: DetectorCard
    settings: SimulationSettings
    delphes: DelphesRun
    batch_size: int
    chunk_events: int
    global_seed: int


def _run_both(
    events: ak.Array, sample: str, config: dict[str, Any], backends: _Backends
) -> dict[str, dict[str, ak.Array]]:
    """The collections of both backends for ``events`` (fastsim first, then Delphes)."""
    timer = StepTimer()
    rng = CounterRNG(detector_seed(config, sample))
    fast_parts, delphes_parts = [], []
    for start in range(0, len(events), backends.batch_size):
        batch = events[start : start + backends.batch_size]
        fast_parts.append(simulate_events(batch, backends.card, backends.settings, rng, timer))
    numbers = ak.to_numpy(events["event_number"]).astype(np.int64)
    for chunk in delphes_chunks(numbers, backends.chunk_events, backends.global_seed, sample):
        batch = events[chunk.start : chunk.stop]
        run = backends.delphes.with_seed(chunk.seed)
        delphes_parts.append(
            simulate_with_delphes(run, batch, backends.settings, backends.card.jets, timer)
        )

    def joined(parts: list[dict[str, ak.Array]]) -> dict[str, ak.Array]:
        """One backend's collections, as its file would hold them (float32 as in Delphes)."""
        return {
            name: conform(name, ak.concatenate([part[name] for part in parts])) for name in parts[0]
        }

    return {"fastsim": joined(fast_parts), "delphes": joined(delphes_parts)}


def compare_sample(
    collections: dict[str, dict[str, ak.Array]], cuts: SelectionCuts, rng: np.random.Generator
) -> dict[str, Any]:
    """Every comparison of one sample (see the module docstring)."""
    per_event = {name: per_event_quantities(collections[name], cuts) for name in BACKENDS}
    objects = {name: object_quantities(collections[name]) for name in BACKENDS}
    response = {name: jet_response(collections[name]) for name in BACKENDS}
    fast_response = _response_summary(*response["fastsim"])
    delphes_response = _response_summary(*response["delphes"])
    return {
        "n_events": len(collections["fastsim"]["Tower"]),
        "per_event": {
            name: compare_per_event(per_event["fastsim"][name], per_event["delphes"][name], rng)
            for name in PER_EVENT_QUANTITIES
        },
        "objects": {
            name: compare_objects(objects["fastsim"][name], objects["delphes"][name])
            for name in OBJECT_QUANTITIES
        },
        "signal_region": signal_region_comparison(
            per_event["fastsim"]["pass_sr"], per_event["delphes"]["pass_sr"]
        ),
        "jet_response": {
            "mean": [fast_response[0], delphes_response[0]],
            "mean_error": [fast_response[1], delphes_response[1]],
            "n_jets": [fast_response[2], delphes_response[2]],
        },
        "_values": {"per_event": per_event, "objects": objects, "response": response},
    }


def _target(value: float, error: float, tolerance: float) -> dict[str, Any]:
    return {
        "value": value,
        "error": error,
        "tolerance": tolerance,
        "met": bool(np.isfinite(value) and abs(value - 1.0) <= tolerance),
    }


def targets(result: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets for one sample's comparison."""
    tower_e = result["per_event"]["tower_e_gev"]
    fat_pt, fat_mass = result["objects"]["fatjet_pt_gev"], result["objects"]["fatjet_mass_gev"]
    region = result["signal_region"]
    return {
        "tower_e_median_ratio": _target(
            tower_e["median_ratio"], tower_e["median_ratio_error"], TARGETS["tower_e_median_ratio"]
        ),
        "fatjet_mean_pt_ratio": _target(
            fat_pt["ratio_of_means"],
            fat_pt["ratio_of_means_error"],
            TARGETS["fatjet_mean_pt_ratio"],
        ),
        "fatjet_mean_mass_ratio": _target(
            fat_mass["ratio_of_means"],
            fat_mass["ratio_of_means_error"],
            TARGETS["fatjet_mean_mass_ratio"],
        ),
        "signal_region_efficiency": {
            "value": region["difference"],
            "error": region["efficiency_error"][1],
            "met": bool(abs(region["difference"]) <= region["efficiency_error"][1]),
        },
    }


def _read_first_events(files: Sequence[str | os.PathLike[str]], max_events: int) -> ak.Array:
    parts, n_read = [], 0
    for path in files:
        if n_read >= max_events:
            break
        parts.append(read_events(path).events)
        n_read += len(parts[-1])
    return ak.concatenate(parts)[:max_events]


def compare_detectors(
    config: dict[str, Any],
    events_files: Mapping[str, Sequence[str | os.PathLike[str]]],
    output_dir: str | os.PathLike[str],
) -> dict[str, Any]:
    """Run both backends on each sample's first events and write the comparison.

    Args:
        config: A validated config (``compare_detectors``; the Delphes card and executable of
            ``detector``).
        events_files: Per sample, its generated-events files in shard order.
        output_dir: Folder receiving ``comparison.json`` and ``<sample>.png`` per sample.

    Returns:
        The comparison written (per sample, and the targets of each).

    Raises:
        ConfigError: if Delphes or its card is not found (naming the key).
    """
    folder = ensure_writable_dir(output_dir)
    detector = config["detector"]
    backends = _Backends(
        card=load_card(detector["card"]),
        settings=SimulationSettings.from_config(config),
        delphes=DelphesRun.from_config(config),
        batch_size=detector["batch_size"],
        chunk_events=config["compare_detectors"]["chunk_events"],
        global_seed=config["seed"],
    )
    cuts = SelectionCuts.from_config(config)
    rng = np.random.default_rng(config["seed"])
    samples: dict[str, Any] = {}
    for sample, files in events_files.items():
        events = _read_first_events(files, config["compare_detectors"]["events"])
        with stdout_to_stderr():  # FastJet's banner goes to the log, not to standard output
            collections = _run_both(events, sample, config, backends)
        result = compare_sample(collections, cuts, rng)
        values = result.pop("_values")
        result["targets"] = targets(result)
        samples[sample] = result
        _plot_sample(values, sample, result, folder / f"{sample}.png")
    comparison = {
        "backends": list(BACKENDS),
        "delphes_card": str(backends.delphes.card),
        "delphes_executable": backends.delphes.executable,
        "jet_radius": backends.settings.jet.radius,
        "fatjet_radius": backends.settings.fatjet.radius,
        "muon_towers": backends.card.muon_towers,
        "samples": samples,
        "all_targets_met": all(
            target["met"] for result in samples.values() for target in result["targets"].values()
        ),
    }
    write_json_atomic(folder / "comparison.json", _json_safe(comparison))
    return comparison


def _json_safe(value: Any) -> Any:
    """NaN as null, so that the JSON is standard."""
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _plot_paired(ratio_ax: Any, difference_ax: Any, per_event: dict[str, Any]) -> None:
    """The per-event ratio of summed tower energy and difference of tower count."""
    fast, delphes = per_event["fastsim"]["tower_e_gev"], per_event["delphes"]["tower_e_gev"]
    positive = delphes > 0
    ratio_ax.hist(fast[positive] / delphes[positive], bins=40, histtype="step")
    ratio_ax.axvline(1.0, color="grey", linestyle="--")
    ratio_ax.set_xlabel(r"per event: $\sum E$ fastsim / Delphes")
    difference = per_event["fastsim"]["tower_count"] - per_event["delphes"]["tower_count"]
    difference_ax.hist(difference, bins=40, histtype="step")
    difference_ax.set_xlabel("per event: towers fastsim - Delphes")


def _plot_response(ax: Any, response: dict[str, tuple[FloatArray, FloatArray]]) -> None:
    """The mean jet response against truth pT of both backends."""
    for backend in BACKENDS:
        truth_pt, ratio = response[backend]
        binned = binned_response(truth_pt, ratio, PT_EDGES_GEV)
        edges = np.asarray(binned["edges"])
        centres = np.sqrt(edges[1:] * edges[:-1])
        ax.errorbar(
            centres,
            np.asarray(binned["mean"], dtype=float),
            yerr=np.asarray(binned["mean_error"], dtype=float),
            fmt="o",
            label=backend,
        )
    ax.set_xscale("log")
    ax.axhline(1.0, color="grey", linestyle="--")
    ax.set_xlabel(r"truth jet $p_T$ [GeV] ($|\eta| < 1$)")
    ax.set_ylabel("jet response")
    ax.legend(fontsize=8)


def _plot_sample(
    values: dict[str, Any],
    sample: str,
    result: dict[str, Any],
    path: Path,
) -> None:
    """Histograms of both backends for every quantity (KS p-value in the title), the
    per-event tower-energy ratio and tower-count difference, and the jet response."""
    from matplotlib.figure import Figure  # noqa: PLC0415 (plotting loads only for the plots)

    panels = [
        *((name, label, "per_event") for name, label in PER_EVENT_QUANTITIES.items()),
        *((name, label, "objects") for name, label in OBJECT_QUANTITIES.items()),
    ]
    columns = 4
    rows = -(-len(panels) // columns)
    figure = Figure(figsize=(4 * columns, 3.2 * rows), layout="constrained")
    axes = figure.subplots(rows, columns).ravel()
    for ax, (name, label, kind) in zip(axes, panels, strict=False):
        fast, delphes = values[kind]["fastsim"][name], values[kind]["delphes"][name]
        both = np.concatenate([fast, delphes])
        if both.size == 0:
            ax.set_axis_off()
            continue
        edges = np.histogram_bin_edges(both, bins=30)
        for data, backend, style in ((delphes, "Delphes", "stepfilled"), (fast, "fastsim", "step")):
            ax.hist(
                data,
                bins=edges,
                histtype=style,
                alpha=0.5 if style == "stepfilled" else 1.0,
                label=backend,
            )
        p_value = result[kind][name]["ks_p_value"]
        ax.set_title(f"KS p = {p_value:.2g}" if p_value is not None else "", fontsize=9)
        ax.set_xlabel(label)
    extra = axes[len(panels) :]
    if extra.size >= 3:
        _plot_paired(extra[0], extra[1], values["per_event"])
        _plot_response(extra[2], values["response"])
        extra = extra[3:]
    for ax in extra:
        ax.set_axis_off()
    axes[0].legend()
    region = result["signal_region"]
    figure.suptitle(
        f"{sample}: fast simulation vs Delphes, {result['n_events']} events; SR efficiency "
        f"{region['efficiency'][0]:.3f} vs {region['efficiency'][1]:.3f} "
        f"(+- {region['efficiency_error'][1]:.3f})"
    )
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=80)
