"""Training-step time of the CNN through Lightning against a bare PyTorch loop, in one run.

Same model (:class:`hepdl.train.modules.ImageClassifier`, augmentation included), same batch
size and same 64 x 64 x 3 images, stored as the pipeline stores them (HDF5, chunks of 64 events,
lzf), seeded alike:

* bare: a plain loop (augment, forward, weighted loss, backward, Adam step) over batches already
  in device memory: the model's own speed;
* lightning: ``hepdl``'s Trainer (callbacks, CSV and TensorBoard loggers, atomic checkpoints)
  fed by :class:`hepdl.train.datamodules.ImageDataModule` reading the HDF5 file with worker
  processes, i.e. everything the pipeline adds to the bare loop;
* loader: the DataModule's train loader alone, in images per second.

Steps are timed after warm-up steps (wall clock between consecutive batch starts, so data
waiting counts). The target is a Lightning + data-loading overhead of at most 10%, i.e. a ratio
lightning/bare <= 1.10, and a loader rate well above the step rate.

On a GPU, ``--precision 16-mixed`` (or ``bf16-mixed``) and ``--channels-last`` apply to both
loops: autocast and the NHWC memory format, the two standard speed-ups of convolutions there.

Usage: python bench/train.py [--filters 8,16,32] [--dense 64] [--steps 8] [--workers 2]
       python bench/train.py --published   # 3 x 128 filters, dense 512 (GPU-sized)
       python bench/train.py --published --precision 16-mixed --channels-last  # on a GPU
       python bench/train.py --gnn [--architecture gcn|edgeconv] [--gnn-channels 32,32,32]
       python bench/train.py --gnn --device cuda   # graph network against CNN on a GPU

With ``--gnn``, the graph network against the CNN on the same events instead: each synthetic
image also becomes a graph (every occupied pixel a node: a tower at the pixel centre with its
ECal and HCal energy, a track node where there are tracks; kNN edges with Gaussian weights from
:func:`hepdl.graphs.build_graphs`), written in the graph split layout. Both networks train on the
same events with the same batch size, bare (batches in device memory) and through Lightning with
their DataModules; it prints graphs/s against images/s and, for each, the parameters, the time
per step and the memory per batch (inputs plus the tensors kept for backward).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import h5py
import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F

from hepdl.train.costs import count_parameters, saved_tensor_bytes, tensor_bytes
from hepdl.train.datamodules import ImageDataModule
from hepdl.train.modules import ImageClassifier, WeightedClassifier
from hepdl.train.trainer import build_trainer, quiet_lightning

SCALES = [100.0, 300.0, 20.0]


def write_images(path: Path, n_events: int, seed: int = 0) -> None:
    """Sparse (about 3% occupied) 64 x 64 x 3 images with the images-contract keys."""
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as h5:
        data = h5.create_dataset(
            "data", (n_events, 3, 64, 64), "f4", chunks=(64, 3, 64, 64), compression="lzf"
        )
        for low in range(0, n_events, 512):
            n = min(512, n_events - low)
            block = rng.exponential(0.02, (n, 3, 64, 64)).astype(np.float32)
            block *= rng.random((n, 3, 64, 64)) < 0.03
            data[low : low + n] = block
        label = (rng.random(n_events) < 0.5).astype(np.int8)
        weight = np.where(label == 1, 1e-2, 10.0) * rng.uniform(0.5, 1.5, n_events)
        h5["label"] = label
        h5["weight"] = weight
        h5["normweight"] = (weight / weight.max()).astype(np.float32)
        h5["psr"] = np.zeros(n_events, bool)
        h5["mg"] = np.zeros(n_events, np.float32)
        h5["mn"] = np.zeros(n_events, np.float32)
        h5["sample"] = np.array([b"S" if y else b"B" for y in label])
        h5.attrs["channel_scales"] = SCALES


def make_module(args: argparse.Namespace) -> ImageClassifier:
    pl.seed_everything(0, verbose=False)
    module = ImageClassifier(
        ["ecal", "hcal", "tracks"],
        SCALES,
        [64, 64],
        conv_filters=args.filters,
        dense_units=args.dense,
    )
    if args.channels_last:
        module = module.to(memory_format=torch.channels_last)
    return module


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a Lightning precision string (None: full precision)."""
    return {"16-mixed": torch.float16, "bf16-mixed": torch.bfloat16}.get(precision)


def bare_step_seconds(args: argparse.Namespace, path: Path, device: torch.device) -> float:
    """Mean seconds per step of a plain PyTorch loop on batches held in device memory."""
    module = make_module(args).to(device).train()
    optimiser = torch.optim.Adam(module.parameters(), lr=1e-3)
    dtype = autocast_dtype(args.precision)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    with h5py.File(path) as h5:
        n = args.batch * min(4, args.steps)
        x = torch.from_numpy(h5["data"][:n]).to(device, memory_format=memory_format)
        y = torch.from_numpy(h5["label"][:n].astype(np.float32)).to(device)
    w = torch.ones_like(y)
    batches = [
        (x[i : i + args.batch], y[i : i + args.batch], w[i : i + args.batch])
        for i in range(0, n, args.batch)
    ]
    times = []
    for step in range(args.warmup + args.steps):
        xb, yb, wb = batches[step % len(batches)]
        start = time.perf_counter()
        optimiser.zero_grad()
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            logits = module(module.augment(xb))
            loss = (F.binary_cross_entropy_with_logits(logits, yb, reduction="none") * wb).mean()
        scaler.scale(loss).backward()
        scaler.step(optimiser)
        scaler.update()
        loss.item()  # Lightning reads the loss every step too (NaN check, logging)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    return float(np.mean(times))


class StepTimer(pl.Callback):
    """Wall time between consecutive training-batch starts (data waiting included)."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.starts: list[float] = []

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize()
        self.starts.append(time.perf_counter())

    def on_train_epoch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize()
        self.starts.append(time.perf_counter())

    def mean(self) -> float:
        return float(np.mean(np.diff(self.starts[self.warmup :])))


def lightning_step_seconds(
    args: argparse.Namespace,
    path: Path,
    folder: Path,
    module: WeightedClassifier | None = None,
    data: pl.LightningDataModule | None = None,
) -> float:
    """Mean seconds per step through hepdl's Trainer and a DataModule (default: the CNN's)."""
    module = module or make_module(args)
    data = data or ImageDataModule(
        path, path, batch_size=args.batch, num_workers=args.workers, seed=0
    )
    train = {
        "progress_refresh_steps": 20,
        "accelerator": args.accelerator,
        "devices": 1,
        "num_nodes": 1,
        "strategy": "auto",
        "precision": args.precision,
        "deterministic": args.deterministic,
        "log_every_n_steps": 50,
        "lr_scaling": "none",
    }
    settings = {"patience": 5, "max_epochs": 1, "limit_train_batches": args.warmup + args.steps}
    trainer, _ = build_trainer(train, settings, folder, progress=False)
    timer = StepTimer(args.warmup)
    trainer.callbacks.append(timer)
    trainer.limit_val_batches = 1
    with quiet_lightning():
        trainer.fit(module, datamodule=data)
    return timer.mean()


def loader_images_per_second(args: argparse.Namespace, path: Path) -> float:
    """Images per second of the DataModule's train loader alone."""
    data = ImageDataModule(path, path, batch_size=args.batch, num_workers=args.workers, seed=0)
    data.setup("fit")
    loader = data.train_dataloader()
    start, n, count = time.perf_counter(), 0, 0
    for batch in loader:
        count += 1
        if count == 2:  # workers started and first batches decoded
            start, n = time.perf_counter(), 0
            continue
        n += len(batch["x"])
    return n / (time.perf_counter() - start)


def write_graphs(images: Path, path: Path) -> None:
    """The graphs of the events of an images file (one node per occupied pixel), as a split."""
    import awkward as ak  # noqa: PLC0415

    from hepdl.graphs import GraphSpec, build_graphs  # noqa: PLC0415
    from hepdl.graphs.stage import graph_attributes  # noqa: PLC0415

    with h5py.File(images) as h5:
        data = h5["data"][...] * np.asarray(SCALES, np.float32)[None, :, None, None]
        truth = {key: h5[key][...] for key in ("label", "weight", "psr", "mg", "mn", "sample")}
    n, _, n_eta, n_phi = data.shape
    eta = np.broadcast_to((np.arange(n_eta) + 0.5)[:, None] * 5.0 / n_eta - 2.5, (n_eta, n_phi))
    phi = np.broadcast_to((np.arange(n_phi) + 0.5)[None, :] * 2 * np.pi / n_phi - np.pi, eta.shape)
    calo, hit = data[:, 0] + data[:, 1] > 0, data[:, 2] > 0

    def records(mask: np.ndarray, fields: dict[str, np.ndarray]) -> ak.Array:
        return ak.unflatten(ak.zip(fields), mask.reshape(n, -1).sum(axis=1))

    def where(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.broadcast_to(values, mask.shape)[mask]

    towers = records(
        calo,
        {
            "Eta": where(eta, calo),
            "Phi": where(phi, calo),
            "E": (data[:, 0] + data[:, 1])[calo],
            "Eem": data[:, 0][calo],
            "Ehad": data[:, 1][calo],
        },
    )
    tracks = records(hit, {"PT": data[:, 2][hit], "Eta": where(eta, hit), "Phi": where(phi, hit)})
    spec = GraphSpec(tower_min_e_gev=0.0, track_min_pt_gev=0.0)
    graphs = build_graphs(towers, tracks, spec)
    with h5py.File(path, "w") as h5:
        h5.create_dataset("x", data=graphs.x, chunks=(16384, graphs.x.shape[1]), compression="lzf")
        h5.create_dataset("edge_index", data=graphs.edge_index, chunks=(2, 65536))
        h5.create_dataset("edge_weight", data=graphs.edge_weight, chunks=(65536,))
        h5["node_ptr"], h5["edge_ptr"] = graphs.node_ptr, graphs.edge_ptr
        for key, values in truth.items():
            h5[key] = values
        h5["normweight"] = (truth["weight"] / truth["weight"].max()).astype(np.float32)
        h5.attrs.update(graph_attributes(spec))


def make_gnn(args: argparse.Namespace) -> WeightedClassifier:
    from hepdl.graphs import NODE_FEATURES  # noqa: PLC0415
    from hepdl.train.modules import GraphClassifier  # noqa: PLC0415

    pl.seed_everything(0, verbose=False)
    return GraphClassifier(
        args.architecture,
        NODE_FEATURES,
        channels=args.gnn_channels,
        k_neighbours=args.k,
        dense_units=args.gnn_dense,
    )


def bare_costs(
    module: WeightedClassifier, batches: list[tuple[Any, Any]], device: torch.device, args: Any
) -> dict[str, float]:
    """Seconds per step of a plain loop on batches in device memory, and memory per batch."""
    module = module.to(device).train()
    optimiser = torch.optim.Adam(module.parameters(), lr=1e-3)
    batches = [(x.to(device), y.to(device)) for x, y in batches]

    def step(x: Any, y: Any) -> None:
        optimiser.zero_grad()
        logits = module(module._train_inputs(x))
        loss = F.binary_cross_entropy_with_logits(logits, y)
        loss.backward()
        optimiser.step()
        loss.item()

    times = []
    for k in range(args.warmup + args.steps):
        x, y = batches[k % len(batches)]
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        step(x, y)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if k >= args.warmup:
            times.append(time.perf_counter() - start)
    result = {"step": float(np.median(times)), "parameters": count_parameters(module)}
    if device.type == "cuda":
        result["peak_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    x, y = batches[0]
    result["memory_mb"] = (tensor_bytes(x) + saved_tensor_bytes(lambda: step(x, y))) / 2**20
    return result


def compare_gnn(args: argparse.Namespace, folder: Path, images: Path, device: torch.device) -> None:
    """The graph network against the CNN on the same events: graphs/s vs images/s."""
    from hepdl.train.graph_data import GraphDataModule  # noqa: PLC0415

    graphs = folder / "graphs.h5"
    write_graphs(images, graphs)
    cnn_data = ImageDataModule(
        images, images, batch_size=args.batch, num_workers=args.workers, seed=0
    )
    gnn_data = GraphDataModule(
        graphs, graphs, batch_size=args.batch, num_workers=args.workers, seed=0
    )
    for data in (cnn_data, gnn_data):
        data.setup("fit")
    positions = [np.arange(k * args.batch, (k + 1) * args.batch) for k in range(min(4, args.steps))]
    cnn_batches = [cnn_data.datasets["train"][p] for p in positions]
    gnn_batches = [gnn_data.datasets["train"][p] for p in positions]
    nodes = np.mean([len(b["x"].x) for b in gnn_batches]) / args.batch
    edges = np.mean([b["x"].edge_index.shape[1] for b in gnn_batches]) / args.batch
    print(
        f"graphs: {nodes:.0f} nodes and {edges:.0f} edges per event (one node per occupied "
        f"pixel); gnn {args.architecture}, channels {args.gnn_channels}, dense {args.gnn_dense}; "
        f"cnn filters {args.filters}, dense {args.dense}; batch {args.batch}"
    )
    rows = {}
    for name, make, batches, data in (
        ("cnn", make_module, cnn_batches, cnn_data),
        ("gnn", make_gnn, gnn_batches, gnn_data),
    ):
        rows[name] = bare_costs(make(args), [(b["x"], b["y"]) for b in batches], device, args)
        rows[name]["lightning"] = lightning_step_seconds(
            args, images, folder / name, make(args), data
        )
    for name, unit in (("cnn", "images/s"), ("gnn", "graphs/s")):
        r = rows[name]
        peak = f", CUDA peak {r['peak_mb']:.0f} MiB" if "peak_mb" in r else ""
        print(
            f"{name}: {r['parameters']:>8,} parameters; bare {r['step'] * 1e3:7.1f} ms/step "
            f"({args.batch / r['step']:6.0f} {unit}); Lightning + loader "
            f"{r['lightning'] * 1e3:7.1f} ms/step ({args.batch / r['lightning']:6.0f} {unit}); "
            f"{r['memory_mb']:.1f} MiB/batch{peak}"
        )
    print(
        f"ratio graphs/s / images/s = {rows['cnn']['step'] / rows['gnn']['step']:.3f} (bare), "
        f"{rows['cnn']['lightning'] / rows['gnn']['lightning']:.3f} (Lightning + loader)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--filters", type=lambda s: [int(v) for v in s.split(",")], default=[8, 16, 32]
    )
    parser.add_argument("--dense", type=int, default=64)
    parser.add_argument("--published", action="store_true", help="3 x 128 filters, dense 512")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--steps", type=int, default=8, help="timed steps")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--accelerator", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--no-deterministic", dest="deterministic", action="store_false")
    parser.add_argument(
        "--precision", default="32-true", choices=["32-true", "16-mixed", "bf16-mixed"]
    )
    parser.add_argument("--channels-last", action="store_true", help="NHWC memory format")
    parser.add_argument("--gnn", action="store_true", help="graph network against the CNN")
    parser.add_argument("--architecture", choices=["gcn", "edgeconv"], default="gcn")
    parser.add_argument(
        "--gnn-channels", type=lambda s: [int(v) for v in s.split(",")], default=[32, 32, 32]
    )
    parser.add_argument("--gnn-dense", type=int, default=64)
    parser.add_argument("--k", type=int, default=16, help="EdgeConv feature-space neighbours")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="sets --accelerator too")
    args = parser.parse_args()
    if args.device:
        args.accelerator = "gpu" if args.device == "cuda" else "cpu"
    if args.published:
        args.filters, args.dense = [128, 128, 128], 512
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)
    device = torch.device(
        "cuda" if torch.cuda.is_available() and args.accelerator != "cpu" else "cpu"
    )
    torch.use_deterministic_algorithms(args.deterministic, warn_only=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "images.h5"
        n_events = args.batch * (args.warmup + args.steps + 2)
        write_images(path, n_events)
        if args.gnn:
            print(f"data: {n_events} events, 64x64x3 images and their graphs; device {device}")
            compare_gnn(args, Path(tmp), path, device)
            return
        size = path.stat().st_size / 2**20
        print(
            f"data: {n_events} events, 64x64x3, {size:.0f} MiB lzf; device {device}; "
            f"filters {args.filters}, dense {args.dense}, batch {args.batch}, workers {args.workers}, "
            f"precision {args.precision}, channels_last {args.channels_last}"
        )
        loader = loader_images_per_second(args, path)
        lightning = lightning_step_seconds(args, path, Path(tmp) / "model")
        bare = bare_step_seconds(args, path, device)
    print(f"bare PyTorch loop:  {bare * 1e3:8.1f} ms/step ({args.batch / bare:8.0f} images/s)")
    print(
        f"Lightning + loader: {lightning * 1e3:8.1f} ms/step ({args.batch / lightning:8.0f} images/s)"
    )
    print(
        f"DataModule alone:   {loader:8.0f} images/s ({loader * bare / args.batch:.1f}x the bare step rate)"
    )
    print(f"ratio lightning/bare = {lightning / bare:.3f} (target <= 1.10)")


if __name__ == "__main__":
    main()
