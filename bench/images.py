"""Throughput of the images stage against a histogram2d loop and the simulation, in one run.

For the RPV 1400/850 signal and QCD JZ5 (events generated with Pythia, then simulated):

* simulation: :func:`hepdl.detector.stage.simulate_shard`, the stage whose output the images
  stage reads (its own events/s, reading of the generator file excluded);
* floor: a per-event loop of ``numpy.histogram2d`` (three channels) over the same towers and
  tracks, already split per event in numpy (the per-event Python loop the stage avoids);
* histogramming: :func:`hepdl.images.histogram.sparse_event_images` (the filled pixels the
  stage stores) over all events of the shard at once;
* stage: :func:`hepdl.images.stage.images_shard` (reading the detector file, histogramming,
  writing the compressed HDF5 shard).

Targets: the images stage at least 20x the simulation's events/s. Then the merged split files
are read the way training reads them: :class:`hepdl.train.datamodules.ImageBatches` with its
:class:`~hepdl.train.datamodules.BlockBatchSampler` (shuffled blocks of one HDF5 chunk, as
:class:`~hepdl.train.datamodules.ImageDataModule` builds them) in a ``torch`` DataLoader;
target > 5,000 images/s. The file is the real images, tiled to ``--loader-events`` events and
written with the config's chunking and compression (and gzip for comparison).

Each timing is the fastest of ``--repeat`` runs (wall clock; the machine is shared).

Usage: python bench/images.py [--events 300] [--loader-events 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import awkward as ak
import h5py
import numpy as np
from torch.utils.data import DataLoader

from hepdl.config import validate_config
from hepdl.detector.stage import simulate_shard
from hepdl.generate import generate_shard
from hepdl.generate.pythia import pythia_output_to_stderr
from hepdl.images import ImageSpec
from hepdl.images.histogram import sparse_event_images
from hepdl.images.stage import h5_compression, images_shard, read_shard_images
from hepdl.io.delphes import read_collections
from hepdl.reco.inputs import TOWER_FIELDS, TRACK_FIELDS
from hepdl.train.datamodules import BlockBatchSampler, ImageBatches

SAMPLES = {
    "RPV_1400_850": {"process": "rpv_gluino", "m_gluino_gev": 1400, "m_neutralino_gev": 850},
    "JZ5": {"process": "qcd", "pthat_min_gev": 800, "pthat_max_gev": 1300},
}


def fastest(function: Any, repeat: int) -> float:
    """The shortest wall-clock time of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def histogram2d_loop(towers: ak.Array, tracks: ak.Array, spec: ImageSpec) -> Any:
    """The floor: per event, numpy.histogram2d of each channel (inputs pre-split per event)."""

    def split(values: ak.Array, counts: np.ndarray) -> list[np.ndarray]:
        flat = np.asarray(ak.to_numpy(ak.flatten(values)), dtype=np.float64)
        return np.split(flat, np.cumsum(counts)[:-1])

    t_counts, k_counts = ak.to_numpy(ak.num(towers)), ak.to_numpy(ak.num(tracks))
    t_eta, t_phi = split(towers.Eta, t_counts), split(towers.Phi, t_counts)
    eem, ehad = split(towers.Eem, t_counts), split(towers.Ehad, t_counts)
    k_eta, k_phi = split(tracks.Eta, k_counts), split(tracks.Phi, k_counts)
    bins = (spec.eta_edges, spec.phi_edges)

    def run() -> np.ndarray:
        images = np.zeros((len(t_counts), *spec.shape), dtype=np.float32)
        for i in range(len(t_counts)):
            images[i, 0] = np.histogram2d(t_eta[i], t_phi[i], bins=bins, weights=eem[i])[0]
            images[i, 1] = np.histogram2d(t_eta[i], t_phi[i], bins=bins, weights=ehad[i])[0]
            images[i, 2] = np.histogram2d(k_eta[i], k_phi[i], bins=bins)[0]
        return images

    return run


def tiled_split_file(path: Path, images: np.ndarray, n_events: int, config: dict[str, Any]) -> Path:
    """A split file of ``n_events`` real images (tiled, shuffled), as the merge writes it."""
    rng = np.random.default_rng(np.random.SeedSequence([config["seed"], 4]))
    order = rng.integers(0, len(images), n_events)
    scale = images.max(axis=(0, 2, 3))
    chunk = config["images"]["chunk_events"]
    with h5py.File(path, "w") as h5:
        data = h5.create_dataset(
            "data",
            shape=(n_events, *images.shape[1:]),
            dtype=np.float32,
            chunks=(chunk, *images.shape[1:]),
            **h5_compression(config),
        )
        for low in range(0, n_events, 4096):
            data[low : low + 4096] = images[order[low : low + 4096]] / scale[:, None, None]
        h5.create_dataset("label", data=(order % 2).astype(np.int8))
        h5.create_dataset("weight", data=np.ones(n_events))
        h5.create_dataset("normweight", data=np.ones(n_events, np.float32))
        h5.attrs["channel_scales"] = scale
    return path


def loader_rate(path: Path, batch_size: int, repeat: int) -> float:
    """Images per second through the training reader over the file, batches shuffled as in
    training (blocks of one HDF5 chunk)."""
    with h5py.File(path, "r") as h5:
        n_events, chunk = int(h5["data"].shape[0]), int(h5["data"].chunks[0])
        label = h5["label"][...]
    rows = np.arange(n_events, dtype=np.int64)
    dataset = ImageBatches(path, rows, np.ones(n_events, np.float32), label, chunk)
    sampler = BlockBatchSampler(n_events, batch_size, chunk, shuffle=True, drop_last=False)
    loader = DataLoader(dataset, sampler=sampler, batch_size=None, num_workers=0)

    def run() -> None:
        for batch in loader:
            batch["x"].sum()  # touch the data, as a training step would

    return n_events / fastest(run, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300, help="events per sample")
    parser.add_argument("--loader-events", type=int, default=20000, help="events in the split")
    parser.add_argument("--batch-size", type=int, default=512, help="loader batch size")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each timing")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        config = validate_config(
            {
                "results": str(scratch),
                # Every simulated event is imaged: the skim would need the features stage first.
                "preselection": "none",
                "samples": {
                    name: {**spec, "events": args.events, "shards": 1}
                    for name, spec in SAMPLES.items()
                },
            }
        )
        spec = ImageSpec.from_config(config)
        print(
            f"{'sample':<14}{'sim ev/s':>10}{'loop ev/s':>11}{'hist ev/s':>11}{'stage ev/s':>12}"
            f"{'hist/loop':>11}{'stage/sim':>11}"
        )
        all_images = []
        for name in SAMPLES:
            with pythia_output_to_stderr():
                generate_shard(config, name, 0, progress=False)
                simulation = simulate_shard(config, name, 0, progress=False)
            sim_rate = simulation.n_events / simulation.seconds
            events = read_collections(
                simulation.path, {"Tower": TOWER_FIELDS, "Track": TRACK_FIELDS}
            )
            loop = fastest(histogram2d_loop(events.Tower, events.Track, spec), args.repeat)
            hist = fastest(
                partial(sparse_event_images, events.Tower, events.Track, spec), args.repeat
            )
            output = scratch / f"{name}.h5"
            stage = fastest(
                partial(images_shard, config, name, 0, simulation.path, output=output),
                args.repeat,
            )
            n = simulation.n_events
            verdict = "ok" if n / stage >= 20 * sim_rate else "UNDER the 20x target"
            print(
                f"{name:<14}{sim_rate:>10.0f}{n / loop:>11.0f}{n / hist:>11.0f}{n / stage:>12.0f}"
                f"{loop / hist:>11.1f}{sim_rate and (n / stage) / sim_rate:>11.1f}  ({verdict})"
            )
            all_images.append(read_shard_images(output, spec).images.dense(spec))

        images = np.concatenate(all_images)
        print(f"\nloader: {args.loader_events} real images tiled, batch {args.batch_size}")
        for method in (config["images"]["compression"], "gzip"):
            method_config = {**config, "images": {**config["images"], "compression": method}}
            path = tiled_split_file(
                scratch / f"split_{method}.h5", images, args.loader_events, method_config
            )
            rate = loader_rate(path, args.batch_size, args.repeat)
            size_mb = path.stat().st_size / 1e6
            verdict = "ok" if rate > 5000 else "UNDER the 5,000/s target"
            print(f"  {method:<5} {size_mb:8.1f} MB  {rate:10.0f} images/s  ({verdict})")


if __name__ == "__main__":
    main()
