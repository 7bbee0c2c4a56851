"""Cluster profiles: what Snakemake would submit to Slurm, checked without a cluster.

Each profile is dry-run on the ci DAG; the resources Snakemake resolves per job are fed to the
Slurm executor plugin's own submit-string builder, and the sbatch options are checked.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from snakemake_executor_plugin_slurm.submit_string import get_submit_command
from snakemake_executor_plugin_slurm.utils import set_gres_string

from hepdl.cli import main
from hepdl.cluster import ACCOUNT_VARIABLE, check_slurm_account, install_profile
from hepdl.errors import ConfigError

from .conftest import REPO

PROFILES = REPO / "workflow" / "profiles"
CPU_RULES = ("generate", "simulate", "features", "images", "merge_images", "xsec")
GPU_RULES = ("train_cnn", "predict")


def dry_run(profile: str, workdir: Path, account: str | None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != ACCOUNT_VARIABLE}
    if account is not None:
        env[ACCOUNT_VARIABLE] = account
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
    command += ["--directory", str(workdir), "--profile", str(PROFILES / profile)]
    command += ["--configfile", str(REPO / "config/ci.yaml"), "-n"]
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False)


def resources_by_rule(output: str) -> dict[str, dict[str, Any]]:
    """The first job's resolved resources per rule, from a dry run's job listing."""
    found: dict[str, dict[str, Any]] = {}
    rule = None
    for line in output.splitlines():
        if match := re.match(r"^(?:local)?rule (\w+):", line.strip()):
            rule = match.group(1)
        elif line.strip().startswith("resources:") and rule and rule not in found:
            pairs = (item.split("=", 1) for item in line.split(":", 1)[1].split(", "))
            found[rule] = {key.strip(): _number(value) for key, value in pairs}
    return found


def _number(value: str) -> Any:
    try:
        return int(value)
    except ValueError:
        return value.strip()


class JobResources(dict[str, Any]):
    """The attribute-and-get access the plugin uses on ``job.resources``."""

    def __getattr__(self, name: str) -> Any:
        return self[name]


def sbatch_line(resources: dict[str, Any]) -> str:
    job = SimpleNamespace(resources=JobResources(resources), threads=1)
    params = {
        "run_uuid": "hepdl-test",
        "slurm_logfile": "slurm.log",
        "comment_str": "rule",
        "account": f"-A {resources['slurm_account']}",
        "partition": "",
        "workdir": "/scratch/hepdl",
    }
    return get_submit_command(job, params) + set_gres_string(job)


@pytest.fixture(scope="module", params=["cori", "perlmutter"])
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, dict[str, dict[str, Any]]]:
    run = dry_run(request.param, tmp_path_factory.mktemp(request.param), account="m1234")
    assert run.returncode == 0, run.stderr[-3000:]
    return request.param, resources_by_rule(run.stdout + run.stderr)


def test_cpu_rules_go_to_cpu_nodes(cluster: tuple[str, dict[str, dict[str, Any]]]) -> None:
    name, resources = cluster
    node = {"cori": "knl", "perlmutter": "cpu"}[name]
    for rule in CPU_RULES:
        line = sbatch_line(resources[rule])
        assert f"-C {node}" in line, (rule, line)
        assert "-A m1234" in line
        assert "--qos=regular" in line
        assert re.search(r" -t \d+", line)
        assert re.search(r"--mem \d+", line)
        assert "gpu" not in line


def test_training_goes_to_gpu_nodes(cluster: tuple[str, dict[str, dict[str, Any]]]) -> None:
    _, resources = cluster
    for rule in GPU_RULES:
        line = sbatch_line(resources[rule])
        assert "-C gpu" in line, (rule, line)
        assert "--gpus=1" in line or "--gres=gpu:1" in line, line
        assert "-A m1234" in line
        assert re.search(r"--cpus-per-gpu=\d+|--cpus-per-task=\d+", line)
    assert resources["train_cnn"]["runtime"] >= 60


@pytest.mark.parametrize("profile", ["default", "ci"])
def test_local_profiles_dry_run(profile: str, tmp_path: Path) -> None:
    run = dry_run(profile, tmp_path, account=None)
    assert run.returncode == 0, run.stderr[-3000:]


def test_missing_account_is_a_clear_error(tmp_path: Path) -> None:
    run = dry_run("cori", tmp_path, account=None)
    assert run.returncode != 0
    assert f"export {ACCOUNT_VARIABLE}" in run.stdout + run.stderr


def test_unknown_profile_is_a_clear_error(tmp_path: Path) -> None:
    run = dry_run("summit", tmp_path, account="m1234")
    assert run.returncode != 0
    assert "profile" in (run.stdout + run.stderr).lower()


def test_account_check() -> None:
    check_slurm_account(["mem_mb=1000"], executor=None)
    check_slurm_account(["slurm_account=m1234"], executor="slurm")
    for entries in (["slurm_account=$HEPDL_SLURM_ACCOUNT"], ["slurm_account="], []):
        with pytest.raises(ConfigError, match="slurm_account"):
            check_slurm_account(entries, executor="slurm")


def test_install_places_profiles_where_snakemake_looks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.chdir(REPO)
    assert main(["profiles", "install", "cori", "perlmutter"]) == 0
    assert (tmp_path / "snakemake/cori/config.yaml").is_file()
    assert (tmp_path / "snakemake/perlmutter/config.yaml").is_file()


def test_haswell_replaces_knl_but_not_gpu(tmp_path: Path) -> None:
    text = install_profile("cori", PROFILES, tmp_path, cpu_constraint="haswell").read_text()
    assert "knl" not in text.split("\n", 2)[2]
    assert "constraint: gpu" in text


def test_install_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown profile 'summit'"):
        install_profile("summit", PROFILES, tmp_path)
    with pytest.raises(ConfigError, match="not a CPU node type of perlmutter"):
        install_profile("perlmutter", PROFILES, tmp_path, cpu_constraint="knl")
