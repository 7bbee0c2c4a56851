"""The classifier part of the DAG: rules, targets, and a run on synthetic split files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import REPO
from .synthetic_graphs import write_graph_splits
from .synthetic_splits import make_config, write_splits

SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
MY_RULES = [
    "train_cnn",
    "train_mlp",
    "train_gbdt",
    "train_cnn_jets",
    "train_gnn",
    "predict",
    "evaluate",
]


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        check=False,
    )


@pytest.mark.slow
def test_full_config_trains_scores_and_tests_robustness(tmp_path: Path) -> None:
    run = snakemake(tmp_path, "--configfile", str(REPO / "config/config.yaml"), "-n")
    assert run.returncode == 0, run.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", run.stdout, flags=re.MULTILINE))
    assert counts["train_cnn"] == "2"  # 3-channel and total-energy CNNs
    assert counts["predict"] == "6"
    assert counts["robustness"] == "1"
    for rule in ("train_gbdt", "train_mlp", "train_cnn_jets", "train_gnn", "evaluate"):
        assert counts[rule] == "1"


def test_unknown_training_sample_fails_before_any_job(tmp_path: Path) -> None:
    config = make_config(tmp_path / "results", train={"samples": ["RPV_1400_850", "JZ99"]})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    run = snakemake(tmp_path, "--configfile", str(path), "-n")
    assert run.returncode != 0
    assert "train.samples" in run.stderr + run.stdout


@pytest.mark.slow
def test_classifier_rules_run_on_split_files_and_make_the_report(tmp_path: Path) -> None:
    results = tmp_path / "results"
    write_splits(results)
    write_graph_splits(results)
    config = make_config(results)
    config["train"]["cnn"].update(max_epochs=1, limit_train_batches=3)
    for model in ("mlp", "cnn_jets"):
        config["train"][model].update(max_epochs=2)
    config["train"]["gnn"].update(
        channels=[8, 8], dense_units=8, batch_size=32, max_epochs=1, limit_train_batches=3
    )
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    target = str(results / "evaluation" / "metrics.json")
    common = ["--configfile", str(path), "--allowed-rules", *MY_RULES]
    run = snakemake(tmp_path, *common, "--cores", "2", target)
    assert run.returncode == 0, run.stderr[-3000:]
    metrics = json.loads(Path(target).read_text())
    assert set(metrics) == {"cuts", "cnn", "cnn_energy", "cnn_jets", "gbdt", "gnn", "mlp"}
    assert metrics["gnn"]["costs"]["parameters"] > 0
    assert "train gnn: 1 epochs, 3 steps" in (results / "logs" / "train" / "gnn.log").read_text()
    summary = (results / "evaluation" / "summary.html").read_text()
    assert "the graph network (gnn) reaches a signal efficiency of" in summary
    assert (results / "benchmarks" / "train" / "cnn.tsv").is_file()
    assert (
        "train cnn_energy: 1 epochs" in (results / "logs" / "train" / "cnn_energy.log").read_text()
    )
    report = snakemake(tmp_path, *common, "--report", str(results / "report.html"), target)
    assert report.returncode == 0, report.stderr[-3000:]
    html = (results / "report.html").read_text(errors="replace")
    for name in ("roc.png", "summary.html", "cnn_score_vs_mj.png", "scores_gnn.png"):
        assert name in html
