"""Which hyper-parameter studies a config runs, what each depends on, and where its files live.

Every file of study ``{study}`` (``cnn`` or ``gan``) is under ``{results}/hpo/{study}/``:

- ``journal.log``: the Optuna journal every worker reads and appends to (the study's storage);
- ``workers/{k}.json``: what worker k ran (the ``hpo_worker`` rule's output);
- ``trials/{number}/``: a trial's training while it runs; afterwards only a finished trial's
  ``training_log.csv`` stays (its model is not kept; a pruned or failed trial leaves nothing);
- ``best.yaml``: the best trial's settings (:mod:`hepdl.hpo.best`);
- ``plots/history.*``, ``plots/epochs.*``, ``plots/importances.*``: ``hepdl hpo report``.

The study inside the journal is named by its study and the digest of its settings
(:func:`study_settings`): a changed search space, metric or training starts a new study in the
same journal, never mixing its trials with the old ones. No Optuna import here: the Snakemake
rules use this module.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from hepdl.config import result_settings
from hepdl.errors import ConfigError
from hepdl.hpo.space import search_space
from hepdl.io.layout import Layout
from hepdl.train.settings import HPO_MODEL, model_kind, replica_names, training_settings

__all__ = [
    "DIRECTIONS",
    "HPO_MODEL",
    "REPORT_PLOTS",
    "VAL_EFFICIENCY",
    "best_file",
    "hpo_models",
    "journal_file",
    "plot_files",
    "studies",
    "study_dir",
    "study_metric",
    "study_name",
    "study_settings",
    "trial_dir",
    "worker_file",
    "worker_ids",
]

#: The CNN study's signal efficiency at the cuts' background efficiency on the validation split,
#: as logged per epoch (:class:`hepdl.hpo.callbacks.ValidationEfficiency`).
VAL_EFFICIENCY = "val_tpr_at_cuts_fpr"

#: Whether a study metric is minimised or maximised.
DIRECTIONS: dict[str, Literal["minimize", "maximize"]] = {
    "val_loss": "minimize",
    "val_tpr_at_cuts_fpr": "maximize",
    "val_ks": "minimize",
}

#: Plots of ``hepdl hpo report``, by base name.
REPORT_PLOTS = ("history", "epochs", "importances")


def studies(config: Mapping[str, Any]) -> list[str]:
    """The studies the config runs (``hpo.studies``), checked.

    Raises:
        ConfigError: if the CNN study's ``hpo.cnn.model`` is not a CNN of ``train.cnn.channels``,
            or the GAN study's images or samples do not suit the GANs.
    """
    names = list(config["hpo"]["studies"])
    if "cnn" in names:
        model = config["hpo"]["cnn"]["model"]
        if model not in config["train"]["cnn"]["channels"]:
            known = ", ".join(config["train"]["cnn"]["channels"])
            raise ConfigError(
                "hpo.cnn.model", f"{model!r} is not a CNN of train.cnn.channels ({known})"
            )
        model_kind(config, model)
    if "gan" in names:
        from hepdl.gan.settings import gan_models  # noqa: PLC0415

        searched = {**config, "gan": {**config["gan"], "models": [config["hpo"]["gan"]["model"]]}}
        gan_models(searched)
    return names


def hpo_models(config: Mapping[str, Any]) -> list[str]:
    """``cnn_hpo`` and its seed replicas where the config runs the CNN study, else none."""
    if "cnn" not in config["hpo"]["studies"]:
        return []
    return replica_names(HPO_MODEL, int(config["train"]["seeds"]))


def study_metric(config: Mapping[str, Any], study: str) -> str:
    """The metric a study optimises: ``hpo.cnn.metric`` for the CNN, ``val_ks`` for the GAN."""
    return str(config["hpo"]["cnn"]["metric"]) if study == "cnn" else "val_ks"


def study_settings(config: Mapping[str, Any], study: str) -> dict[str, Any]:
    """Every setting a study's trials depend on, by dotted config name: the ``hpo`` keys of
    the search (not which studies run, nor how many workers pull its trials), its own block,
    and the training settings of the model it searches (its seed included) but for the keys
    it searches, which the trials draw (a new hand-set learning rate changes no trial)."""
    hpo = result_settings(config, "hpo")
    shared = {
        f"hpo.{key}": value
        for key, value in hpo.items()
        if key not in ("studies", "workers", *STUDY_KEYS)
    }
    own = {f"hpo.{study}": hpo[study]}
    searched = {parameter.name for parameter in search_space(config, study)}
    if study == "cnn":
        trained = training_settings(config, config["hpo"]["cnn"]["model"])
        block = trained["train.cnn"]
        # conv_filters stays: its searched value is the first block's, scaled by its ratios.
        trained["train.cnn"] = {
            key: value for key, value in block.items() if key not in searched - {"conv_filters"}
        }
    else:
        from hepdl.gan.settings import gan_training_settings  # noqa: PLC0415

        trained = {
            key: value
            for key, value in gan_training_settings(config, config["hpo"]["gan"]["model"]).items()
            if key.removeprefix("gan.") not in searched
        }
    return {**shared, **own, **trained}


#: The per-study blocks of ``hpo``.
STUDY_KEYS = ("cnn", "gan")


def study_name(config: Mapping[str, Any], study: str) -> str:
    """The study's name in its journal: ``{study}-`` and the start of the SHA-256 of its
    settings (:func:`study_settings`)."""
    text = json.dumps(study_settings(config, study), sort_keys=True, default=str)
    return f"{study}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:12]}"


def worker_ids(config: Mapping[str, Any]) -> list[int]:
    """The worker indices of every study: 0 .. hpo.workers - 1."""
    return list(range(int(config["hpo"]["workers"])))


def study_dir(config: Mapping[str, Any], study: str) -> Path:
    """``{results}/hpo/{study}`` (:meth:`hepdl.io.layout.Layout.hpo_study`)."""
    return Layout.of(config).hpo_study(study)


def journal_file(config: Mapping[str, Any], study: str) -> Path:
    """``{results}/hpo/{study}/journal.log``: the study's Optuna journal."""
    return study_dir(config, study) / "journal.log"


def worker_file(config: Mapping[str, Any], study: str, worker: int) -> Path:
    """``{results}/hpo/{study}/workers/{worker}.json``."""
    return study_dir(config, study) / "workers" / f"{worker}.json"


def trial_dir(config: Mapping[str, Any], study: str, number: int) -> Path:
    """``{results}/hpo/{study}/trials/{number}``."""
    return study_dir(config, study) / "trials" / str(number)


def best_file(config: Mapping[str, Any], study: str) -> Path:
    """``{results}/hpo/{study}/best.yaml``."""
    return study_dir(config, study) / "best.yaml"


def plot_files(config: Mapping[str, Any], study: str) -> list[Path]:
    """The plots ``hepdl hpo report`` writes for a study, in every ``evaluate.plot_formats``."""
    folder = study_dir(config, study) / "plots"
    return [
        folder / f"{name}.{fmt}"
        for name in REPORT_PLOTS
        for fmt in config["evaluate"]["plot_formats"]
    ]
