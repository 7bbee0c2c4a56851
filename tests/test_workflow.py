"""The Snakemake DAG: lint, dry runs of the shipped configs and the ci DAG end to end."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest
import yaml

from hepdl.io import read_event_metadata

from .conftest import REPO, delphes_build_or_reason

SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


@pytest.mark.slow
def test_dry_run_of_full_config_lists_generate_jobs(tmp_path: Path) -> None:
    run = snakemake(tmp_path, "--configfile", str(REPO / "config/config.yaml"), "-n")
    assert run.returncode == 0, run.stderr
    # 260 shards of 10,000 events and 120 pile-up shards of 5,000 (sized in docs/scaling.md)
    assert re.search(r"^generate\s+380$", run.stdout, flags=re.MULTILINE), run.stdout


def test_bad_config_fails_before_any_job(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "samples:\n  S: {process: rpv_gluino, m_gluino_gev: 800, m_neutralino_gev: 900,"
        " events: 10, shards: 1}\n"
    )
    run = snakemake(tmp_path, "--configfile", str(config), "--cores", "1")
    assert run.returncode != 0
    assert "samples.S.m_neutralino_gev" in run.stderr + run.stdout
    assert not (tmp_path / "results" / "events").exists()


def ci_configfiles(workdir: Path) -> list[str]:
    """The ci config, and where Delphes cannot be built (no sources, no ROOT), an overlay in
    ``workdir`` that leaves out its comparison with real Delphes; the rest runs anyway."""
    configs = [str(REPO / "config/ci.yaml")]
    build, _ = delphes_build_or_reason()
    if build is None:
        overlay = workdir / "no-delphes.yaml"
        overlay.write_text("compare_detectors: {enabled: false}\n")
        configs.append(str(overlay))
    return configs


@pytest.mark.slow
def test_ci_dag_runs_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configs = ci_configfiles(tmp_path)
    build, _ = delphes_build_or_reason()
    run = snakemake(tmp_path, "--configfile", *configs, "--cores", "2")
    assert run.returncode == 0, run.stderr[-3000:]
    results = tmp_path / "results-ci"
    comparison = results / "validation/compare_detectors/comparison.json"
    assert comparison.is_file() == (build is not None)
    for shard in (0, 1):
        assert (
            read_event_metadata(results / "events/RPV_1400_850" / f"{shard}.parquet")["shard"]
            == shard
        )
    xsec = json.loads((results / "events/JZ4/xsec.json").read_text())
    assert xsec["sigma_pb"] > 0
    assert (results / "logs/generate/JZ4/0.log").read_text().count("PYTHIA") > 0
    assert (results / "benchmarks/generate/JZ4/0.tsv").exists()
    # Both GANs trained a few steps, generated and were validated, and each generator was
    # timed against Pythia + detector simulation on the same sample.
    for gan in ("gan", "cgan"):
        assert json.loads((results / "gan" / gan / "validation.json").read_text())["n_real"] > 1
        speed = json.loads((results / "gan" / gan / "speed.json").read_text())
        assert speed["pythia"]["count"] == 10
        for stage in ("pythia", "simulation", "chain", "generator"):
            assert speed[stage]["per_second"] > 0, (gan, stage)
        assert speed["generator_over_chain"] > 0
    # The graph network trains for a few steps on the graph splits and is evaluated.
    assert "train gnn: 1 epochs, 2 steps" in (results / "logs/train/gnn.log").read_text()
    metrics = json.loads((results / "evaluation/metrics.json").read_text())
    assert {"cnn", "gnn", "cuts"} <= set(metrics)
    assert metrics["gnn"]["costs"]["parameters"] > 0
    # The 2-trial searches: two workers shared each journal, the CNN's best trial was trained
    # again as cnn_hpo and evaluated beside cnn; the searches' plots are in the report.
    for study in ("cnn", "gan"):
        workers = [
            json.loads((results / f"hpo/{study}/workers/{k}.json").read_text()) for k in (0, 1)
        ]
        ran = sorted(trial["number"] for worker in workers for trial in worker["trials"])
        assert ran == [0, 1], workers
        best = yaml.safe_load((results / f"hpo/{study}/best.yaml").read_text())
        assert best["trials"]["COMPLETE"] + best["trials"]["PRUNED"] == 2
        assert (results / f"hpo/{study}/plots/history.png").is_file()
    assert metrics["cnn_hpo"]["tpr_at_benchmark_fpr"] is not None
    assert (results / "predictions/cnn_hpo.parquet").is_file()
    _execute_notebook(results, monkeypatch)
    # The report's summaries: every job's benchmark file in the per-stage table, and the
    # training curves of every model and GAN.
    benchmark_files = list((results / "benchmarks").rglob("*.tsv"))
    with (results / "evaluation/benchmarks.csv").open() as table:
        summary = list(csv.DictReader(table))
    assert sum(int(row["jobs"]) for row in summary) == len(benchmark_files) > 20
    assert {row["stage"] for row in summary} >= {"generate", "simulate", "train", "evaluate"}
    for name in [*(name for name in metrics if name != "cuts"), "gan", "cgan"]:
        assert (results / "plots/training" / f"{name}.png").stat().st_size > 0, name
    # Nothing left to do: a second run is a no-op.
    again = snakemake(tmp_path, "--configfile", *configs, "--cores", "2", "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
    report = snakemake(tmp_path, "--configfile", *configs, "--report", "report.html")
    assert report.returncode == 0, report.stderr[-3000:]
    html = (tmp_path / "report.html").read_text(errors="replace")
    sections = ("Detector validation", "Inputs", "Training", "Benchmarks", "Evaluation", "Search")
    for section in sections:
        assert section in html, section
    assert "speed.html" in html  # the GAN speed table, beside the GAN validation plots


def _execute_notebook(results: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run notebooks/results.ipynb on ``results`` with a fresh kernel; any cell's error fails."""
    notebook = nbformat.read(REPO / "notebooks/results.ipynb", as_version=4)
    # The kernel inherits this process's environment: the folder, and no waiting on trainings.
    monkeypatch.setenv("HEPDL_RESULTS", str(results))
    monkeypatch.setenv("HEPDL_WATCH_SECONDS", "0")
    client = nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(results.parent)}},
    )
    client.execute()
    images = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if "image/png" in output.get("data", {})
    ]
    assert len(images) >= 5  # ROC, training curves, the searches, GANs, detector plots


def test_lint_finds_nothing(tmp_path: Path) -> None:
    run = snakemake(tmp_path, "--configfile", str(REPO / "config/ci.yaml"), "--lint")
    lints = [
        line.strip()
        for line in (run.stdout + run.stderr).splitlines()
        if line.strip().startswith("* ")
    ]
    # Every rule has its conda environment (envs/), so no lint is left to excuse.
    assert lints == []
