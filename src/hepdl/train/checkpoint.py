"""Checkpoints: written atomically, read with ``weights_only=True``, checked against the config.

Lightning writes ``checkpoints/best.ckpt`` (lowest validation loss) and ``checkpoints/last.ckpt``
(end of the latest epoch) in a model's folder through :class:`AtomicCheckpointIO`, so an
interrupted save never leaves a truncated file behind. The stage's declared output,
``model.ckpt``, is the best checkpoint without the optimiser state (:func:`export_model`), still
loadable by Lightning's ``load_from_checkpoint``.

Every checkpoint of a training also records what it was trained with (:class:`TrainingRecord`:
the model's result settings and its input files' size and modification time), and a resume
continues only a checkpoint whose record equals the current one (:func:`resume_point`):
otherwise a changed learning rate, sample list or split file would silently continue (or
re-export) the old model.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import lightning.pytorch as pl
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from hepdl.errors import CheckpointError
from hepdl.io.atomic import atomic_path
from hepdl.train.modules import WeightedClassifier

__all__ = [
    "AtomicCheckpointIO",
    "TrainingRecord",
    "check_architecture",
    "export_model",
    "input_identity",
    "load_checkpoint",
    "load_model",
    "record_differences",
    "resume_point",
    "training_record",
]

log = logging.getLogger(__name__)

Module = TypeVar("Module", bound=WeightedClassifier)

#: Key of the hepdl record in an exported model file.
HEPDL_KEY = "hepdl"
#: Key of the training record (settings and inputs, as JSON) in every Lightning checkpoint.
TRAINING_KEY = "hepdl_training"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O through :func:`hepdl.io.atomic.atomic_path`, loading weights only."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        """Write ``checkpoint`` to a temporary file beside ``path``, then rename it."""
        if storage_options is not None:
            msg = "storage_options are not supported by AtomicCheckpointIO"
            raise TypeError(msg)
        with atomic_path(path) as temporary:
            torch.save(checkpoint, temporary)

    def load_checkpoint(
        self,
        path: Any,
        map_location: Callable[..., Any] | None = lambda storage, loc: storage,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        """Read a checkpoint with ``weights_only=True`` (no pickled code runs)."""
        return load_checkpoint(path, map_location=map_location)


def load_checkpoint(path: str | os.PathLike[str], map_location: Any = "cpu") -> dict[str, Any]:
    """Read a checkpoint file with ``torch.load(weights_only=True)``.

    Raises:
        CheckpointError: naming the file, if it is missing or not a torch checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "checkpoint not found")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 (torch raises pickle, zip, runtime... errors)
        # torch's message spans several lines; the command line prints one per error.
        reason = " ".join(str(err).split())
        raise CheckpointError(path, f"not a readable weights-only checkpoint ({reason})") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(path, "not a model checkpoint (no 'state_dict')")
    return checkpoint


def check_architecture(
    checkpoint: Mapping[str, Any],
    module_class: type[WeightedClassifier],
    expected: Mapping[str, Any],
    path: str | os.PathLike[str],
) -> None:
    """Check that a checkpoint holds ``module_class`` with the architecture of ``expected``.

    Args:
        checkpoint: A loaded checkpoint.
        module_class: The Lightning module the checkpoint should hold.
        expected: Hyper-parameters the config asks for; the keys of
            ``module_class.ARCHITECTURE`` must agree (lists and tuples compare equal).
        path: The checkpoint file, for the message.

    Raises:
        CheckpointError: naming the file and every differing hyper-parameter.
    """
    saved = checkpoint.get("hyper_parameters") or {}
    record = checkpoint.get(HEPDL_KEY, {})
    if record and record.get("class") != module_class.__name__:
        raise CheckpointError(
            path, f"checkpoint of a {record.get('class')}, expected a {module_class.__name__}"
        )

    def plain(value: Any) -> Any:
        return list(value) if isinstance(value, tuple | list) else value

    differing = [
        f"{key}: checkpoint {plain(saved.get(key))!r}, config {plain(expected.get(key))!r}"
        for key in module_class.ARCHITECTURE
        if plain(saved.get(key)) != plain(expected.get(key))
    ]
    if differing:
        raise CheckpointError(
            path,
            f"checkpoint from a different architecture ({'; '.join(differing)}); "
            "delete it or restore the config it was trained with",
        )


def export_model(
    best: str | os.PathLike[str],
    output: str | os.PathLike[str],
    module_class: type[WeightedClassifier],
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write the best checkpoint's weights and hyper-parameters (no optimiser state) atomically.

    Args:
        best: Lightning's best checkpoint.
        output: The model file (``{results}/models/{model}/model.ckpt``).
        module_class: The Lightning module class it holds.
        extra: More entries for the ``hepdl`` record (e.g. the best validation loss).
    """
    checkpoint = load_checkpoint(best)
    slim: dict[str, Any] = {
        key: checkpoint[key]
        for key in (
            "state_dict",
            "hyper_parameters",
            "epoch",
            "global_step",
            "pytorch-lightning_version",
        )
        if key in checkpoint
    }
    slim[HEPDL_KEY] = {"class": module_class.__name__, **dict(extra or {})}
    with atomic_path(output) as temporary:
        torch.save(slim, temporary)
    return Path(output)


def load_model(
    path: str | os.PathLike[str],
    module_class: type[Module],
    expected: Mapping[str, Any] | None = None,
) -> Module:
    """Rebuild a trained module from a checkpoint, in evaluation mode on the CPU.

    Args:
        path: A model file or Lightning checkpoint.
        module_class: The module class it must hold.
        expected: Hyper-parameters from the config to check the architecture against.

    Raises:
        CheckpointError: for a missing or unreadable file, another module class or architecture.
    """
    checkpoint = load_checkpoint(path)
    hparams = dict(checkpoint.get("hyper_parameters") or {})
    check_architecture(
        checkpoint, module_class, expected if expected is not None else hparams, path
    )
    try:
        module = module_class(**hparams)
        module.load_state_dict(checkpoint["state_dict"])
    except (TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(
            path, f"does not hold a {module_class.__name__} ({str(err).splitlines()[0]})"
        ) from None
    return module.eval()


def input_identity(inputs: Mapping[str, str | os.PathLike[str]]) -> dict[str, dict[str, int]]:
    """Size and modification time (ns) of each input file, by role (``train``, ``val``):
    a rewritten split file differs, a moved results folder does not."""
    identity = {}
    for role, path in inputs.items():
        stat = Path(path).stat()
        identity[role] = {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    return identity


def training_record(
    settings: Mapping[str, Any], inputs: Mapping[str, str | os.PathLike[str]]
) -> dict[str, Any]:
    """What a training's result depends on: its settings (by dotted config name, e.g.
    :func:`hepdl.train.settings.training_settings`) and its input files (:func:`input_identity`),
    as plain JSON values (tuples become lists)."""
    record = {"settings": dict(settings), "inputs": input_identity(inputs)}
    parsed: dict[str, Any] = json.loads(json.dumps(record, sort_keys=True))
    return parsed


class TrainingRecord(pl.Callback):
    """Writes the training record into every checkpoint Lightning saves (best and last).

    As a JSON string: ``torch.load(weights_only=True)`` reads it back, whatever its values.
    """

    def __init__(self, record: Mapping[str, Any]) -> None:
        self.text = json.dumps(record, sort_keys=True)

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """Add the record to ``checkpoint``."""
        checkpoint[TRAINING_KEY] = self.text


def _flat(value: Any, key: str = "") -> dict[str, Any]:
    """Nested mappings as one mapping of dotted names, for naming a difference."""
    if not isinstance(value, Mapping) or not value:
        return {key: value}
    flat: dict[str, Any] = {}
    for name, item in value.items():
        flat.update(_flat(item, f"{key}.{name}" if key else str(name)))
    return flat


def record_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``name: checkpoint X, now Y`` for each setting or input that differs."""
    old, new = _flat(saved), _flat(current)
    return [
        f"{key}: checkpoint {old.get(key)!r}, now {new.get(key)!r}"
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key)
    ]


def resume_point(last: Path, record: Mapping[str, Any], resume: bool) -> Path | None:
    """``last`` if the training should resume from it, else None (train afresh).

    It resumes only if asked, the checkpoint exists and its training record equals ``record``
    (:func:`training_record`); a checkpoint of other settings or inputs is left with a
    warning naming what differs, since continuing it would give neither result.
    """
    if not resume or not last.exists():
        return None
    text = load_checkpoint(last).get(TRAINING_KEY)
    if text is None:
        log.warning("%s records no training settings (an older hepdl); training afresh", last)
        return None
    differences = record_differences(json.loads(text), record)
    if differences:
        log.warning(
            "%s was trained with other settings or inputs (%s); training afresh, since "
            "continuing it would give a model of neither",
            last,
            "; ".join(differences),
        )
        return None
    return last
