"""Throughput of ``hepdl simulate`` against the generation of the same events, in one run.

For QCD JZ4 and the RPV 1400/850 signal: the events are generated with Pythia
(:func:`hepdl.generate.generate_shard`, its event loop timed, initialisation excluded), then the
fast simulation runs on them (:func:`hepdl.detector.simulate_shard`, reading the events file
excluded, writing the ROOT file included). Printed per sample: events/s of both, the ratio of
simulation to generation time (target: at most 0.25), and the simulation time split by step
(propagation, towers, smearing, tracks, each jet clustering, writing) in ms/event.

Memory: ``--memory-events`` events (the generated ones repeated, with new event numbers) are
simulated as one shard in a child process, whose peak resident memory is reported (target:
10,000 events under 4 GiB).

Each timing is the fastest of ``--repeat`` runs (wall clock; the machine is shared).

Usage: python bench/simulate.py [--events 500] [--repeat 2] [--memory-events 10000]
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


def make_config(results: Path, events: int) -> dict[str, Any]:
    """One shard of each sample with ``events`` events."""
    samples = {name: {**spec, "events": events, "shards": 1} for name, spec in SAMPLES.items()}
    return validate_config({"results": str(results), "samples": samples})


def fastest(runs: list[Any], key: str) -> Any:
    """The run with the smallest ``key`` attribute."""
    return min(runs, key=lambda run: getattr(run, key))


def bench_sample(config: dict[str, Any], name: str, repeat: int) -> dict[str, Any]:
    """Generate and simulate one sample; the fastest of ``repeat`` runs of each."""
    generated = fastest(
        [generate_shard(config, name, 0, progress=False) for _ in range(repeat)], "seconds"
    )
    simulated = fastest(
        [simulate_shard(config, name, 0, progress=False) for _ in range(repeat)], "seconds"
    )
    n_events = simulated.n_events
    particles = read_events(generated.path).events.particles
    return {
        "sample": name,
        "events": n_events,
        "particles_per_event": float(ak.mean(ak.num(particles))),
        "generate_events_per_s": generated.events_per_second,
        "simulate_events_per_s": simulated.events_per_second,
        "ratio": simulated.seconds / generated.seconds,
        "steps_ms_per_event": {
            step: 1e3 * simulated.steps.get(step, 0.0) / n_events for step in STEPS
        },
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
    """Print one sample's numbers."""
    ratio = result["ratio"]
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    print(
        f"{result['sample']}: {result['events']} events, "
        f"{result['particles_per_event']:.0f} particles/event\n"
        f"  generate {result['generate_events_per_s']:.1f} events/s "
        f"({1e3 / result['generate_events_per_s']:.2f} ms/event), "
        f"simulate {result['simulate_events_per_s']:.1f} events/s "
        f"({1e3 / result['simulate_events_per_s']:.2f} ms/event)\n"
        f"  simulation / generation time = {ratio:.3f} ({verdict} the target {TARGET_RATIO})"
    )
    total = sum(result["steps_ms_per_event"].values())
    for step, ms in result["steps_ms_per_event"].items():
        print(f"    {step:<12} {ms:6.3f} ms/event  {100 * ms / total:5.1f} %")


def main() -> None:
    """Run the benchmark and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500, help="events per sample")
    parser.add_argument("--repeat", type=int, default=2, help="runs per timing (fastest kept)")
    parser.add_argument(
        "--memory-events", type=int, default=10_000, help="events of the memory test (0: skip)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hepdl-bench-simulate-") as folder:
        config = make_config(Path(folder) / "results", args.events)
        results = [bench_sample(config, name, args.repeat) for name in SAMPLES]
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
