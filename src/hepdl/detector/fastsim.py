"""The fast simulation of a batch of events: particles in, Delphes-schema collections out.

Steps, each vectorised over all particles of all events of the batch (the names are those of
the per-step timings):

1. ``propagation``: every particle to the calorimeter surface (:mod:`.propagation`);
2. ``towers``: deposits summed per ECal and HCal tower (:mod:`.calorimeter`);
3. ``smearing``: tower energies smeared, thresholds applied, towers placed;
4. ``tracks``: efficiency and pT smearing of charged particles (:mod:`.tracking`); with the
   card's ``calorimeters.muon_towers`` (the ATLAS card), the muons' tracks are added to
   ``Tower`` too, after the ECal and HCal towers of each event, with Eem = Ehad = 0 and the
   energy of the smeared momentum, as Delphes' Calorimeter merger adds
   ``MuonMomentumSmearing/muons``: they enter the jets (the truth jets hold the muons as
   well, so the jet response stays unbiased for jets with a muon);
5. ``jets``, ``fatjets``: anti-kt small-R and large-R jets (with their trimming) on the towers
   (:mod:`.jets`);
6. ``genjets``, ``genfatjets``: the same on the final-state particles (truth jets); the
   truth large-R jets only with ``detector.fatjet.truth`` (otherwise ``GenFatJet`` is left out
   of the output, as Delphes' ATLAS card leaves it out, and the step takes no time).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import awkward as ak
import numpy as np
from numpy.typing import NDArray

from hepdl.detector.calorimeter import Towers, smear_towers, sum_deposits
from hepdl.detector.card import DetectorCard, JetCorrections
from hepdl.detector.propagation import SurfaceHits, propagate
from hepdl.detector.rng import CounterRNG
from hepdl.detector.tracking import select_tracks
from hepdl.io.delphes import COLLECTIONS
from hepdl.jets import (
    FatJetSettings,
    JetSettings,
    cluster_fat_jets,
    cluster_jets,
    fat_jet_record,
    four_vectors,
    jet_record,
    massless_four_vectors,
)

__all__ = [
    "STEPS",
    "FlatParticles",
    "SimulationSettings",
    "StepTimer",
    "TowerColumns",
    "event_record",
    "jet_collections",
    "simulate_events",
    "tower_record",
    "truth_inputs",
]

#: The steps of the simulation, in order (keys of :class:`StepTimer`); ``writing`` is timed by
#: the stage.
STEPS = (
    "propagation",
    "towers",
    "smearing",
    "tracks",
    "jets",
    "fatjets",
    "genjets",
    "genfatjets",
    "writing",
)

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass
class StepTimer:
    """Wall-clock seconds spent in each step, summed over batches."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STEPS, 0.0))

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the block as step ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


@dataclass(frozen=True)
class SimulationSettings:
    """The jet definitions of the config (``detector.jet`` and ``detector.fatjet``)."""

    jet: JetSettings
    fatjet: FatJetSettings

    @property
    def collections(self) -> tuple[str, ...]:
        """The collections simulated and written: :data:`COLLECTIONS`, less ``GenFatJet``
        where ``fatjet.truth`` is off."""
        return tuple(name for name in COLLECTIONS if name != "GenFatJet" or self.fatjet.truth)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SimulationSettings:
        """From a validated config."""
        detector = config["detector"]
        return cls(
            jet=JetSettings.from_config(detector["jet"]),
            fatjet=FatJetSettings.from_config(detector["fatjet"]),
        )


@dataclass(frozen=True)
class FlatParticles:
    """All particles of a batch as flat numpy arrays, with their event bookkeeping.

    Attributes:
        counts: Particles per event.
        event: Index of each particle's event in the batch.
        index_in_event: Position of each particle in its event's list (keys random numbers).
        event_number: Event number of each event of the batch.
        px: Momentum x in GeV.
        py: Momentum y in GeV.
        pz: Momentum z in GeV.
        energy: Energy in GeV.
        pid: PDG id.
        charge: Charge in units of e.
        pileup: True for particles of overlaid pile-up interactions.
    """

    counts: IntArray
    event: IntArray
    index_in_event: IntArray
    event_number: IntArray
    px: FloatArray
    py: FloatArray
    pz: FloatArray
    energy: FloatArray
    pid: NDArray[np.int32]
    charge: NDArray[np.int8]
    pileup: NDArray[np.bool_]

    @classmethod
    def from_events(cls, events: ak.Array) -> FlatParticles:
        """Flatten an events array of the events-parquet format."""
        particles = events["particles"]
        counts = ak.to_numpy(ak.num(particles, axis=1)).astype(np.int64)
        event = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)

        def column(name: str) -> NDArray[Any]:
            return np.asarray(ak.to_numpy(ak.flatten(particles[name], axis=1)))

        return cls(
            counts=counts,
            event=event,
            index_in_event=np.arange(event.size, dtype=np.int64) - starts[event],
            event_number=ak.to_numpy(events["event_number"]).astype(np.int64),
            px=column("px").astype(np.float64),
            py=column("py").astype(np.float64),
            pz=column("pz").astype(np.float64),
            energy=column("E").astype(np.float64),
            pid=column("pid").astype(np.int32),
            charge=column("charge").astype(np.int8),
            pileup=column("pileup").astype(bool),
        )

    @property
    def n_events(self) -> int:
        """Events in the batch."""
        return int(self.counts.size)

    def per_event(self, event: IntArray) -> IntArray:
        """Counts per event of objects whose event index is ``event``."""
        return np.bincount(event, minlength=self.n_events).astype(np.int64)


@dataclass(frozen=True)
class TowerColumns:
    """Flat columns of towers of a batch (any order), for :func:`tower_record`.

    Attributes:
        event: Index of each tower's event in the batch.
        energy: Energy in GeV.
        eta: Pseudorapidity.
        phi: Azimuth.
        eem: Energy seen by the ECal (GeV).
        ehad: Energy seen by the HCal (GeV).
    """

    event: IntArray
    energy: FloatArray
    eta: FloatArray
    phi: FloatArray
    eem: FloatArray
    ehad: FloatArray

    @classmethod
    def of_calorimeter(cls, towers: Towers, electromagnetic: bool) -> TowerColumns:
        """The towers of the ECal (``electromagnetic``) or the HCal."""
        zero = np.zeros_like(towers.energy)
        return cls(
            event=towers.event,
            energy=towers.energy,
            eta=towers.eta,
            phi=towers.phi,
            eem=towers.energy if electromagnetic else zero,
            ehad=zero if electromagnetic else towers.energy,
        )


def tower_record(
    parts: list[TowerColumns], n_events: int
) -> tuple[ak.Array, FloatArray, FloatArray, FloatArray, IntArray]:
    """Delphes ``Tower`` records, per event ``parts[0]``'s towers first, then ``parts[1]``'s,
    ..., and the flat E, eta, phi and per-event counts (jet inputs) in the same order."""
    event = np.concatenate([part.event for part in parts])
    rank = np.concatenate([np.full(part.event.size, k) for k, part in enumerate(parts)])
    order = np.lexsort((rank, event))

    def joined(name: str) -> FloatArray:
        return np.concatenate([getattr(part, name) for part in parts])[order]

    energy, eta, phi = joined("energy"), joined("eta"), joined("phi")
    counts = np.bincount(event, minlength=n_events).astype(np.int64)
    flat = ak.zip(
        {
            "ET": energy / np.cosh(eta),
            "Eta": eta,
            "Phi": phi,
            "E": energy,
            "T": np.zeros_like(energy),
            "Eem": joined("eem"),
            "Ehad": joined("ehad"),
        }
    )
    return ak.unflatten(flat, counts), energy, eta, phi, counts


@dataclass(frozen=True)
class _Tracks:
    """The batch's tracks: their records and the flat columns the muon towers need."""

    record: ak.Array
    event: IntArray
    pid: NDArray[np.int32]
    energy: FloatArray
    eta: FloatArray
    phi: FloatArray

    def muon_towers(self) -> TowerColumns:
        """The muons' tracks as towers: Eem = Ehad = 0, energy of the smeared momentum."""
        muon = np.abs(self.pid) == MUON_PDG_ID
        zero = np.zeros(int(muon.sum()))
        return TowerColumns(
            event=self.event[muon],
            energy=self.energy[muon],
            eta=self.eta[muon],
            phi=self.phi[muon],
            eem=zero,
            ehad=zero,
        )


#: |PDG id| of the muon.
MUON_PDG_ID = 13


def _tracks(
    card: DetectorCard, particles: FlatParticles, hits: SurfaceHits, rng: CounterRNG
) -> _Tracks:
    """Delphes ``Track`` records of the charged particles that give a track."""
    candidates = np.flatnonzero(hits.reached & (particles.charge != 0))
    px, py, pz = particles.px[candidates], particles.py[candidates], particles.pz[candidates]
    pt = np.hypot(px, py)
    eta_vertex = np.arcsinh(pz / pt)
    eta_table = (
        hits.eta[candidates] if card.tracking.eta_at == "calorimeter_surface" else eta_vertex
    )
    selection = select_tracks(
        card.tracking,
        candidates,
        pid=particles.pid[candidates],
        pt=pt,
        abs_eta=np.abs(eta_table),
        event_number=particles.event_number[particles.event[candidates]],
        index_in_event=particles.index_in_event[candidates],
        rng=rng,
    )
    chosen, found = selection.particle, selection.found
    eta = eta_vertex[found]
    phi = np.arctan2(py, px)[found]
    mass = np.sqrt(np.maximum(particles.energy[chosen] ** 2 - (px**2 + py**2 + pz**2)[found], 0.0))
    momentum = selection.pt * np.cosh(eta)
    event = particles.event[chosen]
    flat = ak.zip(
        {
            "PID": particles.pid[chosen],
            "Charge": particles.charge[chosen].astype(np.int32),
            "P": momentum,
            "PT": selection.pt,
            "Eta": eta,
            "Phi": phi,
            "CtgTheta": np.sinh(eta),
            "Mass": mass,
            "EtaOuter": hits.eta[chosen],
            "PhiOuter": hits.phi[chosen],
            "XOuter": hits.x_m[chosen] * 1.0e3,
            "YOuter": hits.y_m[chosen] * 1.0e3,
            "ZOuter": hits.z_m[chosen] * 1.0e3,
        }
    )
    return _Tracks(
        record=ak.unflatten(flat, particles.per_event(event)),
        event=event,
        pid=particles.pid[chosen],
        energy=np.hypot(momentum, mass),
        eta=eta,
        phi=phi,
    )


def truth_inputs(particles: FlatParticles, exclude_pids: tuple[int, ...]) -> ak.Array:
    """Four-vectors of the particles that enter truth jets: no pile-up, none of ``exclude_pids``.

    Args:
        particles: The batch's particles.
        exclude_pids: |PDG id| left out (the card's ``jets.truth_exclude_pids``: neutrinos).
    """
    excluded = np.isin(np.abs(particles.pid), np.asarray(exclude_pids, dtype=np.int64))
    keep = ~excluded & ~particles.pileup
    return four_vectors(
        particles.px[keep],
        particles.py[keep],
        particles.pz[keep],
        particles.energy[keep],
        particles.per_event(particles.event[keep]),
    )


def event_record(events: ak.Array) -> ak.Array:
    """Delphes ``Event`` records: one per event, in a list as Delphes stores it."""
    record = ak.zip(
        {
            "Number": ak.to_numpy(events["event_number"]).astype(np.int64),
            "Weight": ak.to_numpy(events["weight"]).astype(np.float64),
        }
    )
    return ak.unflatten(record, np.ones(len(events), dtype=np.int64))


def simulate_events(
    events: ak.Array,
    card: DetectorCard,
    settings: SimulationSettings,
    rng: CounterRNG,
    timer: StepTimer | None = None,
) -> dict[str, ak.Array]:
    """Simulate the detector response to a batch of events.

    Args:
        events: Events in the events-parquet format (``event_number``, ``weight``,
            ``particles``).
        card: The detector.
        settings: Jet definitions.
        rng: Random numbers keyed by event number (the result of an event does not depend on
            the other events of the batch).
        timer: Accumulates the time of each step (optional).

    Returns:
        The Delphes collections of ``settings.collections`` (``Event``, ``Tower``, ``Track``,
        ``Jet``, ``FatJet``, ``GenJet``, and ``GenFatJet`` unless ``settings.fatjet.truth`` is
        false), one entry per event.
    """
    timer = timer or StepTimer()
    particles = FlatParticles.from_events(events)
    with timer.step("propagation"):
        hits = propagate(particles.px, particles.py, particles.pz, particles.charge, card.solenoid)
    with timer.step("towers"):
        f_ecal, f_hcal = card.fractions(particles.pid)
        reached = np.flatnonzero(hits.reached)
        where = (particles.event[reached], hits.eta[reached], hits.phi[reached])
        energy = particles.energy[reached]
        ecal_deposits = sum_deposits(card.ecal.grid, *where, energy * f_ecal[reached])
        hcal_deposits = sum_deposits(card.hcal.grid, *where, energy * f_hcal[reached])
    with timer.step("smearing"):
        ecal = smear_towers(card.ecal, ecal_deposits, particles.event_number, rng)
        hcal = smear_towers(card.hcal, hcal_deposits, particles.event_number, rng)
    with timer.step("tracks"):
        tracks = _tracks(card, particles, hits, rng)
        parts = [TowerColumns.of_calorimeter(ecal, True), TowerColumns.of_calorimeter(hcal, False)]
        if card.muon_towers:
            parts.append(tracks.muon_towers())
        towers, tower_e, tower_eta, tower_phi, tower_counts = tower_record(
            parts, particles.n_events
        )

    tower_vectors = massless_four_vectors(tower_e, tower_eta, tower_phi, tower_counts)
    collections = {"Event": event_record(events), "Tower": towers, "Track": tracks.record}
    truth_vectors = truth_inputs(particles, card.jets.truth_exclude_pids)
    collections.update(jet_collections(tower_vectors, truth_vectors, card.jets, settings, timer))
    return collections


def jet_collections(
    tower_vectors: ak.Array,
    truth_vectors: ak.Array,
    corrections: JetCorrections,
    settings: SimulationSettings,
    timer: StepTimer,
) -> dict[str, ak.Array]:
    """``Jet``, ``FatJet`` on the towers, ``GenJet`` (and ``GenFatJet`` with
    ``settings.fatjet.truth``) on the truth particles: the one definition of the jets, used by
    both backends, so that reco and truth jets, and the two backends' jets, always share it.

    Args:
        tower_vectors: Events of the towers' four-vectors (muon towers included, if any).
        truth_vectors: Events of the truth-jet inputs (:func:`truth_inputs`).
        corrections: The card's jet energy scale (small-R jets; large-R ones if the card
            says so).
        settings: The config's jet definitions.
        timer: Times the steps ``jets``, ``fatjets``, ``genjets``, ``genfatjets``.
    """
    scale = corrections.energy_scale
    fat_scale = scale if corrections.scale_fat_jets else None
    jet, fatjet = settings.jet, settings.fatjet
    collections = {}
    with timer.step("jets"):
        collections["Jet"] = jet_record(
            cluster_jets(tower_vectors, jet.radius, jet.pt_min_gev), 0.0, scale
        )
    with timer.step("fatjets"):
        collections["FatJet"] = fat_jet_record(
            *cluster_fat_jets(tower_vectors, fatjet), fatjet.pt_min_gev, fat_scale
        )
    with timer.step("genjets"):
        collections["GenJet"] = jet_record(cluster_jets(truth_vectors, jet.radius, jet.pt_min_gev))
    if fatjet.truth:
        with timer.step("genfatjets"):
            collections["GenFatJet"] = fat_jet_record(
                *cluster_fat_jets(truth_vectors, fatjet), fatjet.pt_min_gev
            )
    return collections
