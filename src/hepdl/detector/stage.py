"""The ``simulate`` stage: one shard's events to its Delphes-schema detector file."""

from __future__ import annotations

import importlib.metadata
import os
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
from tqdm import tqdm

import hepdl
from hepdl import streams
from hepdl.detector.card import DetectorCard, load_card
from hepdl.detector.delphes import DelphesRun, delphes_chunks, simulate_with_delphes
from hepdl.detector.fastsim import SimulationSettings, StepTimer, simulate_events
from hepdl.detector.rng import CounterRNG, detector_seed
from hepdl.errors import InputFileError
from hepdl.io.atomic import check_output_path
from hepdl.io.delphes import DelphesWriter
from hepdl.io.events import EventFile, read_events
from hepdl.io.layout import Layout
from hepdl.samples import get_sample

__all__ = ["SimulationResult", "simulate_shard", "stdout_to_stderr"]


@dataclass(frozen=True)
class SimulationResult:
    """What :func:`simulate_shard` wrote and how fast.

    Attributes:
        path: The detector file.
        n_events: Events simulated.
        seconds: Wall-clock time of the simulation and writing (reading the input excluded).
        steps: Seconds per step (:data:`hepdl.detector.fastsim.STEPS`; fast simulation only).
        metadata: The provenance stored in the file.
    """

    path: Path
    n_events: int
    seconds: float
    steps: dict[str, float]
    metadata: dict[str, Any]

    @property
    def events_per_second(self) -> float:
        """Simulation throughput."""
        return self.n_events / self.seconds if self.seconds > 0 else float("inf")


def _batches(events: ak.Array, size: int) -> Iterator[ak.Array]:
    for start in range(0, len(events), size):
        yield events[start : start + size]


def stdout_to_stderr() -> AbstractContextManager[None]:
    """Redirect file descriptor 1 to standard error, where standard error is a real file."""
    try:
        sys.stderr.fileno()
    except OSError:  # e.g. captured by pytest: nothing to redirect to
        return nullcontext()
    return streams.stdout_to_stderr()


def _write(writer: DelphesWriter, collections: dict[str, ak.Array], timer: StepTimer) -> None:
    with timer.step("writing"):
        writer.extend(collections)


def _metadata(
    config: dict[str, Any], event_metadata: dict[str, Any], source: Path, backend: dict[str, Any]
) -> dict[str, Any]:
    """The provenance written into the detector file."""
    detector = config["detector"]
    keep = ("sample", "shard", "label", "definition", "n_events", "first_event", "sigma_pb")
    return {
        **{key: event_metadata.get(key) for key in keep},
        "sigma_err_pb": event_metadata.get("sigma_err_pb"),
        "events_file": str(source),
        "backend": detector["backend"],
        **backend,
        "jet": detector["jet"],
        "fatjet": detector["fatjet"],
        "hepdl_version": hepdl.__version__,
        "fastjet_version": importlib.metadata.version("fastjet"),
        "uproot_version": importlib.metadata.version("uproot"),
    }


def _card_metadata(card: DetectorCard, seed: int) -> dict[str, Any]:
    return {
        "detector": card.name,
        "card": card.path,
        "card_sha256": card.digest,
        "detector_seed": seed,
    }


def _backend(
    config: dict[str, Any], sample: str, card: DetectorCard
) -> tuple[int, DelphesRun | None, dict[str, Any]]:
    """The seed, the Delphes run (None for the fast simulation) and their provenance.

    The fast simulation keys its random numbers by event number under one seed per sample;
    Delphes has one random stream per run, seeded per chunk of ``detector.batch_size`` events
    (:func:`~hepdl.detector.delphes.delphes_chunks`). With Delphes, the card still gives the
    truth-jet input and the jet energy scale.
    """
    seed = detector_seed(config, sample)
    if config["detector"]["backend"] != "delphes":
        return seed, None, _card_metadata(card, seed)
    delphes = DelphesRun.from_config(config)
    return (
        seed,
        delphes,
        {
            "delphes_card": str(delphes.card),
            "delphes_executable": delphes.executable,
            "delphes_chunk_events": config["detector"]["batch_size"],
        },
    )


def _read_shard_events(source: Path, sample: str) -> EventFile:
    """The events file of the shard; events of another sample are an error naming the file."""
    event_file = read_events(source)
    found = event_file.metadata.get("sample")
    if found not in (None, sample):
        raise InputFileError(source, f"holds events of sample '{found}', not '{sample}'")
    return event_file


def simulate_shard(
    config: dict[str, Any],
    sample_name: str,
    shard: int,
    events_file: str | os.PathLike[str] | None = None,
    output: str | os.PathLike[str] | None = None,
    *,
    progress: bool = True,
) -> SimulationResult:
    """Simulate the detector for one shard and write its Delphes-schema file atomically.

    Args:
        config: A validated config (:func:`hepdl.config.load_config`).
        sample_name: Key of the sample in ``config['samples']``.
        shard: Shard index.
        events_file: The generated events (default: the ``generate`` stage's contract path).
        output: Target file; default :meth:`hepdl.io.layout.Layout.detector`.
        progress: Show a progress bar on standard error.

    Raises:
        ConfigError: for an unknown sample or shard, a bad detector card (naming its key), or
            a missing Delphes installation (backend delphes, saying how to install it).
        InputFileError: naming the events file, if it is missing, truncated or foreign.
        HepdlError: if the output cannot be written (its folder unwritable, or it is a
            folder), before any work.
    """
    sample = get_sample(config, sample_name)
    sample.shard_events(shard)
    layout = Layout.of(config)
    source = Path(events_file) if events_file else layout.events(sample.name, shard)
    path = Path(output) if output is not None else layout.detector(sample.name, shard)
    check_output_path(path)
    detector = config["detector"]
    settings = SimulationSettings.from_config(config)
    card = load_card(detector["card"])
    seed, delphes, backend = _backend(config, sample.name, card)
    event_file = _read_shard_events(source, sample.name)
    events = event_file.events
    metadata = _metadata(config, event_file.metadata, source, backend)
    chunks = []
    if delphes is not None:
        numbers = ak.to_numpy(events["event_number"]).astype(np.int64)
        chunks = delphes_chunks(numbers, detector["batch_size"], config["seed"], sample.name)
        metadata["delphes_seeds"] = [chunk.seed for chunk in chunks]

    timer = StepTimer()
    rng = CounterRNG(seed)
    start = time.perf_counter()
    with (
        stdout_to_stderr(),  # FastJet's banner goes to the log, not to standard output
        DelphesWriter(path, metadata, settings.collections) as writer,
        tqdm(
            total=len(events),
            desc=f"simulate {sample.name} shard {shard}",
            unit="evt",
            file=sys.stderr,
            disable=not progress,
            mininterval=0.1 if sys.stderr.isatty() else 30.0,
        ) as bar,
    ):
        if delphes is None:
            for batch in _batches(events, detector["batch_size"]):
                _write(writer, simulate_events(batch, card, settings, rng, timer), timer)
                bar.update(len(batch))
        else:
            for chunk in chunks:
                batch = events[chunk.start : chunk.stop]
                run = delphes.with_seed(chunk.seed)
                _write(writer, simulate_with_delphes(run, batch, settings, card.jets, timer), timer)
                bar.update(len(batch))
    seconds = time.perf_counter() - start
    return SimulationResult(
        path=path, n_events=len(events), seconds=seconds, steps=timer.seconds, metadata=metadata
    )
