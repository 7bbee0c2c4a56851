"""Conda environments per stage (``envs/*.yaml``), for ``--software-deployment-method conda``.

No conda here: the tests check what Snakemake would hand to it. Every rule names an environment
that exists (resolved, as Snakemake does, relative to the rule file), each environment parses,
takes its packages from conda-forge with pinned major versions, and has the post-deploy script
that installs hepdl itself from the checkout; and each stage's environment holds the libraries
that stage imports.
"""

from __future__ import annotations

import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
import yaml

from hepdl.generate.bindings import bindings_version, import_pythia8, pythia8

from .conftest import REPO

RULE_FILES = sorted((REPO / "workflow" / "rules").glob("*.smk"))
ENVS = REPO / "envs"

#: A conda match spec with a bounded major version: `=N`, `=N.M`, or `>=A,<B`.
PINNED = re.compile(r"^[A-Za-z0-9_.-]+ ?(=\d+(\.\d+)*|>=[\d.]+,<[\d.]+)(\s|$)")

#: Libraries each environment must provide (conda-forge names).
REQUIRED = {
    "simulation": {"pythia8", "delphes", "pyhepmc", "fastjet", "uproot", "awkward"},
    "preprocess": {"fastjet", "uproot", "awkward", "h5py"},
    "train": {"pytorch", "lightning", "xgboost", "pytorch_geometric", "h5py"},
    # The speed table times Pythia, the detector simulation and the generator in one job.
    "gan_speed": {"pythia8", "delphes", "fastjet", "uproot", "awkward", "pytorch", "lightning"},
}


def rule_envs() -> dict[str, Path | None]:
    """Rule name -> its ``conda:`` file (None without one), from the rule files."""
    found: dict[str, Path | None] = {}
    for smk in RULE_FILES:
        rule = None
        lines = smk.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if match := re.match(r"^(?:rule|checkpoint) (\w+):", line):
                rule = match.group(1)
                found[rule] = None
            elif rule and line.strip() == "conda:":
                path = lines[number + 1].strip().strip("\"',")
                found[rule] = (smk.parent / path).resolve()
    return found


def test_every_rule_has_an_environment() -> None:
    envs = rule_envs()
    assert {"generate", "simulate", "features", "images", "train_cnn", "evaluate"} <= set(envs)
    missing = sorted(rule for rule, path in envs.items() if path is None)
    assert not missing, f"rules without conda: {missing}"
    for rule, path in envs.items():
        assert path is not None
        assert path.is_file(), (rule, path)
        assert path.parent == ENVS.resolve(), (rule, path)


@pytest.mark.parametrize("env", sorted(REQUIRED))
def test_environment_is_pinned_conda_forge(env: str) -> None:
    spec = yaml.safe_load((ENVS / f"{env}.yaml").read_text(encoding="utf-8"))
    assert spec["channels"][0] == "conda-forge"
    assert "defaults" not in spec["channels"]
    dependencies = spec["dependencies"]
    assert all(isinstance(item, str) for item in dependencies), "no pip section: see post-deploy"
    unpinned = [item for item in dependencies if item != "pip" and not PINNED.match(item)]
    assert not unpinned, f"{env}: no pinned major version for {unpinned}"
    names = {re.split(r"[ =<>]", item, maxsplit=1)[0] for item in dependencies}
    assert REQUIRED[env] <= names, REQUIRED[env] - names
    assert {"python", "pip", "hatchling"} <= names  # for the post-deploy install


@pytest.mark.parametrize("env", sorted(REQUIRED))
def test_post_deploy_installs_hepdl_without_dependencies(env: str) -> None:
    script = (ENVS / f"{env}.post-deploy.sh").read_text(encoding="utf-8")
    assert script.startswith("#!/usr/bin/env bash")
    install = next(line for line in script.splitlines() if "pip install" in line)
    assert "--no-deps" in install
    assert "--editable" in install


def test_every_environment_is_used() -> None:
    used = {path.stem for path in rule_envs().values() if path is not None}
    assert used == {path.stem for path in ENVS.glob("*.yaml")}


def test_pythia_bindings_fall_back_to_conda_forge_name(monkeypatch: pytest.MonkeyPatch) -> None:
    # pip's pythia8mc first (installed here), conda-forge's pythia8 when pip's is absent.
    assert import_pythia8().__name__ == "pythia8mc"
    conda_forge = types.ModuleType("pythia8")
    monkeypatch.setitem(sys.modules, "pythia8mc", None)  # None: the import fails
    monkeypatch.setitem(sys.modules, "pythia8", conda_forge)
    assert import_pythia8() is conda_forge
    monkeypatch.undo()
    assert hasattr(pythia8, "Pythia")
    assert bindings_version(pythia8).startswith(f"{pythia8.__name__} 8.3")
    # A missing first choice falls through to the next name (json stands in for pythia8).
    module = import_pythia8(("hepdl_no_such_bindings", "json"))
    assert module.__name__ == "json"
    assert bindings_version(module) == "json unknown"


def test_missing_pythia_bindings_say_how_to_install() -> None:
    with pytest.raises(ModuleNotFoundError, match="conda install -c conda-forge pythia8"):
        import_pythia8(("hepdl_no_such_bindings", "hepdl_no_such_bindings_either"))


def test_broken_bindings_are_not_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A module that exists but fails in its own imports is reported, not skipped."""
    (tmp_path / "hepdl_broken_bindings.py").write_text("import hepdl_missing_library\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="hepdl_missing_library"):
        import_pythia8(("hepdl_broken_bindings", "json"))


#: Import name -> conda-forge package, for the libraries hepdl imports.
CONDA_NAMES = {
    "awkward": "awkward",
    "fastjet": "fastjet",
    "h5py": "h5py",
    "jsonschema": "jsonschema",
    "lightning": "lightning",
    "matplotlib": "matplotlib-base",
    "mplhep": "mplhep",
    "numpy": "numpy",
    "pandas": "pandas",
    "pyarrow": "pyarrow",
    "pyhepmc": "pyhepmc",
    "pythia8mc": "pythia8",
    "scipy": "scipy",
    "torch": "pytorch",
    "torch_geometric": "pytorch_geometric",
    "tqdm": "tqdm",
    "uproot": "uproot",
    "xgboost": "xgboost",
    "yaml": "pyyaml",
}

#: The modules each environment's rules run (their import-time dependencies are checked).
STAGE_MODULES = {
    "simulation": ["hepdl.cli", "hepdl.generate", "hepdl.generate.xsec", "hepdl.detector"],
    "preprocess": [
        "hepdl.cli",
        "hepdl.reco.stage",
        "hepdl.reco.merge",
        "hepdl.images.stage",
        "hepdl.images.merge",
        "hepdl.graphs.stage",
        "hepdl.graphs.merge",
        "hepdl.plots.inputs",
    ],
    "train": [
        "hepdl.cli",
        "hepdl.train.cnn",
        "hepdl.train.mlp",
        "hepdl.train.gbdt",
        "hepdl.evaluate.stage",
        "hepdl.evaluate.predict",
        "hepdl.evaluate.robustness",
        "hepdl.train.gnn",
        "hepdl.gan.train",
        "hepdl.gan.generate",
        "hepdl.gan.validate",
    ],
    "gan_speed": ["hepdl.cli", "hepdl.gan.speed", "hepdl.generate.stage", "hepdl.detector.stage"],
}


#: Libraries the training environment (GPU nodes) must not need: the generator's.
GENERATOR_ONLY = {"pythia8", "pyhepmc"}


@pytest.mark.parametrize("env", sorted(STAGE_MODULES))
def test_environment_provides_what_its_stages_import(env: str) -> None:
    """Run in a fresh interpreter: the libraries imported by the stage modules are all in it;
    the training modules import no generator, so the GPU nodes' environment installs none."""
    code = (
        "import importlib, sys\n"
        f"for name in {STAGE_MODULES[env]!r}: importlib.import_module(name)\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    modules = set(run.stdout.split())
    imported = {name.split(".")[0] for name in modules}
    needed = {CONDA_NAMES[name] for name in imported if name in CONDA_NAMES}
    spec = yaml.safe_load((ENVS / f"{env}.yaml").read_text(encoding="utf-8"))
    provided = {re.split(r"[ =<>]", item, maxsplit=1)[0] for item in spec["dependencies"]}
    assert needed <= provided, f"{env}.yaml lacks {sorted(needed - provided)}"
    if env == "train":
        forbidden = {"pythia8", "pythia8mc", "pyhepmc", "hepdl.generate", "hepdl.detector"}
        assert not modules & forbidden, sorted(modules & forbidden)
        assert not provided & GENERATOR_ONLY, sorted(provided & GENERATOR_ONLY)
