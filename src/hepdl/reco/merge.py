"""Merging the per-shard tables into the splits: the event table every merge starts from.

:func:`load_events` reads the per-shard feature tables (labels, weights, masses, ``passSR``)
and assigns their events to the splits (:mod:`hepdl.reco.assign_splits`); :func:`merge_features`
writes ``results/features/{split}.parquet``. The image and graph merges start from the same
:class:`MergedEvents`, so every split holds the same events in the same order everywhere.

The skim (the config's ``preselection``) happens here: only the events it keeps are assigned to
the splits, and :func:`skim_record` counts, per sample, the generated events, those passing the
baseline and the signal region, raw and weighted, before anything is dropped. The features merge
writes that record as ``results/features/skim.json``: the denominator of every efficiency
quoted relative to all generated events, and the cut-flow's first rows.
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
from hepdl.io.atomic import write_json_atomic
from hepdl.io.features import read_features, write_features
from hepdl.io.layout import SPLITS, Layout
from hepdl.io.skim import SKIM_STEPS
from hepdl.reco.assign_splits import SplitAssignment, assign_splits, split_fractions
from hepdl.reco.selection import preselected

__all__ = [
    "MergedEvents",
    "check_event_numbers",
    "event_blocks",
    "load_events",
    "merge_features",
    "skim_record",
]


@dataclass(frozen=True)
class MergedEvents:
    """All events of the input shards, their columns and their split assignment.

    Attributes:
        files: The per-shard feature tables, in input order.
        columns: Every feature-table column over all shards, concatenated in input order,
            plus ``normweight`` (weight / the largest weight of all events).
        assignment: Where each event goes.
        skim: Per sample, its events before the skim (:func:`skim_record`).
        preselection: The skim applied (the config's ``preselection``).
    """

    files: list[Path]
    columns: dict[str, NDArray[Any]]
    assignment: SplitAssignment
    skim: dict[str, dict[str, Any]]
    preselection: str

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


def skim_record(tables: Sequence[Mapping[str, NDArray[Any]]]) -> dict[str, dict[str, Any]]:
    """Per sample, over all its shards: events generated, passing the baseline and the signal
    region, raw (``n_*``) and weighted (``weight_*``, expected events at the luminosity), with
    the sum of squared weights of each (``weight2_*``, for N_eff) and the sample's label."""
    record: dict[str, dict[str, Any]] = {}
    for table in tables:
        if not len(table["sample"]):
            continue
        entry = record.setdefault(
            str(table["sample"][0]),
            {
                "label": int(table["label"][0]),
                **{f"{k}_{s}": 0 for k in ("n", "weight", "weight2") for s in SKIM_STEPS},
            },
        )
        weight = np.asarray(table["weight"], dtype=np.float64)
        masks = {
            "generated": np.ones(len(weight), dtype=bool),
            "baseline": np.asarray(table["passBaseline"], dtype=bool),
            "signal_region": np.asarray(table["passSR"], dtype=bool),
        }
        for step, mask in masks.items():
            entry[f"n_{step}"] += int(mask.sum())
            entry[f"weight_{step}"] += float(weight[mask].sum())
            entry[f"weight2_{step}"] += float(np.square(weight[mask]).sum())
    return dict(sorted(record.items()))


def _check_split_classes(
    assignment: SplitAssignment,
    label: NDArray[Any],
    skim: Mapping[str, Mapping[str, Any]],
    preselection: str,
) -> None:
    """Every class the samples have must be in every split after the skim.

    Raises:
        ConfigError: naming ``preselection``, the split and the samples of the missing class.
    """
    if preselection == "none":
        return
    classes = {
        name: (value, {s: e["n_baseline"] for s, e in skim.items() if e["label"] == value})
        for value, name in ((1, "signal"), (0, "background"))
    }
    for split, order in assignment.order.items():
        for name, (value, members) in classes.items():
            if members and not np.any(label[order] == value):
                kept = ", ".join(f"{s} keeps {n}" for s, n in members.items())
                raise ConfigError(
                    "preselection",
                    f"after the {preselection!r} skim the {split} split has no {name} event "
                    f"({kept} of its events); generate more events of these samples",
                )


def load_events(
    config: Mapping[str, Any], feature_files: Sequence[str | os.PathLike[str]]
) -> MergedEvents:
    """Read the per-shard feature tables, skim them and assign the kept events to the splits.

    Raises:
        ConfigError: if the split fractions do not add up to 1, or the skim leaves a split
            without signal or without background.
        InputFileError: naming a file that is unreadable, lacks a column, or repeats events.
    """
    fractions = split_fractions(config)
    preselection = str(config["preselection"])
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
        if "passBaseline" not in table:
            raise InputFileError(
                path, "feature table without passBaseline; rerun the features stage"
            )
        samples = set(table["sample"].tolist())
        if len(samples) > 1:
            raise InputFileError(path, f"feature table mixes the samples {sorted(samples)}")
    skim = skim_record(tables)
    sample_of_table = [str(t["sample"][0]) if len(t["sample"]) else "" for t in tables]
    tables = [
        {name: values[preselected(preselection, t["passBaseline"])] for name, values in t.items()}
        for t in tables
    ]
    try:
        assignment = assign_splits(
            config["seed"], fractions, sample_of_table, [t["event_number"] for t in tables]
        )
    except ValueError as err:
        raise InputFileError(", ".join(map(str, files)), str(err)) from None
    columns = {name: np.concatenate([t[name] for t in tables]) for name in names}
    _check_split_classes(assignment, columns["label"], skim, preselection)
    max_weight = float(np.max(columns["weight"])) if len(columns["weight"]) else 1.0
    columns["normweight"] = (columns["weight"] / max_weight).astype(np.float32)
    return MergedEvents(
        files=files, columns=columns, assignment=assignment, skim=skim, preselection=preselection
    )


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
    merged: MergedEvents,
    outputs: Mapping[str, str | os.PathLike[str]],
    config: Mapping[str, Any],
    *,
    skim_output: str | os.PathLike[str] | None = None,
) -> dict[str, int]:
    """Write ``features/{split}.parquet`` for every split and the skim record (default
    :meth:`hepdl.io.layout.Layout.skim`); returns the events per split."""
    sizes = {}
    for split in SPLITS:
        columns = merged.split_columns(split)
        metadata = {
            "split": split,
            "n_events": len(columns["event_number"]),
            "fractions": split_fractions(config),
            "seed": config["seed"],
            "max_weight": merged.max_weight,
            "preselection": merged.preselection,
            "inputs": [str(path) for path in merged.files],
            "hepdl_version": hepdl.__version__,
        }
        write_features(outputs[split], columns, metadata)
        sizes[split] = len(columns["event_number"])
    target = Path(skim_output) if skim_output is not None else Layout.of(config).skim()
    write_json_atomic(
        target,
        {
            "preselection": merged.preselection,
            "luminosity_ifb": config["luminosity_ifb"],
            "inputs": [str(path) for path in merged.files],
            "samples": merged.skim,
        },
    )
    return sizes
