"""Robustness studies: the trained classifiers, unchanged, on other signals and with pile-up.

The classifiers learn from the samples of ``train.samples`` (the 1400/850 benchmark point and
QCD without pile-up in the full config); the test split holds every sample of the config. For
each signal sample of the test split, one *case* compares its events with the QCD background of
the same pile-up (mu) as the signal: the cuts' signal and background efficiencies there, and
each classifier's signal efficiency at that background efficiency, with bootstrap uncertainties.
The result is ``{results}/evaluation/robustness.csv`` (and ``.html``) and a bar chart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hepdl.errors import InputFileError
from hepdl.evaluate.background import background_measurement
from hepdl.evaluate.metrics import bootstrap_metrics
from hepdl.evaluate.predict import read_predictions
from hepdl.evaluate.tables import write_table
from hepdl.io.layout import Layout
from hepdl.plots.style import PlotLabel, save
from hepdl.samples import get_sample
from hepdl.train.settings import base_model

__all__ = ["robustness"]


def robustness(
    config: Mapping[str, Any],
    predictions: Mapping[str, str | os.PathLike[str]],
    *,
    output: str | os.PathLike[str] | None = None,
    plot: str | os.PathLike[str] | None = None,
) -> list[dict[str, Any]]:
    """Signal efficiency at the benchmark's background efficiency for every signal case.

    Args:
        config: A validated config (its samples give masses and pile-up).
        predictions: Per model, its test predictions file (all on the same events).
        output: The table (default ``{results}/evaluation/robustness.csv``; ``.html`` beside it).
        plot: The bar chart, without suffix (default ``{results}/plots/robustness``).

    Returns:
        One row per case: ``case``, ``signal``, masses, ``pileup_mu``, ``trained_on`` (whether
        the signal was a training sample), ``cuts_tpr``, ``cuts_fpr`` and, per model,
        ``{model}_tpr`` and ``{model}_tpr_err``.

    Raises:
        InputFileError: for predictions files of different events.
    """
    from hepdl.evaluate import plots  # noqa: PLC0415 (matplotlib)

    layout = Layout.of(config)
    output = Path(output or layout.robustness_table())
    plot = Path(plot or layout.robustness_plot())
    # The nominal training of each model: its seed replicas are the evaluation's business.
    tables = {
        name: read_predictions(path)
        for name, path in predictions.items()
        if base_model(name) == name
    }
    first = next(iter(tables.values()))
    for name, table in tables.items():
        if not np.array_equal(table["sample"], first["sample"]):
            raise InputFileError(predictions[name], "predictions of other events than the rest")
    sample = first["sample"].astype(str)
    label = first["label"].astype(bool)
    weight = np.asarray(first["weight"], dtype=np.float64)
    pass_sr = first["passSR"].astype(bool)
    mu = {str(name): get_sample(dict(config), str(name)).pileup_mu for name in np.unique(sample)}
    event_mu = np.array([mu[s] for s in sample])
    trained = config["train"]["samples"]
    rows = []
    for signal in sorted(str(s) for s in np.unique(sample[label])):
        spec = get_sample(dict(config), signal)
        mask = (sample == signal) | (~label & (event_mu == spec.pileup_mu))
        if not (~label & mask).any():
            continue  # no background with this pile-up in the test split
        scores = {name: t["score"][mask] for name, t in tables.items()}
        metrics = bootstrap_metrics(
            scores,
            label[mask],
            weight[mask],
            pass_sr[mask],
            replicates=config["evaluate"]["bootstrap"],
            seed=int(config["seed"]),
        )
        row: dict[str, Any] = {
            "case": f"{signal}, mu={spec.pileup_mu:g}",
            "signal": signal,
            "m_gluino_gev": spec.m_gluino_gev,
            "m_neutralino_gev": spec.m_neutralino_gev,
            "pileup_mu": spec.pileup_mu,
            "trained_on": trained is None or signal in trained,
            "cuts_tpr": metrics["cuts"]["tpr"],
            "cuts_fpr": metrics["cuts"]["fpr"],
            **_background_cells(sample[mask], label[mask], weight[mask], pass_sr[mask], config),
        }
        for name in tables:
            row[f"{name}_tpr"] = metrics[name]["tpr_at_benchmark_fpr"]
            row[f"{name}_tpr_err"] = metrics[name]["tpr_at_benchmark_fpr_err"]
        rows.append(row)
    _write_table(output, rows)
    figure = plots.plot_robustness(rows, list(tables), label=PlotLabel.from_config(config))
    save(figure, plot, config["evaluate"]["plot_formats"])
    return rows


def _background_cells(
    sample: NDArray[Any],
    label: NDArray[np.bool_],
    weight: NDArray[np.float64],
    pass_sr: NDArray[np.bool_],
    config: Mapping[str, Any],
) -> dict[str, Any]:
    """How well one case's working point is measured: N_eff of its background in the cuts'
    signal region, the FPR's statistical error, the upper bound with the slices that put no
    test event there, and whether it is unmeasured (:mod:`hepdl.evaluate.background`)."""
    background = ~label
    measured = background_measurement(
        sample[background],
        weight[background],
        pass_sr[background],
        generated_weight={},
        min_neff=config["evaluate"]["min_background_neff"],
    )
    return {
        "cuts_fpr_err_stat": measured["fpr_err_stat"],
        "cuts_fpr_upper": measured["fpr_upper"],
        "background_n_eff": measured["n_eff"],
        "unmeasured": measured["unmeasured"],
    }


def _write_table(output: Path, rows: list[dict[str, Any]]) -> None:
    write_table(
        output,
        output.with_suffix(".html"),
        rows,
        title="hepdl robustness",
        intro_html=(
            "<p>Signal efficiency of each classifier at the background efficiency of the "
            "cut-based selection, per signal sample and pile-up; models trained on the samples "
            "marked trained_on only.</p>"
        ),
    )
