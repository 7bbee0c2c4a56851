"""GAN validation plots (:mod:`hepdl.plots.style`): generated over real, with ratio panels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib as mpl
import mplhep as hep
import numpy as np
from numpy.typing import NDArray

from hepdl.plots.style import new_figure, styled

__all__ = [
    "LABELS",
    "binning",
    "plot_comparison",
    "plot_mean_images",
    "plot_mj_per_mass",
    "plot_mj_shift",
]

#: Axis labels of the observables.
LABELS = {
    "n_jet": "Number of large-R jets",
    "mj_gev": r"$M_J = \sum m_{jet}$ [GeV]",
    "jet1_pt_gev": r"Leading jet $p_T$ [GeV]",
    "jet1_eta": r"Leading jet $\eta$",
    "jet1_phi": r"Leading jet $\phi$",
    "total_energy_gev": "Total calorimeter energy [GeV]",
    "pixel_energy_gev": "Pixel energy [GeV]",
}


def binning(
    name: str,
    reference: NDArray[np.floating],
    *others: NDArray[np.floating],
    threshold: float = 0.1,
) -> NDArray[np.float64]:
    """Histogram edges of observable ``name`` covering ``reference`` (the real events).

    The range follows the real values (``others`` only when there are none), so a badly wrong
    generator cannot squeeze the real distribution into a few bins; values outside are counted
    in the first or last bin.
    """
    values = np.asarray(reference, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        values = np.concatenate([np.asarray(s, dtype=np.float64) for s in (values, *others)])
        values = values[np.isfinite(values)]
    top = float(np.quantile(values, 0.995)) if len(values) else 1.0
    if name == "n_jet":
        return np.arange(-0.5, max(top, 1.0) + 1.5, 1.0)
    if name == "jet1_eta":
        return np.linspace(-2.0, 2.0, 21)
    if name == "jet1_phi":
        return np.linspace(-np.pi, np.pi, 21)
    if name == "pixel_energy_gev":
        return np.geomspace(max(threshold, 1e-3), max(top * 2, threshold * 10), 41)
    return np.linspace(0.0, max(top * 1.2, 1.0), 31)


def _normalised(
    values: NDArray[np.floating], edges: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), edges)
    total = max(len(values), 1)
    return counts / total, np.sqrt(counts) / total


@styled
def plot_comparison(
    name: str,
    real: NDArray[np.floating],
    generated: NDArray[np.floating],
    *,
    title: str = "",
    threshold: float = 0.1,
) -> Any:
    """Normalised histograms of real and generated values, generated / real in a ratio panel."""
    fig, (ax, rax) = new_figure(
        2,
        1,
        figsize=(8, 7.5),
        layout=None,
        sharex=True,
        gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05},
    )
    edges = binning(name, real, generated, threshold=threshold)
    h_real, e_real = _normalised(real, edges)
    h_gen, e_gen = _normalised(generated, edges)
    hep.histplot(
        h_real, edges, yerr=e_real, ax=ax, label=f"Real ({np.isfinite(real).sum()})", color="black"
    )
    hep.histplot(
        h_gen,
        edges,
        yerr=e_gen,
        ax=ax,
        label=f"Generated ({np.isfinite(generated).sum()})",
        color="tab:red",
    )
    ax.set_ylabel("Fraction")
    if name in ("pixel_energy_gev", "total_energy_gev", "mj_gev", "jet1_pt_gev"):
        ax.set_yscale("log")
    if name == "pixel_energy_gev":
        ax.set_xscale("log")
    ax.legend(fontsize="small", title=title or None)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(h_real > 0, h_gen / h_real, np.nan)
        ratio_err = np.where(h_real > 0, e_gen / h_real, np.nan)
    centres = 0.5 * (edges[1:] + edges[:-1])
    rax.errorbar(centres, ratio, yerr=ratio_err, fmt="o", color="tab:red", markersize=4)
    rax.axhline(1.0, color="black", linewidth=1)
    rax.set_ylim(0.0, 2.0)
    rax.set_ylabel("Gen. / real")
    rax.set_xlabel(LABELS.get(name, name))
    return fig


@styled
def plot_mean_images(
    real: NDArray[np.floating], generated: NDArray[np.floating], eta_max: float
) -> Any:
    """Mean calorimeter-energy image (GeV per pixel) of real and generated events, and their ratio."""
    fig, axes = new_figure(1, 3, figsize=(18, 5.5))
    extent = (-np.pi, np.pi, -eta_max, eta_max)
    top = float(max(np.max(real), np.max(generated), 1e-9))
    for ax, image, title in ((axes[0], real, "Real"), (axes[1], generated, "Generated")):
        shown = ax.imshow(image, origin="lower", extent=extent, aspect="auto", vmin=0.0, vmax=top)
        ax.set_title(f"{title}: mean energy [GeV]", fontsize="small")
        fig.colorbar(shown, ax=ax)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(real > 0, generated / real, np.nan)
    shown = axes[2].imshow(
        ratio, origin="lower", extent=extent, aspect="auto", vmin=0.0, vmax=2.0, cmap="RdBu_r"
    )
    axes[2].set_title("Generated / real", fontsize="small")
    fig.colorbar(shown, ax=axes[2])
    for ax in axes:
        ax.set_xlabel(r"$\phi$")
        ax.set_ylabel(r"$\eta$")
    return fig


@styled
def plot_mj_per_mass(
    per_point: Mapping[str, tuple[NDArray[np.floating], NDArray[np.floating] | None]],
) -> Any:
    """Summed jet mass per mass point: generated (dashed) over real (solid, trained points)."""
    fig, ax = new_figure()
    reals = [real for _, real in per_point.values() if real is not None]
    generated_sets = [values for values, _ in per_point.values()]
    real_values = np.concatenate(reals) if reals else np.zeros(0)
    edges = binning("mj_gev", real_values, *generated_sets)
    colours = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (label, (generated, real)) in enumerate(per_point.items()):
        colour = colours[k % len(colours)]
        hep.histplot(
            _normalised(generated, edges)[0],
            edges,
            ax=ax,
            color=colour,
            linestyle="--",
            label=f"{label} generated",
        )
        if real is not None:
            hep.histplot(
                _normalised(real, edges)[0], edges, ax=ax, color=colour, label=f"{label} real"
            )
    ax.set_xlabel(LABELS["mj_gev"])
    ax.set_ylabel("Fraction")
    ax.legend(fontsize="x-small")
    return fig


@styled
def plot_mj_shift(
    gluino: Sequence[float],
    generated_mean: Sequence[float],
    real_gluino: Sequence[float],
    real_mean: Sequence[float],
    real_error: Sequence[float],
) -> Any:
    """Mean summed jet mass against m(gluino): real (trained points) and generated (all points)."""
    fig, ax = new_figure()
    ax.errorbar(real_gluino, real_mean, yerr=real_error, fmt="ko", label="Real")
    ax.plot(gluino, generated_mean, "s--", color="tab:red", label="Generated")
    ax.set_xlabel(r"$m_{\tilde{g}}$ [GeV]")
    ax.set_ylabel(r"Mean $M_J$ [GeV]")
    ax.legend(fontsize="small")
    return fig
