"""Loading and validating the pipeline configuration.

The JSON schema (``hepdl/schemas/config.schema.yaml``, also reached as
``workflow/schemas/config.schema.yaml``) checks every key and fills in defaults; the checks
below it cover what a schema cannot say (a neutralino lighter than its gluino, pT-hat slices that
do not overlap). Snakemake (``workflow/rules/common.smk``) and the ``hepdl`` command line call
the same :func:`validate_config`, so a bad value fails the same way in both, before any event is
generated.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import math
import os
import re
from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema import validators

from hepdl.errors import ConfigError, HepdlError
from hepdl.hpo.space import check_spaces
from hepdl.io.atomic import check_creatable_dir, ensure_writable_dir, write_text_atomic
from hepdl.io.layout import PINNED_CONFIG_FOLDER, Layout

__all__ = [
    "MAX_EVENTS_PER_SHARD",
    "PINNED_CONFIG_FOLDER",
    "Config",
    "SchemaValidator",
    "check_results_folder",
    "load_config",
    "load_schema",
    "non_result_keys",
    "parse_config_text",
    "pinned_config_path",
    "read_config_file",
    "result_settings",
    "schema_error",
    "validate_config",
    "write_pinned_config",
]

Config = dict[str, Any]


def load_schema() -> dict[str, Any]:
    """The config JSON schema shipped with the package."""
    text = resources.files("hepdl").joinpath("schemas/config.schema.yaml").read_text("utf-8")
    schema: dict[str, Any] = yaml.safe_load(text)
    return schema


#: The schema annotation of a key that changes no result: speed, memory, storage, logging, or
#: which jobs run (``x-rerun: false``). Rule params leave such keys out, so a change reruns nothing.
RERUN_ANNOTATION = "x-rerun"


def _annotated_non_result(schema: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted names of the keys below ``schema`` (an object's schema) marked ``x-rerun: false``."""
    for name, subschema in schema.get("properties", {}).items():
        if not isinstance(subschema, Mapping):
            continue
        key = f"{prefix}{name}"
        if subschema.get(RERUN_ANNOTATION) is False:
            yield key
        yield from _annotated_non_result(subschema, f"{key}.")


@cache
def non_result_keys() -> frozenset[str]:
    """Dotted names (``train.num_workers``) of the config keys that change no result, as the
    schema marks them (``x-rerun: false``)."""
    return frozenset(_annotated_non_result(load_schema()))


def _without_non_result(value: Any, key: str) -> Any:
    if not isinstance(value, Mapping):
        return copy.deepcopy(value)
    skipped = non_result_keys()
    return {
        name: _without_non_result(item, f"{key}.{name}")
        for name, item in value.items()
        if f"{key}.{name}" not in skipped
    }


def result_settings(config: Mapping[str, Any], block: str) -> Any:
    """The config's ``block`` (a dotted key: ``train.cnn``, ``images``) without the keys that
    change no result (:func:`non_result_keys`), at any depth.

    A rule's params are its rerun triggers: built from this, they rerun a job only for a change
    of what it writes, never for a worker count or a compression.
    """
    value: Any = config
    for name in block.split("."):
        value = value[name]
    return _without_non_result(value, block)


def _with_defaults(validator_class: type[Any]) -> type[Any]:
    """A validator class that also fills in each property's ``default``."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(
        validator: Any, properties: Mapping[str, Any], instance: Any, schema: Mapping[str, Any]
    ) -> Iterator[Any]:
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if isinstance(subschema, dict) and "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    extended: type[Any] = validators.extend(validator_class, {"properties": set_defaults})
    return extended


#: The JSON-schema validator of hepdl's configs and detector cards: Draft 2020-12, filling in
#: each property's ``default``.
SchemaValidator = _with_defaults(jsonschema.Draft202012Validator)


def _dotted(path: Iterator[Any] | Any) -> str:
    return ".".join(str(part) for part in path) or "<top level>"


def schema_error(error: jsonschema.ValidationError, source: str) -> ConfigError:
    """Turn jsonschema's error into one naming the offending key."""
    key = _dotted(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - allowed)
        prefix = f"{key}." if error.absolute_path else ""
        expected = ", ".join(sorted(allowed)) or "no keys"
        return ConfigError(
            f"{prefix}{unknown[0]}" if unknown else key,
            f"unknown key; expected one of: {expected}",
            source,
        )
    if "propertyNames" in error.schema_path:
        return ConfigError(
            f"{key}.{error.instance}",
            "sample names may hold letters, digits and underscores only, starting with a letter",
            source,
        )
    return ConfigError(key, error.message, source)


#: Most events one shard (one generate job, one file) may hold: the schema's documented bound,
#: which keeps a job's memory (every event is held until it is written) to a few GB.
MAX_EVENTS_PER_SHARD = 1_000_000


def _check_finite(value: Any, path: tuple[Any, ...], source: str) -> None:
    """Refuse NaN and infinities anywhere in the config (YAML's ``.nan``, ``.inf``).

    JSON schema bounds cannot: NaN compares false with every bound, so ``exclusiveMinimum: 0``
    lets it through, and an infinite luminosity or mass passes ``minimum``.
    """
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(_dotted(path), f"{value} is not a finite number", source)
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_finite(item, (*path, key), source)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_finite(item, (*path, index), source)


#: Pythia settings the pipeline sets itself, and what owns each: an extra setting that
#: overrode one would make every shard's seed the same, or the metadata (sample definition,
#: centre-of-mass energy) describe other events than the file holds. Keys ending in ':' stand
#: for their whole group. Pythia's keys are case-insensitive.
_OWNED_SETTINGS: dict[str, str] = {
    "Random:": "per shard, from 'seed'",
    "Beams:eCM": "generator.ecm_gev",
    "Beams:idA": "the proton-proton beams of every sample",
    "Beams:idB": "the proton-proton beams of every sample",
    "Beams:eA": "generator.ecm_gev",
    "Beams:eB": "generator.ecm_gev",
    "Beams:frameType": "generator.ecm_gev",
    "Tune:": "generator.tune_pp",
    "ParticleDecays:limitTau0": "generator.stable_ctau_mm",
    "ParticleDecays:tau0Max": "generator.stable_ctau_mm",
    "SLHA:": "the samples' m_gluino_gev and m_neutralino_gev",
    "SUSY:": "the samples' process",
    "HardQCD:": "the samples' process",
    "SoftQCD:": "the samples' process",
    "PhaseSpace:pTHatMin": "the samples' pthat_min_gev",
    "PhaseSpace:pTHatMax": "the samples' pthat_max_gev",
    "PhaseSpace:bias2Selection": "the samples' bias_power",
    "PhaseSpace:bias2SelectionPow": "the samples' bias_power",
    "PhaseSpace:bias2SelectionRef": "the samples' pthat_min_gev",
    "Next:": "for its event loop and progress bar",
    "Init:showChangedParticleData": "for its event loop and progress bar",
}


def _owner_of_setting(key: str) -> str | None:
    """What owns the Pythia setting ``key`` (see :data:`_OWNED_SETTINGS`), or None."""
    folded = key.strip().casefold()
    for owned, owner in _OWNED_SETTINGS.items():
        pattern = owned.casefold()
        if folded == pattern or (pattern.endswith(":") and folded.startswith(pattern)):
            return owner
    return None


def _check_extra_settings(config: Config, source: str) -> None:
    """Refuse ``generator.extra_settings`` that override a setting the pipeline owns."""
    for index, setting in enumerate(config["generator"]["extra_settings"]):
        key = setting.split("=", 1)[0].strip()
        owner = _owner_of_setting(key)
        if owner is not None:
            raise ConfigError(
                f"generator.extra_settings.{index}",
                f"'{setting}' overrides {key}, which hepdl sets itself ({owner})",
                source,
            )


def _check_physics(config: Config, source: str) -> None:
    """Cross-field checks the schema cannot express."""
    slices: list[tuple[float, float, float, str]] = []
    for name, sample in config["samples"].items():
        key = f"samples.{name}"
        if sample["shards"] > sample["events"]:
            raise ConfigError(
                f"{key}.shards",
                f"{sample['shards']} shards for {sample['events']} events; "
                "expected at most one shard per event",
                source,
            )
        per_shard = -(-sample["events"] // sample["shards"])
        if per_shard > MAX_EVENTS_PER_SHARD:
            raise ConfigError(
                f"{key}.shards",
                f"{sample['shards']} shards of {sample['events']} events hold up to {per_shard} "
                f"events each; expected at most {MAX_EVENTS_PER_SHARD:,} per shard (use at "
                f"least {-(-sample['events'] // MAX_EVENTS_PER_SHARD)} shards)",
                source,
            )
        process = sample["process"]
        if process == "rpv_gluino" and sample["m_neutralino_gev"] >= sample["m_gluino_gev"]:
            raise ConfigError(
                f"{key}.m_neutralino_gev",
                f"neutralino mass {sample['m_neutralino_gev']} GeV is not below the gluino mass "
                f"{sample['m_gluino_gev']} GeV; the gluino -> q q~ neutralino decay needs "
                "m_neutralino < m_gluino",
                source,
            )
        if process in ("qcd", "qcd_biased"):
            low, high = sample["pthat_min_gev"], sample.get("pthat_max_gev", math.inf)
            if low >= high:
                raise ConfigError(
                    f"{key}.pthat_max_gev",
                    f"pT-hat slice [{low}, {high}] GeV is empty; expected pthat_min_gev < "
                    "pthat_max_gev",
                    source,
                )
            slices.append((sample["pileup_mu"], low, high, name))
    kept_gev = config["detector"]["fatjet"]["pt_min_gev"]
    counted_gev = config["selection"]["jet_pt_min_gev"]
    if counted_gev < kept_gev:
        raise ConfigError(
            "selection.jet_pt_min_gev",
            f"the selection counts large-R jets above {counted_gev} GeV, but the detector keeps "
            f"none below detector.fatjet.pt_min_gev = {kept_gev} GeV; lower that to "
            f"{counted_gev} or less",
            source,
        )
    # Slices of one pile-up condition must tile pT-hat without double counting; a pile-up
    # copy of a slice (a different mu) is a different sample set and may repeat its range.
    slices.sort()
    for (mu_a, low_a, high_a, name_a), (mu_b, low_b, _, name_b) in itertools.pairwise(slices):
        if mu_a == mu_b and low_b < high_a:
            raise ConfigError(
                f"samples.{name_b}.pthat_min_gev",
                f"pT-hat slice of {name_b} starts at {low_b} GeV, inside the slice of {name_a} "
                f"[{low_a}, {high_a}] GeV; slices must not overlap (events would be double "
                "counted)",
                source,
            )


def validate_config(config: Mapping[str, Any], source: str = "config") -> Config:
    """Validate ``config`` against the schema, the physics checks and the hyper-parameter
    search spaces (:func:`hepdl.hpo.space.check_spaces`) and each GAN kind's own settings
    (:func:`hepdl.gan.settings.check_per_kind`); fill in defaults.

    Args:
        config: The parsed configuration (not modified).
        source: Where it came from, used in error messages (a file name).

    Returns:
        A validated deep copy with every default filled in.

    Raises:
        ConfigError: naming the first offending key, the bad value and what was expected.
    """
    if not isinstance(config, Mapping):
        raise ConfigError("<top level>", "expected a mapping of keys to values", source)
    _check_finite(config, (), source)
    validated: Config = copy.deepcopy(dict(config))
    schema = load_schema()
    validator = SchemaValidator(schema)
    errors = sorted(validator.iter_errors(validated), key=lambda e: list(e.absolute_path))
    if errors:
        raise schema_error(jsonschema.exceptions.best_match(errors), source)
    _check_extra_settings(validated, source)
    _check_physics(validated, source)
    check_spaces(validated, schema, source)
    # the GAN settings import this module (result_settings)
    from hepdl.gan.settings import check_per_kind  # noqa: PLC0415

    check_per_kind(validated, schema, source)
    return validated


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last
    silently, so a second ``events:`` would override the first unnoticed)."""

    source = "config"

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # '<<: *anchor' merges may be overridden by the mapping's own keys
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(
                    str(key),
                    f"given twice in one mapping (lines {seen[key]} and {line}); YAML would "
                    "silently keep the last: remove one",
                    self.source,
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def parse_config_text(text: str, source: str) -> Any:
    """Parse a YAML config, refusing duplicate keys (see :class:`_UniqueKeyLoader`).

    Raises:
        ConfigError: naming ``source``, for invalid YAML or a key given twice.
    """
    loader = _UniqueKeyLoader(text)
    loader.source = source
    try:
        return loader.get_single_data()
    except yaml.YAMLError as err:
        raise ConfigError("<file>", f"not valid YAML: {err}", source) from None
    finally:
        loader.dispose()


def read_config_file(path: str | os.PathLike[str]) -> Any:
    """The parsed content of a YAML config file, unvalidated (see :func:`parse_config_text`).

    Snakemake parses its ``configfile`` itself, keeping duplicate keys silently; its rules
    read each file again through this to refuse them.

    Raises:
        ConfigError: naming the file, if it cannot be read, is not YAML or repeats a key.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError("<file>", f"cannot read config file: {err.strerror}", str(path)) from None
    return parse_config_text(text, str(path))


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read a YAML config file and validate it (see :func:`validate_config`)."""
    config_path = Path(path)
    try:
        text = config_path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError("<file>", f"cannot read config file: {err.strerror}", str(path)) from None
    _check_pin(config_path, text)
    parsed = parse_config_text(text, str(path))
    return validate_config(parsed or {}, source=str(path))


#: Hex digits of the SHA-256 that name a pinned config (64 bits: configs never collide).
_DIGEST_LENGTH = 16
_PINNED_NAME = re.compile(rf"[0-9a-f]{{{_DIGEST_LENGTH}}}\.yaml")


def _config_text(config: Config) -> str:
    return yaml.safe_dump(config, sort_keys=True)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:_DIGEST_LENGTH]


def check_results_folder(config: Config) -> None:
    """Check, writing nothing (a dry run too), that the results folder can be written.

    Raises:
        ConfigError: naming ``results``, if it could not be created or written to.
    """
    try:
        check_creatable_dir(config["results"])
    except HepdlError as err:
        raise ConfigError("results", str(err)) from None


def pinned_config_path(config: Config) -> Path:
    """Where a Snakemake run pins ``config``: ``{results}/configs/<digest>.yaml``.

    The name is the start of the SHA-256 of the file's content, so another config (a
    ``snakemake --config seed=7`` next to a running run) gets another file. Writes nothing: a dry
    run only names the file in the commands it prints.
    """
    name = f"{_digest(_config_text(config))}.yaml"
    return Layout.of(config).pinned_config(name)


def write_pinned_config(config: Config) -> Path:
    """Write the validated config the jobs of a Snakemake run read (see
    :func:`pinned_config_path`) and return its path.

    Rules hand this file to the ``hepdl`` command line, so command-line ``--config`` overrides
    reach every job. The file is never rewritten (an existing one is checked instead) and is
    written atomically; its failure to be written is how an unwritable results folder is
    reported before any job starts.

    Raises:
        ConfigError: for an unwritable results folder, or an existing pinned file whose content
            was changed.
    """
    target = pinned_config_path(config)
    try:
        ensure_writable_dir(target.parent)
    except HepdlError as err:
        raise ConfigError("results", str(err)) from None
    if target.exists():
        _check_pin(target, target.read_text(encoding="utf-8"))
    else:
        write_text_atomic(target, _config_text(config))
    return target


def _check_pin(path: Path, text: str) -> None:
    """Refuse a pinned config whose content no longer hashes to its name.

    A job must read the config its run was scheduled with; an edited pinned file would give
    it another one, silently.
    """
    pinned = path.parent.name == PINNED_CONFIG_FOLDER and _PINNED_NAME.fullmatch(path.name)
    if pinned and _digest(text) != path.stem:
        raise ConfigError(
            "<file>",
            "pinned config changed after its run pinned it (its SHA-256 does not start with "
            "its name); a job reads only the config it was scheduled with: rerun snakemake, "
            "which pins the current config under a new name",
            str(path),
        )
