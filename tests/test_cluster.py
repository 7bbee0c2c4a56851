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

from . import fake_slurm
from .conftest import REPO

PROFILES = REPO / "workflow" / "profiles"
CPU_RULES = ("generate", "simulate", "features", "images", "merge_images", "xsec")
#: The one-core rules of every shard, submitted as Slurm job arrays in the shared QOS.
SHARD_RULES = ("generate", "simulate", "features", "images", "graphs")
#: The CPU node type that has NERSC's shared QOS, per profile.
SHARED_NODES = {"cori": "haswell", "perlmutter": "cpu"}
GPU_RULES = ("train_cnn", "predict")
#: The GAN, GNN and hyper-parameter search rules: on GPU nodes except the GAN's validation (jet
#: clustering on CPUs) and the search's summary and plots.
MODEL_RULES = {
    "train_gnn": "gpu",
    "train_gan": "gpu",
    "generate_gan": "gpu",
    "validate_gan": "cpu",
    "gan_speed": "gpu",  # the generator's speed on the GPU, beside Pythia on one of its cores
    "hpo_worker": "gpu",
    "train_cnn_hpo": "gpu",
    "hpo_best": "cpu",
    "hpo_report": "cpu",
}


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
    """Per-shard rules to the shared QOS (Cori: on Haswell, KNL has none), the rest regular."""
    name, resources = cluster
    for rule in CPU_RULES:
        shared = rule in SHARD_RULES
        node = SHARED_NODES[name] if shared else {"cori": "knl", "perlmutter": "cpu"}[name]
        line = sbatch_line(resources[rule])
        assert f"-C {node}" in line, (rule, line)
        assert "-A m1234" in line
        assert f"--qos={'shared' if shared else 'regular'}" in line, (rule, line)
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


def test_knl_leaves_the_shared_qos_on_haswell(tmp_path: Path) -> None:
    """KNL has no shared QOS: the per-shard jobs stay on Haswell whatever the CPU constraint."""
    path = install_profile("cori", PROFILES, tmp_path, cpu_constraint="knl")
    resources = yaml.safe_load(path.read_text(encoding="utf-8"))["set-resources"]
    for rule in SHARD_RULES:
        assert resources[rule]["constraint"] == "haswell", rule
    assert resources["merge_images"]["constraint"] == "knl"


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
    # train_cnn's commands (cnn_hpo's rule, train_cnn_hpo, has resources of its own).
    commands = [
        line
        for line in output.splitlines()
        if "hepdl train cnn " in line and "--hpo-best" not in line
    ]
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


#: Memory (MB) per core that the shared QOS gives a one-core job (Perlmutter: 512 GB over 256
#: hardware threads, two per core; Cori Haswell: 128 GB over 64).
SHARED_MEMORY_PER_CORE = {"cori": 3_800, "perlmutter": 3_800}
#: Linux's limit on one argument (MAX_ARG_STRLEN): the sbatch call goes to `/bin/sh -c` whole.
ARGUMENT_LIMIT = 128 * 1024


@pytest.mark.parametrize("name", sorted(SHARED_NODES))
def test_shard_rules_are_arrays_in_the_shared_qos(name: str) -> None:
    """No Snakemake groups (the plugin runs their members one after another, see the stand-in
    tests below): every shard rule is a one-core array task in the shared QOS."""
    profile = yaml.safe_load((PROFILES / name / "config.yaml").read_text(encoding="utf-8"))
    assert "groups" not in profile
    assert "group-components" not in profile
    arrays = {rule.strip() for rule in profile["slurm-array-jobs"].split(",")}
    assert arrays == set(SHARD_RULES)
    default = profile["default-resources"]
    for rule in SHARD_RULES:
        resources = default | profile["set-resources"][rule]
        assert resources["qos"] == "shared", rule
        assert resources["constraint"] == SHARED_NODES[name], rule
        assert resources["cpus_per_task"] == 1, rule
        assert resources["mem_mb"] <= SHARED_MEMORY_PER_CORE[name], rule
        # One rule on one 10,000-event shard takes minutes (docs/scaling.md), so a short limit.
        assert resources["runtime"] <= 15, rule


#: A rule of three one-core jobs of one sleep each, writing when each sleep ran. Named
#: `generate` so that the profiles' array setting applies to it.
SLEEP_SECONDS = 8
SLEEPY_SNAKEFILE = f"""
rule all:
    input: expand("out/{{i}}.txt", i=range(3))

rule generate:
    output: "out/{{i}}.txt"
    threads: 1
    resources: mem_mb=100, runtime=5
    shell: "start=$(date +%s.%N); sleep {SLEEP_SECONDS}; echo $start $(date +%s.%N) > {{output}}"
"""


def run_on_stand_in(
    tmp_path: Path, packing: list[str], snakefile: Path | None = None, run_tasks: bool = True
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`snakemake --executor slurm` against the stand-in Slurm; returns the run and its state."""
    stand_in = fake_slurm.install(tmp_path / "bin")
    state = tmp_path / "state"
    workdir = tmp_path / "work"
    workdir.mkdir()
    if snakefile is None:
        snakefile = workdir / "Snakefile"
        snakefile.write_text(SLEEPY_SNAKEFILE, encoding="utf-8")
    base = {key: value for key, value in os.environ.items() if key != ACCOUNT_VARIABLE}
    env = fake_slurm.environment(stand_in, state, base, run_tasks=run_tasks)
    env[ACCOUNT_VARIABLE] = fake_slurm.ACCOUNT
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile)]
    command += ["--directory", str(workdir), "--executor", "slurm", "--jobs", "10"]
    if "--profile" not in packing:
        command += ["--default-resources", f"slurm_account={fake_slurm.ACCOUNT}"]
    # The stand-in runs every job at once: poll it every second instead of every 40.
    command += ["--slurm-init-seconds-before-status-checks", "1", *packing]
    run = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    return run, state


def sleep_span(workdir: Path) -> float:
    """Seconds from the first sleep's start to the last one's end."""
    times = [
        [float(value) for value in path.read_text(encoding="utf-8").split()]
        for path in (workdir / "out").glob("*.txt")
    ]
    assert len(times) == 3, times
    return max(end for _, end in times) - min(start for start, _ in times)


def profile_array_options(name: str) -> list[str]:
    profile = yaml.safe_load((PROFILES / name / "config.yaml").read_text(encoding="utf-8"))
    return [
        "--slurm-array-jobs",
        profile["slurm-array-jobs"],
        "--slurm-array-limit",
        str(profile["slurm-array-limit"]),
    ]


@pytest.mark.slow
def test_array_tasks_run_side_by_side(tmp_path: Path) -> None:
    """The profiles' packing, on the stand-in: one sbatch with a 3-task array, whose sleeps
    overlap. Serial tasks would take 3 x 8 s; the bound is 2 x 8 s."""
    run, state = run_on_stand_in(tmp_path, profile_array_options("perlmutter"))
    assert run.returncode == 0, run.stderr[-3000:]
    calls = fake_slurm.submissions(state)
    assert len(calls) == 1, calls
    assert "--array=1-3" in calls[0], calls
    assert len(fake_slurm.task_times(state)) == 3
    assert sleep_span(tmp_path / "work") < 2 * SLEEP_SECONDS


@pytest.mark.slow
def test_group_members_run_one_after_another(tmp_path: Path) -> None:
    """Why the profiles use no groups: with the pinned Slurm plugins the members of a group run
    one after another inside its job (`--jobs 1` in the remote call). If this starts to fail,
    the plugins run groups in parallel and groups are an option again."""
    packing = ["--groups", "generate=shards", "--group-components", "shards=3"]
    run, state = run_on_stand_in(tmp_path, packing)
    assert run.returncode == 0, run.stderr[-3000:]
    calls = fake_slurm.submissions(state)
    assert len(calls) == 1, calls
    assert "--cpus-per-task=3" in calls[0], calls
    assert sleep_span(tmp_path / "work") >= 3 * SLEEP_SECONDS


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHARED_NODES))
def test_array_submission_fits_the_command_line(name: str, tmp_path: Path) -> None:
    """An array's sbatch line carries every task's command: the profile's array limit of them
    must stay well below Linux's 128 KiB per argument (beyond it the plugin falls back to a
    script that does not pass the tasks' commands). Measured on the real workflow's generate
    jobs, which the stand-in fails at once."""
    profile = yaml.safe_load((PROFILES / name / "config.yaml").read_text(encoding="utf-8"))
    packing = ["--profile", str(PROFILES / name), "--configfile", str(REPO / "config/ci.yaml")]
    packing += ["--retries", "0"]
    _, state = run_on_stand_in(tmp_path, packing, snakefile=REPO / "Snakefile", run_tasks=False)
    call = next(c for c in fake_slurm.submissions(state) if any("--array=" in a for a in c))
    tasks = int(next(a for a in call if a.startswith("--array=")).rsplit("-", 1)[1])
    wrap = next(a for a in call if a.startswith("--wrap="))
    _, _, payload = wrap.partition("--slurm-jobstep-array-execs=")
    per_task = len(payload) / (tasks - 1)
    full = len(" ".join(call)) - len(payload) + per_task * (profile["slurm-array-limit"] - 1)
    assert full < 0.8 * ARGUMENT_LIMIT, (tasks, per_task, full)
