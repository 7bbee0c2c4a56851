"""The evaluation plots (:mod:`hepdl.plots.style`: PNG for the report, PDF for papers).

- :func:`plot_roc`: background rejection 1/FPR (log) against signal efficiency, every
  classifier, the cut-based benchmark as a point;
- :func:`plot_scores`: weighted, normalised score distributions of signal and background;
- :func:`plot_score_vs`: a classifier's score against an event variable (M_J, N_jet) for
  signal and background, as the paper showed for the CNN;
- :func:`plot_robustness`: signal efficiency at the benchmark's background efficiency per case.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import mplhep as hep
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from numpy.typing import NDArray

from hepdl.evaluate.metrics import Roc, WorkingPoint
from hepdl.plots.style import PlotLabel, add_label, new_figure, styled

__all__ = ["plot_robustness", "plot_roc", "plot_score_vs", "plot_scores"]

#: Labels of the classifiers in legends.
LABELS = {
    "cnn": "CNN (ECal, HCal, tracks)",
    "cnn_energy": "CNN (total energy)",
    "cnn_jets": "CNN + jet variables",
    "gbdt": "GBDT (23 jet variables)",
    "mlp": "MLP (23 jet variables)",
    "gnn": "GNN",
    "cuts": "Cut-based (ATLAS SR)",
}


def label_of(name: str) -> str:
    """Legend label of a classifier."""
    return LABELS.get(name, name)


@styled
def plot_roc(
    rocs: Mapping[str, Roc],
    cuts: WorkingPoint,
    title: str = "",
    *,
    bands: Mapping[str, tuple[NDArray[Any], NDArray[Any], NDArray[Any]]] | None = None,
    published: Mapping[str, tuple[float, float]] | None = None,
    label: PlotLabel | None = None,
) -> Figure:
    """Background rejection (1 / background efficiency, log) against signal efficiency.

    Args:
        rocs: Per classifier, its ROC curve.
        cuts: The cut-based benchmark's point.
        title: Plot title.
        bands: Per classifier, (background efficiency grid, lower, upper signal efficiency):
            its bootstrap band, drawn around the curve.
        published: Labelled reference points, label -> (background, signal efficiency).
        label: The experiment label (:mod:`hepdl.plots.style`); None: no label.
    """
    fig, ax = new_figure()
    for name, roc in rocs.items():
        keep = roc.fpr > 0
        (line,) = ax.plot(
            roc.tpr[keep], 1.0 / roc.fpr[keep], label=f"{label_of(name)}, AUC {roc.auc:.3f}"
        )
        if bands and name in bands:
            grid, low, high = bands[name]
            ok = np.isfinite(low) & np.isfinite(high) & (grid > 0)
            ax.fill_betweenx(
                1.0 / grid[ok], low[ok], high[ok], color=line.get_color(), alpha=0.2, linewidth=0
            )
    for (text, (fpr, tpr)), marker in zip((published or {}).items(), "osD^v", strict=False):
        ax.plot(
            [tpr],
            [1.0 / fpr],
            marker,
            markerfacecolor="none",
            markeredgecolor="black",
            markersize=10,
            label=text,
        )
    if cuts.fpr > 0:
        ax.plot([cuts.tpr], [1.0 / cuts.fpr], "k*", markersize=16, label=label_of("cuts"))
        ax.axhline(1.0 / cuts.fpr, color="grey", linestyle=":", linewidth=1)
    else:  # no background event of the test split passes the cuts: rejection unmeasured
        ax.axvline(cuts.tpr, color="black", linestyle="--", linewidth=1)
        ax.text(
            cuts.tpr,
            1.05,
            f"{label_of('cuts')}: no background passes",
            rotation=90,
            va="bottom",
            ha="right",
            fontsize="x-small",
        )
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("Signal efficiency")
    ax.set_ylabel("Background rejection 1 / $\\epsilon_{bkg}$")
    # The curves fall from high rejection at low efficiency: the lower left stays empty.
    ax.legend(loc="lower left", fontsize="x-small")
    if title:
        ax.set_title(title, fontsize="small", pad=24)
    add_label(ax, label)
    return fig


def _weighted_hist(values: NDArray[Any], weight: NDArray[Any], bins: NDArray[Any]) -> NDArray[Any]:
    counts, _ = np.histogram(values, bins=bins, weights=weight)
    total = counts.sum()
    return counts / total if total > 0 else counts


@styled
def plot_scores(
    name: str,
    score: NDArray[Any],
    label: NDArray[Any],
    weight: NDArray[Any],
    bins: int = 40,
    *,
    plot_label: PlotLabel | None = None,
) -> Figure:
    """Weighted score distributions of signal and background, each normalised to unit area."""
    fig, ax = new_figure()
    edges = np.linspace(0.0, 1.0, bins + 1)
    signal = label.astype(bool)
    for mask, text in ((signal, "Signal"), (~signal, "Background")):
        hep.histplot(_weighted_hist(score[mask], weight[mask], edges), edges, ax=ax, label=text)
    ax.set_yscale("log")
    ax.set_xlabel(f"{label_of(name)} score")
    ax.set_ylabel("Fraction of events (weighted)")
    ax.legend(fontsize="small")
    add_label(ax, plot_label)
    return fig


@styled
def plot_score_vs(
    name: str,
    *,
    score: NDArray[Any],
    variable: NDArray[Any],
    label: NDArray[Any],
    weight: NDArray[Any],
    variable_label: str,
    variable_bins: NDArray[Any],
    plot_label: PlotLabel | None = None,
) -> Figure:
    """2-d weighted histograms of a classifier's score against an event variable."""
    fig, axes = new_figure(1, 2, figsize=(15, 6.5), sharey=True)
    score_bins = np.linspace(0.0, 1.0, 26)
    signal = label.astype(bool)
    for ax, mask, text in ((axes[0], signal, "Signal"), (axes[1], ~signal, "Background")):
        counts, _, _ = np.histogram2d(
            variable[mask], score[mask], bins=[variable_bins, score_bins], weights=weight[mask]
        )
        total = counts.sum()
        counts = counts / total if total > 0 else counts
        positive = counts[counts > 0]
        norm = LogNorm(vmin=positive.min(), vmax=positive.max()) if len(positive) else None
        mesh = ax.pcolormesh(variable_bins, score_bins, counts.T, norm=norm, cmap="viridis")
        fig.colorbar(mesh, ax=ax, label="Fraction of events (weighted)")
        ax.set_xlabel(variable_label)
        ax.text(0.04, 0.94, text, transform=ax.transAxes, color="white", va="top")
        add_label(ax, plot_label)
    axes[0].set_ylabel(f"{label_of(name)} score")
    return fig


@styled
def plot_robustness(
    rows: Sequence[Mapping[str, Any]], models: Sequence[str], *, label: PlotLabel | None = None
) -> Figure:
    """Signal efficiency at the benchmark's background efficiency, per case and classifier."""
    fig, ax = new_figure()
    cases = [str(row["case"]) for row in rows]
    x = np.arange(len(cases))
    names = ["cuts", *models]
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        key = "cuts_tpr" if name == "cuts" else f"{name}_tpr"
        values = [float(row.get(key, np.nan)) for row in rows]
        ax.bar(x + (i - (len(names) - 1) / 2) * width, values, width, label=label_of(name))
    ax.set_xticks(x, cases, rotation=30, ha="right", fontsize="x-small")
    ax.set_ylabel("Signal efficiency at $\\epsilon_{bkg}$ of the cuts")
    ax.set_ylim(0, 1.15)
    ax.legend(fontsize="xx-small", ncol=2)
    add_label(ax, label)
    return fig
