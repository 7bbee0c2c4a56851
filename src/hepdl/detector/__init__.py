"""Detector simulation (``hepdl simulate``): a vectorised Delphes-card fast simulation, or Delphes.

- :mod:`~hepdl.detector.card`: detector cards (YAML, schema-validated), e.g. the ATLAS card.
- :mod:`~hepdl.detector.rng`: counter-based random numbers keyed by event number.
- :mod:`~hepdl.detector.propagation`: helices in the solenoid to the calorimeter surface.
- :mod:`~hepdl.detector.calorimeter`: ECal and HCal towers, smearing and thresholds.
- :mod:`~hepdl.detector.tracking`: tracking efficiency and momentum smearing.
- :mod:`~hepdl.detector.fastsim`: all steps for a batch of events.
- :mod:`~hepdl.detector.hepmc`: HepMC3 export for Delphes (a numpy writer).
- :mod:`~hepdl.detector.delphes`: the real Delphes backend (chunked, seeded per chunk).
- :mod:`~hepdl.detector.delphes_install`: ``hepdl delphes install`` (DelphesHepMC3 against ROOT
  from PyPI, in a cache) and Delphes' run-time environment.
- :mod:`~hepdl.detector.compare`: the fast simulation against Delphes
  (``hepdl compare-detectors``).
- :mod:`~hepdl.detector.stage`: one shard from events file to Delphes-schema ROOT file.
- :mod:`~hepdl.detector.validate`: validation plots (``hepdl validate-detector``).

Files are read and written by :mod:`hepdl.io.delphes`; jets are clustered by :mod:`hepdl.jets`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hepdl.lazy import lazy_exports

if TYPE_CHECKING:
    from hepdl.detector.card import DetectorCard, load_card, parse_card
    from hepdl.detector.stage import SimulationResult, simulate_shard

__all__ = ["DetectorCard", "SimulationResult", "load_card", "parse_card", "simulate_shard"]

#: The submodule of each public name: imported on first use, so that importing the package (or
#: one of its light submodules) loads nothing heavy it does not need.
_HOMES = {
    "DetectorCard": "card",
    "SimulationResult": "stage",
    "load_card": "card",
    "parse_card": "card",
    "simulate_shard": "stage",
}


__getattr__ = lazy_exports(__name__, _HOMES)
