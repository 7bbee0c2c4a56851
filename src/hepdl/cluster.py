"""Cluster set-up: Snakemake profiles for NERSC's Slurm systems and their sanity checks.

The profiles live in ``workflow/profiles/<name>/config.yaml``. ``hepdl profiles install``
copies them to where Snakemake looks for a profile given by name (the user's Snakemake config
folder), so ``snakemake --profile cori`` works as typed; ``--cpu-constraint haswell`` swaps
Cori's KNL nodes for Haswell in the copy. The per-shard jobs (one core each) are Slurm job
arrays in the ``shared`` QOS, every task its own one-core allocation: Snakemake groups would run
their members one after another inside one job (docs/scaling.md). The Slurm account is never
guessed: the profiles take it from ``$HEPDL_SLURM_ACCOUNT`` and :func:`check_slurm_account` stops
the workflow with a clear message when it is missing.

Distributed training takes its shape from the training rule's resources in the profile: ``nodes``
and ``tasks_per_node`` (one process per GPU), with ``mpi: srun`` so that the Slurm executor runs
the rule's command as it is instead of inside a one-task ``srun``. :func:`training_launcher` is
the ``srun`` prefix the rule puts before ``hepdl train``, and :func:`training_layout_args` the
matching ``--num-nodes``/``--devices`` of the command line, which Lightning's SLURMEnvironment
checks against Slurm's own ``SLURM_NNODES`` and ``SLURM_NTASKS_PER_NODE``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from hepdl.errors import ConfigError
from hepdl.io.atomic import write_text_atomic

__all__ = [
    "ACCOUNT_VARIABLE",
    "SHARED_QOS",
    "available_profiles",
    "check_slurm_account",
    "install_profile",
    "snakemake_profile_dir",
    "training_launcher",
    "training_layout",
    "training_layout_args",
]

#: Environment variable the cluster profiles read the Slurm account (NERSC project) from.
ACCOUNT_VARIABLE = "HEPDL_SLURM_ACCOUNT"

#: NERSC's QOS that places single-core jobs side by side on a node and charges by the core.
SHARED_QOS = "shared"

_CPU_CONSTRAINTS = {"cori": ("knl", "haswell"), "perlmutter": ("cpu",)}


def snakemake_profile_dir() -> Path:
    """The user's Snakemake profile folder (``$XDG_CONFIG_HOME/snakemake``)."""
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "snakemake"


def available_profiles(source: Path) -> list[str]:
    """Names of the profiles shipped in ``source`` (``workflow/profiles``)."""
    return sorted(path.parent.name for path in source.glob("*/config.yaml"))


def install_profile(
    name: str,
    source: Path,
    target: Path | None = None,
    cpu_constraint: str | None = None,
) -> Path:
    """Copy profile ``name`` from ``source`` to ``target/name/config.yaml``.

    Args:
        name: Profile name (``cori``, ``perlmutter``, ``default``, ``ci``).
        source: The repository's ``workflow/profiles`` folder.
        target: Where Snakemake looks for profiles (default: :func:`snakemake_profile_dir`).
        cpu_constraint: Node type for the CPU rules (Cori: ``knl`` or ``haswell``).

    Returns:
        The written profile file.

    Raises:
        ConfigError: for an unknown profile or a CPU constraint the cluster does not have.
    """
    known = available_profiles(source)
    if name not in known:
        raise ConfigError(
            "profile", f"unknown profile '{name}'; available: {', '.join(known)}", str(source)
        )
    profile = yaml.safe_load((source / name / "config.yaml").read_text(encoding="utf-8"))
    if cpu_constraint is not None:
        allowed = _CPU_CONSTRAINTS.get(name, ())
        if cpu_constraint not in allowed:
            raise ConfigError(
                "cpu_constraint",
                f"'{cpu_constraint}' is not a CPU node type of {name}; expected one of: "
                f"{', '.join(allowed) or 'none (not a cluster profile)'}",
                str(source / name),
            )
        _set_cpu_constraint(profile, cpu_constraint)
    header = (
        f"# Installed by `hepdl profiles install {name}` from {source / name}.\n"
        "# Rerun that command after updating the repository.\n"
    )
    destination = (target or snakemake_profile_dir()) / name / "config.yaml"
    write_text_atomic(destination, header + yaml.safe_dump(profile, sort_keys=False))
    return destination


def _set_cpu_constraint(profile: dict[str, object], constraint: str) -> None:
    """Replace every CPU-node constraint (anything but ``gpu``) in a profile.

    Rules in the ``shared`` QOS keep their node type: only some node types have that QOS
    (on Cori Haswell, not KNL), and the per-shard jobs run there one core each.
    """
    default = profile.get("default-resources")
    if isinstance(default, dict) and default.get("constraint") != "gpu":
        default["constraint"] = constraint
    per_rule = profile.get("set-resources")
    if isinstance(per_rule, dict):
        for resources in per_rule.values():
            if not isinstance(resources, dict) or resources.get("qos") == SHARED_QOS:
                continue
            if resources.get("constraint") not in (None, "gpu"):
                resources["constraint"] = constraint


def check_slurm_account(default_resources: Sequence[str], executor: str | None) -> None:
    """Stop a Slurm run whose account is missing, instead of letting the executor guess one.

    Args:
        default_resources: Snakemake's ``--default-resources`` entries (``key=value``).
        executor: Name of the executor plugin in use (``None`` for dry runs and local runs).

    Raises:
        ConfigError: naming ``slurm_account`` and how to set it.
    """
    values = dict(entry.split("=", 1) for entry in default_resources if "=" in entry)
    # Snakemake expands environment variables in resource values only when it evaluates them.
    account = os.path.expandvars(values.get("slurm_account", "")).strip().strip("'\"")
    uses_slurm = executor == "slurm" or "slurm_account" in values
    if uses_slurm and (not account or account.startswith("$")):
        raise ConfigError(
            "slurm_account",
            f"no Slurm account given; export {ACCOUNT_VARIABLE}=<your NERSC project, e.g. m1234> "
            "or add --default-resources slurm_account=<project> (hepdl never guesses it)",
            "profile",
        )


def training_layout(resources: Mapping[str, Any]) -> tuple[int, int]:
    """(nodes, processes per node) of a training job, from its Snakemake resources.

    Args:
        resources: The job's resources (``nodes``, ``tasks_per_node``; absent means 1).

    Raises:
        ConfigError: naming the resource, for a count that is not a positive integer.
    """
    layout = []
    for key in ("nodes", "tasks_per_node"):
        value = resources.get(key)
        if value is None:
            value = 1
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(
                f"set-resources {key}", f"{value!r} is not a positive number of {key}", "profile"
            )
        layout.append(value)
    return layout[0], layout[1]


def training_launcher(resources: Mapping[str, Any]) -> list[str]:
    """The launcher put before ``hepdl train``: empty for one process, else ``srun ...``.

    One process per GPU, ``tasks_per_node`` on each of ``nodes``; the ``mpi`` resource names the
    launcher (``srun``) and makes the Slurm executor leave the command unwrapped. A list of
    arguments, so the rule quotes each one (``{params.launch:q}``): ``mpi`` comes from a profile.

    Raises:
        ConfigError: for several processes without the ``mpi`` resource.
    """
    nodes, per_node = training_layout(resources)
    if nodes * per_node == 1:
        return []
    launcher = resources.get("mpi")
    if not launcher or not isinstance(launcher, str):
        raise ConfigError(
            "set-resources mpi",
            f"{nodes} node(s) x {per_node} task(s) need mpi: srun in the rule's set-resources, "
            "so that every process is launched (Slurm's executor otherwise starts one)",
            "profile",
        )
    command = [launcher, f"--nodes={nodes}", f"--ntasks-per-node={per_node}"]
    cpus = resources.get("cpus_per_task")
    if isinstance(cpus, int) and not isinstance(cpus, bool) and cpus > 0:
        command.append(f"--cpus-per-task={cpus}")
    # One failed rank stops the others instead of leaving them waiting in an all-reduce.
    command.append("--kill-on-bad-exit=1")
    return command


def training_layout_args(resources: Mapping[str, Any]) -> list[str]:
    """``--num-nodes N --devices G`` for ``hepdl train`` (empty for one process: the config's)."""
    nodes, per_node = training_layout(resources)
    if nodes * per_node == 1:
        return []
    return ["--num-nodes", str(nodes), "--devices", str(per_node)]
