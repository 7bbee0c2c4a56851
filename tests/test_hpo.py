"""Hyper-parameter searches: the search space's checks, workers sharing a journal, pruning,
the best trial's export and its training as cnn_hpo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest
import yaml
from optuna.trial import TrialState

from hepdl.cli import main
from hepdl.config import validate_config
from hepdl.errors import ConfigError, InputFileError
from hepdl.evaluate.metrics import benchmark_point, roc_curve, tpr_at_fpr
from hepdl.gan.settings import kind_config
from hepdl.hpo import settings as hpo_settings
from hepdl.hpo.best import export_best, with_best
from hepdl.hpo.callbacks import ValidationEfficiency
from hepdl.hpo.objective import trial_config
from hepdl.hpo.report import importances, write_report
from hepdl.hpo.settings import VAL_EFFICIENCY
from hepdl.hpo.space import scaled_filters, search_space
from hepdl.hpo.study import (
    WORKER_ATTR,
    fail_interrupted_trials,
    journal_storage,
    load_study,
    open_study,
)
from hepdl.hpo.worker import run_worker
from hepdl.io.splits import ImageSplit
from hepdl.train.checkpoint import load_checkpoint, load_model
from hepdl.train.cnn import train_cnn
from hepdl.train.modules import ImageClassifier
from hepdl.train.score import score_images
from hepdl.train.settings import models

from .conftest import REPO
from .synthetic_splits import SAMPLES, TINY_TRAIN, make_config, write_splits

Paths = dict[str, dict[str, Path]]

#: A tiny CNN search on the synthetic splits: trials of 2 epochs, a second or two each.
TINY_SEARCH = {
    "studies": ["cnn"],
    "n_trials": 2,
    "workers": 1,
    "cnn": {
        "max_epochs": 2,
        "space": {
            "conv_filters": {"low": 2, "high": 6},
            "dense_units": [8, 16],
            "batch_size": None,
        },
    },
}


@pytest.fixture(scope="module")
def splits(tmp_path_factory: pytest.TempPathFactory) -> Paths:
    """Synthetic train/val/test split files (read only)."""
    return write_splits(tmp_path_factory.mktemp("splits"))


def _config(results: Path, **hpo: Any) -> dict[str, Any]:
    return make_config(results, hpo={**TINY_SEARCH, **hpo})


def _worker(config: dict[str, Any], splits: Paths, worker: int = 0) -> Any:
    return run_worker(
        config,
        "cnn",
        worker,
        train_file=splits["images"]["train"],
        val_file=splits["images"]["val"],
    )


def _space_error(tmp_path: Path, study: str, space: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        make_config(tmp_path, hpo={study: {"space": space}})
    return caught.value


@pytest.mark.parametrize(
    ("study", "space", "key", "message"),
    [
        ("cnn", {"dropout": {"low": 0.4, "high": 0.1}}, "hpo.cnn.space.dropout.high", "low < high"),
        (
            "cnn",
            {"dense_units": {"low": 16, "high": 16}},
            "hpo.cnn.space.dense_units.high",
            "empty",
        ),
        (
            "cnn",
            {"learning_rate": {"low": 0, "high": 0.1, "log": True}},
            "hpo.cnn.space.learning_rate.low",
            "above 0",
        ),
        (
            "cnn",
            {"dropout": {"low": 0.1, "high": 1.5}},
            "hpo.cnn.space.dropout",
            "train.cnn.dropout",
        ),
        (
            "cnn",
            {"conv_filters": {"low": 0, "high": 8}},
            "hpo.cnn.space.conv_filters",
            "train.cnn.conv_filters",
        ),
        ("cnn", {"batch_size": [64, 0.5]}, "hpo.cnn.space.batch_size", ""),
        ("gan", {"loss": ["bce", "hinge"]}, "hpo.gan.space.loss", "gan.loss"),
        (
            "gan",
            {"pixel_offset": {"low": -1.0, "high": 1.0}},
            "hpo.gan.space.pixel_offset",
            "gan.pixel_offset",
        ),
    ],
)
def test_a_bad_range_names_its_key(
    tmp_path: Path, study: str, space: dict[str, Any], key: str, message: str
) -> None:
    error = _space_error(tmp_path, study, space)
    assert f"'{key}" in str(error)
    assert message in str(error)


def test_a_space_with_nothing_to_search_is_refused(tmp_path: Path) -> None:
    nothing = dict.fromkeys(
        ("conv_filters", "dense_units", "dropout", "learning_rate", "batch_size")
    )
    error = _space_error(tmp_path, "cnn", nothing)
    assert "hpo.cnn.space" in str(error)
    assert "at least one" in str(error)


def test_the_command_line_names_a_bad_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {"samples": SAMPLES, "hpo": {"cnn": {"space": {"dropout": {"low": 0.5, "high": 0.2}}}}}
        )
    )
    assert main(["hpo", "best", "--config", str(config), "--study", "cnn"]) == 2
    assert "hpo.cnn.space.dropout.high" in capsys.readouterr().err


def test_the_searched_model_must_exist(tmp_path: Path) -> None:
    config = make_config(tmp_path, hpo={"studies": ["cnn"], "cnn": {"model": "cnn_wide"}})
    with pytest.raises(ConfigError, match=r"hpo\.cnn\.model.*'cnn_wide'"):
        hpo_settings.studies(config)


def test_the_space_draws_within_its_ranges(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    parameters = search_space(config, "cnn")
    assert [p.name for p in parameters] == [
        "conv_filters",
        "dense_units",
        "dropout",
        "learning_rate",
        "batch_size",
    ]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(20):
        trial = study.ask()
        values = {p.name: p.suggest(trial) for p in parameters}
        assert 16 <= values["conv_filters"] <= 128
        assert 0.0 <= values["dropout"] <= 0.5
        assert 1e-4 <= values["learning_rate"] <= 1e-2
        assert values["batch_size"] in (64, 128, 256, 512)
        study.tell(trial, 0.0)
    assert scaled_filters([8, 16, 32], 20) == [20, 40, 80]
    assert scaled_filters([128, 128], 3) == [3, 3]


def test_cnn_hpo_is_evaluated_where_the_cnn_search_runs(tmp_path: Path) -> None:
    assert "cnn_hpo" not in models(make_config(tmp_path))
    trained = models(make_config(tmp_path, hpo={"studies": ["cnn"]}, train={"seeds": 2}))
    assert trained["cnn_hpo"] == trained["cnn_hpo_seed1"] == "cnn"
    with pytest.raises(ConfigError, match=r"train\.models.*hpo\.studies"):
        models(make_config(tmp_path, train={"models": ["cnn", "cnn_hpo"]}))


def test_a_pruned_trial_leaves_no_model(
    splits: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class PruneAll(optuna.pruners.BasePruner):
        def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
            return True

    monkeypatch.setattr("hepdl.hpo.study.make_pruner", lambda config: PruneAll())
    config = _config(tmp_path, n_trials=2)
    result = _worker(config, splits)
    assert [t.state for t in result.trials] == ["PRUNED", "PRUNED"]
    study = load_study(config, "cnn")
    for trial in study.trials:
        assert trial.state == TrialState.PRUNED
        assert list(trial.intermediate_values) == [0]  # stopped after its first epoch
    folder = hpo_settings.study_dir(config, "cnn")
    assert not (folder / "trials" / "0").exists()
    assert not (folder / "trials" / "1").exists()
    assert not list(folder.rglob("*.ckpt"))
    assert json.loads(result.path.read_text())["trials"][0]["state"] == "PRUNED"
    # Nothing completed: nothing to export, and the error says so.
    with pytest.raises(Exception, match="no trial completed"):
        export_best(config, "cnn")


def test_the_exported_best_settings_train(
    splits: Paths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(
        tmp_path / "results", cnn={**TINY_SEARCH["cnn"], "metric": "val_tpr_at_cuts_fpr"}
    )
    result = _worker(config, splits)
    assert {t.state for t in result.trials} <= {"COMPLETE", "PRUNED"}
    complete = [t for t in result.trials if t.state == "COMPLETE"]
    assert complete
    assert all(0.0 <= t.value <= 1.0 for t in complete)  # a signal efficiency
    # A complete trial keeps its training log only.
    kept = hpo_settings.trial_dir(config, "cnn", complete[0].number)
    assert sorted(p.name for p in kept.iterdir()) == ["training_log.csv"]
    best = export_best(config, "cnn")
    record = yaml.safe_load(best.path.read_text())
    assert record["metric"] == "val_tpr_at_cuts_fpr"
    assert record["direction"] == "maximize"
    assert record["value"] == max(t.value for t in complete)
    filters = record["parameters"]["conv_filters"]
    assert record["settings"]["train.cnn.conv_filters"] == scaled_filters([4, 8], filters)
    # The settings train as the model cnn_hpo, on the CNN's channels, and score the test split.
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    model = tmp_path / "results/models/cnn_hpo/model.ckpt"
    common = ["--config", str(config_file), "--model", "cnn_hpo", "--hpo-best", str(best.path)]
    images = splits["images"]
    assert (
        main(
            [
                "train",
                "cnn",
                *common,
                "--train",
                str(images["train"]),
                "--val",
                str(images["val"]),
                "--output",
                str(model),
                "--no-progress",
            ]
        )
        == 0
    )
    hparams = load_checkpoint(model)["hyper_parameters"]
    assert hparams["conv_filters"] == record["settings"]["train.cnn.conv_filters"]
    assert hparams["dense_units"] == record["parameters"]["dense_units"]
    assert hparams["channels"] == ["ecal", "hcal", "tracks"]
    predictions = tmp_path / "cnn_hpo.parquet"
    assert (
        main(
            [
                "predict",
                *common,
                "--model-file",
                str(model),
                "--images",
                str(images["test"]),
                "--output",
                str(predictions),
            ]
        )
        == 0
    )
    assert predictions.is_file()
    # A best.yaml of another search (a changed space) is refused, naming the file.
    changed = _config(tmp_path / "results", cnn={**TINY_SEARCH["cnn"], "max_epochs": 1})
    with pytest.raises(InputFileError, match="rerun the search"):
        with_best(changed, best.path)
    # The report's plots.
    written = write_report(config, "cnn")
    assert sorted(p.name for p in written) == ["epochs.png", "history.png", "importances.png"]
    capsys.readouterr()


def test_a_restarted_worker_fails_only_its_own_interrupted_trials(tmp_path: Path) -> None:
    config = _config(tmp_path)
    study = open_study(config, "cnn", worker=0)
    mine, theirs = study.ask(), study.ask()
    mine.set_user_attr(WORKER_ATTR, 0)
    theirs.set_user_attr(WORKER_ATTR, 1)
    assert fail_interrupted_trials(study, worker=0) == [mine.number]
    states = {t.number: t.state for t in study.get_trials()}
    assert states == {mine.number: TrialState.FAIL, theirs.number: TrialState.RUNNING}


#: A worker process whose trials sleep instead of training (the journal is what is tested).
_SLEEPING_WORKER = textwrap.dedent(
    """
    import sys, time
    import yaml
    import hepdl.hpo.worker as worker
    from hepdl.config import validate_config

    def sleeping_trial(config, study, trial, directory, *, train_file, val_file):
        value = trial.suggest_float("dropout", 0.0, 0.5)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "training_log.csv").write_text("epoch,val_loss\\n")
        time.sleep(0.3)
        return value

    worker.run_trial = sleeping_trial
    config = validate_config(yaml.safe_load(open(sys.argv[1])))
    worker.run_worker(config, "cnn", int(sys.argv[2]), train_file="unused", val_file="unused")
    """
)


def test_two_workers_share_one_study_without_losing_trials(tmp_path: Path) -> None:
    n_trials = 10
    config = _config(tmp_path / "results", n_trials=n_trials, workers=2)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _SLEEPING_WORKER, str(config_file), str(k)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for k in range(2)
    ]
    outputs = [w.communicate(timeout=120)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    study = load_study(config, "cnn")
    finished = [t for t in study.get_trials() if t.state == TrialState.COMPLETE]
    # Every trial finished; a race of the last two asks may add one (never fewer).
    assert n_trials <= len(finished) <= n_trials + 1
    assert len(study.get_trials()) == len(finished)
    records = [json.loads(hpo_settings.worker_file(config, "cnn", k).read_text()) for k in range(2)]
    ran = [trial["number"] for record in records for trial in record["trials"]]
    assert sorted(ran) == sorted(t.number for t in finished)  # each trial once, none lost
    assert all(record["trials"] for record in records)  # both workers took a share
    by_worker = {t.number: t.user_attrs[WORKER_ATTR] for t in finished}
    for record in records:
        assert {by_worker[t["number"]] for t in record["trials"]} == {record["worker"]}


def test_journal_storage_creates_its_folder(tmp_path: Path) -> None:
    storage = journal_storage(tmp_path / "new" / "journal.log")
    optuna.create_study(storage=storage, study_name="s")
    assert (tmp_path / "new" / "journal.log").stat().st_size > 0


def test_the_study_is_named_by_its_settings(tmp_path: Path) -> None:
    config = make_config(tmp_path, hpo={"studies": ["cnn"]})
    name = hpo_settings.study_name(config, "cnn")
    assert name == hpo_settings.study_name(validate_config(config), "cnn")
    assert name.startswith("cnn-")
    # Which workers pull the trials does not change the study; its space does.
    more_workers = make_config(tmp_path, hpo={"studies": ["cnn"], "workers": 8})
    assert hpo_settings.study_name(more_workers, "cnn") == name
    other = make_config(tmp_path, hpo={"studies": ["cnn"], "cnn": {"space": {"dropout": None}}})
    assert hpo_settings.study_name(other, "cnn") != name
    # A hand-set value of a searched key changes no trial; one the trials keep does.
    train = {**TINY_TRAIN, "cnn": {**TINY_TRAIN["cnn"], "learning_rate": 0.02}}
    assert (
        hpo_settings.study_name(make_config(tmp_path, train=train, hpo={"studies": ["cnn"]}), "cnn")
        == name
    )
    train = {**TINY_TRAIN, "cnn": {**TINY_TRAIN["cnn"], "kernel_size": 5}}
    assert (
        hpo_settings.study_name(make_config(tmp_path, train=train, hpo={"studies": ["cnn"]}), "cnn")
        != name
    )


def test_importances_rank_the_parameter_that_matters() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    study.optimize(
        lambda t: (t.suggest_float("x", 0, 1) - 0.3) ** 2 + 0.0 * t.suggest_float("y", 0, 1),
        n_trials=60,
    )
    found = importances(study)
    assert found is not None
    assert found["x"] > found["y"]


def test_a_trial_trains_its_values_on_one_device(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        train={"devices": 4, "strategy": "ddp"},
        hpo={"studies": ["cnn", "gan"], "cnn": {"max_epochs": 2}, "gan": {"max_epochs": 3}},
    )
    cnn = trial_config(config, "cnn", {"conv_filters": 8, "dropout": 0.25}, number=3)
    assert cnn["train"]["cnn"]["conv_filters"] == [8, 16]  # [4, 8] scaled to a first block of 8
    assert cnn["train"]["cnn"]["dropout"] == 0.25
    assert cnn["train"]["cnn"]["max_epochs"] == 2
    assert cnn["train"]["cnn"]["channels"] == {"cnn_trial3": ["ecal", "hcal", "tracks"]}
    assert (cnn["train"]["devices"], cnn["train"]["strategy"]) == (1, "auto")
    gan = trial_config(config, "gan", {"loss": "wgan_gp", "generator_filters": 12}, number=0)
    assert (gan["gan"]["loss"], gan["gan"]["generator_filters"], gan["gan"]["max_epochs"]) == (
        "wgan_gp",
        12,
        3,
    )
    assert config["train"]["cnn"]["conv_filters"] == [4, 8]  # the config itself is untouched
    # a GAN trial starts from the searched kind's own settings, its values and max_epochs on top
    own = {"gan": {"jet_summary": True, "max_epochs": 7, "generator_filters": 6}}
    config = make_config(
        tmp_path,
        gan={"per_kind": own},
        hpo={"studies": ["gan"], "gan": {"max_epochs": 3, "space": {"generator_filters": None}}},
    )
    gan = kind_config(trial_config(config, "gan", {"discriminator_filters": 12}, number=1), "gan")
    assert gan["gan"]["jet_summary"]
    assert (gan["gan"]["max_epochs"], gan["gan"]["generator_filters"]) == (3, 6)
    assert gan["gan"]["discriminator_filters"] == 12


def test_the_validation_efficiency_is_the_evaluations_on_the_validation_split(
    splits: Paths, tmp_path: Path
) -> None:
    config = make_config(
        tmp_path, train={**TINY_TRAIN, "cnn": {**TINY_TRAIN["cnn"], "max_epochs": 1}}
    )
    val = ImageSplit.open(splits["images"]["val"])
    model = tmp_path / "cnn/model.ckpt"
    train_cnn(
        config,
        "cnn",
        train_file=splits["images"]["train"],
        val_file=val.path,
        output=model,
        progress=False,
        callbacks=[ValidationEfficiency(val, None)],
    )
    logged = pd.read_csv(tmp_path / "cnn/training_log.csv")[VAL_EFFICIENCY].dropna()
    logits = score_images(load_model(model, ImageClassifier), val.path, config)
    cuts = benchmark_point(val.psr, val.label, val.weight)
    expected = tpr_at_fpr(roc_curve(logits, val.label, val.weight), cuts.fpr)
    assert logged.tolist() == pytest.approx([expected], abs=1e-6)
    assert 0.0 < expected < 1.0
