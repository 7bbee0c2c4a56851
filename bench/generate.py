"""Throughput of the generate stage against Pythia's own speed, in one run.

For QCD JZ4 and the RPV 1400/850 signal, with identical settings and seeds:

* baseline: a bare loop of ``pythia.next()`` (Pythia's own speed, the physical limit);
* stage: :func:`hepdl.generate.generate_shard` (batched generation, final-state extraction,
  charges, Parquet writing).

Both exclude Pythia's initialisation and are timed in CPU seconds of this process, which other
load on the machine disturbs far less than wall-clock time. Each is run ``--repeat`` times,
alternating, and the fastest run of each counts. The target is
a stage overhead of at most 10%, i.e. a ratio stage/bare <= 1.10.

Usage: python bench/generate.py [--events 500] [--repeat 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from hepdl.config import validate_config
from hepdl.generate import generate_shard
from hepdl.generate.pythia import init_pythia, pythia_output_to_stderr
from hepdl.generate.slha import rpv_gluino_slha
from hepdl.generate.stage import shard_settings
from hepdl.samples import get_sample, shard_seed

SAMPLES = {
    "JZ4": {"process": "qcd", "pthat_min_gev": 400, "pthat_max_gev": 800},
    "RPV_1400_850": {"process": "rpv_gluino", "m_gluino_gev": 1400, "m_neutralino_gev": 850},
}


def bare_pythia_seconds(config: dict, name: str, scratch: Path) -> float:
    """Seconds for ``events`` calls of pythia.next() with the stage's settings and seed."""
    sample = get_sample(config, name)
    slha_file = None
    if sample.is_signal:
        slha_file = scratch / "spectrum.slha"
        slha_file.write_text(rpv_gluino_slha(sample.m_gluino_gev, sample.m_neutralino_gev))
    seed = shard_seed(config["seed"], name, 0)
    pythia = init_pythia(shard_settings(config, sample, seed, str(slha_file)), f"bench {name}")
    with pythia_output_to_stderr():
        start = time.process_time()
        accepted = 0
        while accepted < sample.events:
            accepted += bool(pythia.next())
        return time.process_time() - start


def stage_seconds(config: dict, name: str, scratch: Path) -> float:
    """CPU seconds of the stage's event loop, extraction and writing for the same shard."""
    with pythia_output_to_stderr():
        result = generate_shard(config, name, 0, scratch / f"{name}.parquet", progress=False)
    return result.cpu_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500, help="events per sample")
    parser.add_argument("--repeat", type=int, default=2, help="alternating runs of each")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        config = validate_config(
            {
                "results": str(scratch),
                "samples": {
                    name: {**spec, "events": args.events, "shards": 1}
                    for name, spec in SAMPLES.items()
                },
            }
        )
        print(f"{'sample':<14}{'bare ev/s':>12}{'stage ev/s':>12}{'stage/bare CPU':>18}")
        for name in SAMPLES:
            bare, stage = [], []
            for _ in range(args.repeat):
                bare.append(bare_pythia_seconds(config, name, scratch))
                stage.append(stage_seconds(config, name, scratch))
            ratio = min(stage) / min(bare)
            verdict = "ok" if ratio <= 1.10 else "OVER the 10% target"
            print(
                f"{name:<14}{args.events / min(bare):>12.1f}{args.events / min(stage):>12.1f}"
                f"{ratio:>18.3f}  ({verdict})"
            )


if __name__ == "__main__":
    main()
