"""The cut-based signal region (ATLAS-CONF-2016-057) at each of its boundaries."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from hepdl.config import validate_config
from hepdl.reco import SelectionCuts, jet_features, pass_baseline, pass_signal_region

CUTS = SelectionCuts()


def fatjets(*events: list[tuple[float, float, float, float]]) -> ak.Array:
    """FatJet collections from (pT GeV, eta, phi, mass GeV) per jet, float32 as in Delphes."""
    records = [
        [dict(zip(("PT", "Eta", "Phi", "Mass"), jet, strict=True)) for jet in e] for e in events
    ]
    array = ak.Array(records) if any(events) else ak.Array([[]] * len(events))
    return ak.values_astype(array, np.float32)


def passes(*jets: tuple[float, float, float, float], cuts: SelectionCuts = CUTS) -> bool:
    f = jet_features(fatjets(list(jets)), cuts)
    return bool(
        pass_signal_region(f["n_jet"], f["jet1_pt_gev"], f["delta_eta"], f["mj_gev"], cuts)[0]
    )


# A 4-jet event that passes with margin: leading pT 500 GeV, delta-eta 0.5, M_J 1000 GeV.
FOUR = [(500.0, 0.25, 0.0, 250.0), (400.0, -0.25, 2.0, 250.0), (300.0, 1.0, -2.0, 250.0),
        (250.0, -1.0, 3.0, 250.0)]  # fmt: skip


def test_defaults_are_the_published_cuts() -> None:
    config = validate_config({"samples": {"S": {"process": "minbias", "events": 1, "shards": 1}}})
    assert SelectionCuts.from_config(config) == CUTS
    assert (CUTS.jet_pt_min_gev, CUTS.jet_abs_eta_max) == (200.0, 2.0)
    assert (CUTS.baseline_min_jets, CUTS.leading_jet_pt_min_gev) == (3, 440.0)
    assert (CUTS.delta_eta_max, CUTS.mj_min_gev_4_jets, CUTS.mj_min_gev_5_jets) == (
        1.4,
        800.0,
        600.0,
    )


def test_reference_event_passes() -> None:
    assert passes(*FOUR)


@pytest.mark.parametrize(("pt", "counted"), [(200.0, False), (200.5, True)])
def test_jet_pt_threshold_is_strict(pt: float, counted: bool) -> None:
    features = jet_features(fatjets([*FOUR[:3], (pt, 0.0, 0.0, 250.0)]), CUTS)
    assert features["n_jet"][0] == (4 if counted else 3)
    assert passes(*FOUR[:3], (pt, 0.0, 0.0, 250.0)) == counted


@pytest.mark.parametrize(("eta", "counted"), [(2.0, False), (-2.0, False), (1.9990234375, True)])
def test_jet_eta_bound_is_strict(eta: float, counted: bool) -> None:
    features = jet_features(fatjets([*FOUR[:3], (250.0, eta, 0.0, 250.0)]), CUTS)
    assert features["n_jet"][0] == (4 if counted else 3)


@pytest.mark.parametrize(("pt", "expected"), [(440.0, False), (440.5, True)])
def test_leading_jet_pt_threshold_is_strict(pt: float, expected: bool) -> None:
    assert passes((pt, 0.25, 0.0, 250.0), *FOUR[1:]) == expected


@pytest.mark.parametrize(("delta_eta", "expected"), [(1.4, False), (1.3999999, True)])
def test_delta_eta_bound_is_strict(delta_eta: float, expected: bool) -> None:
    assert pass_signal_region(4, 500.0, delta_eta, 1000.0, CUTS)[()] == expected


def test_delta_eta_uses_the_two_leading_jets() -> None:
    wide = [(500.0, 1.0, 0.0, 250.0), (400.0, -0.5, 0.0, 250.0), *FOUR[2:]]  # 1.5
    narrow = [(500.0, 1.0, 0.0, 250.0), (400.0, -0.375, 0.0, 250.0), *FOUR[2:]]  # 1.375
    assert not passes(*wide)
    assert passes(*narrow)
    # Reordered input: the leading jets are found by pT, not by position.
    assert passes(*reversed(narrow))


@pytest.mark.parametrize(
    ("n_jet", "mj", "expected"),
    [
        (3, 5000.0, False),  # baseline, but the SR needs 4 or more jets
        (4, 800.0, False),
        (4, 800.5, True),
        (4, 700.0, False),
        (5, 600.0, False),
        (5, 600.5, True),
        (7, 700.0, True),
    ],
)
def test_jet_multiplicity_and_mj_thresholds(n_jet: int, mj: float, expected: bool) -> None:
    assert pass_signal_region(n_jet, 500.0, 0.5, mj, CUTS)[()] == expected


def test_mj_thresholds_through_jet_masses() -> None:
    four_at = [(pt, eta, phi, 200.0) for pt, eta, phi, _ in FOUR]  # M_J = 800: fails
    assert not passes(*four_at)
    four_above = [*four_at[:3], (250.0, -1.0, 3.0, 200.5)]
    assert passes(*four_above)
    # Five jets: M_J sums the 4 leading only; 4 x 150 = 600 fails, a heavy 5th does not help.
    five = [(pt, eta, phi, 150.0) for pt, eta, phi, _ in FOUR] + [(210.0, 0.0, 0.0, 900.0)]
    assert jet_features(fatjets(five), CUTS)["mj_gev"][0] == 600.0
    assert not passes(*five)
    five[0] = (500.0, 0.25, 0.0, 150.5)
    assert passes(*five)


@pytest.mark.parametrize(("n_jet", "expected"), [(2, False), (3, True)])
def test_baseline_needs_three_jets(n_jet: int, expected: bool) -> None:
    assert pass_baseline(n_jet, 500.0, CUTS)[()] == expected


def test_cut_values_come_from_the_config() -> None:
    loose = SelectionCuts(mj_min_gev_4_jets=700.0)
    event = [(pt, eta, phi, 190.0) for pt, eta, phi, _ in FOUR]  # M_J = 760
    assert not passes(*event)
    assert passes(*event, cuts=loose)


def test_events_without_jets() -> None:
    features = jet_features(fatjets([], [(150.0, 0.0, 0.0, 10.0)]), CUTS)
    assert features["n_jet"].tolist() == [0, 0]
    assert features["delta_eta"].tolist() == [0.0, 0.0]
    assert features["mj_gev"].tolist() == [0.0, 0.0]
    assert not pass_signal_region(
        features["n_jet"], features["jet1_pt_gev"], features["delta_eta"], features["mj_gev"], CUTS
    ).any()


def test_trimmed_kinematics_are_used_when_the_config_asks() -> None:
    """The ungroomed jets pass; trimmed, one jet loses its mass and the event fails."""
    ungroomed = fatjets(FOUR)
    trimmed_mass = [250.0, 250.0, 250.0, 20.0]
    jets = ak.with_field(ungroomed, ungroomed.PT, "TrimmedPT")
    jets = ak.with_field(jets, ungroomed.Eta, "TrimmedEta")
    jets = ak.with_field(jets, ungroomed.Phi, "TrimmedPhi")
    jets = ak.with_field(jets, ak.Array([trimmed_mass]), "TrimmedMass")
    trimmed_cuts = SelectionCuts(large_r_jets="trimmed")
    assert jet_features(jets, CUTS)["mj_gev"][0] == pytest.approx(1000.0)
    assert jet_features(jets, trimmed_cuts)["mj_gev"][0] == pytest.approx(770.0)
    for cuts, expected in ((CUTS, True), (trimmed_cuts, False)):
        f = jet_features(jets, cuts)
        passed = pass_signal_region(f["n_jet"], f["jet1_pt_gev"], f["delta_eta"], f["mj_gev"], cuts)
        assert bool(passed[0]) == expected
