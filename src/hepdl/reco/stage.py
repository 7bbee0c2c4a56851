"""The ``features`` stage: one detector shard to its per-event feature table (Parquet).

``results/features/{sample}/{shard}.parquet`` holds one row per event, in the order of the
detector file: ``sample``, ``shard``, ``event_number``, the shallow-baseline variables
(:func:`hepdl.reco.jets.feature_names`), ``passBaseline`` (the skim), ``passSR``, the physical
event ``weight`` (cross-section x luminosity, :mod:`hepdl.weights`), the ``generator_weight``,
``label`` (1 signal, 0 background) and the masses ``mg``, ``mn`` (GeV; 0 for background). Every later stage reads
the labels, weights and masses from this table, so they are computed once.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
from numpy.typing import NDArray

import hepdl
from hepdl.errors import ConfigError, InputFileError
from hepdl.io.atomic import check_output_path
from hepdl.io.features import read_features, write_features
from hepdl.io.layout import Layout
from hepdl.reco.inputs import EVENT_FIELDS, event_column, read_collections, read_deposits
from hepdl.reco.jets import fatjet_fields, feature_names, jet_features
from hepdl.reco.selection import SelectionCuts, pass_baseline, pass_signal_region, preselected
from hepdl.samples import Sample, get_sample
from hepdl.weights import sample_event_weights

__all__ = [
    "FeaturesResult",
    "feature_table",
    "features_shard",
    "skimmed_deposits",
]


@dataclass(frozen=True)
class FeaturesResult:
    """What :func:`features_shard` wrote: the file, its events and those passing the SR."""

    path: Path
    n_events: int
    n_pass: int
    seconds: float


def feature_table(
    fatjets: ak.Array,
    event_number: NDArray[np.int64],
    generator_weight: NDArray[np.float64],
    *,
    sample: Sample,
    shard: int,
    xsec: dict[str, Any],
    luminosity_ifb: float,
    cuts: SelectionCuts,
) -> dict[str, NDArray[Any]]:
    """The feature table's columns for one shard.

    Args:
        fatjets: Per event, the large-R jets (records ``PT``, ``Eta``, ``Phi``, ``Mass``).
        event_number: Per event, its number within the sample.
        generator_weight: Per event, ``Event.Weight``.
        sample: The sample the shard belongs to (label and masses).
        shard: The shard index.
        xsec: The sample's ``xsec.json`` record (cross-section and sum of weights).
        luminosity_ifb: Integrated luminosity (fb^-1) the weights are normalised to.
        cuts: The selection.

    Raises:
        InputFileError: if the per-event inputs disagree in length.
    """
    n_events = len(fatjets)
    if not len(event_number) == len(generator_weight) == n_events:
        raise InputFileError(
            f"sample {sample.name} shard {shard}",
            f"{n_events} jet entries, {len(event_number)} event numbers and "
            f"{len(generator_weight)} weights; expected one of each per event",
        )
    features = jet_features(fatjets, cuts)
    columns: dict[str, NDArray[Any]] = {
        "sample": np.full(n_events, sample.name, dtype=object),
        "shard": np.full(n_events, shard, dtype=np.int32),
        "event_number": np.asarray(event_number, dtype=np.int64),
    }
    for name in feature_names(cuts.n_jets_stored):
        columns[name] = features[name]
    columns["n_jet"] = features["n_jet"].astype(np.int32)
    columns["passBaseline"] = pass_baseline(features["n_jet"], features["jet1_pt_gev"], cuts)
    columns["passSR"] = pass_signal_region(
        features["n_jet"],
        features["jet1_pt_gev"],
        features["delta_eta"],
        features["mj_gev"],
        cuts,
    )
    columns["weight"] = sample_event_weights(generator_weight, xsec, luminosity_ifb)
    columns["generator_weight"] = np.asarray(generator_weight, dtype=np.float64)
    columns["label"] = np.full(n_events, sample.label, dtype=np.int8)
    columns["mg"] = np.full(n_events, sample.m_gluino_gev or 0.0, dtype=np.float64)
    columns["mn"] = np.full(n_events, sample.m_neutralino_gev or 0.0, dtype=np.float64)
    return columns


def features_shard(
    config: dict[str, Any],
    sample_name: str,
    shard: int,
    detector_file: str | os.PathLike[str],
    xsec_file: str | os.PathLike[str],
    *,
    output: str | os.PathLike[str] | None = None,
) -> FeaturesResult:
    """Compute the feature table of one shard and write it atomically.

    Args:
        config: A validated config.
        sample_name: Key of the sample in ``config['samples']``.
        shard: Shard index.
        detector_file: The shard's Delphes-schema ROOT file.
        xsec_file: The sample's ``xsec.json``.
        output: Target file; default :meth:`hepdl.io.layout.Layout.features_shard`.

    Raises:
        ConfigError: for an unknown sample or shard.
        InputFileError: naming a missing or malformed input file, a detector file without
            events, or a detector file or ``xsec.json`` of another sample (or shard).
    """
    start = time.perf_counter()
    sample = get_sample(config, sample_name)
    sample.shard_events(shard)  # a ConfigError for a shard the sample does not have
    path = check_output_path(
        Path(output) if output is not None else Layout.of(config).features_shard(sample.name, shard)
    )
    try:
        xsec = json.loads(Path(xsec_file).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise InputFileError(xsec_file, f"not a readable cross-section record ({err})") from None
    if xsec.get("sample") != sample.name:
        raise InputFileError(
            xsec_file, f"cross-section of sample {xsec.get('sample')!r}, not {sample.name!r}"
        )
    cuts = SelectionCuts.from_config(config)
    events = read_collections(
        detector_file,
        {"Event": EVENT_FIELDS, "FatJet": fatjet_fields(cuts)},
        sample=sample.name,
        shard=shard,
    )
    columns = feature_table(
        events.FatJet,
        event_column(events, "Number").astype(np.int64),
        event_column(events, "Weight"),
        sample=sample,
        shard=shard,
        xsec=xsec,
        luminosity_ifb=config["luminosity_ifb"],
        cuts=cuts,
    )
    metadata = {
        "sample": sample.name,
        "shard": shard,
        "label": sample.label,
        "definition": sample.definition(),
        "n_events": len(columns["event_number"]),
        "selection": config["selection"],
        "luminosity_ifb": config["luminosity_ifb"],
        "sigma_pb": xsec["sigma_pb"],
        "detector_file": str(detector_file),
        "hepdl_version": hepdl.__version__,
    }
    write_features(path, columns, metadata)
    return FeaturesResult(
        path=path,
        n_events=len(columns["event_number"]),
        n_pass=int(np.sum(columns["passSR"])),
        seconds=time.perf_counter() - start,
    )


def skimmed_deposits(
    config: dict[str, Any],
    detector_file: str | os.PathLike[str],
    *,
    sample: str,
    shard: int,
    features_file: str | os.PathLike[str] | None,
) -> ak.Array:
    """``Event``, ``Tower`` and ``Track`` of the events of a detector shard that the skim keeps.

    Images and graphs are built from these events alone; the skim is decided once, by the
    features stage (the shard's feature table, ``passBaseline``), so the per-shard files of
    every kind hold the same events.

    Args:
        config: A validated config (``preselection``).
        detector_file: The shard's detector file (:func:`hepdl.reco.inputs.read_deposits`).
        sample: The shard's sample.
        shard: The shard index.
        features_file: The shard's feature table; may be None only without a skim.

    Raises:
        ConfigError: if the config skims but no feature table is given.
        InputFileError: naming the files, if they are unreadable or hold different events.
    """
    events = read_deposits(detector_file, sample=sample, shard=shard)
    if config["preselection"] == "none":
        return events
    if features_file is None:
        raise ConfigError(
            "preselection",
            f"the {config['preselection']!r} skim needs the shard's feature table (--features)",
        )
    numbers = event_column(events, "Number").astype(np.int64)
    table = read_features(features_file, ["event_number", "passBaseline"])
    if not np.array_equal(np.asarray(table["event_number"], dtype=np.int64), numbers):
        raise InputFileError(
            features_file,
            f"its events differ from those of {detector_file} ({len(table['event_number'])} "
            f"against {len(numbers)}); rerun the shard's features",
        )
    return events[preselected(config["preselection"], table["passBaseline"])]
