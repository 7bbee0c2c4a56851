"""The GAN as a fast simulation: generator images/s against Pythia + detector simulation events/s.

A thin caller of :func:`hepdl.gan.speed.measure_speed` (the DAG's ``gan_speed`` rule measures the
same for each trained GAN and puts the table in the report): for one signal sample (RPV
1400/850), in the same run,

* pythia: :func:`hepdl.generate.generate_shard` (its event loop; initialisation excluded);
* fastsim: :func:`hepdl.detector.simulate_shard` on those events (writing the ROOT file
  included; without truth large-R jets, as the full config): together the cost of one
  simulated event, 1 / (1/pythia + 1/fastsim), before the images stage even runs;
* gan: :meth:`hepdl.gan.module.ImageGAN.generate`, whole images in GeV (the scaling undone), in
  batches on ``--device``, after a warm-up batch, CUDA synchronised. The networks are the
  authors' DCGAN (latent 64, 16 base filters; ``--filters 64`` for the published width) or a
  trained ``--checkpoint``; the speed does not depend on the weights.

Each timing is the fastest of ``--repeat`` runs (wall clock; shared machines are noisy). Prints a
table with the speed-up of the generator over generation + simulation (CaloGAN reported
100-1000x on CPU over Geant4, which is far slower than a fast simulation).

Usage: python bench/gan.py [--events 200] [--images 2048] [--batch-size 256] [--device cpu|cuda]
       python bench/gan.py --device cuda --images 65536 --batch-size 4096   # on a GPU
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from hepdl.config import validate_config
from hepdl.gan.io import load_gan
from hepdl.gan.module import ImageGAN
from hepdl.gan.speed import measure_speed, speed_rows

SAMPLE = {"process": "rpv_gluino", "m_gluino_gev": 1400, "m_neutralino_gev": 850}


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200, help="Pythia + fastsim events")
    parser.add_argument("--images", type=int, default=2048, help="generated images per timing")
    parser.add_argument("--batch-size", type=int, default=256, help="images per forward pass")
    parser.add_argument("--filters", type=int, default=16, help="DCGAN width (authors' code: 16)")
    parser.add_argument("--checkpoint", type=Path, help="a trained GAN instead of the width")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per timing (fastest kept)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="hepdl-bench-gan-") as folder:
        # The sample's config; measure_speed times it in a temporary folder of its own.
        config = validate_config(
            {
                "results": str(Path(folder) / "results"),
                "samples": {"RPV_1400_850": {**SAMPLE, "events": args.events, "shards": 1}},
                "detector": {"fatjet": {"truth": False}},  # as the full config: images need none
            }
        )
    if args.checkpoint:
        module = load_gan(args.checkpoint)
    else:
        module = ImageGAN(
            channels=["energy"],
            scales=[4000.0],
            generator_filters=args.filters,
            discriminator_filters=args.filters,
        )
    record = measure_speed(
        config,
        module.to(args.device).eval(),
        n_events=args.events,
        n_images=args.images,
        repeat=args.repeat,
        batch_size=args.batch_size,
    )
    print(f"{record['sample']}, {record['pythia']['count']} events, {args.images} images")
    print("| stage | device | rate (events or images / s) | slowest run | vs Pythia + fastsim |")
    print("|---|---|---|---|---|")
    for row in speed_rows(record):
        slowest = f"{row['slowest']:.1f}" if row["slowest"] is not None else ""
        ratio = f"{row['ratio']:.1f}x" if row["ratio"] is not None else ""
        print(f"| {row['stage']} | {row['device']} | {row['rate']:.1f} | {slowest} | {ratio} |")


if __name__ == "__main__":
    main()
