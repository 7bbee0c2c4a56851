"""The ``evaluate`` stage: every classifier against the cut-based benchmark on the test split.

Reads the models' predictions files and the features test split (for M_J and N_jet), restricted
to the samples the classifiers were trained on (``train.samples``), and writes

- ``{results}/evaluation/metrics.json``: per classifier (and ``cuts``) the AUC, the signal
  efficiency at the benchmark's background efficiency (``tpr_at_benchmark_fpr``), the
  significance gain over the cuts, their bootstrap uncertainties (``*_err``), and for ``cuts``
  its own ``tpr`` and ``fpr`` (see :mod:`hepdl.evaluate.metrics`), and for every network
  whose ``costs.json`` is given its training cost (``costs``: parameters, time per training
  step, memory per batch; :mod:`hepdl.train.costs`);
- ``{results}/evaluation/summary.csv`` and ``summary.html``: the same as a table, beside the
  paper's numbers and the networks' costs, with the graph network's signal efficiency stated
  beside the CNN's on the same test events;
- plots in ``{results}/plots`` (see :func:`plot_names`).
"""

from __future__ import annotations

import html
import json
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

__all__ = [
    "PAPER",
    "EvaluateResult",
    "comparison_text",
    "evaluate",
    "plot_files",
    "plot_names",
    "read_costs",
]

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


#: Keys of a network's ``costs.json`` that the summary uses (:mod:`hepdl.train.costs`).
COST_KEYS = ("parameters", "batch_size", "step_seconds", "memory_per_batch_mb", "device")


def read_costs(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A network's ``costs.json``, written at the end of its training.

    Raises:
        InputFileError: naming the file, if it is missing or not a costs record.
    """
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise InputFileError(path, f"not a readable costs file ({err})") from None
    missing = [key for key in COST_KEYS if not isinstance(record, dict) or key not in record]
    if missing:
        raise InputFileError(path, f"costs file lacks {missing}; retrain the model")
    return dict(record)


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


def _cost_cells(costs: Mapping[str, Any] | None) -> dict[str, str]:
    if not costs:
        return {"parameters": "", "step_ms": "", "memory_mb": ""}
    return {
        "parameters": f"{costs['parameters']:,}",
        "step_ms": f"{_ms(costs['step_seconds'])} (batch {costs['batch_size']})",
        "memory_mb": f"{costs['memory_per_batch_mb']:.3g}",
    }


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1e3:.1f}"


def summary_rows(metrics: Mapping[str, Mapping[str, Any]]) -> list[dict[str, str]]:
    """Rows of the summary table: AUC, efficiency at the benchmark FPR, gain, paper value,
    and for networks with recorded costs: parameters, ms per training step, MiB per batch."""
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
                **_cost_cells(m.get("costs")),
            }
        )
    return rows


def comparison_text(metrics: Mapping[str, Mapping[str, Any]], n_events: int) -> str:
    """The graph network against the CNN on the same test events, in one sentence (or "")."""
    gnn, cnn = metrics.get("gnn"), metrics.get("cnn")
    if not gnn or not cnn:
        return ""
    text = (
        f"On the same {n_events} test events, at the benchmark's background efficiency, the "
        f"graph network (gnn) reaches a signal efficiency of "
        f"{_fmt(gnn.get('tpr_at_benchmark_fpr'), gnn.get('tpr_at_benchmark_fpr_err'))}, the CNN "
        f"{_fmt(cnn.get('tpr_at_benchmark_fpr'), cnn.get('tpr_at_benchmark_fpr_err'))}"
    )
    costs = {name: metrics[name].get("costs") for name in ("gnn", "cnn")}
    if costs["gnn"] and costs["cnn"]:
        parts = [
            f"{name}: {c['parameters']:,} parameters, {_ms(c['step_seconds'])} ms per "
            f"training step of {c['batch_size']} events, {c['memory_per_batch_mb']:.3g} MiB "
            f"per batch (on {c['device']})"
            for name, c in costs.items()
            if c
        ]
        text += "; cost: " + "; ".join(parts)
    return text + "."


def _write_summary(
    folder: Path, metrics: Mapping[str, Mapping[str, Any]], n_boot: int, n_events: int
) -> None:
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
    comparison = comparison_text(metrics, n_events)
    if comparison:
        intro += f"<p>{html.escape(comparison)}</p>"
    intro += (
        "<p>Costs (networks): trainable parameters; median time of a training step (forward, "
        "loss, backward, optimiser; no data loading) as measured during the model's own "
        "training, on the device named in its <code>costs.json</code>; memory per batch = the "
        "batch's inputs plus the tensors kept for the backward pass.</p>"
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
            "parameters": "Parameters",
            "step_ms": "ms / training step",
            "memory_mb": "MiB / batch",
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
    costs: Mapping[str, str | os.PathLike[str]] | None = None,
) -> EvaluateResult:
    """Compare the classifiers with the cut-based benchmark and write metrics, table and plots.

    Args:
        config: A validated config (``train.samples``, ``evaluate`` block).
        predictions: Per model name, its predictions file.
        features: Features test split (default ``{results}/features/test.parquet``).
        output: The metrics file (default ``{results}/evaluation/metrics.json``); the summary
            table goes beside it.
        plots_dir: Plot folder (default ``{results}/plots``).
        costs: Per network, its ``costs.json`` (:mod:`hepdl.train.costs`), added to its
            metrics and to the summary table.

    Raises:
        InputFileError: for a missing predictions or costs file, or predictions of other events.
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
    for name, path in (costs or {}).items():
        if name in metrics:
            metrics[name]["costs"] = read_costs(path)
    metrics = {name: _finite(m) for name, m in metrics.items()}
    if metrics["cuts"]["fpr"] == 0:
        log.warning(
            "%s: no background event passes the cuts; the benchmark working point is unmeasured",
            test.path,
        )
    write_json_atomic(output, metrics)
    _write_summary(output.parent, metrics, settings["bootstrap"], len(rows))

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
