"""Reruns for results only: keys marked ``x-rerun: false`` rerun nothing, physics keys rerun
exactly the jobs that depend on them (the ci DAG, then dry runs with changed configs)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from hepdl.config import load_config, non_result_keys, result_settings, validate_config
from hepdl.gan.observables import ImageJets
from hepdl.gan.settings import IMAGE_JET_FIELDS, gan_training_settings
from hepdl.train.settings import training_settings

from .conftest import REPO
from .test_workflow import ci_configfiles, snakemake

CI_CONFIG = REPO / "config" / "ci.yaml"


def _nested(key: str, value: Any) -> dict[str, Any]:
    """``{"a": {"b": value}}`` for ``a.b``: a config overlay."""
    overlay: Any = value
    for name in reversed(key.split(".")):
        overlay = {name: overlay}
    return overlay


def _lookup(config: Any, key: str) -> Any:
    for name in key.split("."):
        config = config[name]
    return config


def _changed(key: str, value: Any) -> dict[str, Any]:
    """The ci config with ``key`` set to ``value`` (validated)."""
    config = yaml.safe_load(CI_CONFIG.read_text())
    block = config
    *parents, last = key.split(".")
    for name in parents:
        block = block.setdefault(name, {})
    block[last] = value
    return validate_config(config)


def test_every_non_result_key_is_a_config_key_and_is_stripped() -> None:
    config = load_config(CI_CONFIG)
    keys = non_result_keys()
    assert {"train.num_workers", "images.compression", "train.models", "gan.models"} <= keys
    for key in keys:
        _lookup(config, key)  # a KeyError names a schema annotation of no config key
        block, _, rest = key.partition(".")
        stripped = result_settings(config, block)
        with pytest.raises(KeyError):
            _lookup(stripped, rest)
    # Result keys stay, nested blocks included.
    assert result_settings(config, "images")["chunk_events"] == config["images"]["chunk_events"]
    assert "learning_rate" in result_settings(config, "train")["cnn"]


def test_a_model_depends_on_its_own_settings_only() -> None:
    config = load_config(CI_CONFIG)
    unchanged = {
        "train.models": ["cnn", "cnn_energy", "cnn_jets", "gnn", "mlp"],  # no gbdt
        "train.threads": 2,
        "train.cnn.eval_batch_size": 7,
        "train.cnn.channels": {"cnn": ["ecal", "hcal", "tracks"], "cnn_energy": ["ecal"]},
        "train.mlp.learning_rate": 0.1,
    }
    for key, value in unchanged.items():
        assert training_settings(_changed(key, value), "cnn") == training_settings(config, "cnn")
    changed = _changed("train.cnn.learning_rate", 0.01)
    assert training_settings(changed, "cnn") != training_settings(config, "cnn")
    assert training_settings(changed, "mlp") == training_settings(config, "mlp")
    assert training_settings(_changed("train.precision", "64-true"), "gbdt") == (
        training_settings(config, "gbdt")
    )
    later_stages = {"gan.models": ["gan"], "gan.generate_events": 7, "gan.speed_events": 7}
    for key, value in later_stages.items():
        assert gan_training_settings(_changed(key, value), "gan") == (
            gan_training_settings(config, "gan")
        )
    for key, value in {"gan.latent_dim": 8, "selection.jet_pt_min_gev": 250.0}.items():
        assert gan_training_settings(_changed(key, value), "gan") != (
            gan_training_settings(config, "gan")
        )
    # a kind's own setting retrains that kind only, as the block's setting would
    own = _changed("gan.per_kind", {"cgan": {"latent_dim": 8}})
    assert gan_training_settings(own, "gan") == gan_training_settings(config, "gan")
    assert gan_training_settings(own, "cgan") != gan_training_settings(config, "cgan")
    assert gan_training_settings(own, "cgan") == (
        gan_training_settings(_changed("gan.latent_dim", 8), "cgan")
    )


def test_the_jets_on_images_are_read_from_the_settings_that_retrain_a_gan() -> None:
    config = load_config(CI_CONFIG)
    fields = {field.name for field in dataclasses.fields(ImageJets)}
    assert fields == {"spec", *IMAGE_JET_FIELDS}  # every field from the config
    new_values = {
        "pt_min_gev": 250.0,
        "abs_eta_max": 1.5,
        "mj_n_jets": 3,
        "radius": 0.8,
        "pixel_threshold_gev": 1.0,
    }
    assert set(new_values) == set(IMAGE_JET_FIELDS)
    for field, key in IMAGE_JET_FIELDS.items():
        value = new_values[field]
        changed = _changed(key, value)
        assert getattr(ImageJets.from_config(changed), field) == value, key
        assert gan_training_settings(changed, "gan") != gan_training_settings(config, "gan"), key
    geometry = {"images.eta_max": 3.0, "images.n_eta": 32, "images.n_phi": 48}
    for key, value in geometry.items():
        spec = ImageJets.from_config(_changed(key, value)).spec
        assert getattr(spec, key.removeprefix("images.")) == value, key
    changed = _changed("images.eta_max", 3.0)
    assert gan_training_settings(changed, "gan") != gan_training_settings(config, "gan")


#: A new value of every key marked ``x-rerun: false`` except those that choose which jobs
#: run (their own test below), valid for the ci config.
NON_RESULT_CHANGES = {
    "generator.batch_size": 7,
    "detector.batch_size": 7,
    "images.compression": "gzip",
    "splits.merge_buffer_mb": 64,
    "train.resume": True,
    "train.num_workers": 1,
    "train.threads": 2,
    "train.log_every_n_steps": 3,
    "train.progress_refresh_steps": 3,
    "train.cnn.eval_batch_size": 7,
    "train.mlp.eval_batch_size": 7,
    "train.cnn_jets.eval_batch_size": 7,
    "train.gnn.eval_batch_size": 7,
}
JOB_SELECTION_KEYS = {"train.models", "train.seeds", "gan.models", "gan.seeds", "graphs.enabled"}
JOB_SELECTION_KEYS |= {"evaluate.robustness", "compare_detectors.enabled", "hpo.studies"}


def test_the_rerun_test_changes_every_non_result_key() -> None:
    assert set(NON_RESULT_CHANGES) | JOB_SELECTION_KEYS == non_result_keys()


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished ci DAG."""
    workdir = tmp_path_factory.mktemp("reruns")
    run = snakemake(workdir, "--configfile", *ci_configfiles(workdir), "--cores", "2")
    assert run.returncode == 0, run.stderr[-3000:]
    return workdir


def _jobs(workdir: Path, overlay: dict[str, Any]) -> dict[str, int]:
    """Job counts by rule of a dry run of the ci config with ``overlay`` on top."""
    path = workdir / "overlay.yaml"
    path.write_text(yaml.safe_dump(overlay))
    run = snakemake(workdir, "--configfile", *ci_configfiles(workdir), str(path), "-n")
    assert run.returncode == 0, run.stderr[-3000:]
    if "Nothing to be done" in run.stdout + run.stderr:
        return {}
    table = run.stdout.split("Job stats:", 1)[1].split("total", 1)[0]
    return {name: int(n) for name, n in re.findall(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


def _merged(*overlays: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}

    def merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
        for key, value in extra.items():
            if isinstance(value, dict):
                merge(into.setdefault(key, {}), value)
            else:
                into[key] = value

    for overlay in overlays:
        merge(merged, overlay)
    return merged


@pytest.mark.slow
def test_non_result_keys_rerun_nothing_and_physics_keys_what_depends_on_them(
    ci_run: Path,
) -> None:
    assert _jobs(ci_run, {}) == {}
    everything = _merged(*(_nested(k, v) for k, v in NON_RESULT_CHANGES.items()))
    assert _jobs(ci_run, everything) == {}
    # Choosing fewer models or GANs retrains none: only the evaluation's inputs change, and
    # the report's per-stage cost table, which sums the jobs of the run.
    fewer = _jobs(ci_run, {"train": {"models": ["cnn", "cnn_energy", "cnn_jets", "gnn", "mlp"]}})
    assert set(fewer) <= {"evaluate", "summarize_benchmarks", "all"}
    assert set(_jobs(ci_run, {"gan": {"models": ["gan"]}})) <= {"summarize_benchmarks", "all"}
    # One kind's own setting retrains that kind, not the other nor the GAN search (of the gan).
    own = _jobs(ci_run, {"gan": {"per_kind": {"cgan": {"latent_dim": 8}}}})
    assert own["train_gan"] == 1
    assert not {"hpo_worker", "train_cnn", "images"} & set(own)
    # A CNN's learning rate: both CNNs, the combination that reads the nominal one, their
    # scores, training curves and the evaluation, and the cost table; no other model.
    assert _jobs(ci_run, {"train": {"cnn": {"learning_rate": 0.002}}}) == {
        "train_cnn": 2,
        "train_cnn_jets": 1,
        "predict": 3,
        "plot_training": 3,
        "evaluate": 1,
        "summarize_benchmarks": 1,
        "all": 1,
    }
    # A selection cut: the features of every shard and all that follows, not the generation
    # nor the detector simulation.
    selection = _jobs(ci_run, {"selection": {"delta_eta_max": 1.3}})
    assert selection["features"] == 3
    assert not {"generate", "simulate", "xsec", "validate_detector"} & set(selection)
