"""The ``evaluate`` stage: every classifier against the cut-based benchmark on the test split.

Reads the models' predictions files and the features test split (for M_J and N_jet), restricted
to the samples the classifiers were trained on (``train.samples``), and writes

- ``{results}/evaluation/metrics.json``: per classifier (and ``cuts``) the AUC, the signal
  efficiency at the benchmark's background efficiency (``tpr_at_benchmark_fpr``), the
  significance gain over the cuts, their bootstrap uncertainties (``*_err``), and for ``cuts``
  its own ``tpr`` and ``fpr`` (see :mod:`hepdl.evaluate.metrics`);
- ``{results}/evaluation/summary.csv`` and ``summary.html``: the same as a table, beside the
  paper's numbers;
- plots in ``{results}/plots`` (see :func:`plot_names`).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hepdl.errors import InputFileError
from hepdl.evaluate.metrics import benchmark_point, bootstrap_metrics, roc_curve
from hepdl.evaluate.predict import check_same_events, read_predictions
from hepdl.evaluate.tables import write_table
from hepdl.io.atomic import write_json_atomic
from hepdl.train.settings import features_file, model_kind
from hepdl.train.splits import FeatureSplit, feature_columns, select_samples

__all__ = ["PAPER", "EvaluateResult", "evaluate", "plot_files", "plot_names"]

log = logging.getLogger(__name__)

#: Signal efficiency at the cuts' background efficiency in Bhimji et al. (talk, 3-channel CNN).
PAPER = {"cuts": 0.41, "cnn": 0.77}


@dataclass(frozen=True)
class EvaluateResult:
    """What :func:`evaluate` wrote and its headline numbers."""

    metrics_file: Path
    metrics: dict[str, dict[str, Any]]
    plots: list[Path]
    seconds: float


def plot_names(config: Mapping[str, Any], models: Sequence[str]) -> list[str]:
    """Base names (without suffix) of the plots :func:`evaluate` writes for ``models``."""
    names = ["roc", *(f"scores_{m}" for m in models)]
    for model in models:
        if model_kind(config, model) == "cnn":
            names += [f"{model}_score_vs_mj", f"{model}_score_vs_njet"]
    return names


def plot_files(config: Mapping[str, Any], models: Sequence[str]) -> list[tuple[str, str]]:
    """Every plot file :func:`evaluate` writes, with the report caption (an .rst name) of each."""
    captions = {"roc": "roc.rst", "mj": "score_vs_mj.rst", "njet": "score_vs_njet.rst"}
    files = []
    for name in plot_names(config, models):
        caption = captions.get(name.rsplit("_", 1)[-1], captions.get(name, "scores.rst"))
        for fmt in config["evaluate"]["plot_formats"]:
            files.append((f"{config['results']}/plots/{name}.{fmt}", caption))
    return files


def _finite(value: Any) -> Any:
    """NaN and infinities as None, so metrics.json is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _fmt(value: Any, error: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f} ± {error:.3f}" if error is not None else f"{value:.3f}"


def summary_rows(metrics: Mapping[str, Mapping[str, Any]]) -> list[dict[str, str]]:
    """Rows of the summary table: AUC, efficiency at the benchmark FPR, gain, paper value."""
    rows = []
    for name, m in metrics.items():
        paper = PAPER.get(name)
        rows.append(
            {
                "classifier": name,
                "auc": _fmt(m.get("auc"), m.get("auc_err")),
                "tpr_at_benchmark_fpr": _fmt(
                    m.get("tpr_at_benchmark_fpr"), m.get("tpr_at_benchmark_fpr_err")
                ),
                "significance_gain": _fmt(
                    m.get("significance_gain"), m.get("significance_gain_err")
                ),
                "paper_tpr_at_benchmark_fpr": f"{paper:.2f}" if paper is not None else "",
            }
        )
    return rows


def _write_summary(folder: Path, metrics: Mapping[str, Mapping[str, Any]], n_boot: int) -> None:
    cuts = metrics["cuts"]
    intro = (
        f"<p>Test split; benchmark (cut-based signal region): signal efficiency "
        f"{cuts['tpr']:.3f}, background efficiency {cuts['fpr']:.3g}. Uncertainties: standard "
        f"deviation over {n_boot} Poisson-bootstrap replicates of the test events.</p>"
    )
    if cuts["fpr"] == 0:
        intro += (
            "<p><b>No background event of the test split passes the cuts</b>: the benchmark's "
            "background efficiency is not measured and the comparison at it is not meaningful; "
            "the background samples need more events in the signal region.</p>"
        )
    write_table(
        folder / "summary.csv",
        folder / "summary.html",
        summary_rows(metrics),
        title="hepdl summary",
        intro_html=intro,
        column_titles={
            "classifier": "Classifier",
            "auc": "AUC",
            "tpr_at_benchmark_fpr": "Signal eff. at benchmark bkg. eff.",
            "significance_gain": "S/&radic;B gain over cuts",
            "paper_tpr_at_benchmark_fpr": "Paper (arXiv:1711.03573)",
        },
    )


def _bins_mj(mj: NDArray[Any]) -> NDArray[Any]:
    top = max(2500.0, float(np.quantile(mj, 0.99))) if len(mj) else 2500.0
    return np.linspace(0.0, top, 31)


def evaluate(
    config: Mapping[str, Any],
    predictions: Mapping[str, str | os.PathLike[str]],
    *,
    features: str | os.PathLike[str] | None = None,
    output: str | os.PathLike[str] | None = None,
    plots_dir: str | os.PathLike[str] | None = None,
) -> EvaluateResult:
    """Compare the classifiers with the cut-based benchmark and write metrics, table and plots.

    Args:
        config: A validated config (``train.samples``, ``evaluate`` block).
        predictions: Per model name, its predictions file.
        features: Features test split (default ``{results}/features/test.parquet``).
        output: The metrics file (default ``{results}/evaluation/metrics.json``); the summary
            table goes beside it.
        plots_dir: Plot folder (default ``{results}/plots``).

    Raises:
        InputFileError: for a missing predictions file or one of other events.
    """
    from hepdl.evaluate import plots  # noqa: PLC0415 (matplotlib)

    start = time.perf_counter()
    results = Path(config["results"])
    output = Path(output or results / "evaluation" / "metrics.json")
    plots_dir = Path(plots_dir or results / "plots")
    settings = config["evaluate"]
    names = feature_columns(config)
    test = FeatureSplit.open(features or features_file(config, "test"), names)
    rows = select_samples(test.sample, config["train"]["samples"], test.path)
    label, weight, pass_sr = test.label[rows], test.weight[rows], test.pass_sr[rows]
    scores: dict[str, NDArray[np.float64]] = {}
    for name, path in predictions.items():
        table = read_predictions(path)
        check_same_events(Path(path), table, test)
        scores[name] = np.asarray(table["score"], dtype=np.float64)[rows]
    if not (weight[label == 1].sum() > 0 and weight[label == 0].sum() > 0):
        raise InputFileError(
            test.path, "the test split needs signal and background events of train.samples"
        )
    metrics = bootstrap_metrics(
        scores, label, weight, pass_sr, replicates=settings["bootstrap"], seed=int(config["seed"])
    )
    metrics = {name: _finite(m) for name, m in metrics.items()}
    if metrics["cuts"]["fpr"] == 0:
        log.warning(
            "%s: no background event passes the cuts; the benchmark working point is unmeasured",
            test.path,
        )
    write_json_atomic(output, metrics)
    _write_summary(output.parent, metrics, settings["bootstrap"])

    formats = settings["plot_formats"]
    cuts = benchmark_point(pass_sr, label, weight)
    rocs = {name: roc_curve(s, label, weight) for name, s in scores.items()}
    written = plots.save(plots.plot_roc(rocs, cuts), plots_dir / "roc", formats)
    for name, s in scores.items():
        written += plots.save(
            plots.plot_scores(name, s, label, weight), plots_dir / f"scores_{name}", formats
        )
        if model_kind(config, name) == "cnn":
            mj = test.inputs[rows, names.index("mj_gev")]
            n_jet = test.inputs[rows, names.index("n_jet")]
            fig = plots.plot_score_vs(
                name,
                score=s,
                variable=mj,
                label=label,
                weight=weight,
                variable_label="$M_J$ [GeV]",
                variable_bins=_bins_mj(mj),
            )
            written += plots.save(fig, plots_dir / f"{name}_score_vs_mj", formats)
            fig = plots.plot_score_vs(
                name,
                score=s,
                variable=n_jet,
                label=label,
                weight=weight,
                variable_label="$N_{jet}$",
                variable_bins=np.arange(-0.5, 11.5),
            )
            written += plots.save(fig, plots_dir / f"{name}_score_vs_njet", formats)
    return EvaluateResult(output, metrics, written, time.perf_counter() - start)
