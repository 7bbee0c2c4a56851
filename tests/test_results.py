"""hepdl.results, the notebook's API: accessors on a results folder, live training logs, errors
naming the missing file. (The notebook itself runs on the ci DAG's results in
tests/test_workflow.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hepdl import results
from hepdl.errors import InputFileError


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def run(tmp_path: Path) -> results.Results:
    root = tmp_path / "results"
    _write(root / "evaluation/metrics.json", json.dumps({"cnn": {"tpr_at_benchmark_fpr": 0.7}}))
    _write(root / "evaluation/cutflow.csv", "sample,kind,n_generated\nJZ4,background,160\n")
    # A training still running: Lightning's two flushed CSV logs of a resumed run, no join yet.
    logs = root / "models/cnn/logs"
    _write(
        logs / "version_0/metrics.csv", "epoch,step,train_loss_step,val_loss\n0,0,0.7,\n0,1,,0.6\n"
    )
    _write(
        logs / "version_1/metrics.csv", "epoch,step,train_loss_step,val_loss\n1,2,0.5,\n1,3,,0.4\n"
    )
    _write(
        root / "hpo/cnn/workers/0.json",
        json.dumps(
            {
                "worker": 0,
                "trials": [
                    {
                        "number": 1,
                        "state": "PRUNED",
                        "value": None,
                        "params": {"dropout": 0.4},
                        "seconds": 2.0,
                    },
                    {
                        "number": 0,
                        "state": "COMPLETE",
                        "value": 0.5,
                        "params": {"dropout": 0.1},
                        "seconds": 3.0,
                    },
                ],
            }
        ),
    )
    _write(root / "validation/detector/JZ4/metrics.json", json.dumps({"n_events": 3}))
    return results.open(root)


def test_accessors_read_the_files_of_a_run(run: results.Results) -> None:
    assert run.metrics()["cnn"]["tpr_at_benchmark_fpr"] == 0.7
    assert run.cutflow()["n_generated"].tolist() == [160]
    assert run.trained_models() == ["cnn"]
    assert run.detector_samples() == ["JZ4"]
    assert run.detector_validation("JZ4") == {"n_events": 3}
    trials = run.hpo_trials("cnn")
    assert trials["number"].tolist() == [0, 1]
    assert trials["param_dropout"].tolist() == [0.1, 0.4]
    assert run.studies() == ["cnn"]


def test_a_running_training_is_read_from_its_live_logs(run: results.Results) -> None:
    assert not run.training_finished("cnn")
    log = run.training_log("cnn")
    assert log["val_loss"].dropna().tolist() == [0.6, 0.4]
    # The training ends: its joined log replaces the live ones.
    _write(
        run.root / "models/cnn/training_log.csv",
        "epoch,step,train_loss_step,val_loss\n0,0,0.9,0.8\n",
    )
    assert run.training_finished("cnn")
    assert run.training_log("cnn")["val_loss"].tolist() == [0.8]


def test_watch_redraws_until_the_training_ends(run: results.Results) -> None:
    shown: list[Any] = []

    def finish_after_two(seconds: float) -> None:
        if len(shown) == 2:
            _write(run.root / "models/cnn/training_log.csv", "epoch,step,val_loss\n0,0,0.8\n")

    finished = results.watch_training(
        run,
        "cnn",
        every_seconds=1.0,
        timeout_seconds=60.0,
        display=shown.append,
        sleep=finish_after_two,
    )
    assert finished
    assert len(shown) == 3
    titles = [fig.axes[0].get_legend().get_title().get_text() for fig in shown]
    assert titles == ["cnn (running)"] * 2 + ["cnn (finished)"]


def test_watch_with_no_time_draws_once(run: results.Results) -> None:
    shown: list[Any] = []
    assert not results.watch_training(run, "cnn", timeout_seconds=0, display=shown.append)
    assert len(shown) == 1


def test_missing_files_are_named(run: results.Results, tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"summary\.csv.*hepdl evaluate"):
        run.summary()
    with pytest.raises(InputFileError, match=r"models/mlp.*no training log"):
        run.training_log("mlp")
    with pytest.raises(InputFileError, match=r"best\.yaml.*hepdl hpo best"):
        run.hpo_best("cnn")
    with pytest.raises(InputFileError, match="not a results folder"):
        results.open(tmp_path / "nowhere")
