"""Plots of the classifier inputs: images and the jet variables of the cut-based selection.

- ``mean_images``: per channel, the weighted mean image of signal and of background (physical
  units, log colour scale), from one images split file read in blocks;
- ``single_events``: the three channels of the first signal and background events of the file;
- ``jet_variables``: weighted, unit-area distributions of N_jet, M_J, |delta-eta(j1, j2)| (events
  with two jets) and leading-jet pT (events with a jet) for signal and background, with the
  selection's cut values drawn.

Each is written as PNG (report) and PDF (paper) under ``{results}/plots/inputs/``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from numpy.typing import NDArray

from hepdl.images.histogram import ImageSpec
from hepdl.io.features import read_features
from hepdl.io.splits import ImageSplit
from hepdl.plots.style import PlotLabel, add_label, new_figure, save, styled
from hepdl.reco.selection import SelectionCuts

__all__ = ["mean_images", "plot_inputs", "plot_jet_variables", "plot_mean_images"]

CHANNEL_TITLES = ("ECal energy [GeV]", "HCal energy [GeV]", "Tracks")
CLASSES = ((1, "Signal"), (0, "Background"))
PLOT_NAMES = ("mean_images", "single_events", "jet_variables")
_BLOCK_EVENTS = 2048


def mean_images(path: str | os.PathLike[str]) -> dict[int, NDArray[np.float64]]:
    """Per label, the weighted mean image (3, n_eta, n_phi) in physical units.

    Reads the file in blocks of events, so a split of any size fits in memory.

    Raises:
        InputFileError: naming the file, if it is not an images split file.
    """
    split = ImageSplit.open(path)
    label, weight = split.label, split.weight
    scale = np.asarray(split.scales, dtype=np.float64)
    shape = (len(split.scales), *split.image_shape)
    sums = {cls: np.zeros(shape, dtype=np.float64) for cls, _ in CLASSES}
    for rows, stored in split.read_blocks(block_events=_BLOCK_EVENTS):
        block = stored.astype(np.float64)
        for cls in sums:
            chosen = label[rows] == cls
            sums[cls] += np.tensordot(weight[rows][chosen], block[chosen], axes=1)
    totals = {cls: float(weight[label == cls].sum()) for cls in sums}
    return {
        cls: sums[cls] / totals[cls] * scale[:, None, None] if totals[cls] > 0 else sums[cls]
        for cls in sums
    }


def _show(ax: Any, image: NDArray[Any], spec: ImageSpec, title: str, *, log: bool) -> None:
    """One channel: energies on a log colour scale, track counts on a linear one."""
    positive = image[image > 0]
    norm = LogNorm(vmin=positive.min(), vmax=positive.max()) if log and len(positive) else None
    shown = ax.imshow(
        np.where(image > 0, image, np.nan),
        origin="lower",
        aspect="auto",
        extent=(-np.pi, np.pi, -spec.eta_max, spec.eta_max),
        norm=norm,
        cmap="viridis",
    )
    ax.set_xlabel(r"$\phi$")
    ax.set_ylabel(r"$\eta$")
    ax.set_title(title, fontsize="small")
    # Minor ticks of log colour bars cost more drawing time than the rest of the figure.
    ax.figure.colorbar(shown, ax=ax).minorticks_off()
    ax.minorticks_off()


@styled
def plot_mean_images(
    means: Mapping[int, NDArray[np.float64]], spec: ImageSpec, label: PlotLabel | None = None
) -> Figure:
    """Grid of the mean images: rows signal, background; columns the channels."""
    fig, axes = new_figure(2, 3, figsize=(18, 10), squeeze=False)
    for row, (cls, name) in enumerate(CLASSES):
        for channel, title in enumerate(CHANNEL_TITLES):
            image = means[cls][channel]
            _show(axes[row, channel], image, spec, f"{name}, mean {title}", log=channel < 2)
    add_label(fig, label)
    return fig


@styled
def plot_single_events(
    path: str | os.PathLike[str],
    spec: ImageSpec,
    per_class: int = 2,
    plot_label: PlotLabel | None = None,
) -> Figure:
    """The first ``per_class`` signal and background events of a split file, each channel."""
    split = ImageSplit.open(path)
    scale = np.asarray(split.scales, dtype=np.float64)
    chosen = [
        (name, int(index))
        for cls, name in CLASSES
        for index in np.flatnonzero(split.label == cls)[:per_class]
    ]
    images = [image * scale[:, None, None] for image in split.read_events([i for _, i in chosen])]
    rows = max(1, len(chosen))
    fig, axes = new_figure(rows, 3, figsize=(18, 5 * rows), squeeze=False)
    for row, ((name, index), image) in enumerate(zip(chosen, images, strict=True)):
        for channel, channel_title in enumerate(CHANNEL_TITLES):
            title = f"{name} event {index}: {channel_title}"
            _show(axes[row, channel], image[channel], spec, title, log=channel < 2)
    add_label(fig, plot_label)
    return fig


@styled
def plot_jet_variables(
    features: Mapping[str, NDArray[Any]], cuts: SelectionCuts, label: PlotLabel | None = None
) -> Figure:
    """Weighted, unit-area distributions of the selection variables, cut values drawn."""
    panels = [
        ("n_jet", np.arange(-0.5, 10.5, 1.0), r"$N_{jet}$ (large-R)",
         [cuts.baseline_min_jets - 0.5, 3.5, 4.5]),
        ("mj_gev", np.linspace(0, 2500, 51), r"$M_J$ [GeV]",
         [cuts.mj_min_gev_5_jets, cuts.mj_min_gev_4_jets]),
        ("delta_eta", np.linspace(0, 4, 41), r"$|\Delta\eta(j_1, j_2)|$", [cuts.delta_eta_max]),
        ("jet1_pt_gev", np.linspace(0, 2500, 51), r"Leading large-R jet $p_T$ [GeV]",
         [cuts.leading_jet_pt_min_gev]),
    ]  # fmt: skip
    # |delta-eta| needs two jets and the leading pT one: events without them are left out.
    needs = {"delta_eta": 2, "jet1_pt_gev": 1}
    fig, axes = new_figure(2, 2, figsize=(14, 11))
    for ax, (column, bins, title, lines) in zip(axes.flat, panels, strict=True):
        for cls, name in CLASSES:
            chosen = (features["label"] == cls) & (features["n_jet"] >= needs.get(column, 0))
            weight = features["weight"][chosen]
            if weight.sum() <= 0:
                continue
            ax.hist(
                np.clip(features[column][chosen], bins[0], bins[-1] - 1e-9),
                bins=bins,
                weights=weight / weight.sum(),
                histtype="step",
                linewidth=2,
                label=name,
            )
        for value in lines:
            ax.axvline(value, color="grey", linestyle="--", linewidth=1)
        ax.set_xlim(bins[0], bins[-1])
        ax.set_xlabel(title)
        ax.set_ylabel("Fraction of events (weighted)")
        ax.legend(fontsize="small")
    add_label(fig, label)
    return fig


def plot_inputs(
    config: Mapping[str, Any],
    images: str | os.PathLike[str],
    features: Sequence[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str],
) -> list[Path]:
    """Write every input plot; returns the files written.

    Args:
        config: A validated config (image geometry, cut values).
        images: An images split file (the training split by default in the CLI).
        features: Feature tables (the split files) whose events are histogrammed.
        output_dir: Folder of the plots.
    """
    spec = ImageSpec.from_config(config)
    label = PlotLabel.from_config(config)
    cuts = SelectionCuts.from_config(config)
    out = Path(output_dir)
    tables = [read_features(path) for path in features]
    columns = {
        name: np.concatenate([table[name] for table in tables])
        for name in ("label", "weight", "n_jet", "mj_gev", "delta_eta", "jet1_pt_gev")
    }
    written = save(plot_mean_images(mean_images(images), spec, label), out / "mean_images")
    written += save(plot_single_events(images, spec, plot_label=label), out / "single_events")
    written += save(plot_jet_variables(columns, cuts, label), out / "jet_variables")
    return written
