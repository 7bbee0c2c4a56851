"""Hostile config strings and concurrent runs: what reaches a shell stays one argument, and a
second snakemake (a dry run above all) cannot change the config of a running one."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hepdl.config import pinned_config_path, validate_config, write_pinned_config

from .conftest import JZ4, REPO, SIGNAL
from .test_workflow import snakemake

#: A results folder that breaks an unquoted command: a space, command substitutions of both
#: kinds, a command separator and both quotes. No braces: Snakemake reads those as wildcards.
HOSTILE = "out dir;$(touch pwned);`touch pwned`;'\"q"

#: The smallest DAG the rules accept: a signal sample (the GANs need one) and JZ4, 2 events.
TINY_SAMPLES = {
    "S": {**SIGNAL, "events": 2, "shards": 1},
    "JZ4": {**JZ4, "events": 2, "shards": 1},
}


def shell_commands(output: str) -> list[str]:
    """The commands of `snakemake --printshellcmds`, one line each (rule all has none)."""
    commands = [
        line.split("Shell command:", 1)[1].strip()
        for line in output.splitlines()
        if line.startswith("Shell command:")
    ]
    return [command for command in commands if command != "None"]


def injected(folder: Path) -> list[Path]:
    """Files an injected `touch pwned` would have made (the results folder's own name aside)."""
    return [path for path in folder.rglob("*") if path.name == "pwned"]


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``folder``: modification time and content."""
    return {
        str(path.relative_to(folder)): (path.stat().st_mtime_ns, path.read_bytes())
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def assert_results_path_intact(command: str, results: str) -> None:
    """Parsed as a shell would, ``command`` holds ``results`` only at the start of arguments."""
    arguments = shlex.split(command)
    holding = [argument for argument in arguments if "pwned" in argument]
    assert holding, command
    for argument in holding:
        assert argument.startswith(f"{results}/"), (argument, command)


def test_every_shell_placeholder_is_quoted() -> None:
    """Each `{...}` of every rule's shell command carries Snakemake's `:q` (shlex.quote)."""
    unquoted = []
    for rules in sorted((REPO / "workflow/rules").glob("*.smk")):
        shell_blocks = re.findall(
            r"^    shell:\n((?:        .*\n)+)", rules.read_text(), re.MULTILINE
        )
        assert shell_blocks or rules.name == "common.smk", rules
        for block in shell_blocks:
            fields = re.findall(r"(?<!\{)\{([^{}]*)\}(?!\})", block)
            unquoted += [(rules.name, field) for field in fields if not field.endswith(":q")]
    assert unquoted == []


def test_dry_run_keeps_hostile_results_path_one_argument(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "config/ci.yaml").read_text(encoding="utf-8"))
    results = str(tmp_path / HOSTILE)
    config["results"] = results
    configfile = tmp_path / "hostile.yaml"
    configfile.write_text(yaml.safe_dump(config), encoding="utf-8")
    workdir = tmp_path / "work"
    run = snakemake(workdir, "--configfile", str(configfile), "-n", "--printshellcmds")
    assert run.returncode == 0, run.stderr[-3000:]
    commands = shell_commands(run.stdout + run.stderr)
    # One command per job of every rule of the ci DAG (xsec to the GANs' validation).
    assert any(command.startswith("hepdl xsec ") for command in commands), commands
    assert any("hepdl validate-gan " in command for command in commands), commands
    for command in commands:
        assert_results_path_intact(command, results)
    # A dry run writes nothing under results, the pinned config included.
    assert not Path(results).exists()
    assert injected(tmp_path) == []


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(workdir, configfile, results) after a real run of one sample's xsec (generate of 2
    events, then xsec) under the hostile results folder, relative to the workdir."""
    workdir = tmp_path_factory.mktemp("hostile")
    configfile = workdir / "tiny.yaml"
    configfile.write_text(
        yaml.safe_dump({"results": HOSTILE, "seed": 1, "samples": TINY_SAMPLES}), encoding="utf-8"
    )
    run = snakemake(
        workdir, "--configfile", str(configfile), "--cores", "1", f"{HOSTILE}/events/JZ4/xsec.json"
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return workdir, configfile, workdir / HOSTILE


@pytest.mark.slow  # the tiny_run fixture runs Pythia through Snakemake
def test_real_run_under_hostile_results_path(tiny_run: tuple[Path, Path, Path]) -> None:
    workdir, _, results = tiny_run
    assert json.loads((results / "events/JZ4/xsec.json").read_text())["sigma_pb"] > 0
    assert injected(workdir) == []
    # The run pinned its config, once.
    assert len(list((results / "configs").iterdir())) == 1


@pytest.mark.slow  # the tiny_run fixture runs Pythia through Snakemake
def test_dry_run_with_another_seed_changes_nothing(tiny_run: tuple[Path, Path, Path]) -> None:
    workdir, configfile, results = tiny_run
    before = snapshot(results)
    target = f"{HOSTILE}/events/JZ4/xsec.json"
    run = snakemake(
        workdir, "--configfile", str(configfile), "-n", "-p", "--config", "seed=7", "--", target
    )
    assert run.returncode == 0, run.stderr[-3000:]
    # The seed reruns the generation, under another pinned config, which it does not write.
    commands = shell_commands(run.stdout + run.stderr)
    assert any(command.startswith("hepdl generate ") for command in commands), commands
    pinned = {shlex.split(command)[3] for command in commands}
    assert len(pinned) == 1
    assert not (workdir / pinned.pop()).exists()
    assert snapshot(results) == before


@pytest.mark.slow  # the tiny_run fixture runs Pythia through Snakemake
def test_unrelated_config_change_reruns_nothing(tiny_run: tuple[Path, Path, Path]) -> None:
    """The pinned config's name changes with every key, but is no rerun trigger of its own."""
    workdir, configfile, _ = tiny_run
    target = f"{HOSTILE}/events/JZ4/xsec.json"
    run = snakemake(
        workdir,
        "--configfile",
        str(configfile),
        "-n",
        "--config",
        "luminosity_ifb=40",
        "--",
        target,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Nothing to be done" in run.stdout + run.stderr


def test_job_refuses_a_changed_pinned_config(tmp_path: Path) -> None:
    config = validate_config({"results": str(tmp_path / HOSTILE), "samples": TINY_SAMPLES})
    pinned = write_pinned_config(config)
    assert pinned == pinned_config_path(config)
    # Another seed, as a second snakemake rewriting the file would have left it.
    pinned.write_text(pinned.read_text().replace(f"seed: {config['seed']}\n", "seed: 7\n"))
    assert yaml.safe_load(pinned.read_text())["seed"] == 7
    job = subprocess.run(
        [sys.executable, "-m", "hepdl.cli", "xsec", "--config", str(pinned), "--sample", "JZ4"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert job.returncode == 2, job.stderr
    assert str(pinned) in job.stderr
    assert "pinned config changed" in job.stderr
    assert not (tmp_path / HOSTILE / "events").exists()
