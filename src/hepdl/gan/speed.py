"""The ``gan-speed`` stage: the GAN as a fast simulation, timed against what it replaces.

For one signal sample (the first of :func:`hepdl.gan.settings.gan_samples`), measured one after
another in this process, so that every rate sees the same machine and the same load:

* Pythia 8: :func:`hepdl.generate.stage.generate_shard` of ``gan.speed_events`` events of that
  sample, in a temporary results folder (its event loop and writing; initialisation excluded);
* the detector simulation: :func:`hepdl.detector.stage.simulate_shard` on those events (the
  config's backend and card, writing the ROOT file included);
* their chain, 1 / (1/pythia + 1/simulation): the cost of one simulated event before the images
  stage even runs;
* the generator: :meth:`hepdl.gan.module.ImageGAN.generate` of the trained model, whole images
  in GeV (the scaling undone, copied to the host), at the sample's masses for a conditional GAN,
  after a warm-up batch, CUDA synchronised;

and the generator's rate over the chain's. Each timing is the fastest of ``gan.speed_repeat``
runs (every run is recorded). Writes ``speed.json`` (every number, the sample, the counts, the
torch threads and device, the hepdl version) and ``speed.html`` (the report's table) in the
model's folder. Pythia and the detector simulation are imported inside
:func:`measure_chain` only, so that ``import hepdl.gan`` loads neither.
"""

from __future__ import annotations

import html
import inspect
import os
import platform
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from hepdl import __version__
from hepdl.errors import CheckpointError
from hepdl.evaluate.tables import write_html_table
from hepdl.gan.generate import generator_device
from hepdl.gan.io import load_gan
from hepdl.gan.module import ImageGAN
from hepdl.gan.settings import gan_samples, is_conditional
from hepdl.io.atomic import check_output_path, write_json_atomic
from hepdl.io.layout import Layout

__all__ = [
    "Rate",
    "SpeedResult",
    "chain_rate",
    "gan_speed",
    "measure_chain",
    "measure_speed",
    "speed_rows",
    "time_generator",
    "write_speed",
]


@dataclass(frozen=True)
class Rate:
    """A throughput timed ``len(seconds)`` times.

    Attributes:
        count: Events or images per run.
        seconds: Wall time of each run.
    """

    count: int
    seconds: tuple[float, ...]

    @property
    def per_second(self) -> float:
        """Events or images per second of the fastest run."""
        best = min(self.seconds)
        return self.count / best if best > 0 else float("inf")

    @property
    def slowest_per_second(self) -> float:
        """Events or images per second of the slowest run: the spread of the timing."""
        worst = max(self.seconds)
        return self.count / worst if worst > 0 else float("inf")

    def record(self) -> dict[str, Any]:
        """The rate as ``speed.json`` holds it."""
        return {
            "count": self.count,
            "seconds": list(self.seconds),
            "per_second": self.per_second,
            "slowest_per_second": self.slowest_per_second,
        }


def chain_rate(*rates: float) -> float:
    """Events per second of stages run one after another on each event: 1 / sum(1 / rate)."""
    return 1.0 / sum(1.0 / rate for rate in rates)


def _default_batch_size() -> int:
    """The images per forward pass of :meth:`ImageGAN.generate` (what generate-gan uses)."""
    return int(inspect.signature(ImageGAN.generate).parameters["batch_size"].default)


def time_generator(
    module: ImageGAN,
    n_images: int,
    masses_gev: Sequence[float],
    *,
    repeat: int,
    batch_size: int | None = None,
    seed: int = 0,
) -> Rate:
    """Time ``module.generate`` of ``n_images`` images, after a warm-up batch.

    Args:
        module: The GAN, on its device.
        n_images: Images per run.
        masses_gev: (m_gluino, m_neutralino) of every image (used by a conditional GAN only).
        repeat: Runs.
        batch_size: Images per forward pass (default: generate-gan's).
        seed: Seed of the latent vectors.
    """
    batch = batch_size or _default_batch_size()
    masses = torch.tensor([list(map(float, masses_gev))]).expand(n_images, 2)
    generator = torch.Generator().manual_seed(seed)
    cuda = module.device.type == "cuda"
    module.generate(min(batch, n_images), masses, generator=generator, batch_size=batch)
    seconds = []
    for _ in range(repeat):
        if cuda:
            torch.cuda.synchronize(module.device)
        start = time.perf_counter()
        module.generate(n_images, masses, generator=generator, batch_size=batch)
        if cuda:
            torch.cuda.synchronize(module.device)
        seconds.append(time.perf_counter() - start)
    return Rate(n_images, tuple(seconds))


def measure_chain(
    config: Mapping[str, Any], sample: str, n_events: int, *, repeat: int
) -> tuple[Rate, Rate, str]:
    """Time Pythia 8 and the detector simulation on ``n_events`` events of ``sample``.

    The sample's own settings (process, masses, pile-up) and the config's generator and
    detector, in a temporary results folder removed afterwards; the seed is that of the
    sample's first shard.

    Returns:
        The generation's and the simulation's rates, and the detector backend.
    """
    # Here, not at the top: the GAN stages' environment (envs/train.yaml) has no Pythia.
    from hepdl.detector.stage import simulate_shard  # noqa: PLC0415
    from hepdl.generate.stage import generate_shard  # noqa: PLC0415

    spec = {**config["samples"][sample], "events": n_events, "shards": 1}
    with tempfile.TemporaryDirectory(prefix="hepdl-gan-speed-") as folder:
        timed = {**config, "results": str(Path(folder) / "results"), "samples": {sample: spec}}
        generation = [generate_shard(timed, sample, 0, progress=False) for _ in range(repeat)]
        simulation = [simulate_shard(timed, sample, 0, progress=False) for _ in range(repeat)]
    pythia = Rate(generation[0].n_events, tuple(run.seconds for run in generation))
    detector = Rate(simulation[0].n_events, tuple(run.seconds for run in simulation))
    return (
        pythia,
        detector,
        str(simulation[0].metadata.get("backend", config["detector"]["backend"])),
    )


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()})"


def measure_speed(
    config: Mapping[str, Any],
    module: ImageGAN,
    *,
    sample: str | None = None,
    n_events: int | None = None,
    n_images: int | None = None,
    repeat: int | None = None,
    batch_size: int | None = None,
) -> dict[str, Any]:
    """Pythia 8, the detector simulation, their chain and the generator, timed in one run.

    Args:
        config: A validated config.
        module: The generator's GAN, on the device to time it on.
        sample: The signal sample (default: the first of :func:`gan_samples`).
        n_events: Pythia + simulation events (default ``gan.speed_events``).
        n_images: Images per generator timing (default ``gan.speed_images``).
        repeat: Timings of each (default ``gan.speed_repeat``); the fastest is kept.
        batch_size: Images per forward pass (default: generate-gan's; at most ``n_images``).

    Returns:
        The content of ``speed.json`` without the model's name and file.
    """
    gan = config["gan"]
    sample = sample or gan_samples(config)[0]
    spec = config["samples"][sample]
    masses = [float(spec["m_gluino_gev"]), float(spec["m_neutralino_gev"])]
    runs = int(repeat or gan["speed_repeat"])
    n_images = int(n_images or gan["speed_images"])
    batch = min(batch_size or _default_batch_size(), n_images)
    pythia, detector, backend = measure_chain(
        config, sample, int(n_events or gan["speed_events"]), repeat=runs
    )
    images = time_generator(
        module,
        n_images,
        masses,
        repeat=runs,
        batch_size=batch,
        seed=int(config["seed"]),
    )
    chain = chain_rate(pythia.per_second, detector.per_second)
    return {
        "sample": sample,
        "process": spec["process"],
        "m_gluino_gev": masses[0],
        "m_neutralino_gev": masses[1],
        "pileup_mu": float(spec.get("pileup_mu", 0.0)),
        "repeat": runs,
        "pythia": {**pythia.record(), "device": "CPU", "threads": 1},
        "simulation": {**detector.record(), "backend": backend, "device": "CPU", "threads": 1},
        "chain": {"per_second": chain},
        "generator": {
            **images.record(),
            "conditional": module.conditional,
            "parameters": sum(p.numel() for p in module.generator.parameters()),
            "batch_size": batch,
            "device": str(module.device),
            "device_name": _device_name(module.device),
            "threads": torch.get_num_threads(),
        },
        "generator_over_chain": images.per_second / chain,
        "hepdl_version": __version__,
    }


def speed_rows(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The speed table's rows (stage, device, rate, its spread, ratio) from ``speed.json``."""
    generator = record["generator"]
    simulation = record["simulation"]
    threads = generator["threads"]
    rows = [
        ("Pythia 8", "CPU, 1 thread", record["pythia"], None),
        (f"detector simulation ({simulation['backend']})", "CPU, 1 thread", simulation, None),
        ("Pythia + detector simulation", "CPU, 1 thread", record["chain"], 1.0),
        (
            (
                f"GAN generator ({generator['parameters']:,} parameters, batch "
                f"{generator['batch_size']})"
            ),
            f"{generator['device_name']}, {threads} thread{'s' if threads != 1 else ''}",
            generator,
            record["generator_over_chain"],
        ),
    ]
    return [
        {
            "stage": stage,
            "device": device,
            "rate": float(rate["per_second"]),
            "slowest": rate.get("slowest_per_second"),
            "ratio": ratio,
        }
        for stage, device, rate, ratio in rows
    ]


def write_speed(
    record: Mapping[str, Any], json_path: str | os.PathLike[str], html_path: str | os.PathLike[str]
) -> None:
    """Write ``speed.json`` and the report's table, each atomically."""
    write_json_atomic(json_path, dict(record))
    counts = f"{record['pythia']['count']} events, {record['generator']['count']} images per timing"
    intro = (
        f"<p>{html.escape(str(record.get('model', 'GAN')))} as a fast simulation: "
        f"{html.escape(record['sample'])} ((m_gluino, m_neutralino) = "
        f"({record['m_gluino_gev']:g}, {record['m_neutralino_gev']:g}) GeV), {counts}, measured "
        f"one after another in one job; each rate the fastest of {record['repeat']} runs "
        "(slowest beside it), wall clock. The chain is 1 / (1/Pythia + 1/simulation): one "
        "simulated event before the images stage. hepdl "
        f"{html.escape(record['hepdl_version'])}.</p>"
    )
    write_html_table(
        Path(html_path),
        speed_rows(record),
        title="GAN speed",
        intro_html=intro,
        column_titles={
            "stage": "stage",
            "device": "device",
            "rate": "events or images / s",
            "slowest": "slowest run / s",
            "ratio": "vs Pythia + simulation",
        },
    )


@dataclass(frozen=True)
class SpeedResult:
    """What ``gan-speed`` wrote.

    Attributes:
        record: The content of ``speed.json``.
        path: ``speed.json``.
        table: ``speed.html``.
        seconds: Wall time of the stage.
    """

    record: dict[str, Any]
    path: Path
    table: Path
    seconds: float


def gan_speed(
    config: Mapping[str, Any],
    name: str,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    device: str | None = None,
) -> SpeedResult:
    """Time GAN ``name``'s generator against Pythia 8 + detector simulation; write the table.

    Args:
        config: A validated config.
        name: ``gan``, ``cgan`` or a seed replica.
        checkpoint: Model file (default ``{results}/gan/{name}/model.ckpt``).
        output_dir: Folder of ``speed.json`` and ``speed.html`` (default the model's).
        device: Torch device of the generator (default as generate-gan: a GPU if there is one
            and ``train.accelerator`` allows it, else the CPU).

    Raises:
        CheckpointError: naming the file, for a missing or unreadable model, or one of another
            kind than ``name``.
        HepdlError: if the outputs cannot be written, before anything is timed.
    """
    start = time.perf_counter()
    layout = Layout.of(config)
    checkpoint = Path(checkpoint or layout.gan_model(name))
    folder = Path(output_dir) if output_dir else layout.gan_dir(name)
    json_path = check_output_path(folder / layout.gan_speed(name).name)
    html_path = check_output_path(folder / layout.gan_speed_table(name).name)
    module = load_gan(checkpoint)
    if module.conditional != is_conditional(name):
        kind = "a conditional" if module.conditional else "an unconditional"
        raise CheckpointError(
            checkpoint, f"holds {kind} GAN, but {name!r} is not {kind.split()[1]}"
        )
    module = module.to(device or generator_device(config)).eval()
    record = {"model": name, "checkpoint": str(checkpoint), **measure_speed(config, module)}
    write_speed(record, json_path, html_path)
    return SpeedResult(record, json_path, html_path, time.perf_counter() - start)
