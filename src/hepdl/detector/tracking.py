"""Tracks: efficiency and momentum smearing of charged particles that reach the calorimeter.

As Delphes' Efficiency and MomentumSmearing modules, one table per particle class: electrons
(|PDG id| 11), muons (13) and all other charged particles (charged hadrons). A track keeps the
particle's direction at the vertex; its pT is drawn from a log-normal with the particle's pT as
mean and sigma(pT)/pT = sqrt(constant^2 + (slope pT)^2), capped at 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from hepdl.detector.rng import CounterRNG

__all__ = [
    "TRACK_CLASSES",
    "EfficiencyTable",
    "MomentumResolution",
    "TrackSelection",
    "Tracking",
    "select_tracks",
    "track_class",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Particle classes of the tracking tables (card keys), in the order of :func:`track_class`.
TRACK_CLASSES = ("charged_hadron", "electron", "muon")


def _abs_eta_bin(edges: FloatArray, abs_eta: FloatArray) -> tuple[IntArray, NDArray[np.bool_]]:
    """Bin k of ``edges[k] < |eta| <= edges[k+1]`` (edges[0] included) and whether inside."""
    index = np.searchsorted(edges, abs_eta, side="left") - 1
    index = np.where(abs_eta == edges[0], 0, index)
    inside = (index >= 0) & (index < edges.size - 1)
    return np.clip(index, 0, edges.size - 2), inside


@dataclass(frozen=True)
class EfficiencyTable:
    """Tracking efficiency in bins of |eta| and pT (card ``tracking.efficiency.<class>``).

    Attributes:
        abs_eta_edges: |eta| bin edges (n_eta + 1).
        pt_min_gev: Lower pT edge of each bin in GeV (the last bin is open-ended).
        values: Efficiencies, shape (n_eta, n_pt).
    """

    abs_eta_edges: FloatArray
    pt_min_gev: FloatArray
    values: FloatArray

    def __call__(self, abs_eta: FloatArray, pt: FloatArray) -> FloatArray:
        """Efficiency of particles at |eta| with transverse momentum pT (GeV); 0 outside."""
        eta_bin, eta_inside = _abs_eta_bin(self.abs_eta_edges, abs_eta)
        pt_bin = np.searchsorted(self.pt_min_gev, pt, side="left") - 1
        inside = eta_inside & (pt_bin >= 0)
        return np.where(inside, self.values[eta_bin, np.maximum(pt_bin, 0)], 0.0)


@dataclass(frozen=True)
class MomentumResolution:
    """Relative pT resolution in |eta| bins (card ``tracking.momentum_resolution.<class>``).

    Attributes:
        abs_eta_edges: |eta| bin edges.
        constant: Constant term of sigma(pT)/pT per bin.
        slope_per_gev: Term proportional to pT (per GeV) per bin.
    """

    abs_eta_edges: FloatArray
    constant: FloatArray
    slope_per_gev: FloatArray

    def __call__(self, abs_eta: FloatArray, pt: FloatArray) -> FloatArray:
        """sigma(pT)/pT, capped at 1 (Delphes), at |eta| and pT (GeV); 0 outside the bins."""
        index, inside = _abs_eta_bin(self.abs_eta_edges, abs_eta)
        relative = np.hypot(self.constant[index], self.slope_per_gev[index] * pt)
        return np.where(inside, np.minimum(relative, 1.0), 0.0)


@dataclass(frozen=True)
class Tracking:
    """The card's tracking section.

    Attributes:
        eta_at: ``calorimeter_surface`` or ``vertex``: where the tables are read.
        efficiency: One table per class of :data:`TRACK_CLASSES`.
        resolution: One resolution per class of :data:`TRACK_CLASSES`.
    """

    eta_at: str
    efficiency: dict[str, EfficiencyTable]
    resolution: dict[str, MomentumResolution]


@dataclass(frozen=True)
class TrackSelection:
    """Which candidates give tracks, and the measured pT of those tracks.

    Attributes:
        found: Per candidate, True if it gives a track.
        particle: Flat index of each track's particle.
        pt: Measured transverse momentum of each track in GeV.
        relative_resolution: sigma(pT)/pT used for the smearing of each track.
    """

    found: NDArray[np.bool_]
    particle: IntArray
    pt: FloatArray
    relative_resolution: FloatArray


def track_class(pid: NDArray[np.integer]) -> IntArray:
    """Index into :data:`TRACK_CLASSES` of each (charged) particle."""
    abs_pid = np.abs(pid.astype(np.int64))
    return np.where(abs_pid == 11, 1, np.where(abs_pid == 13, 2, 0))


def _per_class(
    tables: dict[str, EfficiencyTable] | dict[str, MomentumResolution],
    classes: IntArray,
    abs_eta: FloatArray,
    pt: FloatArray,
) -> FloatArray:
    """Evaluate the table of each particle's class."""
    result = np.zeros_like(pt)
    for code, name in enumerate(TRACK_CLASSES):
        chosen = classes == code
        if np.any(chosen):
            result[chosen] = tables[name](abs_eta[chosen], pt[chosen])
    return result


def select_tracks(
    tracking: Tracking,
    candidates: IntArray,
    *,
    pid: NDArray[np.integer],
    pt: FloatArray,
    abs_eta: FloatArray,
    event_number: IntArray,
    index_in_event: IntArray,
    rng: CounterRNG,
) -> TrackSelection:
    """Apply the efficiency and smear pT for charged particles that reach the calorimeter.

    Args:
        tracking: The card's tracking section.
        candidates: Flat indices of the charged particles that reach the calorimeter surface.
        pid: PDG id of each candidate.
        pt: True transverse momentum of each candidate in GeV.
        abs_eta: |eta| at which to read the tables for each candidate.
        event_number: Event number of each candidate (keys the random numbers).
        index_in_event: Position of each candidate in its event's particle list.
        rng: The detector's random numbers.
    """
    classes = track_class(pid)
    efficiency = _per_class(tracking.efficiency, classes, abs_eta, pt)
    found = rng.uniform("track/efficiency", event_number, index_in_event) < efficiency
    resolution = _per_class(tracking.resolution, classes[found], abs_eta[found], pt[found])
    measured = rng.lognormal(
        "track/pt", event_number[found], index_in_event[found], pt[found], resolution * pt[found]
    )
    return TrackSelection(
        found=found, particle=candidates[found], pt=measured, relative_resolution=resolution
    )
