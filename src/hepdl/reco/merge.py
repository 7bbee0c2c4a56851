"""Merging the per-shard tables into the splits: the event table every merge starts from.

:func:`load_events` reads the per-shard feature tables (labels, weights, masses, ``passSR``)
and assigns their events to the splits (:mod:`hepdl.reco.splits`); :func:`merge_features`
writes ``results/features/{split}.parquet``. The image and graph merges start from the same
:class:`MergedEvents`, so every split holds the same events in the same order everywhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

import hepdl
from hepdl.errors import ConfigError, InputFileError
from hepdl.reco.splits import SPLITS, SplitAssignment, assign_splits, split_fractions
from hepdl.reco.stage import read_features, write_features

__all__ = [
    "MergedEvents",
    "all_shard_paths",
    "check_event_numbers",
    "event_blocks",
    "load_events",
    "merge_features",
    "shard_path",
    "split_paths",
]


@dataclass(frozen=True)
class MergedEvents:
    """All events of the input shards, their columns and their split assignment.

    Attributes:
        files: The per-shard feature tables, in input order.
        columns: Every feature-table column over all shards, concatenated in input order,
            plus ``normweight`` (weight / the largest weight of all events).
        assignment: Where each event goes.
    """

    files: list[Path]
    columns: dict[str, NDArray[Any]]
    assignment: SplitAssignment

    def split_columns(self, split: str) -> dict[str, NDArray[Any]]:
        """The columns of the events of ``split``, in written order."""
        order = self.assignment.order[split]
        return {name: values[order] for name, values in self.columns.items()}

    def shard_event_numbers(self, table: int) -> NDArray[np.int64]:
        """The event numbers of input table ``table``, in file order."""
        low, high = self.assignment.offsets[table], self.assignment.offsets[table + 1]
        numbers: NDArray[np.int64] = self.columns["event_number"][low:high]
        return numbers

    @property
    def max_weight(self) -> float:
        """The largest event weight over all events (normweight's denominator)."""
        return float(np.max(self.columns["weight"])) if len(self.columns["weight"]) else 1.0


def shard_path(config: Mapping[str, Any], kind: str, suffix: str, sample: str, shard: int) -> Path:
    """Contract path ``{results}/{kind}/{sample}/{shard}{suffix}`` of one shard."""
    return Path(config["results"]) / kind / sample / f"{shard}{suffix}"


def all_shard_paths(config: Mapping[str, Any], kind: str, suffix: str) -> list[Path]:
    """:func:`shard_path` of every shard of every sample: samples by name, shards in order.

    The order every merge lists its inputs in (the Snakemake rules use the same).
    """
    return [
        shard_path(config, kind, suffix, name, shard)
        for name in sorted(config["samples"])
        for shard in range(config["samples"][name]["shards"])
    ]


def split_paths(config: Mapping[str, Any], kind: str, suffix: str) -> dict[str, Path]:
    """Contract paths ``{results}/{kind}/{split}{suffix}`` of every split."""
    return {split: Path(config["results"]) / kind / f"{split}{suffix}" for split in SPLITS}


def load_events(
    config: Mapping[str, Any], feature_files: Sequence[str | os.PathLike[str]]
) -> MergedEvents:
    """Read the per-shard feature tables and assign their events to the splits.

    Raises:
        ConfigError: if the split fractions do not add up to 1.
        InputFileError: naming a file that is unreadable, lacks a column, or repeats events.
    """
    fractions = split_fractions(config)
    if not feature_files:
        raise ConfigError("samples", "no feature tables to merge")
    files = [Path(path) for path in feature_files]
    tables = [read_features(path) for path in files]
    names = list(tables[0])
    for path, table in zip(files, tables, strict=True):
        if list(table) != names:
            raise InputFileError(
                path, f"columns {sorted(table)} differ from those of {files[0]}: {sorted(names)}"
            )
        samples = set(table["sample"].tolist())
        if len(samples) > 1:
            raise InputFileError(path, f"feature table mixes the samples {sorted(samples)}")
    sample_of_table = [str(t["sample"][0]) if len(t["sample"]) else "" for t in tables]
    try:
        assignment = assign_splits(
            config["seed"], fractions, sample_of_table, [t["event_number"] for t in tables]
        )
    except ValueError as err:
        raise InputFileError(", ".join(map(str, files)), str(err)) from None
    columns = {name: np.concatenate([t[name] for t in tables]) for name in names}
    max_weight = float(np.max(columns["weight"])) if len(columns["weight"]) else 1.0
    columns["normweight"] = (columns["weight"] / max_weight).astype(np.float32)
    return MergedEvents(files=files, columns=columns, assignment=assignment)


def check_event_numbers(
    merged: MergedEvents, table: int, path: str | os.PathLike[str], event_number: NDArray[Any]
) -> None:
    """Check that a shard file of another stage holds the events of its feature table.

    Raises:
        InputFileError: naming both files, if the events differ in number or order; labels
            and weights would otherwise be attached to the wrong images or graphs.
    """
    expected = merged.shard_event_numbers(table)
    found = np.asarray(event_number, dtype=np.int64)
    if len(found) != len(expected):
        raise InputFileError(
            path,
            f"{len(found)} events, but its feature table {merged.files[table]} has "
            f"{len(expected)}; the shard's files disagree (rerun the shard)",
        )
    if not np.array_equal(found, expected):
        first = int(np.argmax(found != expected))
        raise InputFileError(
            path,
            f"event {first} is number {found[first]}, but {expected[first]} in its feature table "
            f"{merged.files[table]}; the shard's files disagree (rerun the shard)",
        )


def event_blocks(total: int, bytes_per_event: int, buffer_mb: int) -> Iterator[tuple[int, int]]:
    """Ranges [start, stop) of at most ``buffer_mb`` worth of events covering ``total``."""
    size = max(1, (buffer_mb * 1024 * 1024) // max(1, bytes_per_event))
    for start in range(0, total, size):
        yield start, min(total, start + size)


def merge_features(
    merged: MergedEvents, outputs: Mapping[str, str | os.PathLike[str]], config: Mapping[str, Any]
) -> dict[str, int]:
    """Write ``features/{split}.parquet`` for every split; returns the events per split."""
    sizes = {}
    for split in SPLITS:
        columns = merged.split_columns(split)
        metadata = {
            "split": split,
            "n_events": len(columns["event_number"]),
            "fractions": split_fractions(config),
            "seed": config["seed"],
            "max_weight": merged.max_weight,
            "inputs": [str(path) for path in merged.files],
            "hepdl_version": hepdl.__version__,
        }
        write_features(outputs[split], columns, metadata)
        sizes[split] = len(columns["event_number"])
    return sizes
