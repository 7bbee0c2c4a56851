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
from hepdl.evaluate.background import (
    background_measurement,
    mean_generated_weights,
    skim_background_measurement,
)
from hepdl.evaluate.cutflow import cutflow_rows, skim_efficiencies, write_cutflow
from hepdl.evaluate.metrics import (
    Roc,
    benchmark_point,
    bootstrap_metrics,
    roc_band,
    roc_curve,
    tpr_at_fpr,
)
from hepdl.evaluate.predict import check_same_events, read_predictions
from hepdl.evaluate.seeds import SEED_KEYS, combine_seeds, group_replicas, spread_text
from hepdl.evaluate.tables import write_table
from hepdl.io.atomic import write_json_atomic
from hepdl.io.layout import Layout
from hepdl.io.skim import read_skim
from hepdl.io.splits import FeatureSplit, feature_columns, select_samples
from hepdl.plots.style import PlotLabel, save
from hepdl.train.settings import base_model, model_kind, replica_index

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

#: The published working point, relative to the baseline skim: the cut-based signal region of
#: the authors' evaluation notebook (weighted test set) and the talk's CNN at its background
#: efficiency. Label -> (background efficiency, signal efficiency), for the ROC plot.
PUBLISHED_POINTS = {
    "Cuts, published (3.39e-4, 0.419)": (3.39e-4, 0.419),
    "CNN, published (0.77 at the cuts' FPR)": (3.39e-4, 0.77),
}


@dataclass(frozen=True)
class EvaluateResult:
    """What :func:`evaluate` wrote and its headline numbers."""

    metrics_file: Path
    metrics: dict[str, dict[str, Any]]
    plots: list[Path]
    seconds: float


def plot_names(config: Mapping[str, Any], models: Sequence[str]) -> list[str]:
    """Base names (without suffix) of the plots :func:`evaluate` writes for ``models`` (of their
    seed replicas, the nominal trainings only)."""
    models = [m for m in models if base_model(m) == m]
    names = ["roc", *(f"scores_{m}" for m in models)]
    for model in models:
        if model_kind(config, model) == "cnn":
            names += [f"{model}_score_vs_mj", f"{model}_score_vs_njet"]
    return names


def plot_files(config: Mapping[str, Any], models: Sequence[str]) -> list[tuple[str, str]]:
    """Every plot file :func:`evaluate` writes, with the report caption (an .rst name) of each."""
    captions = {"roc": "roc.rst", "mj": "score_vs_mj.rst", "njet": "score_vs_njet.rst"}
    files = []
    plots = Layout.of(config).plots()
    for name in plot_names(config, models):
        caption = captions.get(name.rsplit("_", 1)[-1], captions.get(name, "scores.rst"))
        for fmt in config["evaluate"]["plot_formats"]:
            files.append((str(plots / f"{name}.{fmt}"), caption))
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
    """Rows of the summary table: AUC, efficiency at the benchmark FPR (mean over seeds, with
    the combined error), its seed spread and bootstrap error apart, the gain, the paper's
    value, and for networks with recorded costs: parameters, ms per step, MiB per batch."""
    rows = []
    for name, m in metrics.items():
        paper = PAPER.get(name)
        bootstrap = m.get("tpr_at_benchmark_fpr_bootstrap_err", m.get("tpr_at_benchmark_fpr_err"))
        rows.append(
            {
                "classifier": name,
                "auc": _fmt(m.get("auc"), m.get("auc_err")),
                "tpr_at_benchmark_fpr": _fmt(
                    m.get("tpr_at_benchmark_fpr"), m.get("tpr_at_benchmark_fpr_err")
                ),
                "seed_spread": spread_text(m),
                "bootstrap_err": f"{bootstrap:.3f}" if bootstrap is not None else "",
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


def background_warning(cuts: Mapping[str, Any], min_neff: float) -> str:
    """The report's warning about the working point's background ("" when it is measured)."""
    background = cuts["background"]
    if cuts["fpr"] == 0:
        return (
            "No background event of the test split passes the cuts: the benchmark's background "
            "efficiency is not measured and the comparison at it is not meaningful; the "
            "background samples need more events in the signal region."
        )
    if background["unmeasured"]:
        return (
            f"The working point is unmeasured: the background in the cuts' signal region has "
            f"N_eff = {background['n_eff']:.1f} effective test events, below "
            f"{min_neff:g} (evaluate.min_background_neff); every number at it rests on them."
        )
    if background["bounds_dominate"]:
        return (
            f"The background efficiency is measured on N_eff = {background['n_eff']:.1f} "
            f"events, but slices with no event in the signal region may add up to "
            f"{background['fpr_upper'] - background['fpr']:.3g} to it (their 68% upper bounds), "
            f"more than the measured {background['fpr']:.3g}: the working point is bounded, "
            f"not measured, from above."
        )
    return ""


def _unmeasured_text(background: Mapping[str, Any]) -> str:
    bounded = {n: s for n, s in background["samples"].items() if "upper_bound" in s}
    if not bounded:
        return ""
    names = ", ".join(f"{n} (< {s['upper_bound']:.3g} events)" for n, s in bounded.items())
    return (
        f" Background samples with no test event in the signal region, entered with their "
        f"68% upper bound (1.14 events x their per-event weight): {names}; they make "
        f"{background['fpr_err_unmeasured']:.3g} of the background efficiency's error."
    )


def _write_summary(
    folder: Path,
    metrics: Mapping[str, Mapping[str, Any]],
    n_boot: int,
    n_events: int,
    *,
    min_neff: float,
    preselection: str,
) -> None:
    cuts = metrics["cuts"]
    background = cuts["background"]
    generated = cuts["relative_to_generated"]
    intro = (
        f"<p>Test split, skimmed with preselection <code>{html.escape(preselection)}</code>: every efficiency is relative to the skim, as published. Benchmark (cut-based "
        f"signal region): signal efficiency {cuts['tpr']:.3f}, background efficiency "
        f"{cuts['fpr']:.3g} &plusmn; {background['fpr_err']:.2g} (statistical "
        f"{background['fpr_err_stat']:.2g}, N_eff = {background['n_eff']:.1f} effective "
        f"background events of {background['n_events']}); relative to all generated events "
        f"{_maybe(generated['tpr'])} and {_maybe(generated['fpr'])} (published, skim-relative: "
        f"0.419 and 3.39e-4).{html.escape(_unmeasured_text(background))} Errors on "
        f"classifiers: the standard deviation over seeds (where several were trained) and over "
        f"{n_boot} Poisson-bootstrap replicates of the test events, combined in quadrature and "
        f"apart.</p>"
    )
    warning = background_warning(cuts, min_neff)
    if warning:
        intro += f"<p><b>Warning:</b> {html.escape(warning)}</p>"
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
            "seed_spread": "Seed spread",
            "bootstrap_err": "Bootstrap error",
            "significance_gain": "S/&radic;B gain over cuts",
            "paper_tpr_at_benchmark_fpr": "Paper (arXiv:1711.03573)",
            "parameters": "Parameters",
            "step_ms": "ms / training step",
            "memory_mb": "MiB / batch",
        },
    )


def _maybe(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _bins_mj(mj: NDArray[Any]) -> NDArray[Any]:
    top = max(2500.0, float(np.quantile(mj, 0.99))) if len(mj) else 2500.0
    return np.linspace(0.0, top, 31)


def _relative_to_generated(
    metrics: Mapping[str, Any], efficiencies: Mapping[str, float | None]
) -> dict[str, float | None]:
    """A classifier's skim-relative numbers scaled to all generated events.

    Events the skim drops are rejected by every selection, so the efficiencies scale by the
    skim's and the ROC curve continues in a straight line from (eps_b, eps_s) to (1, 1):
    AUC_generated = eps_s eps_b AUC_skim + (1 - eps_b)(1 + eps_s) / 2.
    """
    signal, background = efficiencies["signal"], efficiencies["background"]
    if signal is None or background is None:
        return {"tpr_at_benchmark_fpr": None, "auc": None}
    tpr, auc = metrics.get("tpr_at_benchmark_fpr"), metrics.get("auc")
    return {
        "tpr_at_benchmark_fpr": tpr * signal if tpr is not None else None,
        "auc": (
            signal * background * auc + (1 - background) * (1 + signal) / 2
            if auc is not None
            else None
        ),
    }


def _model_metrics(
    replica_metrics: Mapping[str, dict[str, Any]],
    settings: Mapping[str, Any],
) -> dict[str, dict[str, Any]]:
    """Per model: the mean over its seed replicas and their errors (:mod:`.seeds`), with the
    nominal replica's other numbers and every replica's own metrics."""
    stated = settings.get("seed_spread") or {}
    models: dict[str, dict[str, Any]] = {}
    for name, replicas in group_replicas([n for n in replica_metrics if n != "cuts"]).items():
        if name not in replicas:
            raise InputFileError(
                name, f"predictions of its seed replicas {replicas} without the nominal model's"
            )
        replicas.sort(key=replica_index)
        nominal = dict(replica_metrics[name])
        combined = combine_seeds({r: replica_metrics[r] for r in replicas}, stated.get(name))
        models[name] = {**{k: v for k, v in nominal.items() if k not in SEED_KEYS}, **combined}
        if len(replicas) > 1:
            models[name]["per_replica"] = {r: replica_metrics[r] for r in replicas}
    return models


def _write_plots(
    config: Mapping[str, Any],
    test: FeatureSplit,
    rows: NDArray[Any],
    scores: Mapping[str, NDArray[np.float64]],
    rocs: Mapping[str, Roc],
    *,
    label: NDArray[Any],
    weight: NDArray[np.float64],
    pass_sr: NDArray[Any],
    plots_dir: Path,
) -> list[Path]:
    """The ROC curves (with bootstrap bands and the published points) and, per nominal model in
    ``scores``, its score distributions; the CNNs' also against M_J and N_jet."""
    from hepdl.evaluate import plots  # noqa: PLC0415 (matplotlib)

    settings = config["evaluate"]
    formats = settings["plot_formats"]
    seed = int(config["seed"])
    names = feature_columns(config)
    nominal = list(scores)
    working_point = benchmark_point(pass_sr, label, weight)
    grid = np.logspace(np.log10(max(working_point.fpr, 1e-12)) - 2, 0, 120)
    bands = {
        name: (
            grid,
            *roc_band(
                scores[name],
                label,
                weight,
                grid,
                replicates=min(settings["bootstrap"], 100),
                seed=seed,
            ),
        )
        for name in nominal
    }
    plot_label = PlotLabel.from_config(config)
    written = save(
        plots.plot_roc(
            rocs, working_point, bands=bands, published=PUBLISHED_POINTS, label=plot_label
        ),
        plots_dir / "roc",
        formats,
    )
    for name in nominal:
        s = scores[name]
        written += save(
            plots.plot_scores(name, s, label, weight, plot_label=plot_label),
            plots_dir / f"scores_{name}",
            formats,
        )
        if model_kind(config, name) != "cnn":
            continue
        mj = test.inputs[rows, names.index("mj_gev")]
        n_jet = test.inputs[rows, names.index("n_jet")]
        # The paper's two views of the CNN score: against M_J and against N_jet.
        for suffix, variable, variable_label, bins in (
            ("mj", mj, "$M_J$ [GeV]", _bins_mj(mj)),
            ("njet", n_jet, "$N_{jet}$", np.arange(-0.5, 11.5)),
        ):
            fig = plots.plot_score_vs(
                name,
                score=s,
                variable=variable,
                label=label,
                weight=weight,
                variable_label=variable_label,
                variable_bins=bins,
                plot_label=plot_label,
            )
            written += save(fig, plots_dir / f"{name}_score_vs_{suffix}", formats)
    return written


def evaluate(
    config: Mapping[str, Any],
    predictions: Mapping[str, str | os.PathLike[str]],
    *,
    features: str | os.PathLike[str] | None = None,
    skim: str | os.PathLike[str] | None = None,
    output: str | os.PathLike[str] | None = None,
    plots_dir: str | os.PathLike[str] | None = None,
    costs: Mapping[str, str | os.PathLike[str]] | None = None,
) -> EvaluateResult:
    """Compare the classifiers with the cut-based benchmark and write metrics, tables and plots.

    Args:
        config: A validated config (``train.samples``, ``evaluate`` block).
        predictions: Per model name (seed replicas included), its predictions file.
        features: Features test split (default ``{results}/features/test.parquet``).
        skim: The skim record of the features merge (default
            :meth:`hepdl.io.layout.Layout.skim`): the cut-flow and the generated-relative
            numbers.
        output: The metrics file (default ``{results}/evaluation/metrics.json``); the summary
            and cut-flow tables go beside it.
        plots_dir: Plot folder (default ``{results}/plots``).
        costs: Per network, its ``costs.json`` (:mod:`hepdl.train.costs`), added to its
            metrics and to the summary table.

    Raises:
        InputFileError: for a missing predictions, skim or costs file, or predictions of other
            events.
    """
    start = time.perf_counter()
    layout = Layout.of(config)
    output = Path(output or layout.metrics())
    plots_dir = Path(plots_dir or layout.plots())
    settings = config["evaluate"]
    samples = config["train"]["samples"]
    skim_record = read_skim(skim or layout.skim())
    names = feature_columns(config)
    test = FeatureSplit.open(features or layout.features_split("test"), names)
    rows = select_samples(test.sample, samples, test.path)
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
    seed = int(config["seed"])
    rocs = {name: roc_curve(score, label, weight) for name, score in scores.items()}
    replica_metrics = bootstrap_metrics(
        scores, label, weight, pass_sr, replicates=settings["bootstrap"], seed=seed
    )
    background_rows = label == 0
    headline = sorted(skim_record) if samples is None else list(samples)
    efficiencies = skim_efficiencies(skim_record, samples)
    cuts = dict(replica_metrics["cuts"])
    cuts["background"] = background_measurement(
        test.sample[rows][background_rows],
        weight[background_rows],
        pass_sr[background_rows],
        generated_weight=mean_generated_weights(skim_record, headline),
        min_neff=settings["min_background_neff"],
    )
    cuts["unmeasured"] = cuts["background"]["unmeasured"]
    # The cuts need no training: their working point measured on every skimmed event as well.
    cuts["all_events"] = skim_background_measurement(
        skim_record, headline, min_neff=settings["min_background_neff"]
    )
    cuts["relative_to_generated"] = {
        "tpr": cuts["tpr"] * efficiencies["signal"] if efficiencies["signal"] else None,
        "fpr": cuts["fpr"] * efficiencies["background"] if efficiencies["background"] else None,
    }
    metrics: dict[str, dict[str, Any]] = {"cuts": cuts}
    metrics.update(_model_metrics(replica_metrics, settings))
    for name in list(metrics)[1:]:
        metrics[name]["relative_to_generated"] = _relative_to_generated(metrics[name], efficiencies)
        # How much the comparison moves if the unmeasured slices sat at their upper bounds.
        upper = cuts["background"]["fpr_upper"]
        metrics[name]["tpr_at_fpr_upper"] = float(
            np.mean([tpr_at_fpr(rocs[replica], upper) for replica in metrics[name]["replicas"]])
        )
    for name, path in (costs or {}).items():
        if name in metrics:
            metrics[name]["costs"] = read_costs(path)
    cuts["skim"] = {
        "preselection": config["preselection"],
        "signal_efficiency": efficiencies["signal"],
        "background_efficiency": efficiencies["background"],
    }
    metrics = {name: _finite(m) for name, m in metrics.items()}
    warning = background_warning(cuts, settings["min_background_neff"])
    if warning:
        log.warning("%s: %s", test.path, warning)
    write_json_atomic(output, metrics)
    _write_summary(
        output.parent,
        metrics,
        settings["bootstrap"],
        len(rows),
        min_neff=settings["min_background_neff"],
        preselection=config["preselection"],
    )
    write_cutflow(
        output.parent,
        cutflow_rows(skim_record, samples),
        luminosity_ifb=config["luminosity_ifb"],
        preselection=config["preselection"],
    )

    nominal = [name for name in metrics if name != "cuts"]
    written = _write_plots(
        config,
        test,
        rows,
        {name: scores[name] for name in nominal},
        {name: rocs[name] for name in nominal},
        label=label,
        weight=weight,
        pass_sr=pass_sr,
        plots_dir=plots_dir,
    )
    return EvaluateResult(output, metrics, written, time.perf_counter() - start)
