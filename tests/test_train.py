"""Training: batching, weights, the CNN/MLP/GBDT stages, resume, determinism, bad inputs."""

from __future__ import annotations

import json
import logging
import math
import shutil
from pathlib import Path
from typing import Any

import h5py
import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from hepdl.cli import main
from hepdl.errors import CheckpointError, ConfigError, InputFileError, TrainingError
from hepdl.io.splits import ImageSplit
from hepdl.train.balance import balanced_weights
from hepdl.train.checkpoint import load_checkpoint, load_model
from hepdl.train.cnn import train_cnn
from hepdl.train.datamodules import BlockBatchSampler, ImageDataModule
from hepdl.train.gbdt import load_gbdt, train_gbdt
from hepdl.train.mlp import train_mlp
from hepdl.train.modules import ImageClassifier, WeightedClassifier
from hepdl.train.trainer import best_and_last_checkpoints, quiet_lightning

from .synthetic_splits import make_config, write_splits

Paths = dict[str, dict[str, Path]]


@pytest.fixture(scope="module")
def splits(tmp_path_factory: pytest.TempPathFactory) -> Paths:
    """Synthetic train/val/test split files (read only: tests that modify them copy them)."""
    return write_splits(tmp_path_factory.mktemp("splits"))


def _cnn(config: dict[str, Any], splits: Paths, out: Path, **kwargs: Any) -> Any:
    return train_cnn(
        config,
        kwargs.pop("name", "cnn"),
        train_file=kwargs.pop("train_file", splits["images"]["train"]),
        val_file=splits["images"]["val"],
        output=out / "model.ckpt",
        progress=False,
        **kwargs,
    )


def test_block_sampler_covers_every_event_once_per_epoch() -> None:
    sampler = BlockBatchSampler(100, batch_size=16, block_size=8, seed=3, drop_last=False)
    batches = list(sampler)
    positions = np.concatenate(batches)
    assert sorted(positions.tolist()) == list(range(100))
    assert [len(b) for b in batches] == [16] * 6 + [4]
    assert all(np.all(np.diff(b) > 0) for b in batches)  # sorted, for HDF5 reads
    # Blocks of 8 consecutive events stay together.
    assert all(len(set((b // 8).tolist())) <= 3 for b in batches)
    sampler.set_epoch(1)
    assert not all(np.array_equal(a, b) for a, b in zip(batches, sampler, strict=True))
    again = BlockBatchSampler(100, batch_size=16, block_size=8, seed=3, drop_last=False)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))
    assert len(BlockBatchSampler(100, 16, 8, drop_last=True)) == 6


def test_balanced_weights_give_each_class_half() -> None:
    weight = np.array([1e6, 3e6, 1e-2, 3e-2, 5e-2])
    label = np.array([0, 0, 1, 1, 1])
    w = balanced_weights(weight, label, "x")
    assert w[label == 0].sum() == pytest.approx(2.5)
    assert w[label == 1].sum() == pytest.approx(2.5)
    assert w[1] / w[0] == pytest.approx(3.0)
    with pytest.raises(InputFileError, match="no signal"):
        balanced_weights(weight[:2], label[:2], "x")
    # per_sample: each background sample gets the same total before balancing.
    sample = np.array(["JZ3", "JZ7", "S", "S", "S"])
    w = balanced_weights(np.array([1e6, 1.0, 1.0, 1.0, 2.0]), label, "x", sample=sample)
    assert w[0] == pytest.approx(w[1])
    assert w[:2].sum() == pytest.approx(2.5)
    assert w[4] / w[2] == pytest.approx(2.0)


def test_data_module_reads_batches_of_the_selected_samples(splits: Paths) -> None:
    module = ImageDataModule(
        splits["images"]["train"],
        splits["images"]["val"],
        batch_size=32,
        samples=["RPV_1400_850", "JZ4", "JZ5"],
    )
    module.setup("fit")
    split = module.files["train"]
    batch = next(iter(module.train_dataloader()))
    assert batch["x"].shape == (32, 3, 16, 16)
    assert batch["x"].dtype == torch.float32
    dataset = module.datasets["train"]
    rows = dataset.rows[batch["index"].numpy()]  # type: ignore[attr-defined]
    assert set(split.sample[rows]) <= {"RPV_1400_850", "JZ4", "JZ5"}
    with h5py.File(split.path) as h5:
        assert np.array_equal(batch["x"].numpy(), h5["data"][np.sort(rows)])
    assert torch.equal(batch["y"], torch.from_numpy(split.label[rows].astype(np.float32)))
    with pytest.raises(ConfigError, match=r"train\.samples.*RPV_2000_100"):
        ImageDataModule(splits["images"]["train"], samples=["RPV_2000_100"]).setup("fit")


def test_cnn_trains_checkpoints_and_learns(splits: Paths, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    result = _cnn(config, splits, tmp_path / "cnn")
    folder = tmp_path / "cnn"
    for name in ("model.ckpt", "checkpoints/best.ckpt", "checkpoints/last.ckpt", "config.yaml"):
        assert (folder / name).is_file(), name
    assert list((folder / "tensorboard").rglob("events.out.tfevents*"))
    log = (folder / "training_log.csv").read_text()
    assert "train_loss_step" in log
    assert "val_loss" in log
    assert result.epochs == 3
    assert result.best_val_loss < 0.69  # below the weighted loss of a constant guess, ln 2
    checkpoint = load_checkpoint(folder / "model.ckpt")
    assert "optimizer_states" not in checkpoint  # the exported model is weights only
    module = load_model(folder / "model.ckpt", ImageClassifier)
    assert module.hparams["channels"] == ["ecal", "hcal", "tracks"]


def test_training_is_deterministic(splits: Paths, tmp_path: Path) -> None:
    settings = _cnn_settings(make_config(tmp_path), max_epochs=1, limit_train_batches=4)
    config = make_config(tmp_path, train={"cnn": settings})
    _cnn(config, splits, tmp_path / "a")
    _cnn(config, splits, tmp_path / "b")
    a = load_checkpoint(tmp_path / "a" / "model.ckpt")["state_dict"]
    b = load_checkpoint(tmp_path / "b" / "model.ckpt")["state_dict"]
    assert all(torch.equal(a[key], b[key]) for key in a)


def _cnn_settings(config: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**config["train"]["cnn"], **changes}


class _Killed(Exception):
    """The job's end in the middle of a training."""


def _killed_in_epoch(epoch: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Training dies at the first step of ``epoch`` (a Slurm time-out), after the previous
    epoch's ``last.ckpt`` was written."""
    step = WeightedClassifier.training_step

    def dying(self: WeightedClassifier, batch: Any, batch_idx: int) -> Any:
        if self.current_epoch == epoch:
            raise _Killed
        return step(self, batch, batch_idx)

    monkeypatch.setattr(WeightedClassifier, "training_step", dying)


class WorseEachEpoch(pl.LightningModule):
    """A model whose validation loss grows every epoch: only the first epoch is the best."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self.layer(batch[0]).square().mean()

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        self.log("val_loss", float(self.current_epoch))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_last_checkpoint_is_the_last_epoch_even_when_it_is_not_the_best(tmp_path: Path) -> None:
    best, last = best_and_last_checkpoints(tmp_path, "val_loss")
    trainer = pl.Trainer(
        max_epochs=3,
        limit_train_batches=2,
        limit_val_batches=1,
        callbacks=[best, last],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    loader = DataLoader(TensorDataset(torch.ones(4, 1)), batch_size=2)
    with quiet_lightning():
        trainer.fit(WorseEachEpoch(), train_dataloaders=loader, val_dataloaders=loader)
    assert load_checkpoint(tmp_path / "checkpoints" / "best.ckpt")["epoch"] == 0
    # the resume point is where the training got to, not its last improvement
    assert load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["epoch"] == 2
    assert sorted(path.name for path in (tmp_path / "checkpoints").iterdir()) == [
        "best.ckpt",
        "last.ckpt",
    ]


def test_resume_continues_only_a_training_of_the_same_settings(
    splits: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(
        tmp_path, train={"cnn": _cnn_settings(make_config(tmp_path), max_epochs=2)}
    )
    last = tmp_path / "cnn" / "checkpoints" / "last.ckpt"
    with monkeypatch.context() as patch:
        _killed_in_epoch(1, patch)
        with pytest.raises(_Killed):
            _cnn(config, splits, tmp_path / "cnn")
    assert load_checkpoint(last)["epoch"] == 0
    # The same settings: the rerun continues the killed training, as a fresh one would end.
    resumed = _cnn(config, splits, tmp_path / "cnn", resume=True)
    assert resumed.resumed_from == last
    assert resumed.epochs == 2
    assert resumed.global_step == _cnn(config, splits, tmp_path / "fresh").global_step
    assert len(list((tmp_path / "cnn" / "logs").glob("version_*"))) == 2
    # Another learning rate, another sample list, another architecture: a fresh training,
    # and the log says which setting differs.
    changes = {
        "train.cnn.learning_rate": {"cnn": _cnn_settings(config, learning_rate=0.01)},
        "train.samples": {"cnn": config["train"]["cnn"], "samples": ["RPV_1400_850", "JZ4"]},
        "train.cnn.conv_filters": {"cnn": _cnn_settings(config, conv_filters=[6, 8])},
    }
    for key, train in changes.items():
        caplog.clear()
        changed = make_config(tmp_path, train=train)
        with caplog.at_level(logging.WARNING, logger="hepdl.train.checkpoint"):
            result = _cnn(changed, splits, tmp_path / "cnn", resume=True)
        assert result.resumed_from is None
        assert f"{key}: checkpoint" in caplog.text
        assert "training afresh" in caplog.text
        assert len(list((tmp_path / "cnn" / "logs").glob("version_*"))) == 1  # old logs gone
    # A key that changes no result (more threads) still resumes.
    faster = make_config(tmp_path, train={**changes["train.cnn.conv_filters"], "threads": 3})
    assert _cnn(faster, splits, tmp_path / "cnn", resume=True).resumed_from == last


def test_resume_of_a_rewritten_split_file_trains_afresh(
    splits: Paths, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(
        tmp_path, train={"cnn": _cnn_settings(make_config(tmp_path), max_epochs=1)}
    )
    train_file = tmp_path / "train.h5"
    shutil.copy(splits["images"]["train"], train_file)
    _cnn(config, splits, tmp_path / "cnn", train_file=train_file)
    shutil.copy(splits["images"]["train"], train_file)  # a merge rewrote it
    with caplog.at_level(logging.WARNING, logger="hepdl.train.checkpoint"):
        result = _cnn(config, splits, tmp_path / "cnn", train_file=train_file, resume=True)
    assert result.resumed_from is None
    assert "inputs.train.mtime_ns: checkpoint" in caplog.text


def test_nan_loss_names_the_step_and_keeps_the_last_good_checkpoint(
    splits: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(
        tmp_path, train={"cnn": _cnn_settings(make_config(tmp_path), max_epochs=2)}
    )
    inputs = ImageClassifier._train_inputs

    def broken_in_epoch_1(self: ImageClassifier, x: torch.Tensor) -> torch.Tensor:
        return inputs(self, x) * (math.nan if self.current_epoch == 1 else 1.0)

    monkeypatch.setattr(ImageClassifier, "_train_inputs", broken_in_epoch_1)
    with pytest.raises(
        TrainingError, match=r"train loss is nan at global step 15 \(epoch 1"
    ) as err:
        _cnn(config, splits, tmp_path / "cnn")
    last = tmp_path / "cnn" / "checkpoints" / "last.ckpt"
    assert str(last) in str(err.value)
    kept = load_checkpoint(last)
    assert kept["epoch"] == 0
    assert all(torch.isfinite(value).all() for value in kept["state_dict"].values())


def test_missing_and_mismatched_split_files_are_named(splits: Paths, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with pytest.raises(InputFileError, match=r"nowhere\.h5.*not found"):
        _cnn(config, splits, tmp_path, train_file=tmp_path / "nowhere.h5")
    other = tmp_path / "other.h5"
    shutil.copy(splits["images"]["train"], other)
    with h5py.File(other, "r+") as h5:
        h5.attrs["channel_scales"] = [1.0, 2.0, 3.0]
    with pytest.raises(InputFileError, match="channel scales"):
        _cnn(config, splits, tmp_path, train_file=other)
    with h5py.File(other, "r+") as h5:
        del h5["psr"]
    with pytest.raises(InputFileError, match=r"lacks the datasets \['psr'\]"):
        ImageSplit.open(other)


def test_unknown_channel_from_the_command_line(
    splits: Paths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(tmp_path)
    config["train"]["cnn"]["channels"] = {"cnn": ["ecal", "pixels"]}
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(config))
    status = main(["train", "cnn", "--config", str(path), "--no-progress"])
    assert status == 2
    err = capsys.readouterr().err
    assert "train.cnn.channels" in err
    assert "pixels" in err


def test_mlp_and_gbdt_learn_the_jet_variables(splits: Paths, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    features = splits["features"]
    mlp = train_mlp(
        config,
        train_file=features["train"],
        val_file=features["val"],
        output=tmp_path / "mlp" / "model.ckpt",
        progress=False,
    )
    assert mlp.best_val_loss < 0.5
    gbdt = train_gbdt(
        config,
        train_file=features["train"],
        val_file=features["val"],
        output=tmp_path / "gbdt" / "model.json",
        progress=False,
    )
    assert 1 <= gbdt.best_round <= 30
    assert gbdt.best_val_loss < 0.5
    saved = json.loads((tmp_path / "gbdt" / "model.json").read_text())
    assert "learner" in saved  # xgboost JSON
    assert load_gbdt(tmp_path / "gbdt" / "model.json").num_boosted_rounds() == gbdt.best_round
    with pytest.raises(CheckpointError, match="not an xgboost model"):
        load_gbdt(tmp_path / "gbdt" / "training_log.csv")
