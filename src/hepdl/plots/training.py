"""Training curves from a model's ``training_log.csv``: the losses (and the GANs' KS metric)
against the epoch, so that a report shows how each model converged and where it was chosen.

The three writers of ``training_log.csv`` share no schema, and this reads all of them:

- the Lightning networks (``hepdl.train.trainer``): ``epoch, step, train_loss_step,
  train_loss_epoch, val_loss``, one row per logged step or epoch end;
- the GBDT (``hepdl.train.gbdt``): ``round, train_loss, val_loss``, one row per boosting round;
- the GANs (``hepdl.gan.train``): ``epoch, step, d_loss_*, g_loss_*, lr, val_ks``, and beside
  the selection metric ``val_ks`` what the other selections would have scored and each of the
  study's targets (``val_ks_pooled``, ``val_targets``, ``val_target_<name>``, ...).

Per-epoch values are read where the log has them (``*_epoch`` columns and ``val_*``); a log
with per-step values only is read against the step. The figure draws the losses and the
selection metric; the rest (a learning rate, the other candidates, the targets) is in the
curves and the CSV, on scales of their own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from hepdl.errors import InputFileError
from hepdl.plots.style import PlotLabel, add_label, new_figure, styled

__all__ = ["TrainingCurves", "plot_training_curves", "read_training_curves", "training_curves"]

#: Columns that are positions, not values.
_POSITIONS = ("epoch", "step", "round")
#: Curves drawn on the right-hand axis: a metric, not a loss.
_METRICS = ("val_ks",)
#: Curves drawn on the left-hand axis.
_LOSS_SUFFIX = "loss"


@dataclass(frozen=True)
class TrainingCurves:
    """A training log reduced to curves: ``x`` (epoch, boosting round or step) and, per curve
    name (``train_loss``, ``val_loss``, ``d_loss``, ``g_loss``, ``val_ks``), its values."""

    x_name: str
    curves: dict[str, tuple[np.ndarray, np.ndarray]]


def read_training_curves(path: str | os.PathLike[str]) -> TrainingCurves:
    """Curves of a ``training_log.csv`` (any of its writers, see the module docstring).

    Raises:
        InputFileError: naming the file, if it is not a readable CSV with an ``epoch``,
            ``round`` or ``step`` column and at least one value column.
    """
    try:
        log = pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise InputFileError(path, f"not a readable training log CSV ({error})") from None
    return training_curves(log, path)


def training_curves(log: pd.DataFrame, source: object) -> TrainingCurves:
    """Curves of a training log's table (read from ``source``, named in errors): a finished
    training's ``training_log.csv`` or the CSV logs of one still running (``hepdl.results``).

    Raises:
        InputFileError: naming ``source``, without an ``epoch``, ``round`` or ``step`` column
            and at least one value column.
    """
    path = source
    x_name = next((name for name in ("epoch", "round") if name in log), None)
    if x_name is None and "step" in log:
        x_name = "step"
    values = [name for name in log.columns if name not in _POSITIONS]
    if x_name is None or not values:
        raise InputFileError(
            path,
            f"a training log needs an epoch, round or step column and values;"
            f" columns are {list(log.columns)}",
        )
    by_epoch = {name.removesuffix("_epoch") for name in values if name.endswith("_epoch")}
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for column in values:
        name = column.removesuffix("_epoch").removesuffix("_step")
        # Epoch-level values replace the per-step ones of the same quantity.
        if column.endswith("_step") and name in by_epoch and x_name != "step":
            continue
        rows = log[[x_name, column]].dropna()
        if rows.empty:
            continue
        # Several rows per epoch (the epoch-end row and a validation row): one value each.
        grouped = rows.groupby(x_name, sort=True)[column].last()
        curves[name] = (grouped.index.to_numpy(dtype=float), grouped.to_numpy(dtype=float))
    if not curves:
        raise InputFileError(path, "the training log holds no values yet")
    return TrainingCurves(x_name=x_name, curves=curves)


@styled
def plot_training_curves(
    curves: TrainingCurves, title: str, label: PlotLabel | None = None
) -> Figure:
    """Losses against the epoch (left axis) and the KS metric (right axis, GANs); the other
    curves are not drawn (see the module docstring)."""
    fig, ax = new_figure()
    metric_ax = None
    drawn = {
        name: xy
        for name, xy in curves.curves.items()
        if name in _METRICS or name.endswith(_LOSS_SUFFIX)
    }
    for index, (name, (x, y)) in enumerate(drawn.items()):
        target = ax
        if name in _METRICS:
            metric_ax = metric_ax or ax.twinx()
            target = metric_ax
        style = "--" if name.startswith("val") else "-"
        target.plot(
            x, y, style, marker="o" if len(x) < 30 else None, color=f"C{index % 10}", label=name
        )
    ax.set_xlabel({"epoch": "Epoch", "round": "Boosting round", "step": "Step"}[curves.x_name])
    ax.set_ylabel("Loss")
    handles, labels = ax.get_legend_handles_labels()
    if metric_ax is not None:
        metric_ax.set_ylabel("KS metric (validation)")
        more_handles, more_labels = metric_ax.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    ax.legend(handles, labels, fontsize="small", title=title, title_fontsize="small")
    add_label(ax, label)
    return fig


def training_curves_figure(
    path: str | os.PathLike[str], title: str, label: PlotLabel | None = None
) -> Figure:
    """The training curves of the log at ``path`` (a convenience for notebooks and the CLI)."""
    return plot_training_curves(read_training_curves(Path(path)), title, label)
