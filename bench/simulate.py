"""Throughput of ``hepdl simulate`` against the generation of the same events, in one run.

For QCD JZ4 and the RPV 1400/850 signal: the events are generated with Pythia
(:func:`hepdl.generate.generate_shard`, its event loop timed, initialisation excluded), then the
fast simulation runs on them (:func:`hepdl.detector.simulate_shard`, reading the events file
excluded, writing the ROOT file included), twice: with the default config, and with
``detector.fatjet.truth: false`` (no GenFatJet, as Delphes' ATLAS card), on the same events.
Printed per sample: events/s of generation and of both simulations, the ratio of simulation to
generation time of each (target: at most 0.25), and the simulation time split by step
(propagation, towers, smearing, tracks, each jet clustering, writing) in ms/event, side by side.

Real Delphes (where ``DelphesHepMC3`` is found: PATH or ``hepdl delphes install``'s cache; skip
with ``--no-delphes``), in the same run on the same events of each sample: ms/event of
DelphesHepMC3 alone (its process, one run on all events, the ATLAS card), of the HepMC3 export
that feeds it (hepdl's numpy writer, and the pyhepmc writer it replaced, for the before/after),
and of the fast simulation (``hepdl simulate``, writing included, with and without GenFatJet);
printed as ratios with Delphes as the anchor (target: the fast simulation at least 3x faster).

Memory: ``--memory-events`` events (the generated ones repeated, with new event numbers) are
simulated as one shard in a child process, whose peak resident memory is reported (target:
10,000 events under 4 GiB, the rule's mem_mb), with each backend; for Delphes, plus the peak of
one DelphesHepMC3 run on a chunk of ``detector.batch_size`` events (measured through a small
launcher: a child forked from a large process counts the parent's pages in its own peak).

Each timing is the fastest of ``--repeat`` runs (wall clock; the machine is shared). The
simulation's time includes opening its ROOT file (about 0.1 s per shard), a per-shard cost like
Pythia's initialisation, which generation's time leaves out. The default 2,000 events make it
about 0.006 of the ratio, close to its share in a 10,000-event production shard (at 400 events:
about 0.03).

Usage: python bench/simulate.py [--events 2000] [--repeat 2] [--memory-events 10000]
       [--no-delphes]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pyhepmc

from hepdl.config import validate_config
from hepdl.detector import simulate_shard
from hepdl.detector.delphes import (
    DelphesRun,
    delphes_command,
    find_delphes,
    run_delphes,
    seeded_card,
)
from hepdl.detector.delphes_install import EXECUTABLE, runtime_environment
from hepdl.detector.fastsim import STEPS, StepTimer
from hepdl.detector.hepmc import PROTON_MASS_GEV, write_hepmc3
from hepdl.errors import ConfigError
from hepdl.generate import generate_shard
from hepdl.io import read_events, write_events

SAMPLES = {
    "JZ4": {"process": "qcd", "pthat_min_gev": 400, "pthat_max_gev": 800},
    "RPV_1400_850": {"process": "rpv_gluino", "m_gluino_gev": 1400, "m_neutralino_gev": 850},
}
TARGET_RATIO = 0.25
MEMORY_TARGET_GIB = 4.0

_MEMORY_CHILD = """
import json, resource, sys
from hepdl.config import validate_config
from hepdl.detector import simulate_shard
config = validate_config(json.loads(sys.argv[1]))
simulate_shard(config, sys.argv[2], 0, events_file=sys.argv[3], output=sys.argv[4], progress=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
#: Runs a command and prints its peak memory: a small launcher, because a child forked from
#: the large benchmark process would count the parent's pages in its own peak.
_PEAK_OF_COMMAND = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""
DELPHES_TARGET_SPEEDUP = 3.0


#: The simulations compared: label -> ``detector.fatjet.truth``.
VARIANTS = {"with GenFatJet": True, "without GenFatJet": False}


def make_config(results: Path, events: int, truth: bool = True) -> dict[str, Any]:
    """One shard of each sample with ``events`` events; ``truth``: ``detector.fatjet.truth``."""
    samples = {name: {**spec, "events": events, "shards": 1} for name, spec in SAMPLES.items()}
    return validate_config(
        {
            "results": str(results),
            "samples": samples,
            "detector": {"fatjet": {"truth": truth}},
        }
    )


def fastest(runs: list[Any], key: str) -> Any:
    """The run with the smallest ``key`` attribute."""
    return min(runs, key=lambda run: getattr(run, key))


def bench_sample(
    configs: dict[str, dict[str, Any]], name: str, repeat: int, scratch: Path
) -> dict[str, Any]:
    """Generate one sample, then simulate it with each config of ``configs`` (label -> config).

    Every timing is the fastest of ``repeat`` runs; all simulations read the same events.
    """
    first = next(iter(configs.values()))
    generated = fastest(
        [generate_shard(first, name, 0, progress=False) for _ in range(repeat)], "seconds"
    )
    particles = read_events(generated.path).events.particles
    simulations = {}
    for label, config in configs.items():
        output = scratch / f"{name}-{label.replace(' ', '-')}.root"
        simulated = fastest(
            [
                simulate_shard(
                    config, name, 0, events_file=generated.path, output=output, progress=False
                )
                for _ in range(repeat)
            ],
            "seconds",
        )
        simulations[label] = {
            "events_per_s": simulated.events_per_second,
            "ratio": simulated.seconds / generated.seconds,
            "steps_ms_per_event": {
                step: 1e3 * simulated.steps.get(step, 0.0) / simulated.n_events for step in STEPS
            },
        }
    return {
        "sample": name,
        "events": len(particles),
        "particles_per_event": float(ak.mean(ak.num(particles))),
        "generate_events_per_s": generated.events_per_second,
        "simulations": simulations,
        "events_file": str(generated.path),
    }


def memory_peak_gib(config: dict[str, Any], name: str, events_file: Path, n_events: int) -> float:
    """Peak memory (GiB) of the hepdl process simulating ``n_events`` (the sample's events
    repeated) as one shard (for Delphes, without the Delphes processes it starts)."""
    source = read_events(events_file)
    repeats = -(-n_events // len(source.events))
    tiled = ak.concatenate([source.events] * repeats)[:n_events]
    tiled = ak.with_field(tiled, np.arange(n_events, dtype=np.int64), "event_number")
    with tempfile.TemporaryDirectory(prefix="hepdl-bench-memory-") as folder:
        big = write_events(Path(folder) / "big.parquet", tiled, source.metadata)
        spec = {**config, "samples": {name: {**config["samples"][name], "events": n_events}}}
        completed = subprocess.run(
            [
                sys.executable,
                "-c",
                _MEMORY_CHILD,
                json.dumps(spec),
                name,
                str(big),
                str(Path(folder) / "big.root"),
            ],
            check=False,
            capture_output=True,
            text=True,
        )
    if completed.returncode != 0:
        msg = f"the memory test's simulation failed:\n{completed.stderr[-3000:]}"
        raise RuntimeError(msg)
    return int(completed.stdout.split()[-1]) / 2**20  # ru_maxrss is in KiB on Linux


def delphes_chunk_peak_gib(config: dict[str, Any], events_file: Path, scratch: Path) -> float:
    """Peak memory (GiB) of one DelphesHepMC3 run on ``detector.batch_size`` events (the
    sample's events repeated), as the backend runs it per chunk."""
    source = read_events(events_file).events
    n_events = config["detector"]["batch_size"]
    tiled = ak.concatenate([source] * -(-n_events // len(source)))[:n_events]
    hepmc = write_hepmc3(scratch / "chunk.hepmc", tiled, config["generator"]["ecm_gev"])
    run = DelphesRun.from_config(config, seed=1)
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        card = seeded_card(run.card, run.seed, Path(folder))
        command = delphes_command(run.executable, card, Path(folder) / "out.root", hepmc)
        completed = subprocess.run(
            [sys.executable, "-c", _PEAK_OF_COMMAND, *command],
            cwd=folder,
            env=runtime_environment(Path(run.executable)),
            check=True,
            capture_output=True,
            text=True,
        )
    return int(completed.stdout.split()[-1]) / 2**20


def _write_hepmc3_with_pyhepmc(path: Path, events: ak.Array, ecm_gev: float) -> None:
    """The HepMC3 export hepdl had before its numpy writer (the 'before' of the export)."""
    beam_energy = 0.5 * ecm_gev
    beam_pz = np.sqrt(beam_energy**2 - PROTON_MASS_GEV**2)
    numbers = ak.to_numpy(events["event_number"])
    weights = ak.to_numpy(events["weight"])
    with pyhepmc.open(path, "w") as output:
        for number, weight, particles in zip(numbers, weights, events["particles"], strict=True):
            px, py, pz, energy = (
                np.asarray(particles[key], dtype=np.float64) for key in ("px", "py", "pz", "E")
            )
            n = px.size
            parents = np.zeros((n + 2, 2), dtype=np.int32)
            parents[2:] = (1, 2)
            mass = np.sqrt(np.maximum(energy**2 - px**2 - py**2 - pz**2, 0.0))
            event = pyhepmc.GenEvent(pyhepmc.Units.GEV, pyhepmc.Units.MM)
            event.from_hepevt(
                int(number),
                np.concatenate([[0.0, 0.0], px]),
                np.concatenate([[0.0, 0.0], py]),
                np.concatenate([[beam_pz, -beam_pz], pz]),
                np.concatenate([[beam_energy, beam_energy], energy]),
                np.concatenate([[PROTON_MASS_GEV] * 2, mass]),
                np.concatenate([[2212, 2212], np.asarray(particles["pid"])]).astype(np.int32),
                np.concatenate([[4, 4], np.ones(n)]).astype(np.int32),
                parents,
            )
            event.weights = [float(weight)]
            output.write(event)


def bench_delphes(
    config: dict[str, Any], events_file: Path, repeat: int, scratch: Path
) -> dict[str, float]:
    """ms/event of DelphesHepMC3 alone and of both HepMC3 writers, on ``events_file``'s events
    (Delphes: the fastest of ``repeat`` runs, all events in one run)."""
    events = read_events(events_file).events
    n = len(events)
    ecm = config["generator"]["ecm_gev"]
    hepmc = scratch / "bench.hepmc"
    export, old_export = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        write_hepmc3(hepmc, events, ecm)
        export.append(time.perf_counter() - start)
        start = time.perf_counter()
        _write_hepmc3_with_pyhepmc(scratch / "bench-pyhepmc.hepmc", events, ecm)
        old_export.append(time.perf_counter() - start)
    run = DelphesRun.from_config(config, seed=1)
    delphes = []
    for k in range(repeat):
        timer = StepTimer()
        with tempfile.TemporaryDirectory(dir=scratch) as folder:
            run_delphes(run, events, Path(folder) / f"delphes-{k}.root", Path(folder), timer)
        delphes.append(timer.seconds["delphes"])
    return {
        "delphes_ms": 1e3 * min(delphes) / n,
        "export_ms": 1e3 * min(export) / n,
        "pyhepmc_export_ms": 1e3 * min(old_export) / n,
    }


def report_delphes(result: dict[str, Any]) -> None:
    """Delphes, the export and the fast simulation in ms/event, as ratios to Delphes."""
    delphes = result["delphes"]
    anchor = delphes["delphes_ms"]
    print(
        f"  against real Delphes (same events; Delphes = 1, target: fast simulation "
        f">= {DELPHES_TARGET_SPEEDUP:.0f}x faster):"
    )
    rows = [
        ("DelphesHepMC3 alone", anchor),
        ("HepMC3 export (numpy)", delphes["export_ms"]),
        ("HepMC3 export (pyhepmc, before)", delphes["pyhepmc_export_ms"]),
    ]
    rows += [
        (f"fast simulation, {label}", 1e3 / simulation["events_per_s"])
        for label, simulation in result["simulations"].items()
    ]
    for label, ms in rows:
        print(f"    {label:<36} {ms:8.3f} ms/event  {ms / anchor:6.3f} x Delphes")
    for label, simulation in result["simulations"].items():
        speedup = anchor / (1e3 / simulation["events_per_s"])
        verdict = "meets" if speedup >= DELPHES_TARGET_SPEEDUP else "misses"
        print(f"    fast simulation ({label}) is {speedup:.1f}x faster than Delphes ({verdict})")
    print(
        f"    export speed-up numpy / pyhepmc: "
        f"{delphes['pyhepmc_export_ms'] / delphes['export_ms']:.1f}x; export / Delphes "
        f"{delphes['export_ms'] / anchor:.3f}"
    )


def report(result: dict[str, Any]) -> None:
    """Print one sample's numbers: each simulation's ratio, then the steps side by side."""
    generate_rate = result["generate_events_per_s"]
    print(
        f"{result['sample']}: {result['events']} events, "
        f"{result['particles_per_event']:.0f} particles/event\n"
        f"  generate {generate_rate:.1f} events/s ({1e3 / generate_rate:.2f} ms/event)"
    )
    simulations = result["simulations"]
    print(f"  simulation / generation time (target: at most {TARGET_RATIO}):")
    for label, simulation in simulations.items():
        ratio = simulation["ratio"]
        verdict = "(meets)" if ratio <= TARGET_RATIO else "(misses)"
        rate = simulation["events_per_s"]
        print(
            f"    {label:<20} {ratio:.3f} {verdict:<9} "
            f"simulate {rate:.1f} events/s ({1e3 / rate:.2f} ms/event)"
        )
    header = "".join(f"{label:>24}" for label in simulations)
    print(f"    {'step: ms/event (% of total)':<28}{header}")
    totals = {label: sum(s["steps_ms_per_event"].values()) for label, s in simulations.items()}
    for step in STEPS:
        cells = ""
        for label, simulation in simulations.items():
            ms = simulation["steps_ms_per_event"][step]
            cells += f"{ms:15.3f} ({100 * ms / totals[label]:4.1f} %)"
        print(f"    {step:<28}{cells}")


def main() -> None:
    """Run the benchmark and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="events per sample")
    parser.add_argument("--repeat", type=int, default=2, help="runs per timing (fastest kept)")
    parser.add_argument(
        "--memory-events", type=int, default=10_000, help="events of the memory test (0: skip)"
    )
    parser.add_argument("--no-delphes", action="store_true", help="leave out real Delphes")
    args = parser.parse_args()
    with_delphes = not args.no_delphes
    if with_delphes:
        try:
            find_delphes(EXECUTABLE)
        except ConfigError as err:
            print(f"no real Delphes ({err}); measuring the fast simulation only")
            with_delphes = False
    with tempfile.TemporaryDirectory(prefix="hepdl-bench-simulate-") as folder:
        configs = {
            label: make_config(Path(folder) / "results", args.events, truth)
            for label, truth in VARIANTS.items()
        }
        config = configs["with GenFatJet"]
        results = [bench_sample(configs, name, args.repeat, Path(folder)) for name in SAMPLES]
        for result in results:
            if with_delphes:
                result["delphes"] = bench_delphes(
                    config, Path(result["events_file"]), args.repeat, Path(folder)
                )
            report(result)
            if with_delphes:
                report_delphes(result)
        if args.memory_events:
            backends = ["fastsim", "delphes"] if with_delphes else ["fastsim"]
            events_file = Path(results[0]["events_file"])
            for backend in backends:
                spec = {**config, "detector": {**config["detector"], "backend": backend}}
                own = memory_peak_gib(spec, "JZ4", events_file, args.memory_events)
                peak, extra = own, ""
                if backend == "delphes":
                    chunk = delphes_chunk_peak_gib(spec, events_file, Path(folder))
                    peak = own + chunk  # Delphes runs while the hepdl process waits for it
                    extra = (
                        f" + DelphesHepMC3 {chunk:.2f} GiB per run of "
                        f"{spec['detector']['batch_size']} events = {peak:.2f} GiB"
                    )
                verdict = "meets" if peak < MEMORY_TARGET_GIB else "misses"
                print(
                    f"memory ({backend}): {args.memory_events} JZ4 events in one shard: hepdl "
                    f"process {own:.2f} GiB{extra} ({verdict} the target < {MEMORY_TARGET_GIB} GiB)"
                )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"(benchmark process peak memory {own:.2f} GiB)")


if __name__ == "__main__":
    main()
