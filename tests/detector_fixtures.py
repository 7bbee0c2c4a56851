"""Hand-built events for the detector tests: particle guns and random mixtures.

Events are built directly in the events-parquet format (``event_number``, ``weight``,
``n_pileup``, ``particles`` with px, py, pz, E, pid, charge, pileup), so the detector tests need
no Pythia.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import yaml

from hepdl.config import validate_config
from hepdl.detector.card import DetectorCard, load_card
from hepdl.detector.fastsim import SimulationSettings, simulate_events
from hepdl.detector.rng import CounterRNG
from hepdl.io.events import write_events

REPO = Path(__file__).resolve().parents[1]
ATLAS_CARD = REPO / "config" / "detector" / "atlas.yaml"

#: (mass in GeV, charge) of the particles the tests shoot.
PARTICLES: dict[int, tuple[float, int]] = {
    22: (0.0, 0),
    11: (0.000511, -1),
    -11: (0.000511, 1),
    13: (0.105658, -1),
    -13: (0.105658, 1),
    12: (0.0, 0),
    14: (0.0, 0),
    211: (0.13957, 1),
    -211: (0.13957, -1),
    321: (0.493677, 1),
    130: (0.497611, 0),
    310: (0.497611, 0),
    2112: (0.939565, 0),
    2212: (0.938272, 1),
}

_CARD_CACHE: dict[str, DetectorCard] = {}


def atlas_card() -> DetectorCard:
    """The default card, loaded once."""
    if "atlas" not in _CARD_CACHE:
        _CARD_CACHE["atlas"] = load_card(ATLAS_CARD)
    return _CARD_CACHE["atlas"]


def card_spec() -> dict[str, Any]:
    """A fresh, editable copy of the default card's content."""
    spec: dict[str, Any] = yaml.safe_load(ATLAS_CARD.read_text(encoding="utf-8"))
    return spec


def detector_config(
    results: Path, detector: dict[str, Any] | None = None, events: int = 10, shards: int = 1
) -> dict[str, Any]:
    """A validated config with one sample ``GUN`` and the default (built-in) card."""
    return validate_config(
        {
            "results": str(results),
            "samples": {"GUN": {"process": "minbias", "events": events, "shards": shards}},
            "detector": detector or {},
        }
    )


def _events(particles: dict[str, np.ndarray], counts: np.ndarray, first_event: int) -> ak.Array:
    n_events = counts.size
    return ak.zip(
        {
            "event_number": np.arange(first_event, first_event + n_events, dtype=np.int64),
            "weight": np.ones(n_events),
            "n_pileup": np.zeros(n_events, dtype=np.int32),
            "particles": ak.unflatten(ak.zip(particles), counts),
        },
        depth_limit=1,
    )


def _particles(pid: np.ndarray, energy: np.ndarray, eta: np.ndarray, phi: np.ndarray) -> dict:
    mass = np.array([PARTICLES[int(code)][0] for code in pid])
    charge = np.array([PARTICLES[int(code)][1] for code in pid], dtype=np.int8)
    momentum = np.sqrt(np.maximum(energy**2 - mass**2, 0.0))
    pt = momentum / np.cosh(eta)
    return {
        "px": pt * np.cos(phi),
        "py": pt * np.sin(phi),
        "pz": pt * np.sinh(eta),
        "E": energy.astype(np.float64),
        "pid": pid.astype(np.int32),
        "charge": charge,
        "pileup": np.zeros(pid.size, dtype=bool),
    }


def gun_events(
    pid: int | np.ndarray,
    energy_gev: float | np.ndarray,
    eta: float | np.ndarray,
    *,
    phi: float | np.ndarray | None = None,
    n_events: int | None = None,
    first_event: int = 0,
) -> ak.Array:
    """One particle per event; scalars broadcast; phi uniform (seeded) when not given."""
    size = n_events or int(
        np.broadcast(np.asarray(pid), np.asarray(energy_gev), np.asarray(eta)).size
    )
    if phi is None:
        phi = np.random.default_rng(first_event + size).uniform(-np.pi, np.pi, size)
    columns = np.broadcast_arrays(
        np.asarray(pid),
        np.asarray(energy_gev, float),
        np.asarray(eta, float),
        np.asarray(phi, float),
    )
    pid_a, energy_a, eta_a, phi_a = (np.broadcast_to(c, (size,)).copy() for c in columns)
    return _events(_particles(pid_a, energy_a, eta_a, phi_a), np.ones(size, np.int64), first_event)


def pt_gun_events(
    pid: int, pt_gev: float, eta: float | np.ndarray, n_events: int, first_event: int = 0
) -> ak.Array:
    """A gun at fixed transverse momentum (GeV) instead of fixed energy."""
    mass = PARTICLES[pid][0]
    eta_a = np.broadcast_to(np.asarray(eta, float), (n_events,))
    energy = np.sqrt((pt_gev * np.cosh(eta_a)) ** 2 + mass**2)
    return gun_events(pid, energy, eta_a, n_events=n_events, first_event=first_event)


def random_events(n_events: int, n_particles: int, seed: int, first_event: int = 0) -> ak.Array:
    """Events of a random mixture of photons, pions, kaons, muons, neutrinos, ... (seeded)."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(n_particles // 2, n_particles, n_events)
    total = int(counts.sum())
    choices = np.array([22, 22, 211, -211, 130, 310, 13, 12, 11, 2112, 321])
    pid = rng.choice(choices, total)
    energy = rng.exponential(8.0, total) + 1.0
    eta = rng.uniform(-5.5, 5.5, total)
    phi = rng.uniform(-np.pi, np.pi, total)
    return _events(_particles(pid, energy, eta, phi), counts, first_event)


def write_event_file(path: Path, events: ak.Array, sample: str = "GUN", shard: int = 0) -> Path:
    """Write ``events`` as a generated-events file of ``sample``."""
    metadata = {
        "sample": sample,
        "shard": shard,
        "label": 0,
        "n_events": len(events),
        "first_event": int(events.event_number[0]) if len(events) else 0,
        "sigma_pb": 1.0,
        "sigma_err_pb": 0.0,
    }
    return write_events(path, events, metadata)


def simulate(events: ak.Array, card: DetectorCard | None = None, seed: int = 7) -> dict:
    """The fast simulation of ``events`` with the default card and jet settings."""
    settings = SimulationSettings.from_config(
        validate_config({"samples": {"A": {"process": "minbias", "events": 1, "shards": 1}}})
    )
    return simulate_events(events, card or atlas_card(), settings, CounterRNG(seed))
