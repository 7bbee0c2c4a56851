"""The ``generate`` stage: one shard of one sample, from config to Parquet file."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
from tqdm import tqdm

import hepdl
from hepdl.generate.bindings import bindings_version, pythia8
from hepdl.generate.events import HardEvents, PileupOverlay, generate_batches
from hepdl.generate.particles import ChargeTable
from hepdl.generate.pythia import (
    common_settings,
    init_pythia,
    process_settings,
    pythia_output_to_stderr,
    pythia_version,
)
from hepdl.generate.slha import rpv_gluino_slha
from hepdl.generate.xsec import MB_TO_PB
from hepdl.io.atomic import check_output_path
from hepdl.io.events import write_events
from hepdl.io.layout import Layout
from hepdl.samples import Sample, get_sample, shard_seed

__all__ = ["ShardResult", "generate_shard", "shard_settings"]


@dataclass(frozen=True)
class ShardResult:
    """What :func:`generate_shard` wrote and how fast.

    ``seconds`` (wall clock) and ``cpu_seconds`` (this process) cover generation, extraction
    and writing, not Pythia's initialisation.
    """

    path: Path
    n_events: int
    seconds: float
    cpu_seconds: float
    metadata: dict[str, Any]

    @property
    def events_per_second(self) -> float:
        """Stage throughput: generation, extraction and writing; Pythia's initialisation excluded."""
        return self.n_events / self.seconds if self.seconds > 0 else float("inf")


def shard_settings(
    config: dict[str, Any], sample: Sample, seed: int, slha_file: str | None = None
) -> list[str]:
    """All Pythia settings of one shard: common, process, then the user's extra settings."""
    generator = config["generator"]
    return [
        *common_settings(generator, seed),
        *process_settings(sample, slha_file),
        *generator["extra_settings"],
    ]


def _pileup_overlay(config: dict[str, Any], sample: Sample, shard: int) -> PileupOverlay:
    context = f"sample {sample.name} shard {shard} (pile-up)"
    minbias = Sample(name=f"{sample.name}_pileup", process="minbias", events=1, shards=1)
    seed = shard_seed(config["seed"], sample.name, shard, stream="pileup")
    pythia = init_pythia(shard_settings(config, minbias, seed), context)
    count_seed = shard_seed(config["seed"], sample.name, shard, stream="pileup-count")
    rng = np.random.default_rng(count_seed)
    return PileupOverlay(pythia, sample.pileup_mu, rng, config["generator"]["batch_size"], context)


def generate_shard(
    config: dict[str, Any],
    sample_name: str,
    shard: int,
    output: str | os.PathLike[str] | None = None,
    *,
    progress: bool = True,
) -> ShardResult:
    """Generate shard ``shard`` of ``sample_name`` and write it atomically.

    Args:
        config: A validated config (:func:`hepdl.config.load_config`).
        sample_name: Key of the sample in ``config['samples']``.
        shard: Shard index, 0 <= shard < the sample's ``shards``.
        output: Target file; default :meth:`hepdl.io.layout.Layout.events`.
        progress: Show a progress bar on standard error.

    Returns:
        The path written, the number of events, the event-loop time and the metadata.

    Raises:
        ConfigError: for an unknown sample or shard.
        GenerationError: if Pythia fails to initialise (with its messages).
        HepdlError: if the output cannot be written (its folder unwritable, or it is a
            folder), before any event is generated.
    """
    sample = get_sample(config, sample_name)
    n_events = sample.shard_events(shard)
    path = Path(output) if output is not None else Layout.of(config).events(sample.name, shard)
    check_output_path(path)
    context = f"sample {sample.name} shard {shard}"
    seed = shard_seed(config["seed"], sample.name, shard)
    first_event = sum(sample.shard_events(k) for k in range(shard))
    batch_size = config["generator"]["batch_size"]

    slha = rpv_gluino_slha(*sample.masses()) if sample.is_signal else None
    with tempfile.TemporaryDirectory(prefix="hepdl-slha-") as scratch:
        slha_file = None
        if slha is not None:
            slha_file = str(Path(scratch) / f"{sample.name}.slha")
            Path(slha_file).write_text(slha, encoding="ascii")
        settings = shard_settings(config, sample, seed, slha_file)
        pythia = init_pythia(settings, context)
    overlay = _pileup_overlay(config, sample, shard) if sample.pileup_mu > 0 else None

    charge = ChargeTable(pythia.particleData)
    particles, weights, pileup_counts = [], [], []
    start, start_cpu = time.perf_counter(), time.process_time()
    with (
        pythia_output_to_stderr(),
        tqdm(
            total=n_events,
            desc=context,
            unit="evt",
            file=sys.stderr,
            disable=not progress,
            # In a job's log file, a line every half minute instead of ten a second.
            mininterval=0.1 if sys.stderr.isatty() else 30.0,
        ) as bar,
    ):
        for batch in generate_batches(pythia, n_events, batch_size, context):
            hard = HardEvents.from_batch(batch, charge)
            if overlay is None:
                merged, n_pileup = hard.particles, np.zeros(len(hard.weight), dtype=np.int32)
            else:
                merged, n_pileup = overlay(hard.particles)
            particles.append(merged)
            weights.append(hard.weight)
            pileup_counts.append(n_pileup)
            bar.update(len(hard.weight))
        pythia.stat()

    weight = np.concatenate(weights)
    events = ak.zip(
        {
            "event_number": np.arange(first_event, first_event + n_events, dtype=np.int64),
            "weight": weight,
            "n_pileup": np.concatenate(pileup_counts),
            "particles": ak.concatenate(particles),
        },
        depth_limit=1,
    )
    info = pythia.infoPython()
    metadata = {
        "sample": sample.name,
        "shard": shard,
        "label": sample.label,
        "definition": sample.definition(),
        "n_events": n_events,
        "first_event": first_event,
        "n_tried": int(info.nTried()),
        "n_accepted": int(info.nAccepted()),
        "sum_weights": float(np.sum(weight)),
        "sigma_pb": info.sigmaGen() * MB_TO_PB,
        "sigma_err_pb": info.sigmaErr() * MB_TO_PB,
        "seed": seed,
        "ecm_gev": config["generator"]["ecm_gev"],
        # The SLHA path is a scratch file; its content is kept instead, so the bytes are stable.
        "settings": [line for line in settings if not line.startswith("SLHA:file")],
        "slha": slha,
        "pythia_version": pythia_version(pythia),
        "pythia_bindings": bindings_version(pythia8),
        "hepdl_version": hepdl.__version__,
    }
    write_events(path, events, metadata)
    return ShardResult(
        path=path,
        n_events=n_events,
        seconds=time.perf_counter() - start,
        cpu_seconds=time.process_time() - start_cpu,
        metadata=metadata,
    )
