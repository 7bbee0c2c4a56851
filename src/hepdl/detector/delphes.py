"""The real Delphes backend (``detector.backend: delphes``).

The shard's events are simulated in chunks of ``detector.batch_size`` events: each chunk is
written as HepMC3 (:mod:`.hepmc`) and ``DelphesHepMC3 <card> <output.root> <input>`` runs on it,
so memory and scratch space (``TMPDIR``) are those of one chunk whatever the shard's size. The
card is the user's Delphes card (``detector.delphes_card``; by default the ATLAS card of the
Delphes that hepdl built, see :mod:`.delphes_install`), wrapped so that the run is seeded: the
wrapper sources the card and sets Delphes' global ``RandomSeed``. Delphes resolves ``source``
relative to the top card's folder, so the wrapper lives in a scratch folder that links every
file of the card's folder.

Seeding: Delphes draws from one random stream per run, so an event's response depends on the
events run before it in the same run. Chunks are therefore cut at fixed event numbers
(multiples of ``batch_size``) and each is seeded from (config seed, sample, event number //
batch_size) (:func:`delphes_chunks`): a sample's Delphes output is the same however it is
sharded, as long as every shard starts at a multiple of ``batch_size`` (shards of 10,000 events
and the default 1,000 do); otherwise the events of a chunk split between two shards are drawn
from other random numbers (statistically equivalent, not identical). ``batch_size`` is a
setting that changes Delphes' results (the ``simulate`` rule reruns on it with this backend).

Delphes' output is brought to hepdl's schema: ``Tower`` and ``Track`` as Delphes wrote them
(the ATLAS card's towers include the muons, Eem = Ehad = 0, as the fast simulation's do);
``Jet``, ``FatJet`` (ungroomed and trimmed), ``GenJet`` and ``GenFatJet`` clustered by hepdl
with the config's definitions (:func:`~hepdl.detector.fastsim.jet_collections`), on Delphes'
towers and on the events' final-state particles, exactly as the fast simulation clusters them:
the reco and truth jets share one definition (Delphes' own ``Jet`` uses the card's R = 0.6, and
comparing it with truth jets at the config's R = 0.4 gave a false +13% jet response), the two
backends' jets can be compared one to one, and uproot need not write Delphes' ``TrimmedP4``
objects. ``Event`` is taken from the event file.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
from numpy.typing import NDArray

from hepdl.detector.card import JetCorrections
from hepdl.detector.delphes_install import (
    EXECUTABLE,
    cached_executables,
    read_build,
    runtime_environment,
)
from hepdl.detector.fastsim import (
    FlatParticles,
    SimulationSettings,
    StepTimer,
    event_record,
    jet_collections,
    truth_inputs,
)
from hepdl.detector.hepmc import write_hepmc3
from hepdl.errors import ConfigError, HepdlError, InputFileError
from hepdl.io.delphes import COLLECTIONS, read_delphes
from hepdl.jets import massless_four_vectors
from hepdl.samples import shard_seed

__all__ = [
    "INSTALL_HINT",
    "DelphesChunk",
    "DelphesRun",
    "chunk_seed",
    "delphes_chunks",
    "delphes_command",
    "find_delphes",
    "from_delphes_output",
    "run_delphes",
    "seeded_card",
    "simulate_with_delphes",
]

#: How to get Delphes, quoted by every error about a missing executable.
INSTALL_HINT = (
    'build Delphes with: pip install -e ".[delphes]" && hepdl delphes install (found '
    "then in ~/.cache/hepdl/delphes), or on a cluster: conda install -c conda-forge delphes; "
    "or set detector.backend: fastsim"
)
#: Name of the seeded wrapper card in the scratch folder.
WRAPPER_CARD = "hepdl_seeded_card.tcl"
#: The collections taken from Delphes' output as they are.
DELPHES_COLLECTIONS = ("Tower", "Track")
#: Lines of Delphes' messages quoted in an error.
MESSAGE_LINES = 15
#: Delphes' progress bar lines ("** [####---] (40.21%)"), left out of the job's log.
_PROGRESS = re.compile(r"^\*\* \[[#-]*\]")


def find_delphes(executable: str) -> str:
    """The full path of the Delphes executable: ``executable`` itself if it is a path, else
    found on ``PATH``, else (for the default name) the newest build in hepdl's cache.

    Raises:
        ConfigError: naming ``detector.delphes_executable`` when it is not found, with how to
            install Delphes.
    """
    if os.sep in executable:
        if Path(executable).is_file() and os.access(executable, os.X_OK):
            return str(Path(executable).resolve())
        raise ConfigError(
            "detector.delphes_executable",
            f"'{executable}' is not an executable file; {INSTALL_HINT}",
        )
    found = shutil.which(executable)
    if found is not None:
        return found
    cached = cached_executables() if executable == EXECUTABLE else []
    if cached:
        return str(cached[-1])
    raise ConfigError(
        "detector.delphes_executable",
        f"'{executable}' was not found on PATH nor in hepdl's cache; {INSTALL_HINT}",
    )


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
class DelphesChunk:
    """Events ``start:stop`` of a shard, simulated in one Delphes run seeded with ``seed``."""

    start: int
    stop: int
    seed: int


def chunk_seed(global_seed: int, sample: str, chunk: int) -> int:
    """Delphes' ``RandomSeed`` for chunk ``chunk`` (event numbers ``chunk * batch_size`` on) of
    ``sample``."""
    return shard_seed(global_seed, sample, chunk, stream="delphes")


def delphes_chunks(
    event_numbers: NDArray[np.int64], batch_size: int, global_seed: int, sample: str
) -> list[DelphesChunk]:
    """Cut a shard's events where ``event_number // batch_size`` changes, each piece seeded
    from that quotient (see the module docstring)."""
    if event_numbers.size == 0:
        return []
    chunk = np.asarray(event_numbers, dtype=np.int64) // batch_size
    edges = [0, *(np.flatnonzero(np.diff(chunk)) + 1).tolist(), int(chunk.size)]
    return [
        DelphesChunk(start, stop, chunk_seed(global_seed, sample, int(chunk[start])))
        for start, stop in itertools.pairwise(edges)
    ]


@dataclass(frozen=True)
class DelphesRun:
    """What the Delphes runs of one shard need.

    Attributes:
        executable: Full path of ``DelphesHepMC3``.
        card: The user's Delphes card.
        seed: Delphes' ``RandomSeed`` of the next run (set per chunk).
        ecm_gev: Centre-of-mass energy of the events (beam energies in the HepMC file).
    """

    executable: str
    card: Path
    seed: int
    ecm_gev: float

    def with_seed(self, seed: int) -> DelphesRun:
        """The same run with another seed."""
        return replace(self, seed=seed)

    @classmethod
    def from_config(cls, config: dict[str, Any], seed: int = 0) -> DelphesRun:
        """From a validated config: finds the executable and the card.

        ``detector.delphes_card: null`` takes the ATLAS card of a Delphes built by
        ``hepdl delphes install``.

        Raises:
            ConfigError: naming ``detector.delphes_card`` if no card is set or found, or if it
                does not exist, and ``detector.delphes_executable`` if Delphes is not found.
        """
        detector = config["detector"]
        card = detector["delphes_card"]
        if card is None:
            card = _default_card(detector["delphes_executable"])
        if not Path(card).is_file():
            raise ConfigError("detector.delphes_card", f"Delphes card '{card}' does not exist")
        return cls(
            executable=find_delphes(detector["delphes_executable"]),
            card=Path(card),
            seed=seed,
            ecm_gev=config["generator"]["ecm_gev"],
        )


def _default_card(executable: str) -> Path:
    """The ATLAS card of the Delphes build by hepdl that ``executable`` finds."""
    try:
        build = read_build(Path(find_delphes(executable)).parent)
    except ConfigError:
        build = None
    if build is None or not build.atlas_card.is_file():
        raise ConfigError(
            "detector.delphes_card",
            "backend delphes needs a Delphes card (.tcl), e.g. the "
            "cards/delphes_card_ATLAS.tcl of the Delphes installation; the ATLAS card of a "
            f"Delphes built by hepdl is the default ({INSTALL_HINT})",
        )
    return build.atlas_card


def _messages(log: Path) -> list[str]:
    """Delphes' messages, without its progress bar."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    lines = [part for line in text.splitlines() for part in line.split("\r")]
    return [line for line in lines if line.strip() and not _PROGRESS.match(line)]


def _failure(returncode: int, command: list[str], card: Path, messages: list[str]) -> str:
    """The error message of a failed Delphes run: how it ended, the card, Delphes' words."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        how = f"was killed by {name}"
    else:
        how = f"failed (exit status {returncode})"
    # from Delphes' first error on (its reason can follow on the next lines, e.g. Tcl's
    # "missing close-brace"), else its last words
    first = next((k for k, line in enumerate(messages) if "ERROR" in line), None)
    said_lines = messages[first:][:MESSAGE_LINES] if first is not None else messages
    said = "\n".join(said_lines[-MESSAGE_LINES:]) or "(no message)"
    return f"Delphes {how} running card {card} ({shlex.join(command)}); Delphes said:\n{said}"


def run_delphes(
    run: DelphesRun, events: ak.Array, output: Path, scratch: Path, timer: StepTimer | None = None
) -> None:
    """Write ``events`` as HepMC3 in ``scratch`` and run Delphes on them into ``output``.

    Delphes runs in the environment hepdl's build needs (:func:`runtime_environment`); its
    messages, less the progress bar, are copied to standard error (the job's log).

    Raises:
        HepdlError: if Delphes fails or is killed, with how it ended, the card's path and
            Delphes' own error messages.
    """
    timer = timer or StepTimer()
    with timer.step("hepmc"):
        hepmc = write_hepmc3(scratch / "events.hepmc", events, run.ecm_gev)
    wrapper = seeded_card(run.card, run.seed, scratch)
    command = delphes_command(run.executable, wrapper, output.resolve(), hepmc.resolve())
    log = scratch / "delphes.log"
    with timer.step("delphes"), log.open("w", encoding="utf-8") as messages:
        completed = subprocess.run(
            command,
            cwd=scratch,
            stdout=messages,
            stderr=subprocess.STDOUT,
            env=runtime_environment(Path(run.executable)),
            check=False,
        )
    said = _messages(log)
    sys.stderr.write("".join(f"{line}\n" for line in said))
    sys.stderr.flush()
    if completed.returncode != 0 or not output.is_file():
        raise HepdlError(_failure(completed.returncode, command, run.card, said))


def from_delphes_output(
    path: Path,
    events: ak.Array,
    settings: SimulationSettings,
    jets: JetCorrections,
    timer: StepTimer | None = None,
) -> dict[str, ak.Array]:
    """Bring a Delphes output file to hepdl's collections (see the module docstring).

    Args:
        path: Delphes' ROOT file.
        events: The events Delphes ran on (events-parquet format), for Event and truth jets.
        settings: Jet definitions of the config; its ``collections`` are returned.
        jets: The card's truth-jet input (``truth_exclude_pids``) and energy scale.
        timer: Times the reading (``reading delphes``) and the jet steps.

    Raises:
        InputFileError: naming the file, if it is not a Delphes file with towers and tracks,
            or holds another number of events.
    """
    timer = timer or StepTimer()
    with timer.step("reading delphes"):
        wanted = {name: list(COLLECTIONS[name]) for name in DELPHES_COLLECTIONS}
        content = read_delphes(path, wanted).events
    if len(content) != len(events):
        raise InputFileError(path, f"holds {len(content)} events, expected {len(events)}")
    collections = {name: content[name] for name in DELPHES_COLLECTIONS}
    towers = content["Tower"]
    counts = ak.to_numpy(ak.num(towers, axis=1)).astype(np.int64)

    def column(name: str) -> NDArray[np.float64]:
        return np.asarray(ak.to_numpy(ak.flatten(towers[name])), dtype=np.float64)

    vectors = massless_four_vectors(column("E"), column("Eta"), column("Phi"), counts)
    truth = truth_inputs(FlatParticles.from_events(events), jets.truth_exclude_pids)
    collections.update(jet_collections(vectors, truth, jets, settings, timer))
    collections["Event"] = event_record(events)
    return {name: collections[name] for name in settings.collections}


def simulate_with_delphes(
    run: DelphesRun,
    events: ak.Array,
    settings: SimulationSettings,
    jets: JetCorrections,
    timer: StepTimer | None = None,
) -> dict[str, ak.Array]:
    """Run Delphes once on ``events`` (one chunk) and return hepdl's collections; its scratch
    files (HepMC3 input, Delphes' ROOT output) are removed before it returns."""
    with tempfile.TemporaryDirectory(prefix="hepdl-delphes-") as folder:
        scratch = Path(folder)
        output = scratch / "delphes.root"
        run_delphes(run, events, output, scratch, timer)
        return from_delphes_output(output, events, settings, jets, timer)
