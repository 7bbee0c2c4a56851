"""Detector cards: the YAML description of a detector that the fast simulation runs.

A card (``config/detector/atlas.yaml`` is the default) holds the physics of a Delphes card. It
is validated in two steps: the JSON schema ``hepdl/schemas/detector-card.schema.yaml`` checks
keys, types and signs (a missing or negative resolution term, an unknown particle class); the
checks here cover what the schema cannot say (eta bins that overlap, tables whose shapes do not
match their bins, resolutions that leave towers uncovered). Either way the error names the
card file and the key.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import yaml

from hepdl.config import SchemaValidator, schema_error
from hepdl.detector.calorimeter import (
    Calorimeter,
    EnergyFractions,
    EnergyResolution,
    TowerGrid,
)
from hepdl.detector.propagation import Solenoid
from hepdl.detector.tracking import TRACK_CLASSES, EfficiencyTable, MomentumResolution, Tracking
from hepdl.errors import ConfigError
from hepdl.jets import JetEnergyScale

__all__ = [
    "BUILTIN_CARDS",
    "DetectorCard",
    "JetCorrections",
    "builtin_cards",
    "card_path",
    "load_card",
    "parse_card",
]

#: Where the built-in cards live, inside the package (``atlas`` is also linked as
#: ``config/detector/atlas.yaml``).
BUILTIN_CARDS = "detector/cards"
_BUILTIN_NAME = re.compile(r"[a-z][a-z0-9_]*")

#: Edges closer than this are the same edge (cards write 2.958 as the end of one region and
#: the start of the next).
_EDGE_TOLERANCE = 1.0e-9


@dataclass(frozen=True)
class JetCorrections:
    """The card's ``jets`` section.

    Attributes:
        energy_scale: Correction of small-R jets (None: none).
        scale_fat_jets: Apply it to large-R jets too.
        truth_exclude_pids: |PDG id| left out of truth jets.
    """

    energy_scale: JetEnergyScale | None
    scale_fat_jets: bool
    truth_exclude_pids: tuple[int, ...]


@dataclass(frozen=True)
class DetectorCard:
    """A validated detector card.

    Attributes:
        name: Detector name.
        path: The card file ("<memory>" for a card built from a mapping).
        digest: SHA-256 of the card's content, recorded in the outputs.
        solenoid: Field volume.
        tracking: Efficiency and resolution tables.
        ecal: The electromagnetic calorimeter.
        hcal: The hadronic calorimeter.
        fractions: Energy fractions by particle type.
        jets: Jet corrections and the truth-jet input.
        muon_towers: Muons with a track are added to Tower (Eem = Ehad = 0), as the Delphes
            ATLAS card's Calorimeter merger adds them.
    """

    name: str
    path: str
    digest: str
    solenoid: Solenoid
    tracking: Tracking
    ecal: Calorimeter
    hcal: Calorimeter
    fractions: EnergyFractions
    jets: JetCorrections
    muon_towers: bool = False


def _load_schema() -> dict[str, Any]:
    text = resources.files("hepdl").joinpath("schemas/detector-card.schema.yaml").read_text("utf-8")
    schema: dict[str, Any] = yaml.safe_load(text)
    return schema


def _validate_schema(card: dict[str, Any], source: str) -> None:
    """Check the card against the schema (filling in defaults), naming the first bad key."""
    validator = SchemaValidator(_load_schema())
    errors = sorted(validator.iter_errors(card), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    error = jsonschema.exceptions.best_match(errors)
    if "propertyNames" in error.schema_path:
        key = ".".join(str(part) for part in error.absolute_path)
        raise ConfigError(
            f"{key}.{error.instance}",
            "class names may hold lower-case letters, digits and underscores, starting with a "
            "letter",
            source,
        )
    raise schema_error(error, source)


def _increasing(values: list[float], key: str, source: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if np.any(np.diff(array) <= 0):
        raise ConfigError(key, f"edges {values} must increase strictly", source)
    return array


def _efficiency(spec: dict[str, Any], key: str, source: str) -> EfficiencyTable:
    eta_edges = _increasing(spec["abs_eta_edges"], f"{key}.abs_eta_edges", source)
    pt_min = _increasing(spec["pt_min_gev"], f"{key}.pt_min_gev", source)
    shape = (eta_edges.size - 1, pt_min.size)
    rows = spec["values"]
    if len(rows) != shape[0] or any(len(row) != shape[1] for row in rows):
        raise ConfigError(
            f"{key}.values",
            f"expected {shape[0]} rows (|eta| bins) of {shape[1]} values (pT bins)",
            source,
        )
    return EfficiencyTable(eta_edges, pt_min, np.asarray(rows, dtype=np.float64))


def _momentum_resolution(spec: dict[str, Any], key: str, source: str) -> MomentumResolution:
    eta_edges = _increasing(spec["abs_eta_edges"], f"{key}.abs_eta_edges", source)
    terms = {}
    for term in ("constant", "slope_per_gev"):
        values = spec[term]
        if len(values) != eta_edges.size - 1:
            raise ConfigError(
                f"{key}.{term}", f"expected {eta_edges.size - 1} values, one per |eta| bin", source
            )
        terms[term] = np.asarray(values, dtype=np.float64)
    return MomentumResolution(eta_edges, terms["constant"], terms["slope_per_gev"])


def _tracking(spec: dict[str, Any], source: str) -> Tracking:
    return Tracking(
        eta_at=spec["eta_at"],
        efficiency={
            name: _efficiency(spec["efficiency"][name], f"tracking.efficiency.{name}", source)
            for name in TRACK_CLASSES
        },
        resolution={
            name: _momentum_resolution(
                spec["momentum_resolution"][name], f"tracking.momentum_resolution.{name}", source
            )
            for name in TRACK_CLASSES
        },
    )


def _region_rings(region: dict[str, Any], key: str, source: str) -> np.ndarray:
    """Eta edges of one tower region (mirrored rings are added by the caller)."""
    if "eta_edges" in region:
        return _increasing(region["eta_edges"], f"{key}.eta_edges", source)
    if region["eta_max"] <= region["eta_min"]:
        raise ConfigError(f"{key}.eta_max", "must be above eta_min", source)
    return np.linspace(region["eta_min"], region["eta_max"], region["n_eta"] + 1)


def _grid(regions: list[dict[str, Any]], key: str, source: str) -> TowerGrid:
    """All rings of a calorimeter, sorted; overlapping regions are an error naming both."""
    low, high, n_phi, owner = [], [], [], []
    for number, region in enumerate(regions):
        edges = _region_rings(region, f"{key}.{number}", source)
        pieces = [(edges[:-1], edges[1:])]
        if region["mirror"]:
            pieces.append((-edges[1:][::-1], -edges[:-1][::-1]))
        for ring_low, ring_high in pieces:
            low.append(ring_low)
            high.append(ring_high)
            n_phi.append(np.full(ring_low.size, region["n_phi"]))
            owner.append(np.full(ring_low.size, number))
    low_a, high_a = np.concatenate(low), np.concatenate(high)
    n_phi_a, owner_a = np.concatenate(n_phi), np.concatenate(owner)
    order = np.argsort(low_a, kind="stable")
    low_a, high_a, n_phi_a, owner_a = low_a[order], high_a[order], n_phi_a[order], owner_a[order]
    overlap = np.flatnonzero(low_a[1:] < high_a[:-1] - _EDGE_TOLERANCE)
    if overlap.size:
        below, above = overlap[0], overlap[0] + 1
        later = max(owner_a[below], owner_a[above])
        raise ConfigError(
            f"{key}.{later}",
            f"eta bins overlap: ring ({low_a[above]:.4g}, {high_a[above]:.4g}] and ring "
            f"({low_a[below]:.4g}, {high_a[below]:.4g}] (regions {key}.{owner_a[above]} and "
            f"{key}.{owner_a[below]}); regions must not overlap",
            source,
        )
    return TowerGrid.from_rings(low_a, high_a, n_phi_a)


def _resolution(bins: list[dict[str, Any]], key: str, source: str) -> EnergyResolution:
    ordered = sorted(enumerate(bins), key=lambda item: item[1]["abs_eta"][0])
    for number, spec in ordered:
        low, high = spec["abs_eta"]
        if high <= low:
            raise ConfigError(f"{key}.{number}.abs_eta", f"[{low}, {high}] is empty", source)
    for (_, before), (number, after) in itertools.pairwise(ordered):
        if after["abs_eta"][0] < before["abs_eta"][1] - _EDGE_TOLERANCE:
            raise ConfigError(
                f"{key}.{number}.abs_eta",
                f"|eta| bin {after['abs_eta']} overlaps the bin {before['abs_eta']}",
                source,
            )
    columns = {
        name: np.asarray([spec[name] for _, spec in ordered], dtype=np.float64)
        for name in ("constant", "stochastic", "noise")
    }
    return EnergyResolution(
        abs_eta_low=np.asarray([spec["abs_eta"][0] for _, spec in ordered], dtype=np.float64),
        abs_eta_high=np.asarray([spec["abs_eta"][1] for _, spec in ordered], dtype=np.float64),
        **columns,
    )


def _calorimeter(name: str, spec: dict[str, Any], source: str) -> Calorimeter:
    key = f"calorimeters.{name}"
    grid = _grid(spec["towers"], f"{key}.towers", source)
    resolution = _resolution(spec["resolution"], f"{key}.resolution", source)
    _, covered = resolution.bin_of(grid.centres_abs_eta())
    if not np.all(covered):
        missing = np.unique(np.round(grid.centres_abs_eta()[~covered], 4))
        raise ConfigError(
            f"{key}.resolution",
            f"no resolution bin covers the towers centred at |eta| = {missing.tolist()}",
            source,
        )
    return Calorimeter(
        name=name,
        grid=grid,
        resolution=resolution,
        energy_min_gev=spec["energy_min_gev"],
        significance_min=spec["significance_min"],
        smear_tower_center=spec["smear_tower_center"],
    )


def _fractions(spec: dict[str, Any], source: str) -> EnergyFractions:
    owner: dict[int, str] = {}
    for name, entry in spec["classes"].items():
        key = f"energy_fractions.classes.{name}"
        if entry["ecal"] + entry["hcal"] > 1.0 + _EDGE_TOLERANCE:
            raise ConfigError(key, "ecal + hcal fractions exceed 1", source)
        for pid in entry["pids"]:
            if pid in owner:
                raise ConfigError(
                    f"{key}.pids", f"PDG id {pid} is already in class '{owner[pid]}'", source
                )
            owner[pid] = name
    default = spec["default"]
    if default["ecal"] + default["hcal"] > 1.0 + _EDGE_TOLERANCE:
        raise ConfigError("energy_fractions.default", "ecal + hcal fractions exceed 1", source)
    pids = np.asarray(sorted(owner), dtype=np.int64)
    classes = spec["classes"]
    return EnergyFractions(
        pids=pids,
        ecal=np.asarray([classes[owner[pid]]["ecal"] for pid in pids], dtype=np.float64),
        hcal=np.asarray([classes[owner[pid]]["hcal"] for pid in pids], dtype=np.float64),
        default_ecal=float(default["ecal"]),
        default_hcal=float(default["hcal"]),
    )


def _jets(spec: dict[str, Any]) -> JetCorrections:
    scale = spec["energy_scale"]
    return JetCorrections(
        energy_scale=None if scale is None else JetEnergyScale(**scale),
        scale_fat_jets=spec["scale_fat_jets"],
        truth_exclude_pids=tuple(spec["truth_exclude_pids"]),
    )


def parse_card(card: Any, source: str = "<memory>", digest: str = "") -> DetectorCard:
    """Validate a parsed card (a mapping) and build the detector from it.

    Args:
        card: The card's content, as read from YAML (not modified).
        source: Where it came from, for error messages.
        digest: Content hash recorded in outputs (computed from the mapping if empty).

    Raises:
        ConfigError: naming the card and the first bad key.
    """
    if not isinstance(card, dict):
        raise ConfigError("<top level>", "a detector card must be a mapping of keys", source)
    spec: dict[str, Any] = yaml.safe_load(yaml.safe_dump(card))
    _validate_schema(spec, source)
    digest = digest or hashlib.sha256(yaml.safe_dump(spec, sort_keys=True).encode()).hexdigest()
    return DetectorCard(
        name=spec["name"],
        path=source,
        digest=digest,
        solenoid=Solenoid(**spec["solenoid"]),
        tracking=_tracking(spec["tracking"], source),
        ecal=_calorimeter("ecal", spec["calorimeters"]["ecal"], source),
        hcal=_calorimeter("hcal", spec["calorimeters"]["hcal"], source),
        fractions=_fractions(spec["energy_fractions"], source),
        jets=_jets(spec["jets"]),
        muon_towers=spec["calorimeters"]["muon_towers"],
    )


def builtin_cards() -> list[str]:
    """Names of the cards shipped with the package."""
    folder = resources.files("hepdl").joinpath(BUILTIN_CARDS)
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in folder.iterdir()
        if entry.name.endswith(".yaml")
    )


def card_path(value: str | os.PathLike[str], key: str = "detector.card") -> Path:
    """The card file that the config value ``detector.card`` names.

    A bare name (``atlas``) is a built-in card shipped with the package, found whatever the
    working directory; anything else is a file path (relative to the working directory).

    Raises:
        ConfigError: naming ``key`` for an unknown built-in name.
    """
    text = os.fspath(value)
    if not _BUILTIN_NAME.fullmatch(text):
        return Path(text)
    names = builtin_cards()
    if text not in names:
        raise ConfigError(
            key,
            f"no built-in detector card '{text}' (built-in: {', '.join(names)}); give a built-in "
            "name or the path of a card file",
        )
    return Path(str(resources.files("hepdl").joinpath(f"{BUILTIN_CARDS}/{text}.yaml")))


def load_card(path: str | os.PathLike[str], key: str = "detector.card") -> DetectorCard:
    """Read and validate a detector card file.

    Args:
        path: The card (YAML), or the name of a built-in card (:func:`card_path`).
        key: The config key that named the file, for the error when it cannot be read.

    Raises:
        ConfigError: if the file cannot be read or parsed (naming ``key``), or if the card is
            invalid (naming the card and its key).
    """
    file = card_path(path, key)
    try:
        raw = file.read_bytes()
    except OSError as err:
        raise ConfigError(key, f"cannot read the detector card '{file}': {err.strerror}") from None
    try:
        parsed = yaml.safe_load(raw)
    except yaml.YAMLError as err:
        raise ConfigError("<file>", f"not valid YAML: {err}", str(file)) from None
    return parse_card(parsed, source=str(file), digest=hashlib.sha256(raw).hexdigest())
