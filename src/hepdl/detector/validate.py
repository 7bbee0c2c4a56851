"""Validation of the detector simulation (``hepdl validate-detector``).

From a sample's detector files (and its event files, for the tracking efficiency):

- ``jet_response.png``: mean jet response pT(reco) / pT(truth) of truth jets (GenJet) matched to
  reco jets (Jet) within Delta R < 0.3, against truth pT (central jets, |eta| < 1) and truth eta
  (pT above 100 GeV); ``jet_resolution.png``: the relative width of the response likewise;
- ``tower_occupancy.png``: towers per event and (eta, phi) bin, ECal and HCal;
- ``track_efficiency.png``: tracks per charged final-state particle against pT (|eta| < 2.5);
- ``metrics.json``: the numbers behind the plots.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
from numpy.typing import NDArray

from hepdl.io.atomic import ensure_writable_dir, write_json_atomic
from hepdl.io.delphes import read_delphes
from hepdl.io.events import read_events
from hepdl.plots.style import PlotLabel, add_label, hep_style, new_figure, save

__all__ = [
    "PLOTS",
    "MatchedJets",
    "binned_response",
    "match_jets",
    "track_efficiency",
    "validate_detector",
]

#: The plot files written, in the output folder.
PLOTS = ("jet_response.png", "jet_resolution.png", "tower_occupancy.png", "track_efficiency.png")

#: Reco and truth jets closer than this in (eta, phi) are matched.
MATCH_DELTA_R = 0.3
#: Truth-pT bin edges (GeV) of the response plots.
PT_EDGES_GEV = np.array([20, 30, 50, 75, 100, 150, 200, 300, 400, 600, 800, 1200, 2000.0])
#: Truth-eta bin edges of the response plots.
ETA_EDGES = np.linspace(-4.5, 4.5, 19)
#: Central jets (response vs pT) and hard jets (response vs eta).
CENTRAL_ABS_ETA = 1.0
HARD_PT_GEV = 100.0
#: Particle-pT bin edges (GeV) of the tracking efficiency.
TRACK_PT_EDGES_GEV = np.array([0.1, 0.2, 0.4, 0.7, 1.0, 1.5, 2, 5, 10, 20, 50, 100, 1000.0])
TRACK_ABS_ETA = 2.5

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class MatchedJets:
    """Truth jets with a reco jet within :data:`MATCH_DELTA_R` (flat arrays).

    Attributes:
        truth_pt: Truth-jet pT in GeV.
        truth_eta: Truth-jet eta.
        reco_pt: pT of the closest reco jet in GeV.
    """

    truth_pt: FloatArray
    truth_eta: FloatArray
    reco_pt: FloatArray

    @property
    def response(self) -> FloatArray:
        """pT(reco) / pT(truth)."""
        return self.reco_pt / self.truth_pt


def match_jets(reco: ak.Array, truth: ak.Array, max_delta_r: float = MATCH_DELTA_R) -> MatchedJets:
    """Match each truth jet to the closest reco jet of its event in (eta, phi).

    Args:
        reco: Events of reco jets (PT, Eta, Phi).
        truth: Events of truth jets (PT, Eta, Phi).
        max_delta_r: Largest Delta R of a match.
    """
    pairs = ak.cartesian({"truth": truth, "reco": reco}, axis=1, nested=True)
    delta_phi = (pairs.truth.Phi - pairs.reco.Phi + np.pi) % (2 * np.pi) - np.pi
    delta_r = np.hypot(pairs.truth.Eta - pairs.reco.Eta, delta_phi)
    closest = ak.argmin(delta_r, axis=2, keepdims=True)
    best_r = ak.flatten(delta_r[closest], axis=2)
    best_reco = ak.flatten(pairs.reco[closest], axis=2)
    matched = ak.fill_none(best_r < max_delta_r, False)

    def flat(values: ak.Array) -> FloatArray:
        return np.asarray(ak.to_numpy(ak.flatten(values[matched], axis=None)), dtype=np.float64)

    return MatchedJets(
        truth_pt=flat(truth.PT), truth_eta=flat(truth.Eta), reco_pt=flat(best_reco.PT)
    )


def binned_response(
    values: FloatArray, response: FloatArray, edges: FloatArray
) -> dict[str, list[float]]:
    """Mean response, its error, and the relative resolution (std / mean) in bins of ``values``.

    Bins with fewer than 2 jets give NaN (written as null in JSON).
    """
    index = np.digitize(values, edges) - 1
    n_bins = edges.size - 1
    inside = (index >= 0) & (index < n_bins)
    count = np.bincount(index[inside], minlength=n_bins).astype(np.float64)
    total = np.bincount(index[inside], weights=response[inside], minlength=n_bins)
    total2 = np.bincount(index[inside], weights=response[inside] ** 2, minlength=n_bins)
    enough = count >= 2
    safe = np.where(enough, count, 1.0)
    mean = total / safe
    std = np.sqrt(np.maximum(total2 / safe - mean**2, 0.0) * safe / np.maximum(safe - 1.0, 1.0))
    nan = np.full(n_bins, np.nan)
    return {
        "edges": edges.tolist(),
        "count": count.tolist(),
        "mean": np.where(enough, mean, nan).tolist(),
        "mean_error": np.where(enough, std / np.sqrt(safe), nan).tolist(),
        "resolution": np.where(enough, std / np.where(mean > 0, mean, 1.0), nan).tolist(),
    }


def track_efficiency(events: ak.Array, tracks: ak.Array) -> dict[str, list[float]]:
    """Tracks per charged final-state particle in bins of pT, for |eta| < 2.5.

    The numerator bins the measured track pT and the denominator the true particle pT; with a
    pT resolution of a few percent and wide bins, the ratio is the efficiency (times the
    fraction of particles that reach the calorimeter).
    """
    particles = events["particles"]
    charged = particles[(particles.charge != 0) & ~particles.pileup]
    pt = np.hypot(charged.px, charged.py)
    eta = np.arcsinh(charged.pz / pt)
    truth_pt = ak.to_numpy(ak.flatten(pt[np.abs(eta) < TRACK_ABS_ETA]))
    track_pt = ak.to_numpy(ak.flatten(tracks.PT[np.abs(tracks.Eta) < TRACK_ABS_ETA]))
    denominator, _ = np.histogram(truth_pt, TRACK_PT_EDGES_GEV)
    numerator, _ = np.histogram(track_pt, TRACK_PT_EDGES_GEV)
    safe = np.maximum(denominator, 1)
    ratio = numerator / safe
    error = np.sqrt(np.clip(ratio * (1 - ratio), 0, None) / safe)
    return {
        "edges": TRACK_PT_EDGES_GEV.tolist(),
        "particles": denominator.tolist(),
        "tracks": numerator.tolist(),
        "efficiency": np.where(denominator > 0, ratio, np.nan).tolist(),
        "efficiency_error": np.where(denominator > 0, error, np.nan).tolist(),
    }


def _occupancy(towers: ak.Array, n_events: int) -> dict[str, Any]:
    eta_edges, phi_edges = np.linspace(-5, 5, 101), np.linspace(-np.pi, np.pi, 65)
    maps = {}
    for name, field in (("ecal", "Eem"), ("hcal", "Ehad")):
        chosen = towers[towers[field] > 0]
        counts, _, _ = np.histogram2d(
            ak.to_numpy(ak.flatten(chosen.Eta)),
            ak.to_numpy(ak.flatten(chosen.Phi)),
            bins=(eta_edges, phi_edges),
        )
        maps[name] = counts / max(n_events, 1)
    return {"eta_edges": eta_edges, "phi_edges": phi_edges, **maps}


def _save(figure: Any, path: Path, label: PlotLabel | None) -> None:
    add_label(figure, label)
    save(figure, path, ("png",))


def _plot_response(
    metrics: dict[str, Any], key: str, ylabel: str, path: Path, label: PlotLabel | None
) -> None:
    figure, axes = new_figure(1, 2, figsize=(12, 5))
    for ax, binning, xlabel in (
        (axes[0], metrics["vs_pt"], "truth jet $p_T$ [GeV]"),
        (axes[1], metrics["vs_eta"], r"truth jet $\eta$"),
    ):
        edges = np.asarray(binning["edges"])
        centres = 0.5 * (edges[1:] + edges[:-1])
        values = np.asarray(binning[key], dtype=float)
        errors = np.asarray(binning["mean_error"], dtype=float) if key == "mean" else None
        ax.errorbar(centres, values, yerr=errors, xerr=0.5 * np.diff(edges), fmt="o")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if key == "mean":
            ax.axhline(1.0, color="grey", linestyle="--")
    axes[0].set_xscale("log")
    axes[0].set_title(rf"$|\eta| < {CENTRAL_ABS_ETA}$")
    axes[1].set_title(rf"$p_T > {HARD_PT_GEV:.0f}$ GeV")
    _save(figure, path, label)


def _plot_occupancy(occupancy: dict[str, Any], path: Path, label: PlotLabel | None) -> None:
    figure, axes = new_figure(1, 2, figsize=(12, 5))
    for ax, name in zip(axes, ("ecal", "hcal"), strict=True):
        mesh = ax.pcolormesh(occupancy["eta_edges"], occupancy["phi_edges"], occupancy[name].T)
        figure.colorbar(mesh, ax=ax, label="towers per event")
        ax.set_xlabel(r"$\eta$")
        ax.set_ylabel(r"$\phi$")
        ax.set_title(name.upper())
    _save(figure, path, label)


def _plot_efficiency(efficiency: dict[str, Any], path: Path, label: PlotLabel | None) -> None:
    figure, ax = new_figure(figsize=(7, 5))
    edges = np.asarray(efficiency["edges"])
    centres = np.sqrt(edges[1:] * edges[:-1])
    ax.errorbar(
        centres,
        np.asarray(efficiency["efficiency"], dtype=float),
        yerr=np.asarray(efficiency["efficiency_error"], dtype=float),
        xerr=(centres - edges[:-1], edges[1:] - centres),
        fmt="o",
    )
    ax.set_xscale("log")
    ax.set_ylim(0, 1.1)
    ax.set_xlabel("charged particle $p_T$ [GeV]")
    ax.set_ylabel(rf"tracks / charged particles ($|\eta| < {TRACK_ABS_ETA}$)")
    _save(figure, path, label)


def validate_detector(
    detector_files: Sequence[str | os.PathLike[str]],
    event_files: Sequence[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str],
    *,
    max_events: int | None = None,
    label: PlotLabel | None = None,
) -> dict[str, Any]:
    """Write the validation plots and ``metrics.json`` of one sample.

    Args:
        detector_files: The sample's detector files.
        event_files: The matching event files (same order), for the tracking efficiency.
        output_dir: Folder receiving :data:`PLOTS` and ``metrics.json``.
        max_events: Read files in order until this many events (the config's
            ``detector.validation_events``), so memory is bounded whatever the sample's size;
            None reads every file.
        label: The plots' experiment label (:class:`hepdl.plots.style.PlotLabel`).

    Returns:
        The metrics written.
    """
    folder = ensure_writable_dir(output_dir)
    wanted = {
        "Jet": ("PT", "Eta", "Phi"),
        "GenJet": ("PT", "Eta", "Phi"),
        "Tower": ("Eta", "Phi", "Eem", "Ehad"),
        "Track": ("PT", "Eta"),
    }
    detector_parts, event_parts, n_read = [], [], 0
    for detector_path, event_path in zip(detector_files, event_files, strict=True):
        if max_events is not None and n_read >= max_events:
            break
        detector_parts.append(read_delphes(detector_path, wanted).events)
        event_parts.append(read_events(event_path).events)
        n_read += len(detector_parts[-1])
    detector = ak.concatenate(detector_parts)[:max_events]
    events = ak.concatenate(event_parts)[:max_events]
    matched = match_jets(detector.Jet, detector.GenJet)
    central = np.abs(matched.truth_eta) < CENTRAL_ABS_ETA
    hard = matched.truth_pt > HARD_PT_GEV
    occupancy = _occupancy(detector.Tower, len(detector))
    metrics: dict[str, Any] = {
        "n_events": len(detector),
        "jet_response": {
            "vs_pt": binned_response(
                matched.truth_pt[central], matched.response[central], PT_EDGES_GEV
            ),
            "vs_eta": binned_response(matched.truth_eta[hard], matched.response[hard], ETA_EDGES),
        },
        "towers_per_event": {name: float(occupancy[name].sum()) for name in ("ecal", "hcal")},
        "track_efficiency": track_efficiency(events, detector.Track),
    }
    with hep_style():
        _plot_response(
            metrics["jet_response"],
            "mean",
            r"$p_T^{reco} / p_T^{truth}$",
            folder / PLOTS[0],
            label,
        )
        _plot_response(
            metrics["jet_response"],
            "resolution",
            r"$\sigma / \mu$ of $p_T^{reco} / p_T^{truth}$",
            folder / PLOTS[1],
            label,
        )
        _plot_occupancy(occupancy, folder / PLOTS[2], label)
        _plot_efficiency(metrics["track_efficiency"], folder / PLOTS[3], label)
    write_json_atomic(folder / "metrics.json", _json_safe(metrics))
    return metrics


def _json_safe(value: Any) -> Any:
    """NaN (empty bins) as null, so that the JSON is standard."""
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
