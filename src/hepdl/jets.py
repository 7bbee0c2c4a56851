"""Jets with FastJet's multi-event interface: anti-kt small-R jets and large-R jets.

Large-R jets are stored as Delphes stores them: the jet's own (ungroomed) four-momentum, which
is what analysis code reading ``FatJet.PT`` / ``FatJet.Mass`` of real Delphes files gets, with
the trimmed four-momentum beside it (Delphes' ``TrimmedP4[0]``; here ``Trimmed{PT,Eta,Phi,Mass}``).
Every clustering runs once over all events of a batch (``fastjet.ClusterSequence`` on an awkward
array of events), never per event in Python. Trimming (R_sub, f_cut) reclusters each large-R
jet's constituents with kt at R_sub, keeps the subjets with pT above f_cut times the jet's pT and
sums them; the reclustering is again one multi-event call, with every jet as one "event" (a
compiled kt of our own was measured no faster than FastJet's, and numba's start-up would cost
seconds per job).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import awkward as ak
import fastjet
import numpy as np
from numpy.typing import NDArray

__all__ = [
    "FatJetSettings",
    "JetEnergyScale",
    "JetSettings",
    "cluster_fat_jets",
    "cluster_jets",
    "fat_jet_record",
    "four_vectors",
    "jet_record",
    "massless_four_vectors",
]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class JetSettings:
    """Small-R jets (config ``detector.jet``).

    Attributes:
        radius: Anti-kt distance parameter R.
        pt_min_gev: Jets below this pT (GeV) are not kept.
    """

    radius: float
    pt_min_gev: float

    @classmethod
    def from_config(cls, spec: dict[str, Any]) -> JetSettings:
        """From the validated ``detector.jet`` mapping."""
        return cls(radius=spec["radius"], pt_min_gev=spec["pt_min_gev"])


@dataclass(frozen=True)
class FatJetSettings:
    """Large-R jets and their trimming (config ``detector.fatjet``).

    Attributes:
        radius: Anti-kt distance parameter R.
        pt_min_gev: Jets whose (ungroomed) pT is below this (GeV) are not kept, as Delphes'
            ``JetPTMin``.
        trim_radius: R_sub of the kt subjets.
        trim_pt_fraction: f_cut: subjets below this fraction of the jet's pT are removed.
        truth: Whether truth large-R jets (``GenFatJet``) are clustered and written too.
    """

    radius: float
    pt_min_gev: float
    trim_radius: float
    trim_pt_fraction: float
    truth: bool = True

    @classmethod
    def from_config(cls, spec: dict[str, Any]) -> FatJetSettings:
        """From the validated ``detector.fatjet`` mapping."""
        return cls(
            radius=spec["radius"],
            pt_min_gev=spec["pt_min_gev"],
            trim_radius=spec["trim_radius"],
            trim_pt_fraction=spec["trim_pt_fraction"],
            truth=spec["truth"],
        )


@dataclass(frozen=True)
class JetEnergyScale:
    """Delphes' JetEnergyScale: four-momentum x sqrt((a - b |eta|)^2 / pT + 1), pT in GeV.

    Attributes:
        a_sqrt_gev: a in sqrt(GeV).
        b_sqrt_gev: b in sqrt(GeV) per unit |eta|.
    """

    a_sqrt_gev: float
    b_sqrt_gev: float

    def factor(self, pt: FloatArray, eta: FloatArray) -> FloatArray:
        """The scale factor of jets with transverse momentum pT (GeV) and pseudorapidity eta."""
        safe_pt = np.where(pt > 0.0, pt, 1.0)
        offset = self.a_sqrt_gev - self.b_sqrt_gev * np.abs(eta)
        return np.where(pt > 0.0, np.sqrt(offset**2 / safe_pt + 1.0), 1.0)


def four_vectors(
    px: FloatArray, py: FloatArray, pz: FloatArray, energy: FloatArray, counts: NDArray[np.int64]
) -> ak.Array:
    """Events of (px, py, pz, E) records from flat arrays and per-event counts."""
    flat = ak.zip({"px": px, "py": py, "pz": pz, "E": energy})
    return ak.unflatten(flat, counts)


def massless_four_vectors(
    energy: FloatArray, eta: FloatArray, phi: FloatArray, counts: NDArray[np.int64]
) -> ak.Array:
    """Events of massless four-vectors (towers) from energy (GeV), eta and phi."""
    pt = energy / np.cosh(eta)
    return four_vectors(pt * np.cos(phi), pt * np.sin(phi), energy * np.tanh(eta), energy, counts)


def _components(jets: ak.Array) -> tuple[FloatArray, ...]:
    return tuple(
        np.asarray(ak.flatten(jets[name], axis=None), dtype=np.float64)
        for name in ("px", "py", "pz", "E")
    )


def _kinematics(
    px: FloatArray, py: FloatArray, pz: FloatArray, energy: FloatArray
) -> dict[str, FloatArray]:
    pt = np.hypot(px, py)
    safe_pt = np.where(pt > 0.0, pt, 1.0)
    mass2 = energy**2 - px**2 - py**2 - pz**2
    return {
        "PT": pt,
        "Eta": np.where(pt > 0.0, np.arcsinh(pz / safe_pt), 0.0),
        "Phi": np.arctan2(py, px),
        "Mass": np.sqrt(np.maximum(mass2, 0.0)),
    }


def _scaled_kinematics(
    jets: ak.Array, energy_scale: JetEnergyScale | None
) -> dict[str, FloatArray]:
    """Flat PT, Eta, Phi, Mass of every jet, pT and mass corrected by ``energy_scale``."""
    kinematics = _kinematics(*_components(jets))
    if energy_scale is not None:
        factor = energy_scale.factor(kinematics["PT"], kinematics["Eta"])
        kinematics["PT"] = kinematics["PT"] * factor
        kinematics["Mass"] = kinematics["Mass"] * factor
    return kinematics


def _sorted_record(
    columns: dict[str, FloatArray], counts: NDArray[np.int64], pt_min_gev: float
) -> ak.Array:
    record = ak.unflatten(
        ak.zip({name: values.astype(np.float32) for name, values in columns.items()}), counts
    )
    record = record[pt_min_gev <= record.PT]
    return record[ak.argsort(record.PT, axis=1, ascending=False)]


def jet_record(
    jets: ak.Array, pt_min_gev: float = 0.0, energy_scale: JetEnergyScale | None = None
) -> ak.Array:
    """Jets as Delphes ``Jet`` records (PT, Eta, Phi, Mass; float32), sorted by falling pT.

    Args:
        jets: Events of (px, py, pz, E) jet four-vectors in GeV.
        pt_min_gev: Jets below this pT after the energy scale are dropped.
        energy_scale: Correction applied to the four-momenta first (None: none).
    """
    counts = ak.to_numpy(ak.num(jets, axis=1))
    return _sorted_record(_scaled_kinematics(jets, energy_scale), counts, pt_min_gev)


def fat_jet_record(
    jets: ak.Array,
    trimmed: ak.Array,
    pt_min_gev: float = 0.0,
    energy_scale: JetEnergyScale | None = None,
) -> ak.Array:
    """Large-R jets as Delphes ``FatJet`` records, sorted by falling (ungroomed) pT.

    Args:
        jets: Events of (px, py, pz, E) ungroomed jets in GeV.
        trimmed: The same jets after trimming, in the same order.
        pt_min_gev: Jets whose ungroomed pT after the energy scale is below this are dropped.
        energy_scale: Correction applied to both four-momenta first (None: none).

    Returns:
        Records with ``PT``, ``Eta``, ``Phi``, ``Mass`` (ungroomed) and ``TrimmedPT``,
        ``TrimmedEta``, ``TrimmedPhi``, ``TrimmedMass``.
    """
    counts = ak.to_numpy(ak.num(jets, axis=1))
    columns = _scaled_kinematics(jets, energy_scale)
    for name, values in _scaled_kinematics(trimmed, energy_scale).items():
        columns[f"Trimmed{name}"] = values
    return _sorted_record(columns, counts, pt_min_gev)


def cluster_jets(inputs: ak.Array, radius: float, pt_min_gev: float) -> ak.Array:
    """Anti-kt jets of every event.

    Args:
        inputs: Events of (px, py, pz, E) records in GeV.
        radius: Distance parameter R.
        pt_min_gev: Jets below this pT (GeV) are not returned.

    Returns:
        Events of (px, py, pz, E) jets, in FastJet's order.
    """
    definition = fastjet.JetDefinition(fastjet.antikt_algorithm, radius)
    sequence = fastjet.ClusterSequence(inputs, definition)
    return sequence.inclusive_jets(min_pt=pt_min_gev)


def cluster_fat_jets(inputs: ak.Array, settings: FatJetSettings) -> tuple[ak.Array, ak.Array]:
    """Anti-kt large-R jets of every event, ungroomed and trimmed.

    Args:
        inputs: Events of (px, py, pz, E) records in GeV.
        settings: Radius, pT threshold and trimming parameters.

    Returns:
        Events of ungroomed (px, py, pz, E) jets above the pT threshold, and the same jets
        trimmed, in the same order.
    """
    definition = fastjet.JetDefinition(fastjet.antikt_algorithm, settings.radius)
    sequence = fastjet.ClusterSequence(inputs, definition)
    jets = sequence.inclusive_jets(min_pt=settings.pt_min_gev)
    constituents = sequence.constituents(min_pt=settings.pt_min_gev)
    per_jet = ak.flatten(constituents, axis=1)
    if len(per_jet) == 0:
        return jets, jets
    # Every jet is one "event" of the multi-event interface: one call reclusters them all.
    subjet_definition = fastjet.JetDefinition(fastjet.kt_algorithm, settings.trim_radius)
    subjets = fastjet.ClusterSequence(per_jet, subjet_definition).inclusive_jets()
    jet_pt = np.hypot(*_components(jets)[:2])
    kept = subjets[np.hypot(subjets.px, subjets.py) > settings.trim_pt_fraction * jet_pt]
    trimmed = ak.zip({name: ak.sum(kept[name], axis=1) for name in ("px", "py", "pz", "E")})
    return jets, ak.unflatten(trimmed, ak.to_numpy(ak.num(jets, axis=1)))
