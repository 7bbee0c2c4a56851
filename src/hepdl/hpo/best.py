"""The best trial of a study, written out, and the config that trains it as ``cnn_hpo``.

``{results}/hpo/{study}/best.yaml`` (written atomically by ``hepdl hpo best``) holds the study's
name, metric and direction, the best trial's number, value and drawn ``parameters``, the config
``settings`` they amount to (by dotted key: ``train.cnn.conv_filters: [32, 64, 128]``) and the
trial counts by state. :func:`with_best` turns a config and that file into the config of the
model ``cnn_hpo``: the CNN study's searched CNN with the best settings (its channels under the
name ``cnn_hpo``, every other ``train.cnn`` key as configured, ``train.cnn.max_epochs``
included). ``hepdl train cnn --model cnn_hpo`` and ``hepdl predict --model cnn_hpo`` read it
through ``--hpo-best``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hepdl.config import validate_config
from hepdl.errors import InputFileError, TrainingError
from hepdl.hpo.settings import DIRECTIONS, best_file, study_metric, study_name
from hepdl.hpo.space import PARAMETER_KINDS, STUDY_BLOCKS, apply_parameters
from hepdl.io.atomic import write_text_atomic
from hepdl.train.settings import HPO_MODEL

__all__ = ["BEST_KEYS", "BestTrial", "export_best", "read_best", "with_best"]

#: Keys of a ``best.yaml``.
BEST_KEYS = ("study", "study_name", "metric", "direction", "trial", "value", "parameters")


@dataclass(frozen=True)
class BestTrial:
    """What ``hepdl hpo best`` wrote: the file and its record."""

    path: Path
    record: dict[str, Any]


def _settings(
    config: Mapping[str, Any], study: str, parameters: Mapping[str, Any]
) -> dict[str, Any]:
    """The config values the parameters set, by dotted key."""
    updated = apply_parameters(config, study, parameters)
    block = updated
    for part in STUDY_BLOCKS[study]:
        block = block[part]
    prefix = ".".join(STUDY_BLOCKS[study])
    return {f"{prefix}.{name}": block[name] for name in parameters}


def export_best(
    config: Mapping[str, Any], study: str, output: str | os.PathLike[str] | None = None
) -> BestTrial:
    """Write the best complete trial of ``study`` to ``output`` (default ``best.yaml``).

    Raises:
        InputFileError: if the study's journal or the config's study in it is missing.
        TrainingError: naming the journal, if no trial of the study completed.
    """
    from hepdl.hpo.study import load_study, trial_counts  # noqa: PLC0415 (Optuna)

    opened = load_study(config, study)
    counts = trial_counts(opened)
    if not counts["COMPLETE"]:
        raise TrainingError(
            f"study {opened.study_name}: no trial completed ({dict(counts)}); nothing to export "
            "(lower hpo.pruner.startup_trials, or see the workers' logs)"
        )
    best = opened.best_trial
    seconds = sorted(
        float(t.user_attrs["seconds"])
        for t in opened.get_trials(deepcopy=False)
        if "seconds" in t.user_attrs
    )
    record = {
        "study": study,
        "study_name": opened.study_name,
        "metric": study_metric(config, study),
        "direction": DIRECTIONS[study_metric(config, study)],
        "trial": best.number,
        "value": float(best.value) if best.value is not None else None,
        "parameters": dict(best.params),
        "settings": _settings(config, study, best.params),
        "trials": {state: counts[state] for state in ("COMPLETE", "PRUNED", "FAIL")},
        "trial_seconds": {
            "total": sum(seconds),
            "median": seconds[len(seconds) // 2] if seconds else None,
        },
    }
    path = Path(output or best_file(config, study))
    write_text_atomic(path, yaml.safe_dump(record, sort_keys=False))
    return BestTrial(path, record)


def read_best(path: str | os.PathLike[str], study: str = "cnn") -> dict[str, Any]:
    """Read and check a ``best.yaml`` of ``study``.

    Raises:
        InputFileError: naming the file, if it is missing, not YAML, lacks a key of
            :data:`BEST_KEYS`, is of another study or names a parameter that is not searchable.
    """
    path = Path(path)
    try:
        record = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InputFileError(
            path, f"cannot read the best settings ({err.strerror}); run hepdl hpo best"
        ) from None
    except yaml.YAMLError as err:
        raise InputFileError(path, f"not valid YAML ({err})") from None
    missing = [key for key in BEST_KEYS if not isinstance(record, dict) or key not in record]
    if missing:
        raise InputFileError(path, f"lacks {missing}; expected a best.yaml of hepdl hpo best")
    if record["study"] != study:
        raise InputFileError(path, f"holds the {record['study']!r} study; expected {study!r}")
    unknown = sorted(set(record["parameters"]) - set(PARAMETER_KINDS[study]))
    if unknown:
        raise InputFileError(path, f"parameters {unknown} are not searchable in the {study} study")
    return dict(record)


def with_best(config: Mapping[str, Any], path: str | os.PathLike[str]) -> dict[str, Any]:
    """The validated config of ``cnn_hpo``: ``config`` with the CNN study's best settings from
    ``path`` and ``train.cnn.channels.cnn_hpo`` = the channels of ``hpo.cnn.model``.

    Raises:
        InputFileError: naming ``path``, if it is unreadable (:func:`read_best`) or from another
            study than the config's (another search space, metric or training: rerun the
            search, or ``hepdl hpo best``).
    """
    record = read_best(path, "cnn")
    expected = study_name(config, "cnn")
    if record["study_name"] != expected:
        raise InputFileError(
            path,
            f"is the best trial of study {record['study_name']}, but this config's CNN search "
            f"is {expected} (its settings changed); rerun the search",
        )
    updated = apply_parameters(config, "cnn", record["parameters"])
    channels = updated["train"]["cnn"]["channels"]
    channels[HPO_MODEL] = list(channels[config["hpo"]["cnn"]["model"]])
    return validate_config(updated, source=f"config with {path}")
