"""The GAN part of the DAG: rules in the shipped configs, and a run on synthetic split files."""

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
from .synthetic_splits import make_config, write_splits

SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
GAN_RULES = ["train_gan", "generate_gan", "validate_gan", "gan_speed"]


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        check=False,
    )


def job_counts(run: subprocess.CompletedProcess[str]) -> dict[str, int]:
    return {
        rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)$", run.stdout, re.MULTILINE)
    }


@pytest.mark.parametrize(
    ("config", "gans"),
    [
        ("ci.yaml", 2),
        # The demo and full configs' dry runs build DAGs of hundreds of jobs (seconds each).
        pytest.param("demo.yaml", 1, marks=pytest.mark.slow),
        pytest.param("config.yaml", 2, marks=pytest.mark.slow),
        # The GAN study: gan and cgan, two seeds each.
        pytest.param("gan.yaml", 4, marks=pytest.mark.slow),
    ],
)
def test_shipped_configs_train_generate_and_validate_their_gans(
    tmp_path: Path, config: str, gans: int
) -> None:
    run = snakemake(tmp_path, "--configfile", str(REPO / "config" / config), "-n")
    assert run.returncode == 0, run.stderr[-3000:]
    counts = job_counts(run)
    for rule in GAN_RULES:
        assert counts.get(rule) == gans, (rule, counts)


def test_gan_config_needs_64_by_64_images_before_any_job(tmp_path: Path) -> None:
    config = make_config(tmp_path / "results", images={"n_eta": 32, "n_phi": 32})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    run = snakemake(tmp_path, "--configfile", str(path), "-n")
    assert run.returncode != 0
    assert "images.n_eta" in run.stderr + run.stdout


@pytest.mark.slow
def test_gan_rules_run_on_split_files_and_make_the_report(tmp_path: Path) -> None:
    results = tmp_path / "results"
    write_splits(results, sizes={"train": 120, "val": 40, "test": 200}, n_pix=64, chunk=16)
    gan = {
        "generator_filters": 4,
        "discriminator_filters": 4,
        "batch_size": 16,
        "max_epochs": 1,
        "limit_train_batches": 2,
        "select_events": 16,
        "generate_events": 20,
        "validation_events": 40,
        "interpolate": [[1500, 850]],
        "speed_events": 5,
        "speed_images": 16,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(make_config(results, gan=gan)))
    targets = [str(results / "gan" / name / "validation.json") for name in ("gan", "cgan")]
    targets += [str(results / "gan" / name / "speed.json") for name in ("gan", "cgan")]
    common = ["--configfile", str(path), "--allowed-rules", *GAN_RULES]
    run = snakemake(tmp_path, *common, "--cores", "2", *targets)
    assert run.returncode == 0, run.stderr[-3000:]
    cgan = json.loads(Path(targets[1]).read_text())
    assert set(cgan["per_mass_point"]) == {"RPV_1400_850", "RPV_1600_850"}
    assert "train gan cgan: 1 epochs" in (results / "logs/train_gan/cgan.log").read_text()
    assert (results / "benchmarks/validate_gan/gan.tsv").is_file()
    report = snakemake(tmp_path, *common, "--report", str(results / "report.html"), *targets)
    assert report.returncode == 0, report.stderr[-3000:]
    html = (results / "report.html").read_text(errors="replace")
    for name in ("mj_gev.png", "mj_shift.png", "mean_image.png", "speed.html"):
        assert name in html
    # The speed table, timed on the first GAN sample, with every rate positive.
    speed = json.loads((results / "gan/cgan/speed.json").read_text())
    assert speed["sample"] == "RPV_1400_850"
    assert speed["pythia"]["count"] == 5
    for stage in ("pythia", "simulation", "chain", "generator"):
        assert speed[stage]["per_second"] > 0, stage
    assert (results / "benchmarks/gan_speed/cgan.tsv").is_file()
