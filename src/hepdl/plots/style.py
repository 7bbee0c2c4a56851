"""One look for every plot of the pipeline: the style, the experiment label and the saving.

- :func:`new_figure`: a figure and its axes in mplhep's ATLAS style, built without pyplot, so
  that plotting selects no backend (the command line needs none; a notebook keeps its inline
  one) and leaves the caller's global ``rcParams`` as they were;
- :func:`hep_style`: that style as a context, for code that draws outside :func:`new_figure`;
- :class:`PlotLabel` and :func:`add_label`: "hepdl Simulation" and "sqrt(s) = 13 TeV,
  36 fb^-1" on every plot, as HEP plots are labelled, read from the config;
- :func:`save`: a figure in one or more formats, each written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any, Literal, ParamSpec, TypeVar

import matplotlib.style
import mplhep
from matplotlib.figure import Figure

from hepdl.io.atomic import atomic_path

__all__ = ["PlotLabel", "add_label", "hep_style", "new_figure", "save", "styled"]

P = ParamSpec("P")
R = TypeVar("R")

#: Experiment name on the plots: the simulation is this pipeline's, not an experiment's.
EXPERIMENT = "hepdl"


@dataclass(frozen=True)
class PlotLabel:
    """What a plot says about its events: the collision energy, the luminosity its weights are
    normalised to (None: unweighted, not shown), and the status ("Simulation")."""

    sqrt_s_tev: float
    luminosity_ifb: float | None = None
    status: str = "Simulation"

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, weighted: bool = True) -> PlotLabel:
        """The label of a validated config's events: ``generator.ecm_gev`` and, for weighted
        plots, ``luminosity_ifb``."""
        return cls(
            sqrt_s_tev=float(config["generator"]["ecm_gev"]) / 1000.0,
            luminosity_ifb=float(config["luminosity_ifb"]) if weighted else None,
        )

    @property
    def conditions(self) -> str:
        """The right-hand text, e.g. ``$\\sqrt{s}$ = 13 TeV, 36 fb$^{-1}$``."""
        text = f"$\\sqrt{{s}}$ = {self.sqrt_s_tev:g} TeV"
        if self.luminosity_ifb is not None:
            text += f", {self.luminosity_ifb:g} fb$^{{-1}}$"
        return text


@contextmanager
def hep_style() -> Iterator[None]:
    """mplhep's ATLAS style for the plots drawn inside, the caller's style restored after."""
    with matplotlib.style.context(mplhep.style.ATLAS):
        yield


def styled(plot: Callable[P, R]) -> Callable[P, R]:
    """Run a plotting function inside :func:`hep_style`: fonts, line widths and colours are
    read when each artist is made, so the whole drawing must happen in the style."""

    @wraps(plot)
    def in_style(*args: P.args, **kwargs: P.kwargs) -> R:
        with hep_style():
            return plot(*args, **kwargs)

    return in_style


def new_figure(
    nrows: int = 1,
    ncols: int = 1,
    *,
    figsize: tuple[float, float] = (8, 6.5),
    layout: Literal["constrained", "compressed", "tight"] | None = "constrained",
    **subplots: Any,
) -> tuple[Figure, Any]:
    """A figure and its axes (as :meth:`Figure.subplots` returns them), in the style.

    Called inside :func:`styled` functions, whose drawing then shares the style.
    """
    with hep_style():
        figure = Figure(figsize=figsize, layout=layout)
        axes = figure.subplots(nrows, ncols, **subplots)
    return figure, axes


def add_label(target: Any, label: PlotLabel | None, *, loc: int = 0) -> None:
    """ "hepdl Simulation" and the conditions: above the axes, left and right (mplhep's ``loc``
    positions, 0: above, outside), or, for a :class:`Figure` of several panels whose titles
    take that place, as the figure's title. Nothing for ``label=None``."""
    if label is None:
        return
    if isinstance(target, Figure):
        target.suptitle(
            f"$\\bf{{{EXPERIMENT}}}$ $\\it{{{label.status}}}$    {label.conditions}",
            x=0.01,
            ha="left",
            fontsize="medium",
        )
        return
    mplhep.label.exp_label(
        exp=EXPERIMENT, llabel=f" {label.status}", rlabel=label.conditions, loc=loc, ax=target
    )


def save(
    figure: Figure, path: str | os.PathLike[str], formats: Sequence[str] = ("png", "pdf")
) -> list[Path]:
    """Write ``figure`` as ``path`` with each suffix of ``formats``, each file atomically.

    Returns:
        The files written, in the order of ``formats``.
    """
    written = []
    for fmt in formats:
        target = Path(path).with_suffix(f".{fmt}")
        with atomic_path(target) as temporary:
            figure.savefig(temporary, format=fmt, bbox_inches="tight", dpi=120)
        written.append(target)
    return written
