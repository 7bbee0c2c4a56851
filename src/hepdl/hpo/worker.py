"""``hepdl hpo worker``: one worker of a study, pulling trials until the study has enough.

Every worker is one Snakemake job (the ``hpo_worker`` rule, one GPU each on the cluster
profiles) with the same journal (:mod:`hepdl.hpo.study`). Before each trial it counts the
study's trials: it stops once the finished ones (complete or pruned) and those other workers
are running reach ``hpo.n_trials``. Workers thus share the trials by speed: one whose trials are
pruned early runs more of them. A failed trial (its loss became NaN) counts for nothing and is
replaced; after ``hpo.n_trials`` failures the worker gives up.

A trial trains in ``trials/{number}/``. A pruned or failed trial's folder is removed, so it
leaves no model; a complete trial keeps only its ``training_log.csv`` (the best one is trained
again as its own model, ``cnn_hpo``). The worker's output lists the trials it ran.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from hepdl.errors import ConfigError, TrainingError
from hepdl.hpo.objective import run_trial
from hepdl.hpo.settings import study_name, trial_dir, worker_file
from hepdl.hpo.study import WORKER_ATTR, fail_interrupted_trials, open_study, trial_counts
from hepdl.io.atomic import write_text_atomic
from hepdl.io.layout import Layout

__all__ = ["TrialRecord", "WorkerResult", "keep_only_log", "run_worker"]

log = logging.getLogger(__name__)

#: What a complete trial keeps of its folder.
KEPT_FILES = ("training_log.csv",)


@dataclass(frozen=True)
class TrialRecord:
    """One trial a worker ran: its number, final state, value (None unless complete), drawn
    values and wall time in seconds."""

    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    seconds: float


@dataclass
class WorkerResult:
    """What one worker did."""

    study: str
    study_name: str
    worker: int
    trials: list[TrialRecord] = field(default_factory=list)
    interrupted: list[int] = field(default_factory=list)
    seconds: float = 0.0
    path: Path | None = None


def keep_only_log(directory: Path) -> None:
    """Remove everything of a complete trial's folder but :data:`KEPT_FILES`."""
    for entry in directory.iterdir():
        if entry.name in KEPT_FILES:
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _should_start(study: optuna.Study, n_trials: int) -> bool:
    counts = trial_counts(study)
    if counts["FAIL"] >= n_trials:
        raise TrainingError(
            f"study {study.study_name}: {counts['FAIL']} trials failed (hpo.n_trials = "
            f"{n_trials}); see the workers' logs for why"
        )
    taken = counts["COMPLETE"] + counts["PRUNED"] + counts["RUNNING"] + counts["WAITING"]
    return taken < n_trials


def _run_one(
    config: Mapping[str, Any],
    study_key: str,
    study: optuna.Study,
    worker: int,
    inputs: Mapping[str, str | os.PathLike[str]],
) -> TrialRecord:
    trial = study.ask()
    trial.set_user_attr(WORKER_ATTR, worker)
    directory = trial_dir(config, study_key, trial.number)
    shutil.rmtree(directory, ignore_errors=True)  # a folder left by an interrupted worker
    start = time.perf_counter()
    state, value = TrialState.COMPLETE, None
    try:
        value = run_trial(
            config, study_key, trial, directory, train_file=inputs["train"], val_file=inputs["val"]
        )
    except optuna.TrialPruned:
        state = TrialState.PRUNED
    except TrainingError as err:
        log.warning("trial %d failed: %s", trial.number, err)
        state = TrialState.FAIL
    except BaseException:
        study.tell(trial, state=TrialState.FAIL)
        shutil.rmtree(directory, ignore_errors=True)
        raise
    seconds = time.perf_counter() - start
    trial.set_user_attr("seconds", seconds)
    if state == TrialState.COMPLETE:
        frozen = study.tell(trial, value)
        state = frozen.state  # a NaN value is recorded as failed
        keep_only_log(directory)
    else:
        study.tell(trial, state=state)
    if state != TrialState.COMPLETE:
        shutil.rmtree(directory, ignore_errors=True)
        value = None
    return TrialRecord(trial.number, state.name, value, dict(trial.params), seconds)


def run_worker(
    config: Mapping[str, Any],
    study: str,
    worker: int,
    *,
    train_file: str | os.PathLike[str] | None = None,
    val_file: str | os.PathLike[str] | None = None,
    output: str | os.PathLike[str] | None = None,
) -> WorkerResult:
    """Run trials of ``study`` until it has ``hpo.n_trials`` finished or running ones.

    Args:
        config: A validated config.
        study: ``cnn`` or ``gan``.
        worker: This worker's index (0 .. hpo.workers - 1).
        train_file: Images training split (default ``{results}/images/train.h5``).
        val_file: Images validation split (default ``{results}/images/val.h5``).
        output: The worker's record (default ``{results}/hpo/{study}/workers/{worker}.json``).

    Raises:
        ConfigError: naming ``hpo.workers``, for a worker index outside it.
        TrainingError: after ``hpo.n_trials`` failed trials.
    """
    workers = int(config["hpo"]["workers"])
    if not 0 <= worker < workers:
        raise ConfigError(
            "hpo.workers", f"worker {worker} of {workers}; expected 0 .. {workers - 1}"
        )
    start = time.perf_counter()
    inputs = {
        "train": train_file or Layout.of(config).images_split("train"),
        "val": val_file or Layout.of(config).images_split("val"),
    }
    opened = open_study(config, study, worker)
    result = WorkerResult(study, study_name(config, study), worker)
    result.interrupted = fail_interrupted_trials(opened, worker)
    n_trials = int(config["hpo"]["n_trials"])
    while _should_start(opened, n_trials):
        record = _run_one(config, study, opened, worker, inputs)
        log.info(
            "worker %d: trial %d %s (%s) in %.1f s",
            worker,
            record.number,
            record.state.lower(),
            record.value,
            record.seconds,
        )
        result.trials.append(record)
    result.seconds = time.perf_counter() - start
    result.path = Path(output or worker_file(config, study, worker))
    record_json = {key: value for key, value in asdict(result).items() if key != "path"}
    write_text_atomic(result.path, json.dumps(record_json, indent=2) + "\n")
    return result
