"""The Optuna study of a search: journal-file storage, seeded sampler, pruner.

The storage is Optuna's journal on a plain file (``JournalStorage`` with
``JournalFileBackend``): every worker appends its operations to one log under a lock file and
replays the others', which works on the parallel filesystems of a Slurm cluster (Lustre, GPFS,
NFS) where SQLite's locking does not, and needs no database server. Several Snakemake jobs, on
as many nodes, share one study that way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from hepdl.hpo.settings import DIRECTIONS, journal_file, study_metric, study_name
from hepdl.io.atomic import ensure_writable_dir

__all__ = [
    "WORKER_ATTR",
    "fail_interrupted_trials",
    "journal_storage",
    "load_study",
    "make_pruner",
    "make_sampler",
    "open_study",
    "trial_counts",
]

#: The user attribute holding the worker index that runs a trial.
WORKER_ATTR = "worker"


def journal_storage(path: Path) -> optuna.storages.JournalStorage:
    """Optuna journal storage on the file ``path`` (created with its folder if missing)."""
    ensure_writable_dir(path.parent)
    backend = JournalFileBackend(str(path))
    return optuna.storages.JournalStorage(backend)


def make_sampler(config: Mapping[str, Any], study: str, seed: int) -> optuna.samplers.BaseSampler:
    """The sampler of ``hpo.sampler``, seeded with ``seed``."""
    hpo = config["hpo"]
    if hpo["sampler"] == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(n_startup_trials=hpo["startup_trials"], seed=seed)


def make_pruner(config: Mapping[str, Any]) -> optuna.pruners.BasePruner:
    """Optuna's median pruner as ``hpo.pruner`` sets it (never pruning when disabled)."""
    pruner = config["hpo"]["pruner"]
    if not pruner["enabled"]:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(
        n_startup_trials=pruner["startup_trials"], n_warmup_steps=pruner["warmup_epochs"]
    )


def _worker_seed(config: Mapping[str, Any], study: str, worker: int, n_trials: int) -> int:
    """A sampler seed from the global seed, the study, the worker and the trials so far (so
    that a restarted worker does not draw its first trials again)."""
    entropy = [int(config["seed"]), sum(study.encode()), worker, n_trials]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def open_study(config: Mapping[str, Any], study: str, worker: int = 0) -> optuna.Study:
    """The study of ``study`` in its journal, created if it is the first worker's call, with
    this worker's seeded sampler and the configured pruner."""
    storage = journal_storage(journal_file(config, study))
    opened = optuna.create_study(
        storage=storage,
        study_name=study_name(config, study),
        direction=DIRECTIONS[study_metric(config, study)],
        pruner=make_pruner(config),
        load_if_exists=True,
    )
    n_trials = len(opened.get_trials(deepcopy=False))
    opened.sampler = make_sampler(config, study, _worker_seed(config, study, worker, n_trials))
    return opened


def load_study(config: Mapping[str, Any], study: str) -> optuna.Study:
    """The existing study of ``study`` (reading only).

    Raises:
        InputFileError: naming the journal, if it or the config's study in it is missing.
    """
    from hepdl.errors import InputFileError  # noqa: PLC0415

    path = journal_file(config, study)
    if not path.is_file():
        raise InputFileError(path, "no study journal (run hepdl hpo worker first)")
    name = study_name(config, study)
    storage = journal_storage(path)
    names = [summary.study_name for summary in optuna.get_all_study_summaries(storage)]
    if name not in names:
        raise InputFileError(
            path,
            f"holds no study {name} of this config's settings (it has {names}); run the "
            "workers with this config",
        )
    return optuna.load_study(study_name=name, storage=storage)


def trial_counts(study: optuna.Study) -> Counter[str]:
    """Trials by state name (``COMPLETE``, ``PRUNED``, ``FAIL``, ``RUNNING``, ``WAITING``)."""
    return Counter(trial.state.name for trial in study.get_trials(deepcopy=False))


def fail_interrupted_trials(study: optuna.Study, worker: int) -> list[int]:
    """Mark as failed the trials this worker left running when it was stopped (a Slurm time
    limit, a lost node), so that they neither block nor count; returns their numbers.

    Only this worker's: a worker index is one Snakemake job at a time, so a running trial of
    the same index belongs to a process that is gone.
    """
    stale = [
        trial.number
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if trial.user_attrs.get(WORKER_ATTR) == worker
    ]
    for number in stale:
        study.tell(number, state=TrialState.FAIL)
    return stale
