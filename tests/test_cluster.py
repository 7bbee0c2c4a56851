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
import yaml
from snakemake_executor_plugin_slurm.submit_string import get_submit_command
from snakemake_executor_plugin_slurm.utils import set_gres_string

from hepdl.cli import main
from hepdl.cluster import (
    ACCOUNT_VARIABLE,
    check_slurm_account,
    install_profile,
    training_launcher,
    training_layout_args,
)
from hepdl.errors import ConfigError

from .conftest import REPO

PROFILES = REPO / "workflow" / "profiles"
CPU_RULES = ("generate", "simulate", "features", "images", "merge_images", "xsec")
GPU_RULES = ("train_cnn", "predict")
#: The GAN and GNN rules: on GPU nodes except the GAN's validation (jet clustering on CPUs).
MODEL_RULES = {"train_gnn": "gpu", "train_gan": "gpu", "generate_gan": "gpu", "validate_gan": "cpu"}


def dry_run(
    profile: str | Path, workdir: Path, account: str | None
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != ACCOUNT_VARIABLE}
    if account is not None:
        env[ACCOUNT_VARIABLE] = account
    folder = profile if isinstance(profile, Path) else PROFILES / profile
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
    command += ["--directory", str(workdir), "--profile", str(folder)]
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


def test_profiles_give_the_model_rules_their_nodes() -> None:
    """Every GAN and GNN rule has its set-resources, whether or not its rule file is included
    yet (Snakemake ignores set-resources of rules a workflow lacks)."""
    for name, cpu in (("cori", ("knl", "haswell")), ("perlmutter", ("cpu",))):
        profile = yaml.safe_load((PROFILES / name / "config.yaml").read_text(encoding="utf-8"))
        for rule, node in MODEL_RULES.items():
            resources = profile["set-resources"][rule]
            if node == "gpu":
                assert resources["constraint"] == "gpu", (name, rule)
                assert resources["gpu"] >= 1, (name, rule)
            else:
                assert resources["constraint"] in cpu, (name, rule)
                assert "gpu" not in resources, (name, rule)


def test_model_rules_present_go_to_their_nodes(
    cluster: tuple[str, dict[str, dict[str, Any]]],
) -> None:
    _, resources = cluster
    present = [rule for rule in MODEL_RULES if rule in resources]
    for rule in present:
        line = sbatch_line(resources[rule])
        if MODEL_RULES[rule] == "gpu":
            assert "-C gpu" in line, (rule, line)
            assert "--gpus=1" in line, (rule, line)
        else:
            assert "-C gpu" not in line, (rule, line)
            assert "gpus" not in line, (rule, line)


@pytest.fixture(scope="module")
def multi_node(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    """A dry run of perlmutter with the CNN on 2 nodes x 4 GPUs (the profile's comment)."""
    folder = tmp_path_factory.mktemp("profile") / "perlmutter-ddp"
    folder.mkdir()
    profile = yaml.safe_load((PROFILES / "perlmutter/config.yaml").read_text(encoding="utf-8"))
    profile["set-resources"]["train_cnn"] |= {
        "nodes": 2,
        "tasks_per_node": 4,
        "gres": "gpu:4",
        "mpi": "srun",
    }
    del profile["set-resources"]["train_cnn"]["gpu"]
    (folder / "config.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    run = dry_run(folder, tmp_path_factory.mktemp("ddp"), account="m1234")
    assert run.returncode == 0, run.stderr[-3000:]
    output = run.stdout + run.stderr
    return resources_by_rule(output)["train_cnn"], output


def test_multi_node_training_allocation(multi_node: tuple[dict[str, Any], str]) -> None:
    """sbatch asks for 2 GPU nodes with 4 tasks and 4 GPUs each, 32 CPUs per task."""
    resources, _ = multi_node
    line = sbatch_line(resources)
    for option in ("-C gpu", "--nodes=2", "--ntasks-per-node=4", "--gres=gpu:4"):
        assert option in line, (option, line)
    assert "--cpus-per-task=32" in line
    assert "-A m1234" in line
    # With `mpi`, the executor runs the rule's own srun instead of wrapping it in `srun -n1`.
    assert resources["mpi"] == "srun"


def test_multi_node_training_command(multi_node: tuple[dict[str, Any], str]) -> None:
    """One srun task per GPU on every node, and Lightning told the same layout."""
    _, output = multi_node
    commands = [line for line in output.splitlines() if "hepdl train cnn " in line]
    assert commands
    for command in commands:
        launch, _, rest = command.partition("hepdl train cnn")
        assert launch.split(":", 1)[-1].split() == [
            "srun",
            "--nodes=2",
            "--ntasks-per-node=4",
            "--cpus-per-task=32",
            "--kill-on-bad-exit=1",
        ]
        assert "--num-nodes 2 --devices 4" in rest
    # The other networks keep their single GPU: no launcher, the config's layout.
    mlp = next(line for line in output.splitlines() if "hepdl train mlp " in line)
    assert "srun" not in mlp
    assert "--num-nodes" not in mlp


def test_training_launcher() -> None:
    assert training_launcher({}) == training_layout_args({}) == []
    assert training_launcher({"nodes": 1, "tasks_per_node": 1, "mpi": "srun"}) == []
    resources = {"nodes": 4, "tasks_per_node": 4, "mpi": "srun", "cpus_per_task": 32}
    assert training_launcher(resources) == [
        "srun",
        "--nodes=4",
        "--ntasks-per-node=4",
        "--cpus-per-task=32",
        "--kill-on-bad-exit=1",
    ]
    assert training_layout_args(resources) == ["--num-nodes", "4", "--devices", "4"]
    with pytest.raises(ConfigError, match="need mpi: srun"):
        training_launcher({"nodes": 2})
    with pytest.raises(ConfigError, match="set-resources tasks_per_node"):
        training_layout_args({"tasks_per_node": 0})


#: Memory (MB) and cores of one CPU node of each profile's default CPU node type.
CPU_NODES = {"cori": (96_000, 68), "perlmutter": (512_000, 128)}


@pytest.mark.parametrize("name", sorted(CPU_NODES))
def test_shard_groups_fit_one_node(name: str) -> None:
    """A group job asks for the sum of its members' memory and CPUs: it must fit one node."""
    memory, cores = CPU_NODES[name]
    profile = yaml.safe_load((PROFILES / name / "config.yaml").read_text(encoding="utf-8"))
    default = profile["default-resources"]
    for group, members in profile["group-components"].items():
        rules = [rule for rule, g in profile["groups"].items() if g == group]
        assert rules, group
        per_member = max(profile["set-resources"].get(rule, default)["mem_mb"] for rule in rules)
        assert members * per_member <= memory * 0.9, (group, members, per_member)
        assert members <= cores, (group, members)
