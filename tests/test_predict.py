"""Every model trained and scored through the command line; bad model files and inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import yaml

from hepdl.cli import main
from hepdl.errors import CheckpointError, InputFileError
from hepdl.evaluate.predict import PREDICTION_COLUMNS, predict, read_predictions
from hepdl.train.checkpoint import load_checkpoint

from .synthetic_graphs import write_graph_splits
from .synthetic_splits import TINY_TRAIN, make_config, write_splits


class Payload:
    """An arbitrary pickled object: loading it would run code, so weights_only refuses it."""


MODELS = ("cnn", "cnn_energy", "gbdt", "mlp", "cnn_jets", "gnn")


def _fast(settings: dict[str, Any]) -> dict[str, Any]:
    return {**settings, "max_epochs": 1, "limit_train_batches": 4}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """Synthetic splits at the contract paths, every model trained and scored by the CLI."""
    results = tmp_path_factory.mktemp("results")
    write_splits(results)
    write_graph_splits(results)
    train = {k: _fast(v) if k in ("cnn", "mlp", "cnn_jets") else v for k, v in TINY_TRAIN.items()}
    train["gnn"] = _fast({"channels": [8, 8], "dense_units": 8, "batch_size": 32})
    config = make_config(results, train=train)
    path = results / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    for model in MODELS:
        kind = model if model != "cnn_energy" else "cnn"
        extra = ["--model", model] if kind == "cnn" else []
        assert main(["train", kind, "--config", str(path), "--no-progress", *extra]) == 0
        assert main(["predict", "--config", str(path), "--model", model, "--no-progress"]) == 0
    return config, path


def test_every_model_scores_every_test_event(trained: tuple[dict[str, Any], Path]) -> None:
    config, _ = trained
    results = Path(config["results"])
    features = pq.read_table(results / "features" / "test.parquet").to_pandas()
    for model in MODELS:
        table = read_predictions(results / "predictions" / f"{model}.parquet")
        assert tuple(table)[: len(PREDICTION_COLUMNS)] == PREDICTION_COLUMNS
        assert len(table["score"]) == len(features)
        assert np.all((table["score"] >= 0) & (table["score"] <= 1))
        assert np.allclose(table["score"], 1 / (1 + np.exp(-table["logit"])))
        assert np.array_equal(table["label"], features["label"])
        assert np.array_equal(table["passSR"], features["passSR"])
        assert np.allclose(table["weight"], features["weight"])
        assert list(table["sample"]) == list(features["sample"])
    gbdt = read_predictions(results / "predictions" / "gbdt.parquet")
    signal = gbdt["label"] == 1
    assert gbdt["score"][signal].mean() > gbdt["score"][~signal].mean() + 0.3


def test_checkpoint_of_another_architecture_is_refused(
    trained: tuple[dict[str, Any], Path], tmp_path: Path
) -> None:
    config, _ = trained
    wider = {**config["train"]["cnn"], "conv_filters": [8, 8]}
    other = make_config(Path(config["results"]), train={**config["train"], "cnn": wider})
    with pytest.raises(CheckpointError, match=r"model\.ckpt.*different architecture.*conv_filters"):
        predict(other, "cnn", output=tmp_path / "cnn.parquet")
    with pytest.raises(CheckpointError, match="ImageClassifier, expected a FeatureClassifier"):
        predict(
            config,
            "mlp",
            model=Path(config["results"]) / "models" / "cnn" / "model.ckpt",
            output=tmp_path / "mlp.parquet",
        )
    assert not list(tmp_path.glob("*.parquet"))


def test_checkpoints_load_weights_only(tmp_path: Path) -> None:
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": Payload()}, path)
    with pytest.raises(CheckpointError, match="weights-only"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "none.ckpt")


def test_cnn_jets_needs_predictions_of_the_same_events(
    trained: tuple[dict[str, Any], Path], tmp_path: Path
) -> None:
    config, _ = trained
    results = Path(config["results"])
    table = pq.read_table(results / "predictions" / "cnn.parquet")
    pq.write_table(table.slice(0, 10), tmp_path / "cnn.parquet")
    with pytest.raises(InputFileError, match="10 vs 320 events"):
        predict(
            config,
            "cnn_jets",
            cnn_predictions=tmp_path / "cnn.parquet",
            output=tmp_path / "x.parquet",
        )


def test_missing_model_file_is_one_line(
    trained: tuple[dict[str, Any], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, path = trained
    status = main(
        [
            "predict",
            "--config",
            str(path),
            "--model",
            "mlp",
            "--model-file",
            str(tmp_path / "no.ckpt"),
        ]
    )
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "no.ckpt: checkpoint not found" in err


def test_evaluate_and_robustness_from_the_command_line(
    trained: tuple[dict[str, Any], Path],
) -> None:
    config, path = trained
    results = Path(config["results"])
    assert main(["evaluate", "--config", str(path)]) == 0
    metrics = yaml.safe_load((results / "evaluation" / "metrics.json").read_text())
    assert set(metrics) == {"cuts", *MODELS}
    assert (results / "plots" / "roc.png").is_file()
    assert (results / "plots" / "cnn_energy_score_vs_njet.png").is_file()
    assert main(["robustness", "--config", str(path)]) == 0
    table = (results / "evaluation" / "robustness.csv").read_text().splitlines()
    assert len(table) == 3  # header and the two signal mass points
