"""HepMC3 export of generator-level events, the input of the real Delphes backend.

Each event becomes the two beam protons (status 4) joined at one vertex at the origin to the
final-state particles (status 1), in GeV and mm, with the event number and generator weight
of the event file. HepMC is an object format, so the file is written event by event, but each
event is filled from arrays at once (``GenEvent.from_hepevt``).
"""

from __future__ import annotations

import os
from pathlib import Path

import awkward as ak
import numpy as np
import pyhepmc

from hepdl.errors import InputFileError

__all__ = ["BEAM_PDG_ID", "read_hepmc3", "write_hepmc3"]

#: Beam particles: protons.
BEAM_PDG_ID = 2212
_PROTON_MASS_GEV = 0.93827208816
_BEAM_STATUS = 4
_FINAL_STATUS = 1


def _hepevt_arrays(particles: ak.Array, beam_energy_gev: float) -> tuple[np.ndarray, ...]:
    """HEPEVT columns of one event: beams first, then the final-state particles."""
    px = np.asarray(particles["px"], dtype=np.float64)
    py = np.asarray(particles["py"], dtype=np.float64)
    pz = np.asarray(particles["pz"], dtype=np.float64)
    energy = np.asarray(particles["E"], dtype=np.float64)
    beam_pz = np.sqrt(beam_energy_gev**2 - _PROTON_MASS_GEV**2)
    mass2 = energy**2 - px**2 - py**2 - pz**2
    n = px.size
    parents = np.zeros((n + 2, 2), dtype=np.int32)
    parents[2:] = (1, 2)  # one-based: both beams
    return (
        np.concatenate([[0.0, 0.0], px]),
        np.concatenate([[0.0, 0.0], py]),
        np.concatenate([[beam_pz, -beam_pz], pz]),
        np.concatenate([[beam_energy_gev, beam_energy_gev], energy]),
        np.concatenate([[_PROTON_MASS_GEV] * 2, np.sqrt(np.maximum(mass2, 0.0))]),
        np.concatenate([[BEAM_PDG_ID] * 2, np.asarray(particles["pid"])]).astype(np.int32),
        np.concatenate([[_BEAM_STATUS] * 2, np.full(n, _FINAL_STATUS)]).astype(np.int32),
        parents,
    )


def write_hepmc3(path: str | os.PathLike[str], events: ak.Array, ecm_gev: float) -> Path:
    """Write events of the events-parquet format as a HepMC3 ASCII file.

    Args:
        path: Output file (``.hepmc``; ``.gz`` etc. compress).
        events: Events with ``event_number``, ``weight`` and ``particles``.
        ecm_gev: Centre-of-mass energy in GeV (beam energies ecm/2).
    """
    numbers = ak.to_numpy(events["event_number"])
    weights = ak.to_numpy(events["weight"])
    with pyhepmc.open(path, "w") as output:
        for number, weight, particles in zip(numbers, weights, events["particles"], strict=True):
            event = pyhepmc.GenEvent(pyhepmc.Units.GEV, pyhepmc.Units.MM)
            event.from_hepevt(int(number), *_hepevt_arrays(particles, 0.5 * ecm_gev))
            event.weights = [float(weight)]
            output.write(event)
    return Path(path)


def read_hepmc3(path: str | os.PathLike[str]) -> ak.Array:
    """Read back the final-state particles of a HepMC3 file, in the events-parquet layout.

    Returns:
        Events with ``event_number``, ``weight`` and ``particles`` (px, py, pz, E, pid) of the
        status-1 particles.

    Raises:
        InputFileError: naming the file, if it cannot be read.
    """
    numbers, weights, particles = [], [], []
    try:
        with pyhepmc.open(path) as source:
            for event in source:
                record = event.numpy.particles
                final = np.asarray(record.status) == _FINAL_STATUS
                numbers.append(event.event_number)
                weights.append(event.weights[0] if len(event.weights) else 1.0)
                particles.append(
                    {
                        "px": np.asarray(record.px)[final],
                        "py": np.asarray(record.py)[final],
                        "pz": np.asarray(record.pz)[final],
                        "E": np.asarray(record.e)[final],
                        "pid": np.asarray(record.pid)[final].astype(np.int32),
                    }
                )
    except OSError as err:
        raise InputFileError(path, f"not a readable HepMC3 file ({err})") from None
    counts = np.asarray([p["px"].size for p in particles], dtype=np.int64)
    flat = {
        name: np.concatenate([p[name] for p in particles]) if particles else np.zeros(0)
        for name in ("px", "py", "pz", "E", "pid")
    }
    return ak.zip(
        {
            "event_number": np.asarray(numbers, dtype=np.int64),
            "weight": np.asarray(weights, dtype=np.float64),
            "particles": ak.unflatten(ak.zip(flat), counts),
        },
        depth_limit=1,
    )
