"""Throughput of ``hepdl simulate`` against the generation of the same events, in one run.

For QCD JZ4 and the RPV 1400/850 signal: the events are generated with Pythia
(:func:`hepdl.generate.generate_shard`, its event loop timed, initialisation excluded), then the
fast simulation runs on them (:func:`hepdl.detector.simulate_shard`, reading the events file
excluded, writing the ROOT file included), twice: with the default config, and with
``detector.fatjet.truth: false`` (no GenFatJet, as Delphes' ATLAS card), on the same events.
Printed per sample: events/s of generation and of both simulations, the ratio of simulation to
generation time of each (target: at most 0.25), and the simulation time split by step
(propagation, towers, smearing, tracks, each jet clustering, writing) in ms/event, side by side.

Memory: ``--memory-events`` events (the generated ones repeated, with new event numbers) are
simulated as one shard in a child process, whose peak resident memory is reported (target:
10,000 events under 4 GiB).

Each timing is the fastest of ``--repeat`` runs (wall clock; the machine is shared). The
simulation's time includes opening its ROOT file (about 0.1 s per shard), a per-shard cost like
Pythia's initialisation, which generation's time leaves out. The default 2,000 events make it
about 0.006 of the ratio, close to its share in a 10,000-event production shard (at 400 events:
about 0.03).

Usage: python bench/simulate.py [--events 2000] [--repeat 2] [--memory-events 10000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from hepdl.config import validate_config
from hepdl.detector import simulate_shard
from hepdl.detector.fastsim import STEPS
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
    """Peak memory (GiB) of simulating ``n_events`` (the sample's events repeated) at once."""
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
            check=True,
            capture_output=True,
            text=True,
        )
    return int(completed.stdout.split()[-1]) / 2**20  # ru_maxrss is in KiB on Linux


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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hepdl-bench-simulate-") as folder:
        configs = {
            label: make_config(Path(folder) / "results", args.events, truth)
            for label, truth in VARIANTS.items()
        }
        config = configs["with GenFatJet"]
        results = [bench_sample(configs, name, args.repeat, Path(folder)) for name in SAMPLES]
        for result in results:
            report(result)
        if args.memory_events:
            peak = memory_peak_gib(
                config, "JZ4", Path(results[0]["events_file"]), args.memory_events
            )
            verdict = "meets" if peak < MEMORY_TARGET_GIB else "misses"
            print(
                f"memory: {args.memory_events} JZ4 events in one shard: peak {peak:.2f} GiB "
                f"({verdict} the target < {MEMORY_TARGET_GIB} GiB)"
            )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"(benchmark process peak memory {own:.2f} GiB)")


if __name__ == "__main__":
    main()
