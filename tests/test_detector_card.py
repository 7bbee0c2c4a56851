"""Detector cards: the default card loads; a bad card fails naming the card and the key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from hepdl.detector.card import card_path, load_card, parse_card
from hepdl.errors import ConfigError

from .detector_fixtures import ATLAS_CARD, card_spec


def test_default_card_loads_with_its_granularity() -> None:
    card = load_card(ATLAS_CARD)
    assert card.name.startswith("ATLAS")
    assert len(card.digest) == 64
    ecal, hcal = card.ecal.grid, card.hcal.grid
    # ECal: 0.0174 in eta up to 2.958, 1 degree in phi.
    assert ecal.locate(np.array([0.0087]), np.array([0.0]))[0] >= 0
    low, high, phi_low, phi_high = ecal.edges(ecal.locate(np.array([0.01]), np.array([0.01])))
    assert high[0] - low[0] == pytest.approx(0.0174)
    assert phi_high[0] - phi_low[0] == pytest.approx(np.pi / 180)
    # HCal: 0.1 x 10 degrees centrally, 20 degrees forward, nothing beyond 4.9.
    low, high, phi_low, phi_high = hcal.edges(hcal.locate(np.array([1.05, 4.0]), np.zeros(2)))
    np.testing.assert_allclose(high - low, [0.1, 0.2])
    np.testing.assert_allclose(phi_high - phi_low, [np.pi / 18, np.pi / 9])
    assert hcal.locate(np.array([4.95, -5.0]), np.zeros(2)).tolist() == [-1, -1]
    assert card.jets.energy_scale is not None
    assert card.jets.truth_exclude_pids == (12, 14, 16)


def test_another_card_describes_another_detector() -> None:
    spec = card_spec()
    spec["name"] = "coarse"
    spec["calorimeters"]["ecal"]["towers"] = [
        {"eta_min": -2.5, "eta_max": 2.5, "n_eta": 50, "n_phi": 64}
    ]
    spec["calorimeters"]["ecal"]["resolution"] = [
        {"abs_eta": [0.0, 2.5], "constant": 0.01, "stochastic": 0.2, "noise": 0.1}
    ]
    card = parse_card(spec)
    assert card.ecal.grid.n_towers == 50 * 64
    assert card.name == "coarse"


def _edit(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    spec = card_spec()
    change(spec)
    return spec


def _pop(path: str) -> Callable[[dict[str, Any]], None]:
    def change(spec: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = spec
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node.pop(last)

    return change


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(spec: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = spec
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return change


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        (_pop("calorimeters.hcal.resolution.0.noise"), "calorimeters.hcal.resolution.0", "noise"),
        (
            _set("calorimeters.ecal.resolution.1.stochastic", -0.3),
            "calorimeters.ecal.resolution.1.stochastic",
            "minimum",
        ),
        (
            _set("calorimeters.hcal.towers.1.eta_edges", [2.5, 2.8, 3.0]),
            "calorimeters.hcal.towers.1",
            "overlap",
        ),
        (
            _set("calorimeters.ecal.resolution.1.abs_eta", [3.0, 4.9]),
            "calorimeters.ecal.resolution.1.abs_eta",
            "overlaps",
        ),
        (
            _set("calorimeters.hcal.resolution.2.abs_eta", [3.2, 4.0]),
            "calorimeters.hcal.resolution",
            "no resolution bin covers",
        ),
        (
            _set(
                "tracking.efficiency.pion",
                {"abs_eta_edges": [0, 2.5], "pt_min_gev": [0.1], "values": [[1.0]]},
            ),
            "tracking.efficiency.pion",
            "unknown key",
        ),
        (_pop("tracking.momentum_resolution.muon"), "tracking.momentum_resolution", "muon"),
        (
            _set("tracking.efficiency.electron.values", [[0.9, 0.9], [0.8, 0.8]]),
            "tracking.efficiency.electron.values",
            "expected 2 rows",
        ),
        (
            _set("tracking.efficiency.muon.abs_eta_edges", [0.0, 2.5, 1.5]),
            "tracking.efficiency.muon.abs_eta_edges",
            "increase",
        ),
        (
            _set("energy_fractions.classes.muon.pids", [13, 22]),
            "energy_fractions.classes.muon.pids",
            "already in class",
        ),
        (
            _set("energy_fractions.classes.long_lived_neutral.hcal", 0.9),
            "energy_fractions.classes.long_lived_neutral",
            "exceed 1",
        ),
        (
            _set("energy_fractions.classes.muon.ecl", 0.0),
            "energy_fractions.classes.muon",
            "ecl",
        ),
        (_set("solenoid.radius_m", 0), "solenoid.radius_m", "0"),
        (
            _set("energy_fractions.classes.Pions", {"pids": [211], "ecal": 0.0, "hcal": 1.0}),
            "energy_fractions.classes.Pions",
            "class names",
        ),
    ],
)
def test_bad_card_names_the_key(
    change: Callable[[dict[str, Any]], None], key: str, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump(_edit(change)), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_card(path)
    assert caught.value.key.startswith(key)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_builtin_card_is_found_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_card("atlas").digest == load_card(ATLAS_CARD).digest
    assert card_path("atlas").samefile(ATLAS_CARD)  # config/detector/atlas.yaml is a link
    assert card_path("my/card.yaml") == Path("my/card.yaml")
    with pytest.raises(ConfigError, match="no built-in detector card 'cms'") as caught:
        card_path("cms")
    assert caught.value.key == "detector.card"


def test_missing_card_names_the_config_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"detector\.card.*cannot read"):
        load_card(tmp_path / "absent.yaml")


def test_card_that_is_not_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "card.yaml"
    path.write_text("name: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_card(path)
