"""The GAN as a fast simulation: generator images/s against Pythia + detector simulation events/s.

For one signal sample (RPV 1400/850 by default), measured in the same run:

* pythia: :func:`hepdl.generate.generate_shard` (its event loop; initialisation excluded);
* fastsim: :func:`hepdl.detector.simulate_shard` on those events (writing the ROOT file
  included; without truth large-R jets, as the full config): together the cost of one simulated event, 1 / (1/pythia + 1/fastsim), before the
  images stage even runs;
* gan: :meth:`hepdl.gan.module.ImageGAN.generate`, whole images in GeV (the scaling undone), in
  batches on ``--device``, after a warm-up batch, CUDA synchronised. The networks are the
  authors' DCGAN (latent 64, 16 base filters; ``--filters 64`` for the published width) or a
  trained ``--checkpoint``;
  the speed does not depend on the weights.

Each timing is the fastest of ``--repeat`` runs (wall clock; shared machines are noisy). Prints a
table with the speed-up of the generator over generation + simulation (CaloGAN reported
100-1000x on CPU over Geant4, which is far slower than a fast simulation).

Usage: python bench/gan.py [--events 200] [--images 2048] [--batch-size 256] [--device cpu|cuda]
       python bench/gan.py --device cuda --images 65536 --batch-size 4096   # on a GPU
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from hepdl.config import validate_config
from hepdl.detector import simulate_shard
from hepdl.gan.io import load_gan
from hepdl.gan.module import ImageGAN
from hepdl.generate import generate_shard

SAMPLE = {"process": "rpv_gluino", "m_gluino_gev": 1400, "m_neutralino_gev": 850}


def gan_rate(module: ImageGAN, n_images: int, batch_size: int, repeat: int) -> float:
    """Images per second of ``module.generate`` (fastest of ``repeat``), after a warm-up."""
    masses = torch.tensor([[1400.0, 850.0]]).expand(n_images, 2)
    cuda = module.device.type == "cuda"
    module.generate(batch_size, masses[:batch_size], batch_size=batch_size)
    best = float("inf")
    for _ in range(repeat):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        module.generate(n_images, masses, batch_size=batch_size)
        if cuda:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return n_images / best


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
        config = validate_config(
            {
                "results": str(Path(folder) / "results"),
                "samples": {"RPV_1400_850": {**SAMPLE, "events": args.events, "shards": 1}},
                "detector": {"fatjet": {"truth": False}},  # as the full config: images need none
            }
        )
        pythia = min(
            (generate_shard(config, "RPV_1400_850", 0, progress=False) for _ in range(args.repeat)),
            key=lambda run: run.seconds,
        )
        fastsim = min(
            (simulate_shard(config, "RPV_1400_850", 0, progress=False) for _ in range(args.repeat)),
            key=lambda run: run.seconds,
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
    module = module.to(args.device).eval()
    images = gan_rate(module, args.images, args.batch_size, args.repeat)
    chain = 1.0 / (1.0 / pythia.events_per_second + 1.0 / fastsim.events_per_second)
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    threads = torch.get_num_threads()
    parameters = sum(p.numel() for p in module.generator.parameters())
    print(f"RPV 1400/850, {pythia.n_events} events; generator {parameters:,} parameters")
    print("| stage | device | rate (events or images / s) | vs Pythia + fastsim |")
    print("|---|---|---|---|")
    print(f"| Pythia 8 | CPU, 1 thread | {pythia.events_per_second:.1f} | |")
    print(f"| fast simulation | CPU, 1 thread | {fastsim.events_per_second:.1f} | |")
    print(f"| Pythia + fast simulation | CPU, 1 thread | {chain:.1f} | 1 |")
    print(
        f"| GAN generator (batch {args.batch_size}) | {device}, {threads} threads | {images:.0f} "
        f"| {images / chain:.0f}x |"
    )


if __name__ == "__main__":
    main()
