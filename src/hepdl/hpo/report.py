"""``hepdl hpo report``: a study's optimisation history, per-epoch values and parameter
importances, as plots for the Snakemake report.

- ``history``: every trial's value against its number (pruned trials at their last reported
  value), with the best value so far;
- ``epochs``: the metric each trial reported after every epoch (what the pruner compared);
- ``importances``: Optuna's parameter importances (PED-ANOVA, its default, needing no
  scikit-learn) over the complete trials; with fewer than two complete trials, or no spread in
  their values, the plot says so instead.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from matplotlib.figure import Figure
from optuna.trial import FrozenTrial, TrialState

from hepdl.hpo.settings import DIRECTIONS, study_dir, study_metric
from hepdl.hpo.study import load_study
from hepdl.plots.style import PlotLabel, add_label, new_figure, save, styled

__all__ = ["importances", "plot_epochs", "plot_history", "plot_importances", "write_report"]

#: Metric labels of the plots.
LABELS = {
    "val_loss": "validation loss",
    "val_tpr_at_cuts_fpr": "validation signal efficiency at the cuts' FPR",
    "val_ks": "validation KS metric",
}


def _last_reported(trial: FrozenTrial) -> float | None:
    if trial.value is not None:
        return float(trial.value)
    if trial.intermediate_values:
        return float(trial.intermediate_values[max(trial.intermediate_values)])
    return None


@styled
def plot_history(trials: list[FrozenTrial], metric: str, label: PlotLabel | None = None) -> Figure:
    """Value of each trial against its number, and the best complete value so far."""
    fig, ax = new_figure()
    better = np.fmin if DIRECTIONS[metric] == "minimize" else np.fmax
    for state, marker, legend in (
        (TrialState.COMPLETE, "o", "complete"),
        (TrialState.PRUNED, "x", "pruned (last epoch)"),
    ):
        chosen = [(t.number, _last_reported(t)) for t in trials if t.state == state]
        chosen = [(n, v) for n, v in chosen if v is not None]
        if chosen:
            ax.plot(*zip(*chosen, strict=True), marker, linestyle="none", label=legend)
    complete = sorted(
        (t.number, float(t.value))
        for t in trials
        if t.state == TrialState.COMPLETE and t.value is not None
    )
    if complete:
        numbers, values = zip(*complete, strict=True)
        ax.step(numbers, better.accumulate(np.asarray(values)), where="post", label="best so far")
    ax.set_xlabel("Trial")
    ax.set_ylabel(LABELS[metric])
    ax.legend(fontsize="small")
    add_label(ax, label)
    return fig


@styled
def plot_epochs(trials: list[FrozenTrial], metric: str, label: PlotLabel | None = None) -> Figure:
    """The per-epoch values every trial reported, pruned trials dashed."""
    fig, ax = new_figure()
    for trial in trials:
        if not trial.intermediate_values:
            continue
        epochs = sorted(trial.intermediate_values)
        style = "--" if trial.state == TrialState.PRUNED else "-"
        ax.plot(
            epochs, [trial.intermediate_values[e] for e in epochs], style, label=f"{trial.number}"
        )
    ax.set_xlabel("Epoch")
    ax.set_ylabel(LABELS[metric])
    ax.legend(title="trial", fontsize="small", title_fontsize="small", ncol=2)
    add_label(ax, label)
    return fig


def importances(study: optuna.Study) -> dict[str, float] | None:
    """Parameter importances over the complete trials, or None with fewer than two of them, no
    spread in their values, or too few for PED-ANOVA to tell the parameters apart."""
    values = [t.value for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if len(values) < 2 or np.ptp(np.asarray(values, dtype=float)) == 0:
        return None
    evaluator = optuna.importance.PedAnovaImportanceEvaluator()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = optuna.importance.get_param_importances(study, evaluator=evaluator)
    # With few trials PED-ANOVA's top and reference quantiles hold the same trials: it warns
    # that every importance is equal, i.e. that it cannot tell them apart.
    if any("importances will be equal" in str(w.message) for w in caught):
        return None
    return {name: float(value) for name, value in found.items()}


@styled
def plot_importances(found: Mapping[str, float] | None, n_complete: int) -> Figure:
    """Horizontal bars of the importances (or a note why there are none)."""
    fig, ax = new_figure()
    if not found:
        ax.text(
            0.5,
            0.5,
            f"{n_complete} complete trial(s): too few, or all alike, for importances",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        ax.set_axis_off()
        return fig
    names = list(found)[::-1]
    ax.barh(names, [found[n] for n in names])
    ax.set_xlabel("importance (PED-ANOVA)")
    return fig


def write_report(
    config: Mapping[str, Any], study: str, output_dir: str | os.PathLike[str] | None = None
) -> list[Path]:
    """Write the history, epochs and importances plots of ``study`` in every
    ``evaluate.plot_formats``; returns the files."""
    opened = load_study(config, study)
    trials = opened.get_trials(deepcopy=False)
    metric = study_metric(config, study)
    folder = Path(output_dir or study_dir(config, study) / "plots")
    formats = config["evaluate"]["plot_formats"]
    n_complete = sum(t.state == TrialState.COMPLETE for t in trials)
    label = PlotLabel.from_config(config, weighted=False)
    written = save(plot_history(trials, metric, label), folder / "history", formats)
    written += save(plot_epochs(trials, metric, label), folder / "epochs", formats)
    found = importances(opened)
    written += save(plot_importances(found, n_complete), folder / "importances", formats)
    return written
