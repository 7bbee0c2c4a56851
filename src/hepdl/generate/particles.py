"""From Pythia's batch record to the final-state particle arrays the pipeline stores.

``Pythia.nextBatch`` returns the whole event record as an awkward array; this module keeps the
final-state particles and the fields downstream stages need, as columnar arrays with no
per-particle Python code (iterating ``pythia.event`` in Python costs about 1 ms/event).
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from hepdl.generate.bindings import pythia8

__all__ = ["PARTICLE_FIELDS", "ChargeTable", "final_state_particles"]

#: The particle record stored per event: momenta and energy in GeV, PDG id, charge in units
#: of e, and whether the particle comes from an overlaid pile-up interaction.
PARTICLE_FIELDS = ("px", "py", "pz", "E", "pid", "charge", "pileup")


class ChargeTable:
    """Electric charge by PDG id, from Pythia's particle data, cached per id."""

    def __init__(self, particle_data: pythia8.ParticleData) -> None:
        self._particle_data = particle_data
        self._ids = np.zeros(0, dtype=np.int32)
        self._charges = np.zeros(0, dtype=np.int8)

    def __call__(self, pid: np.ndarray) -> np.ndarray:
        """Charges (int8, units of e) of the particles with PDG ids ``pid``."""
        unknown = np.setdiff1d(pid, self._ids)
        if unknown.size:
            charges = [round(self._particle_data.charge(int(code))) for code in unknown]
            ids = np.concatenate([self._ids, unknown.astype(np.int32)])
            values = np.concatenate([self._charges, np.asarray(charges, dtype=np.int8)])
            order = np.argsort(ids)
            self._ids, self._charges = ids[order], values[order]
        return self._charges[np.searchsorted(self._ids, pid)]


def final_state_particles(batch: ak.Array, charge: ChargeTable, *, pileup: bool) -> ak.Array:
    """The final-state particles of each event in a ``nextBatch`` record.

    Args:
        batch: What ``Pythia.nextBatch`` returned (fields ``prt`` and ``info``).
        charge: The charge lookup.
        pileup: Flag value for these particles (True for overlaid minimum-bias events).

    Returns:
        One list of particle records (:data:`PARTICLE_FIELDS`) per event.
    """
    record = batch["prt"]
    final = record[record["status"] > 0]
    counts = ak.num(final, axis=1)
    momentum = ak.flatten(final["p"])
    pid = ak.to_numpy(ak.flatten(final["id"])).astype(np.int32)
    flat = {
        "px": ak.to_numpy(momentum["px"]),
        "py": ak.to_numpy(momentum["py"]),
        "pz": ak.to_numpy(momentum["pz"]),
        "E": ak.to_numpy(momentum["e"]),
        "pid": pid,
        "charge": charge(pid),
        "pileup": np.full(pid.size, pileup),
    }
    return ak.unflatten(ak.zip(flat, depth_limit=1), ak.to_numpy(counts))
