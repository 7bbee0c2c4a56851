"""The ``validate-gan`` stage: generated images against held-out real ones, by physics.

Jets are clustered on both (:mod:`hepdl.gan.observables`) and every observable is compared by
KS p-value and 1-Wasserstein distance next to the real-vs-real noise floor
(:func:`hepdl.gan.metrics.compare_observables`): the jet multiplicity, the summed jet mass, the
leading jet's pT, eta and phi, the total energy, the filled-pixel energy spectrum and the mean
image. For the conditional GAN, each trained mass point is compared with its own sample, and
the mean summed jet mass is followed against m(gluino) over every generated point (trained and
interpolated), real next to generated. Writes ``validation.json`` and the plots
(``plots/{observable}.{png,pdf}``) in the model's folder.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hepdl.errors import InputFileError
from hepdl.gan import plots
from hepdl.gan.data import GanImages, calorimeter_energy, load_images
from hepdl.gan.io import GeneratedImages, read_generated
from hepdl.gan.metrics import (
    MJ_TOLERANCE,
    SELECTION_OBSERVABLES,
    W1_TARGETS,
    compare_observables,
    neg_log_pvalue,
)
from hepdl.gan.observables import EVENT_OBSERVABLES, ImageJets, image_observables
from hepdl.gan.settings import gan_samples
from hepdl.io.atomic import write_json_atomic
from hepdl.io.layout import Layout
from hepdl.plots.style import PlotLabel, add_label, save
from hepdl.seeds import model_seed

__all__ = [
    "ValidationResult",
    "compare_sets",
    "target_checks",
    "validate_gan",
]

#: Observables compared (per event, then the pixel spectrum).
COMPARED = (*EVENT_OBSERVABLES, "pixel_energy_gev")


@dataclass(frozen=True)
class ValidationResult:
    """What ``validate-gan`` wrote.

    Attributes:
        metrics: The content of ``validation.json``.
        path: ``validation.json``.
        plots: Plot files written.
        seconds: Wall time.
    """

    metrics: dict[str, Any]
    path: Path
    plots: list[Path]
    seconds: float


def _finite(value: Any) -> Any:
    """NaN and infinities as None, so the JSON is strict."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def compare_sets(
    generated_energy: NDArray[np.floating],
    real_energy: NDArray[np.floating],
    jets: ImageJets,
    *,
    splits: int = 5,
    flag_ratio: float = 3.0,
    seed: int = 0,
) -> tuple[dict[str, Any], dict[str, NDArray[np.float64]], dict[str, NDArray[np.float64]]]:
    """Compare generated and real calorimeter images ((N, H, W), GeV) by every observable.

    Returns:
        The comparison (per observable: generated and floor KS/W1, ratios, flag; the mean
        image; ``ks_metric`` and its floor; ``flagged``, the flagged observables) and the
        observables of both sets.
    """
    generated = image_observables(generated_energy, jets)
    real = image_observables(real_energy, jets)
    result = compare_observables(
        generated,
        real,
        COMPARED,
        n_generated=len(generated_energy),
        n_real=len(real_energy),
        splits=splits,
        flag_ratio=flag_ratio,
        seed=seed,
        generated_images=np.asarray(generated_energy),
        real_images=np.asarray(real_energy),
    )
    for key in ("generated", "floor"):  # the selection metric, -ln p of the mean p-values
        result[f"ks_metric_{key}"] = float(
            np.mean([neg_log_pvalue(result[n][key]["ks_pvalue"]) for n in SELECTION_OBSERVABLES])
        )
    result["flagged"] = [
        name for name in (*COMPARED, "mean_image") if name in result and result[name]["flagged"]
    ]
    return result, generated, real


def target_checks(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The study's targets against a validation's metrics (``validation.json``'s layout).

    Per observable of :data:`W1_TARGETS`: its W1 ratio to the floor and whether it is within the
    target. For a cgan also: the mean M_J at each trained point relative to the real one (within
    :data:`MJ_TOLERANCE`), and whether every other generated point lies between its trained
    neighbours and the generated means rise monotonically with m(gluino). ``passed``: all of it.
    """
    overall = metrics["overall"]
    checks: dict[str, Any] = {"w1_ratio": {}}
    passed = True
    for name, limit in W1_TARGETS.items():
        ratio = overall[name]["ratio"]["wasserstein"]
        ok = ratio is not None and bool(np.isfinite(ratio)) and ratio <= limit
        checks["w1_ratio"][name] = {"ratio": ratio, "target": limit, "passed": ok}
        passed &= ok
    shift = metrics.get("mj_shift")
    if shift is not None:
        generated = dict(zip(shift["m_gluino_gev"], shift["generated_mean_mj_gev"], strict=True))
        real = dict(zip(shift["real_m_gluino_gev"], shift["real_mean_mj_gev"], strict=True))
        relative = {f"{m:g}": generated[m] / real[m] - 1.0 for m in real if m in generated}
        mj_ok = len(relative) == len(real) and all(
            abs(r) <= MJ_TOLERANCE for r in relative.values()
        )
        masses = sorted(generated)
        means = [generated[m] for m in masses]
        monotonic = bool(np.all(np.diff(means) > 0) or np.all(np.diff(means) < 0))
        trained = sorted(real)
        between = {}
        for m in masses:
            if m in real or m < trained[0] or m > trained[-1]:
                continue
            low = max(t for t in trained if t < m)
            high = min(t for t in trained if t > m)
            edges = sorted((generated[low], generated[high]))
            between[f"{m:g}"] = bool(edges[0] <= generated[m] <= edges[1])
        checks["mj_relative_to_real"] = {"values": relative, "tolerance": MJ_TOLERANCE}
        checks["mj_relative_to_real"]["passed"] = mj_ok
        checks["interpolated_between_neighbours"] = between
        checks["mj_monotonic_in_m_gluino"] = monotonic
        passed &= mj_ok and monotonic and all(between.values())
    checks["passed"] = bool(passed)
    return checks


def _label(point: NDArray[np.float64]) -> str:
    return f"({point[0]:g}, {point[1]:g}) GeV"


def _mass_dependence(
    fake: GeneratedImages,
    fake_energy: NDArray[np.float32],
    real_sets: Mapping[str, GanImages],
    jets: ImageJets,
    options: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, tuple[Any, Any]]]:
    """The cgan per trained mass point, and the summed jet mass against m(gluino).

    Returns:
        Per sample, its comparison; the mean M_J of every generated point and of the real
        samples with the slopes d<M_J>/dm(gluino); the M_J values per point for the plot.
    """
    points = {sample: images.masses[0] for sample, images in real_sets.items()}
    per_point: dict[str, Any] = {}
    shapes: dict[str, tuple[NDArray[np.float64], NDArray[np.float64] | None]] = {}
    for sample, point in points.items():
        mask = np.all(fake.masses == point, axis=1)
        if not mask.any():
            continue
        real_sample = calorimeter_energy(real_sets[sample].images, real_sets[sample].channels)
        comparison, gen_o, real_o = compare_sets(fake_energy[mask], real_sample, jets, **options)
        per_point[sample] = {"mass_point_gev": point.tolist(), **comparison}
        shapes[_label(point)] = (gen_o["mj_gev"], real_o["mj_gev"])
    generated_points = np.unique(fake.masses, axis=0)
    shift: dict[str, Any] = {
        "m_gluino_gev": [],
        "m_neutralino_gev": [],
        "generated_mean_mj_gev": [],
    }
    for point in generated_points:
        mask = np.all(fake.masses == point, axis=1)
        obs = image_observables(fake_energy[mask], jets)
        shift["m_gluino_gev"].append(float(point[0]))
        shift["m_neutralino_gev"].append(float(point[1]))
        shift["generated_mean_mj_gev"].append(float(np.mean(obs["mj_gev"])))
        if _label(point) not in shapes:
            shapes[_label(point)] = (obs["mj_gev"], None)
    real_points = sorted(points.items(), key=lambda item: tuple(item[1]))
    real_means, real_errors, real_gluino = [], [], []
    for _, point in real_points:
        values = shapes[_label(point)][1]
        if values is None:
            continue
        real_gluino.append(float(point[0]))
        real_means.append(float(np.mean(values)))
        real_errors.append(float(np.std(values) / np.sqrt(max(len(values), 1))))
    shift.update(
        real_m_gluino_gev=real_gluino,
        real_mean_mj_gev=real_means,
        real_mean_mj_error_gev=real_errors,
    )
    for key, xs, ys in (
        ("generated_slope", shift["m_gluino_gev"], shift["generated_mean_mj_gev"]),
        ("real_slope", real_gluino, real_means),
    ):
        shift[key] = float(np.polyfit(xs, ys, 1)[0]) if len(set(xs)) >= 2 else None
    return per_point, shift, shapes


def validate_gan(
    config: Mapping[str, Any],
    name: str,
    *,
    generated: str | os.PathLike[str] | None = None,
    real: str | os.PathLike[str] | None = None,
    output_dir: str | os.PathLike[str] | None = None,
) -> ValidationResult:
    """Validate GAN ``name``'s generated images against the real test-split signal events.

    Args:
        config: A validated config.
        name: ``gan`` or ``cgan``.
        generated: Generated images (default ``{results}/gan/{name}/generated.h5``).
        real: Real images (default ``{results}/images/test.h5``).
        output_dir: Folder of ``validation.json`` and ``plots/`` (default the model's).

    Raises:
        InputFileError: for missing files, too few real events, or a generated file of
            another model.
    """
    start = time.perf_counter()
    gan = config["gan"]
    layout = Layout.of(config)
    generated_path = Path(generated or layout.gan_generated(name))
    real_path = Path(real or layout.images_split("test"))
    folder = Path(output_dir) if output_dir else layout.gan_dir(name)
    output = folder / layout.gan_validation(name).name
    fake = read_generated(generated_path)
    if fake.model != name:
        raise InputFileError(generated_path, f"holds images of {fake.model!r}, not of {name!r}")
    jets = ImageJets.from_config(config)
    samples = gan_samples(config)
    seed = model_seed(config, f"{name}-validate")
    options = {"splits": gan["floor_splits"], "flag_ratio": gan["flag_ratio"], "seed": seed}
    n_real = gan["validation_events"]
    fake_energy = calorimeter_energy(fake.images, fake.channels)

    # Real events: at most validation_events of all samples (gan) or of each sample (cgan).
    groups = [[sample] for sample in samples] if fake.conditional else [samples]
    real_sets = {
        ",".join(group): load_images(real_path, fake.channels, group, max_events=n_real)
        for group in groups
    }
    for group, images in real_sets.items():
        if len(images) < 2:
            raise InputFileError(
                real_path, f"{len(images)} test events of {group}; need at least 2 to validate"
            )
    points = {sample: images.masses[0] for sample, images in real_sets.items()}
    real_energy = np.concatenate(
        [calorimeter_energy(s.images, s.channels) for s in real_sets.values()]
    )

    trained = np.zeros(len(fake_energy), dtype=bool)
    for point in points.values():
        trained |= np.all(fake.masses == point, axis=1)
    overall_fake = fake_energy[trained] if fake.conditional else fake_energy
    overall, fake_obs, real_obs = compare_sets(overall_fake, real_energy, jets, **options)
    metrics: dict[str, Any] = {
        "model": name,
        "generated_file": str(generated_path),
        "real_file": str(real_path),
        "samples": samples,
        "n_generated": len(overall_fake),
        "n_real": len(real_energy),
        "settings": {
            "jet_radius": jets.radius,
            "jet_pt_min_gev": jets.pt_min_gev,
            "jet_abs_eta_max": jets.abs_eta_max,
            "pixel_threshold_gev": jets.pixel_threshold_gev,
            "floor_splits": gan["floor_splits"],
            "flag_ratio": gan["flag_ratio"],
        },
        "overall": overall,
    }
    formats = config["evaluate"]["plot_formats"]
    # Images are unweighted events: the label gives sqrt(s), not a luminosity.
    label = PlotLabel.from_config(config, weighted=False)
    written: list[Path] = []
    for observable in COMPARED:
        fig = plots.plot_comparison(
            observable,
            real_obs[observable],
            fake_obs[observable],
            title=f"{name}: {'all mass points' if fake.conditional else ', '.join(samples)}",
            threshold=jets.pixel_threshold_gev,
        )
        add_label(fig.axes[0], label)
        written += save(fig, folder / "plots" / observable, formats)
    fig = plots.plot_mean_images(
        real_energy.mean(axis=0), overall_fake.mean(axis=0), jets.spec.eta_max
    )
    add_label(fig, label)
    written += save(fig, folder / "plots" / "mean_image", formats)

    if fake.conditional:
        per_point, shift, shapes = _mass_dependence(fake, fake_energy, real_sets, jets, options)
        metrics["per_mass_point"] = per_point
        metrics["mj_shift"] = shift
        fig = plots.plot_mj_per_mass(shapes)
        add_label(fig.axes[0], label)
        written += save(fig, folder / "plots" / "mj_per_mass", formats)
        fig = plots.plot_mj_shift(
            shift["m_gluino_gev"],
            shift["generated_mean_mj_gev"],
            shift["real_m_gluino_gev"],
            shift["real_mean_mj_gev"],
            shift["real_mean_mj_error_gev"],
        )
        add_label(fig.axes[0], label)
        written += save(fig, folder / "plots" / "mj_shift", formats)
    metrics["targets"] = target_checks(metrics)
    metrics["seconds"] = time.perf_counter() - start
    write_json_atomic(output, _finite(metrics))
    return ValidationResult(metrics=metrics, path=output, plots=written, seconds=metrics["seconds"])
