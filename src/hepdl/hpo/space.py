"""The search spaces of the hyper-parameter studies, read and checked from the ``hpo`` block.

Each entry of ``hpo.{study}.space`` names the config key it sets (``train.cnn.dropout`` for the
CNN study, ``gan.loss`` for the GAN's) and is one of

- a range ``{low, high, log}``: Optuna's ``suggest_int`` for integer keys, ``suggest_float``
  for the others, log-uniform with ``log: true``;
- a list of choices: ``suggest_categorical``;
- null: not searched, the key keeps its value in ``train.cnn`` or ``gan``.

:func:`check_spaces` runs inside :func:`hepdl.config.validate_config`, so a bad range (low not
below high, a log range reaching 0, a bound the key itself does not allow) fails before any job
starts, naming the ``hpo`` key. No Optuna import here: the config is checked without it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import jsonschema

from hepdl.errors import ConfigError

__all__ = [
    "PARAMETER_KINDS",
    "STUDY_BLOCKS",
    "SearchParameter",
    "TrialLike",
    "apply_parameters",
    "check_spaces",
    "scaled_filters",
    "search_space",
]

Kind = Literal["int", "float", "categorical"]

#: The config block each study's space sets keys of.
STUDY_BLOCKS: dict[str, tuple[str, ...]] = {"cnn": ("train", "cnn"), "gan": ("gan",)}

#: How each searchable key is drawn: integers, reals, or only from a list of choices.
PARAMETER_KINDS: dict[str, dict[str, Kind]] = {
    "cnn": {
        "conv_filters": "int",
        "dense_units": "int",
        "dropout": "float",
        "learning_rate": "float",
        "batch_size": "int",
    },
    "gan": {
        "generator_filters": "int",
        "discriminator_filters": "int",
        "learning_rate": "float",
        "loss": "categorical",
        "pixel_offset": "float",
    },
}


class TrialLike(Protocol):
    """The part of :class:`optuna.trial.Trial` a parameter is drawn with."""

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int: ...

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any: ...


@dataclass(frozen=True)
class SearchParameter:
    """One searched key.

    Attributes:
        name: The key it sets in its study's block (``dropout`` sets ``train.cnn.dropout``).
        key: Its dotted ``hpo`` key, for messages (``hpo.cnn.space.dropout``).
        kind: ``int``, ``float`` or ``categorical``.
        low: Lower bound of a range (None for choices).
        high: Upper bound of a range, included (None for choices).
        log: Draw log-uniformly.
        choices: The values of a list of choices (empty for a range).
    """

    name: str
    key: str
    kind: Kind
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: TrialLike) -> Any:
        """Draw this parameter's value for ``trial``."""
        if self.choices:
            return trial.suggest_categorical(self.name, list(self.choices))
        assert self.low is not None
        assert self.high is not None
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high), log=self.log)

    @property
    def values(self) -> tuple[Any, ...]:
        """The values that bound what it can draw: its choices, or its low and high."""
        return self.choices or (self.low, self.high)


def _parameter(study: str, name: str, entry: Any, source: str) -> SearchParameter | None:
    key = f"hpo.{study}.space.{name}"
    kind = PARAMETER_KINDS[study][name]
    if entry is None:
        return None
    if isinstance(entry, list):
        if kind == "int" and not all(isinstance(v, int) for v in entry):
            raise ConfigError(key, f"choices {entry} must be integers", source)
        return SearchParameter(name, key, kind, choices=tuple(entry))
    if kind == "categorical":
        raise ConfigError(key, f"{entry} is a range; expected a list of choices", source)
    low, high, log = entry["low"], entry["high"], bool(entry.get("log", False))
    if not low < high:
        raise ConfigError(
            f"{key}.high",
            f"range [{low}, {high}] is empty or a single value; expected low < high (a list "
            "of one value fixes it)",
            source,
        )
    if log and low <= 0:
        raise ConfigError(f"{key}.low", f"a log range must start above 0, got low = {low}", source)
    return SearchParameter(name, key, kind, low=low, high=high, log=log)


def _target_schema(schema: Mapping[str, Any], study: str, name: str) -> Mapping[str, Any]:
    """The schema of the config key a parameter sets (for conv_filters: one block's)."""
    node: Mapping[str, Any] = schema
    for part in (*STUDY_BLOCKS[study], name):
        node = node["properties"][part]
    if name == "conv_filters":
        items: Mapping[str, Any] = node["items"]
        return items
    return node


def _check_bounds(
    parameter: SearchParameter, schema: Mapping[str, Any], study: str, source: str
) -> None:
    target = ".".join((*STUDY_BLOCKS[study], parameter.name))
    validator = jsonschema.Draft202012Validator(_target_schema(schema, study, parameter.name))
    for value in parameter.values:
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        if error is not None:
            raise ConfigError(
                parameter.key,
                f"{value!r} is not a value {target} allows ({error.message})",
                source,
            )


def search_space(
    config: Mapping[str, Any],
    study: str,
    schema: Mapping[str, Any] | None = None,
    source: str = "config",
) -> list[SearchParameter]:
    """The searched parameters of ``study`` (``cnn`` or ``gan``), checked.

    Args:
        config: A config with the ``hpo`` block filled in (defaults included).
        study: The study.
        schema: The config schema, to check the bounds against the keys' own (default: the
            shipped schema).
        source: Where the config came from, for messages.

    Raises:
        ConfigError: naming the ``hpo`` key of an empty or reversed range, a log range that
            reaches 0, a value its config key does not allow, or a space with nothing to search.
    """
    if schema is None:
        from hepdl.config import load_schema  # noqa: PLC0415 (config imports this module)

        schema = load_schema()
    space = config["hpo"][study]["space"]
    parameters = []
    for name in PARAMETER_KINDS[study]:
        parameter = _parameter(study, name, space.get(name), source)
        if parameter is not None:
            _check_bounds(parameter, schema, study, source)
            parameters.append(parameter)
    if not parameters:
        raise ConfigError(
            f"hpo.{study}.space", "every key is null; expected at least one to search", source
        )
    return parameters


def check_spaces(config: Mapping[str, Any], schema: Mapping[str, Any], source: str) -> None:
    """Check the search space of every study (see :func:`search_space`), searched or not, so
    that a bad range fails when it is written, not when its study is switched on."""
    for study in PARAMETER_KINDS:
        search_space(config, study, schema, source)


def scaled_filters(filters: Sequence[int], first: int) -> list[int]:
    """``filters`` scaled so that the first block has ``first``: the others keep their ratio
    to it (rounded, at least 1), so [8, 16, 32] with 32 gives [32, 64, 128]."""
    return [max(1, round(first * f / filters[0])) for f in filters]


def apply_parameters(
    config: Mapping[str, Any], study: str, values: Mapping[str, Any]
) -> dict[str, Any]:
    """A copy of ``config`` with a trial's ``values`` (by parameter name) in its study's block.

    Raises:
        ConfigError: naming ``hpo.{study}.space``, for a name that is not searchable.
    """
    updated = copy.deepcopy(dict(config))
    block = updated
    for part in STUDY_BLOCKS[study]:
        block = block[part]
    for name, value in values.items():
        if name not in PARAMETER_KINDS[study]:
            expected = ", ".join(PARAMETER_KINDS[study])
            raise ConfigError(
                f"hpo.{study}.space", f"{name!r} is not searchable; expected one of {expected}"
            )
        block[name] = scaled_filters(block[name], value) if name == "conv_filters" else value
    return updated
