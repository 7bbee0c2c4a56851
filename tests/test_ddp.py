"""Data-parallel training: learning-rate scaling, and DDP as Slurm launches it (gloo, 2 CPUs).

``srun --ntasks-per-node=2 hepdl train mlp --num-nodes 1 --devices 2`` is reproduced without
Slurm: two ``hepdl train`` processes get the variables srun sets (``SLURM_NTASKS``,
``SLURM_PROCID``, ``SLURM_LOCALID``, ...), so Lightning's SLURMEnvironment ranks them and DDP
all-reduces their gradients over gloo. Two processes with a batch of B/2 each must follow the
loss curve of one process with a batch of B on the same data and seed:

* the block sampler gives rank r the batches r, r + 2, ... of one seeded order of the events, so
  the two half-batches of a step are exactly the events of the single process's batch;
* each rank's loss is the mean over its half and DDP averages the gradients, which is the
  gradient of the mean over the whole batch; the MLP has no dropout or batch norm, so the
  processes compute the same function;
* the logged step loss is the mean over ranks (``sync_dist``), the mean over the whole batch.

The curves therefore agree up to float32 rounding (the order of the sums differs), which Adam
carries forward step by step; the test allows a relative difference of 1e-4 per step, about
100 float32 epsilons per step after 16 steps and still far below any real discrepancy (a wrong
batch split, or gradients summed instead of averaged, changes the curve by percent).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from hepdl.train.distributed import BASE_LR_KEY, LearningRateScaling, lr_scale

from .synthetic_splits import make_config, write_splits

#: Batch of the single process; each of the two DDP processes takes half of it.
BATCH = 64
TOLERANCE = 1e-4


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _train(tmp_path: Path, name: str, splits: dict[str, Path], world: int) -> pd.DataFrame:
    """Run ``hepdl train mlp`` as ``world`` srun tasks; return rank 0's training log."""
    results = tmp_path / name
    config = make_config(
        results,
        train={
            "threads": 1,
            "mlp": {
                "hidden_units": 16,
                "batch_size": BATCH // world,
                "eval_batch_size": 64,
                "learning_rate": 1e-2,
                "max_epochs": 2,
                "patience": 5,
            },
        },
    )
    config_file = tmp_path / f"{name}.yaml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    command = [sys.executable, "-c", "import sys; from hepdl.cli import main; sys.exit(main())"]
    command += ["train", "mlp", "--config", str(config_file)]
    command += ["--train", str(splits["train"]), "--val", str(splits["val"]), "--no-progress"]
    command += ["--output", str(results / "models/mlp/model.ckpt")]
    command += ["--num-nodes", "1", "--devices", str(world)]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "MASTER_"))}
    base |= {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    if world > 1:
        base |= {
            "SLURM_JOB_ID": "4242",
            "SLURM_JOB_NAME": "hepdl-test",
            "SLURM_NTASKS": str(world),
            "SLURM_NTASKS_PER_NODE": str(world),
            "SLURM_NNODES": "1",
            "SLURM_NODEID": "0",
            "SLURM_NODELIST": "127.0.0.1",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(_free_port()),
        }
    processes = [
        subprocess.Popen(
            command,
            env=base | ({"SLURM_PROCID": str(r), "SLURM_LOCALID": str(r)} if world > 1 else {}),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for r in range(world)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in processes]
    for rank, (process, output) in enumerate(zip(processes, outputs, strict=True)):
        assert process.returncode == 0, f"rank {rank}:\n{output[-3000:]}"
    if world > 1:
        assert f"1 node(s) x {world} process(es)" in outputs[0], outputs[0][-2000:]
    return pd.read_csv(results / "models/mlp/training_log.csv")


def _curve(log: pd.DataFrame, column: str) -> np.ndarray:
    return log[column].dropna().to_numpy()


@pytest.mark.slow
def test_two_processes_follow_one_process_curve(tmp_path: Path) -> None:
    splits = write_splits(tmp_path / "data", sizes={"train": 512, "val": 128, "test": 16})
    features = splits["features"]
    single = _train(tmp_path, "single", features, world=1)
    ddp = _train(tmp_path, "ddp", features, world=2)

    steps_single, steps_ddp = _curve(single, "train_loss_step"), _curve(ddp, "train_loss_step")
    assert len(steps_single) == 2 * 512 // BATCH  # every step logged, same number of steps
    np.testing.assert_allclose(steps_ddp, steps_single, rtol=TOLERANCE)
    # The curve moved: the comparison is of a training, not of the initial loss repeated.
    assert abs(steps_single[-1] - steps_single[0]) > 100 * TOLERANCE * steps_single[0]
    np.testing.assert_allclose(_curve(ddp, "val_loss"), _curve(single, "val_loss"), rtol=TOLERANCE)


def test_lr_scale_rules() -> None:
    assert lr_scale("none", 8) == 1.0
    assert lr_scale("linear", 8) == 8.0
    assert lr_scale("sqrt", 16) == pytest.approx(4.0)
    assert lr_scale("linear", 1) == lr_scale("sqrt", 1) == 1.0
    with pytest.raises(ValueError, match=r"train\.lr_scaling: unknown rule 'cubic'"):
        lr_scale("cubic", 2)
    with pytest.raises(ValueError, match="world size"):
        lr_scale("linear", 0)


def test_scaling_starts_from_the_base_rate_on_resume() -> None:
    """A resumed run on another world size rescales the base rate instead of compounding."""
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    trainer = type(
        "FakeTrainer", (), {"optimizers": [optimizer], "world_size": 4, "is_global_zero": False}
    )()
    callback = LearningRateScaling("linear", batch_size=512)
    callback.on_train_start(trainer, None)  # type: ignore[arg-type]
    assert optimizer.param_groups[0]["lr"] == pytest.approx(4e-3)
    restored = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    restored.load_state_dict(optimizer.state_dict())  # what a resume restores
    trainer.optimizers, trainer.world_size = [restored], 2
    callback.on_train_start(trainer, None)  # type: ignore[arg-type]
    assert restored.param_groups[0][BASE_LR_KEY] == pytest.approx(1e-3)
    assert restored.param_groups[0]["lr"] == pytest.approx(2e-3)
