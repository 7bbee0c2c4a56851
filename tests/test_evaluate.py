"""Weighted ROC curves, the benchmark working point, bootstrap errors, the evaluate stage."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hepdl.errors import InputFileError
from hepdl.evaluate.metrics import (
    benchmark_point,
    bootstrap_metrics,
    classifier_metrics,
    roc_curve,
    tpr_at_fpr,
)
from hepdl.evaluate.predict import PREDICTION_COLUMNS
from hepdl.evaluate.stage import PAPER, evaluate

from .synthetic_splits import make_config, write_splits


def test_roc_matches_a_brute_force_scan_with_weights_and_ties() -> None:
    rng = np.random.default_rng(0)
    score = rng.integers(0, 20, 300) / 20.0  # many ties
    label = rng.random(300) < 0.4
    weight = rng.exponential(1.0, 300) * np.where(label, 1e-3, 1e3)
    roc = roc_curve(score, label, weight)
    for threshold, fpr, tpr in zip(roc.threshold[1:], roc.fpr[1:], roc.tpr[1:], strict=True):
        passing = score >= threshold
        assert tpr == pytest.approx(weight[passing & label].sum() / weight[label].sum())
        assert fpr == pytest.approx(weight[passing & ~label].sum() / weight[~label].sum())
    assert (roc.fpr[0], roc.tpr[0]) == (0.0, 0.0)
    assert roc.fpr[-1] == pytest.approx(1.0)
    assert roc.tpr[-1] == pytest.approx(1.0)
    assert len(roc.threshold) == len(np.unique(score)) + 1


def test_auc_of_perfect_random_and_inverted_scores() -> None:
    label = np.array([0, 0, 1, 1])
    weight = np.array([1.0, 3.0, 2.0, 5.0])
    assert roc_curve([0.1, 0.2, 0.8, 0.9], label, weight).auc == pytest.approx(1.0)
    assert roc_curve([0.9, 0.8, 0.2, 0.1], label, weight).auc == pytest.approx(0.0)
    assert roc_curve([0.5] * 4, label, weight).auc == pytest.approx(0.5)
    # Weighted: P(score_sig > score_bkg) with the weights as probabilities.
    score = np.array([0.3, 0.6, 0.5, 0.9])
    expected = (3 * 2 * 0 + 3 * 5 * 1 + 1 * 2 * 1 + 1 * 5 * 1) / (4 * 7)
    assert roc_curve(score, label, weight).auc == pytest.approx(expected)


def test_tpr_at_fpr_is_the_loosest_cut_within_the_background_efficiency() -> None:
    label = np.array([1, 1, 0, 1, 0])
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    weight = np.ones(5)
    roc = roc_curve(score, label, weight)
    # Points: (0,0) (0,1/3) (0,2/3) (1/2,2/3) (1/2,1) (1,1)
    assert tpr_at_fpr(roc, 0.0) == pytest.approx(2 / 3)
    assert tpr_at_fpr(roc, 0.25) == pytest.approx(2 / 3)  # no interpolation along the stairs
    assert tpr_at_fpr(roc, 0.5) == pytest.approx(1.0)
    assert tpr_at_fpr(roc, 0.5 * (1 - 1e-12)) == pytest.approx(1.0)  # rounding of the target


def test_cuts_as_a_score_reproduce_the_benchmark_point() -> None:
    rng = np.random.default_rng(1)
    label = rng.random(500) < 0.5
    pass_sr = np.where(label, rng.random(500) < 0.4, rng.random(500) < 0.01)
    weight = rng.exponential(1.0, 500)
    cuts = benchmark_point(pass_sr, label, weight)
    assert cuts.tpr == pytest.approx(weight[label & pass_sr].sum() / weight[label].sum())
    assert cuts.fpr == pytest.approx(weight[~label & pass_sr].sum() / weight[~label].sum())
    same = classifier_metrics(roc_curve(pass_sr.astype(float), label, weight), cuts)
    assert same["tpr_at_benchmark_fpr"] == pytest.approx(cuts.tpr)
    assert same["significance_gain"] == pytest.approx(1.0)


def test_bootstrap_gives_errors_and_is_seeded() -> None:
    rng = np.random.default_rng(2)
    label = rng.random(2000) < 0.5
    score = rng.normal(label * 1.5, 1.0)
    pass_sr = score > 1.8
    weight = rng.exponential(1.0, 2000)
    a = bootstrap_metrics({"m": score}, label, weight, pass_sr, replicates=30, seed=7)
    b = bootstrap_metrics({"m": score}, label, weight, pass_sr, replicates=30, seed=7)
    assert a == b
    assert a["cuts"]["tpr"] == a["cuts"]["tpr_at_benchmark_fpr"]
    assert 0.0 < a["m"]["tpr_at_benchmark_fpr_err"] < 0.1
    assert 0.0 < a["m"]["auc_err"] < 0.05
    assert a["m"]["significance_gain"] == pytest.approx(
        a["m"]["tpr_at_benchmark_fpr"] / a["cuts"]["tpr"]
    )
    none = bootstrap_metrics({"m": score}, label, weight, pass_sr, replicates=0, seed=7)
    assert none["m"]["auc_err"] is None


def _predictions(path: Path, features: Path, score: np.ndarray) -> Path:
    table = pq.read_table(features).to_pandas()
    columns = {
        "score": score,
        "logit": np.log(score / (1 - score)),
        "weight": table["weight"].to_numpy(),
        "label": table["label"].to_numpy(),
        "passSR": table["passSR"].to_numpy(),
        "mg": table["mg"].to_numpy(),
        "mn": table["mn"].to_numpy(),
        "sample": table["sample"].to_numpy(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({c: columns[c] for c in PREDICTION_COLUMNS}), path)
    return path


def test_evaluate_writes_metrics_table_and_plots(tmp_path: Path) -> None:
    paths = write_splits(tmp_path, sizes={"train": 40, "val": 40, "test": 400})
    config = make_config(
        tmp_path, train={"models": ["cnn", "mlp"], "samples": ["RPV_1400_850", "JZ4", "JZ5"]}
    )
    test = pq.read_table(paths["features"]["test"]).to_pandas()
    rng = np.random.default_rng(3)
    label = test["label"].to_numpy()
    good = np.clip(0.5 + 0.45 * (2 * label - 1) * rng.random(len(label)), 0.01, 0.99)
    bad = rng.uniform(0.01, 0.99, len(label))
    predictions = {
        "cnn": _predictions(
            tmp_path / "predictions" / "cnn.parquet", paths["features"]["test"], good
        ),
        "mlp": _predictions(
            tmp_path / "predictions" / "mlp.parquet", paths["features"]["test"], bad
        ),
    }
    result = evaluate(config, predictions)
    metrics = json.loads((tmp_path / "evaluation" / "metrics.json").read_text())
    assert set(metrics) == {"cuts", "cnn", "mlp"}
    for name in metrics:
        for key in ("auc", "tpr_at_benchmark_fpr", "significance_gain"):
            assert isinstance(metrics[name][key], float)
    assert {"tpr", "fpr"} <= set(metrics["cuts"])
    assert metrics["cnn"]["tpr_at_benchmark_fpr"] > metrics["mlp"]["tpr_at_benchmark_fpr"]
    assert metrics["cnn"]["auc"] == pytest.approx(1.0)
    # Headline metrics use the training samples only: RPV_1600_850 is left out.
    keep = test["sample"] != "RPV_1600_850"
    cuts = benchmark_point(test["passSR"][keep], label[keep], test["weight"][keep])
    assert metrics["cuts"]["tpr"] == pytest.approx(cuts.tpr)
    with (tmp_path / "evaluation" / "summary.csv").open(encoding="utf-8") as table:
        summary = {row["classifier"]: row for row in csv.DictReader(table)}
    # The measured efficiency, and the paper's beside the models the paper had (no MLP there).
    assert summary["cnn"]["tpr_at_benchmark_fpr"].startswith(
        f"{metrics['cnn']['tpr_at_benchmark_fpr']:.3f} ± "
    )
    paper = {name: row["paper_tpr_at_benchmark_fpr"] for name, row in summary.items()}
    assert paper == {"cuts": f"{PAPER['cuts']:.2f}", "cnn": f"{PAPER['cnn']:.2f}", "mlp": ""}
    assert "Paper (arXiv:1711.03573)" in (tmp_path / "evaluation" / "summary.html").read_text()
    names = {p.name for p in result.plots}
    assert names == {
        "roc.png",
        "scores_cnn.png",
        "scores_mlp.png",
        "cnn_score_vs_mj.png",
        "cnn_score_vs_njet.png",
    }
    short = tmp_path / "short.parquet"
    pq.write_table(pq.read_table(predictions["mlp"]).slice(0, 5), short)
    with pytest.raises(InputFileError, match="5 vs 400 events"):
        evaluate(config, {"mlp": short})
