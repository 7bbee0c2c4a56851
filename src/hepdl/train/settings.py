"""Which classifiers a config trains, their kinds, seeds and settings (their files:
:class:`hepdl.io.layout.Layout`).

The config's ``train`` block names the models: every key of ``train.cnn.channels`` is a CNN
(same architecture, its own input channels: ``cnn`` on ECal, HCal and tracks, ``cnn_energy`` on
the total energy), ``gbdt`` and ``mlp`` are the shallow baselines on the jet variables,
``cnn_jets`` combines a CNN's score with them and ``gnn`` is the graph network on the event
graphs (``train.gnn``). ``train.models`` lists those the DAG trains.

With ``train.seeds`` = n each model is trained n times, as the replicas ``{model}``,
``{model}_seed1`` ... ``{model}_seed{n-1}``: the same settings, another training seed
(:func:`hepdl.seeds.model_seed` mixes the name in), each a model of its own with its own
files. A replica of ``cnn_jets`` reads the replica of its CNN with the same index.

Where ``hpo.studies`` holds ``cnn``, the best trial of the CNN search is trained as one more
CNN, ``cnn_hpo`` (:data:`HPO_MODEL`; its settings come from the study's ``best.yaml``,
:mod:`hepdl.hpo.best`), and evaluated beside the others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from hepdl.config import result_settings
from hepdl.errors import ConfigError
from hepdl.models.channels import check_channels
from hepdl.seeds import model_seed, replica_names

__all__ = [
    "FEATURE_MODELS",
    "GRAPH_MODELS",
    "HPO_MODEL",
    "TRAINER_KEYS",
    "base_model",
    "cnn_of_cnn_jets",
    "model_kind",
    "models",
    "models_pattern",
    "replica_index",
    "replica_names",
    "training_settings",
]

#: Models on the jet variables (and the CNN score), with their kinds.
FEATURE_MODELS = {"gbdt": "gbdt", "mlp": "mlp", "cnn_jets": "cnn_jets"}

#: Models on the event graphs, with their kinds.
GRAPH_MODELS = {"gnn": "gnn"}

#: The CNN trained with the best settings of the CNN search (``hpo.studies``).
HPO_MODEL = "cnn_hpo"


#: ``train`` keys that only Lightning's Trainer reads: they change a network's result, not the
#: GBDT's (xgboost).
TRAINER_KEYS = (
    "accelerator",
    "devices",
    "num_nodes",
    "strategy",
    "lr_scaling",
    "precision",
    "deterministic",
)

#: A seed replica's name: the model's, then ``_seed`` and the replica index (from 1).
_REPLICA = re.compile(r"^(?P<base>.+)_seed(?P<index>[1-9][0-9]*)$")


def base_model(name: str) -> str:
    """The model a seed replica ``{model}_seed{k}`` belongs to (``name`` itself otherwise)."""
    match = _REPLICA.match(name)
    return match["base"] if match else name


def replica_index(name: str) -> int:
    """0 for a model's nominal training, k for its replica ``{model}_seed{k}``."""
    match = _REPLICA.match(name)
    return int(match["index"]) if match else 0


def cnn_of_cnn_jets(config: Mapping[str, Any], name: str) -> str:
    """The CNN (replica) whose score the ``cnn_jets`` replica ``name`` combines."""
    cnn = str(config["train"]["cnn_jets"]["cnn"])
    index = replica_index(name)
    return replica_names(cnn, index + 1)[index]


def model_kind(config: Mapping[str, Any], name: str) -> str:
    """The kind (``cnn``, ``gbdt``, ``mlp``, ``cnn_jets``, ``gnn``) of the model ``name``.

    Raises:
        ConfigError: naming ``train.models`` for an unknown model.
    """
    cnns = config["train"]["cnn"]["channels"]
    name = base_model(name)
    if name in cnns:
        check_channels(cnns[name], key=f"train.cnn.channels.{name}")
        return "cnn"
    if name == HPO_MODEL and "cnn" in config["hpo"]["studies"]:
        return "cnn"
    if name in FEATURE_MODELS:
        return FEATURE_MODELS[name]
    if name in GRAPH_MODELS:
        return GRAPH_MODELS[name]
    known = ", ".join([*cnns, *FEATURE_MODELS, *GRAPH_MODELS])
    raise ConfigError("train.models", f"unknown model {name!r}; expected one of {known}")


def models(config: Mapping[str, Any]) -> dict[str, str]:
    """The models the config trains, name -> kind, checked.

    Raises:
        ConfigError: for an unknown model or training sample, a CNN without channels, or
            ``cnn_jets`` whose CNN
            (``train.cnn_jets.cnn``) is not trained.
    """
    names = list(config["train"]["models"])
    replicas = [n for n in names if base_model(n) != n]
    if replicas:
        raise ConfigError(
            "train.models",
            f"{replicas}: names ending in _seed<k> are the seed replicas of train.seeds",
        )
    if HPO_MODEL in names:
        raise ConfigError(
            "train.models",
            f"{HPO_MODEL} is trained where hpo.studies holds cnn; it is not listed here",
        )
    if "cnn" in config["hpo"]["studies"]:
        names.append(HPO_MODEL)
    kinds = {
        replica: model_kind(config, name)
        for name in names
        for replica in replica_names(name, int(config["train"]["seeds"]))
    }
    unknown = [s for s in config["train"]["samples"] or [] if s not in config["samples"]]
    if unknown:
        raise ConfigError(
            "train.samples",
            f"{unknown} are not samples of this config ({sorted(config['samples'])})",
        )
    if "cnn_jets" in kinds:
        cnn = config["train"]["cnn_jets"]["cnn"]
        if kinds.get(cnn) != "cnn":
            raise ConfigError(
                "train.cnn_jets.cnn",
                f"{cnn!r} is not a CNN trained by this config (train.models: {names})",
            )
    return kinds


def models_pattern(trained: Mapping[str, str], kind: str) -> str:
    """The wildcard constraint of one kind's training rule: its models and seed replicas
    (a pattern that matches nothing when the config trains none of that kind)."""
    return "|".join(name for name, k in trained.items() if k == kind) or f"no_{kind}"


def training_settings(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Every setting the training of model ``name`` depends on, besides its input files.

    Its kind's block (a CNN with its own channels only, so that another CNN in
    ``train.cnn.channels`` retrains none of the others), the ``train`` keys shared by every
    model (training samples, background weights; the Trainer's for a network) and the model's
    seed; no key that changes no result (:func:`hepdl.config.result_settings`). Keys are dotted
    config names, so a difference reads ``train.cnn.learning_rate``. The training rule's params
    (a change retrains this model only) and the resume check (:mod:`hepdl.train.checkpoint`)
    both use it.
    """
    kind = model_kind(config, name)
    train = result_settings(config, "train")
    own = train[kind]
    if kind == "cnn":
        own["channels"] = own["channels"][base_model(name)]
    shared = {
        key: value
        for key, value in train.items()
        if not isinstance(value, dict) and not (kind == "gbdt" and key in TRAINER_KEYS)
    }
    return {
        f"train.{kind}": own,
        **{f"train.{key}": value for key, value in shared.items()},
        "seed": model_seed(config, name),
    }
