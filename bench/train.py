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

from hepdl.train.datamodules import ImageDataModule
from hepdl.train.modules import ImageClassifier
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


def lightning_step_seconds(args: argparse.Namespace, path: Path, folder: Path) -> float:
    """Mean seconds per step through hepdl's Trainer and ImageDataModule."""
    module = make_module(args)
    data = ImageDataModule(path, path, batch_size=args.batch, num_workers=args.workers, seed=0)
    train = {
        "progress_refresh_steps": 20,
        "accelerator": args.accelerator,
        "devices": 1,
        "num_nodes": 1,
        "strategy": "auto",
        "precision": args.precision,
        "deterministic": args.deterministic,
        "log_every_n_steps": 50,
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
    args = parser.parse_args()
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
