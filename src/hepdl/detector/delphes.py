"""The real Delphes backend (``detector.backend: delphes``).

The shard's events are written as HepMC3 and ``DelphesHepMC3 <card> <output.root> <input>`` is
run on them. The card is the user's Delphes card (``detector.delphes_card``), wrapped so that the
run is seeded from the config: the wrapper sources the card and sets Delphes' global
``RandomSeed``. Delphes resolves ``source`` relative to the top card's folder, so the wrapper
lives in a scratch folder that links every file of the card's folder.

Delphes' output is then brought to hepdl's schema: ``Tower``, ``Track`` and ``Jet`` as Delphes
wrote them; ``FatJet`` clustered by hepdl on Delphes' towers (ungroomed and trimmed, as the fast
simulation does, so the benchmark selection sees the same large-R jets with either backend: not
every Delphes card has a FatJet finder, and uproot cannot write Delphes' ``TrimmedP4`` objects);
``GenJet`` and ``GenFatJet`` clustered by hepdl on the events' final-state
particles, so the truth jets are the same for both backends (``GenFatJet`` only with
``detector.fatjet.truth``, as with the fast simulation); ``Event`` from the event file.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
from numpy.typing import NDArray

from hepdl.detector.card import JetCorrections
from hepdl.detector.fastsim import FlatParticles, SimulationSettings, event_record, truth_inputs
from hepdl.detector.hepmc import write_hepmc3
from hepdl.errors import ConfigError, HepdlError, InputFileError
from hepdl.io.delphes import read_delphes
from hepdl.jets import (
    cluster_fat_jets,
    cluster_jets,
    fat_jet_record,
    jet_record,
    massless_four_vectors,
)

__all__ = [
    "INSTALL_HINT",
    "DelphesRun",
    "delphes_command",
    "find_delphes",
    "from_delphes_output",
    "run_delphes",
    "seeded_card",
    "simulate_with_delphes",
]

#: How to get Delphes, quoted by every error about a missing executable.
INSTALL_HINT = (
    "install Delphes, which provides DelphesHepMC3, with: conda install -c conda-forge delphes "
    "(or build it from https://github.com/delphes/delphes), or set detector.backend: fastsim"
)
#: Name of the seeded wrapper card in the scratch folder.
WRAPPER_CARD = "hepdl_seeded_card.tcl"
#: The collections taken from Delphes' output as they are.
_DELPHES_COLLECTIONS = ("Tower", "Track", "Jet")


def find_delphes(executable: str) -> str:
    """The full path of the Delphes executable.

    Raises:
        ConfigError: naming ``detector.delphes_executable`` when it is not found, with how to
            install Delphes.
    """
    found = shutil.which(executable)
    if found is None:
        raise ConfigError(
            "detector.delphes_executable",
            f"'{executable}' was not found on PATH; {INSTALL_HINT}",
        )
    return found


def delphes_command(executable: str, card: Path, output: Path, hepmc: Path) -> list[str]:
    """The command line that runs Delphes: ``DelphesHepMC3 card output.root input.hepmc``."""
    return [executable, str(card), str(output), str(hepmc)]


def seeded_card(card: Path, seed: int, scratch: Path) -> Path:
    """Write the wrapper card that sources ``card`` and sets ``RandomSeed`` in ``scratch``.

    Every entry of the card's folder is linked into ``scratch``, so that ``source`` commands of
    the card (relative to the top card's folder in Delphes) still find their files.
    """
    card = card.resolve()
    _check_tcl_safe(card)
    for entry in card.parent.iterdir():
        link = scratch / entry.name
        if not link.exists() and entry.name != WRAPPER_CARD:
            link.symlink_to(entry)
    wrapper = scratch / WRAPPER_CARD
    wrapper.write_text(
        f"# hepdl: {card} with the config's seed\nsource {{{card.name}}}\nset RandomSeed {seed}\n",
        encoding="utf-8",
    )
    return wrapper


#: Characters that would end Tcl's braces or comment early, letting the rest run as Tcl.
_TCL_UNSAFE = frozenset("{}\\\n")


def _check_tcl_safe(card: Path) -> None:
    """Check that ``card`` can go into the wrapper card verbatim: braced (``source {name}``),
    Tcl substitutes nothing in it, neither ``$`` nor ``[...]``, unless the path holds a brace,
    backslash or newline (which would also end the comment naming it).

    Raises:
        ConfigError: naming ``detector.delphes_card`` and the path, if it holds one.
    """
    if _TCL_UNSAFE & set(str(card)):
        raise ConfigError(
            "detector.delphes_card",
            f"Delphes card path {str(card)!r} holds a brace, backslash or newline, which the "
            "Tcl of the seeded wrapper card cannot quote; rename or move the card",
        )


@dataclass(frozen=True)
class DelphesRun:
    """What one Delphes run needs.

    Attributes:
        executable: Name or path of ``DelphesHepMC3``.
        card: The user's Delphes card.
        seed: Delphes' ``RandomSeed``.
        ecm_gev: Centre-of-mass energy of the events (beam energies in the HepMC file).
    """

    executable: str
    card: Path
    seed: int
    ecm_gev: float

    @classmethod
    def from_config(cls, config: dict[str, Any], seed: int) -> DelphesRun:
        """From a validated config; checks that the card is set and exists."""
        detector = config["detector"]
        card = detector["delphes_card"]
        if card is None:
            raise ConfigError(
                "detector.delphes_card",
                "backend delphes needs a Delphes card (.tcl), e.g. the "
                "cards/delphes_card_ATLAS.tcl of the Delphes installation",
            )
        if not Path(card).is_file():
            raise ConfigError("detector.delphes_card", f"Delphes card '{card}' does not exist")
        return cls(
            executable=detector["delphes_executable"],
            card=Path(card),
            seed=seed,
            ecm_gev=config["generator"]["ecm_gev"],
        )


def run_delphes(run: DelphesRun, events: ak.Array, output: Path, scratch: Path) -> None:
    """Write ``events`` as HepMC3 in ``scratch`` and run Delphes on them into ``output``.

    Delphes' messages go to standard error (the job's log).

    Raises:
        ConfigError: if the executable is not found (with how to install it).
        HepdlError: if Delphes fails, with its exit status.
    """
    executable = find_delphes(run.executable)
    hepmc = write_hepmc3(scratch / "events.hepmc", events, run.ecm_gev)
    wrapper = seeded_card(run.card, run.seed, scratch)
    command = delphes_command(executable, wrapper, output.resolve(), hepmc.resolve())
    sys.stderr.flush()
    completed = subprocess.run(
        command, cwd=scratch, stdout=sys.stderr, stderr=sys.stderr, check=False
    )
    if completed.returncode != 0 or not output.is_file():
        msg = (
            f"Delphes failed (exit status {completed.returncode}) running {' '.join(command)}; "
            "its messages are in the log above"
        )
        raise HepdlError(msg)


def from_delphes_output(
    path: Path,
    events: ak.Array,
    settings: SimulationSettings,
    jets: JetCorrections,
) -> dict[str, ak.Array]:
    """Bring a Delphes output file to hepdl's collections (see the module docstring).

    Args:
        path: Delphes' ROOT file.
        events: The events Delphes ran on (events-parquet format), for Event and truth jets.
        settings: Jet definitions of the config; its ``collections`` are returned.
        jets: The card's truth-jet input (``truth_exclude_pids``) and energy-scale choice.

    Raises:
        InputFileError: naming the file, if it is not a Delphes file with towers, tracks and
            jets, or holds another number of events.
    """
    content = read_delphes(path).events
    missing = [name for name in _DELPHES_COLLECTIONS if name not in content.fields]
    if missing:
        raise InputFileError(path, f"Delphes output lacks the collections {missing}")
    if len(content) != len(events):
        raise InputFileError(path, f"holds {len(content)} events, expected {len(events)}")
    collections = {name: content[name] for name in _DELPHES_COLLECTIONS}
    towers = content["Tower"]
    counts = ak.to_numpy(ak.num(towers, axis=1)).astype(np.int64)

    def column(name: str) -> NDArray[np.float64]:
        return np.asarray(ak.to_numpy(ak.flatten(towers[name])), dtype=np.float64)

    vectors = massless_four_vectors(column("E"), column("Eta"), column("Phi"), counts)
    scale = jets.energy_scale if jets.scale_fat_jets else None
    fat = settings.fatjet
    collections["FatJet"] = fat_jet_record(*cluster_fat_jets(vectors, fat), fat.pt_min_gev, scale)
    truth = truth_inputs(FlatParticles.from_events(events), jets.truth_exclude_pids)
    collections["GenJet"] = jet_record(
        cluster_jets(truth, settings.jet.radius, settings.jet.pt_min_gev)
    )
    if fat.truth:
        collections["GenFatJet"] = fat_jet_record(*cluster_fat_jets(truth, fat), fat.pt_min_gev)
    collections["Event"] = event_record(events)
    return {name: collections[name] for name in settings.collections}


def simulate_with_delphes(
    run: DelphesRun,
    events: ak.Array,
    settings: SimulationSettings,
    jets: JetCorrections,
) -> dict[str, ak.Array]:
    """Run Delphes on ``events`` and return hepdl's collections (nothing left on disk)."""
    with tempfile.TemporaryDirectory(prefix="hepdl-delphes-") as folder:
        scratch = Path(folder)
        output = scratch / "delphes.root"
        run_delphes(run, events, output, scratch)
        return from_delphes_output(output, events, settings, jets)
