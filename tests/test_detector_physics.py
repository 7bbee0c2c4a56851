"""Physics of the fast simulation with single-particle guns: the card's numbers come back out.

Each check compares a measured quantity with the card's formula within a few statistical
standard errors of the sample (no per-test tuning): resolutions (sample width, error
sigma/sqrt(2N)), efficiencies (binomial error), and exact properties (neutrinos leave nothing,
sharding changes nothing).
"""

from __future__ import annotations

import dataclasses

import awkward as ak
import numpy as np
import pytest

from hepdl.detector.propagation import GEV_PER_TESLA_METRE, Solenoid, propagate
from hepdl.detector.rng import CounterRNG

from .detector_fixtures import atlas_card, gun_events, pt_gun_events, random_events, simulate

N_GUN = 3000
#: Allowed deviation in statistical standard errors.
N_SIGMA = 4.0


def _relative_width(values: np.ndarray) -> tuple[float, float]:
    """Relative width std/mean of a sample and its standard error."""
    mean, std = float(np.mean(values)), float(np.std(values, ddof=1))
    return std / mean, std / mean / np.sqrt(2 * values.size)


def _single_tower_energy(towers: ak.Array, field: str) -> np.ndarray:
    """Energy of the one tower of each event with energy in ``field`` (Eem or Ehad)."""
    chosen = towers[towers[field] > 0]
    assert ak.all(ak.num(chosen) <= 1)
    return ak.to_numpy(ak.flatten(chosen[field]))


# --- propagation -------------------------------------------------------------------------


def test_card_holds_the_delphes_atlas_numbers() -> None:
    card = atlas_card()
    assert (card.solenoid.radius_m, card.solenoid.half_length_m, card.solenoid.bz_tesla) == (
        1.15,
        3.51,
        2.0,
    )
    assert card.ecal.resolution.sigma(np.array([0.1]), np.array([100.0]))[0] == pytest.approx(
        np.sqrt(100**2 * 0.0017**2 + 100 * 0.101**2)
    )
    assert card.hcal.resolution.sigma(np.array([0.1]), np.array([100.0]))[0] == pytest.approx(
        np.sqrt(100**2 * 0.0302**2 + 100 * 0.5205**2 + 1.59**2)
    )
    assert (card.ecal.energy_min_gev, card.hcal.energy_min_gev) == (0.5, 1.0)
    assert card.ecal.grid.n_towers == 340 * 360 + 2 * 11 * 36


def test_neutral_particles_fly_straight() -> None:
    solenoid = atlas_card().solenoid
    px, py, pz = np.array([3.0, 1.0]), np.array([4.0, 0.0]), np.array([0.0, 100.0])
    hits = propagate(px, py, pz, np.zeros(2, dtype=np.int8), solenoid)
    assert hits.reached.all()
    np.testing.assert_allclose(hits.phi, np.arctan2(py, px))
    np.testing.assert_allclose(hits.eta, np.arcsinh(pz / np.hypot(px, py)))
    np.testing.assert_allclose(np.hypot(hits.x_m[0], hits.y_m[0]), solenoid.radius_m)
    assert hits.z_m[1] == pytest.approx(solenoid.half_length_m)  # through the end cap


def test_charged_particles_bend_by_the_helix_angle() -> None:
    solenoid = Solenoid(radius_m=1.15, half_length_m=3.51, bz_tesla=2.0)
    pt = 5.0
    hits = propagate(
        np.array([pt, pt]), np.zeros(2), np.array([1.0, 1.0]), np.array([1, -1], np.int8), solenoid
    )
    radius = pt / (GEV_PER_TESLA_METRE * solenoid.bz_tesla)
    half_turn = np.arcsin(solenoid.radius_m / (2 * radius))
    # Positive charges turn clockwise in a field along +z; negative ones the other way.
    np.testing.assert_allclose(hits.phi, [-half_turn, half_turn])
    np.testing.assert_allclose(np.hypot(hits.x_m, hits.y_m), solenoid.radius_m)
    np.testing.assert_allclose(hits.z_m, 1.0 / pt * radius * 2 * half_turn)


def test_loopers_reach_the_end_cap_or_are_dropped() -> None:
    solenoid = Solenoid(radius_m=1.15, half_length_m=3.51, bz_tesla=2.0)
    # pT = 0.2 GeV: curvature radius 0.33 m, never reaches the barrel.
    px, py, pz = np.array([0.2, 0.2]), np.zeros(2), np.array([0.0, 0.5])
    hits = propagate(px, py, pz, np.array([1, 1], np.int8), solenoid)
    assert not hits.reached[0]  # pz = 0: turns forever
    assert hits.reached[1]
    assert hits.z_m[1] == pytest.approx(3.51)
    assert np.hypot(hits.x_m[1], hits.y_m[1]) < 2 * 0.2 / (GEV_PER_TESLA_METRE * 2.0) + 1e-12
    # pz = 0.5 GeV: 0.67 turns before the end cap; pz = 0.05 GeV: 6.7 turns.
    capped = Solenoid(radius_m=1.15, half_length_m=3.51, bz_tesla=2.0, max_turns=1.0)
    slow = np.array([0.5, 0.05])
    assert propagate(px, py, slow, np.array([1, 1], np.int8), capped).reached.tolist() == [
        True,
        False,
    ]


# --- calorimeters ------------------------------------------------------------------------


@pytest.mark.parametrize(("energy", "eta"), [(10.0, 0.3), (50.0, 1.2), (200.0, -2.0), (50.0, 3.6)])
def test_photon_ecal_resolution_matches_the_card(energy: float, eta: float) -> None:
    collections = simulate(gun_events(22, energy, eta, n_events=N_GUN))
    towers = collections["Tower"]
    assert ak.all(ak.num(towers) == 1)
    assert ak.all(towers.Ehad == 0)
    measured = _single_tower_energy(towers, "Eem")
    width, error = _relative_width(measured)
    expected = atlas_card().ecal.resolution.sigma(np.array([abs(eta)]), np.array([energy]))[0]
    assert width == pytest.approx(expected / energy, abs=N_SIGMA * error)
    assert np.mean(measured) == pytest.approx(energy, abs=N_SIGMA * expected / np.sqrt(N_GUN))


@pytest.mark.parametrize(("energy", "eta"), [(20.0, 0.5), (100.0, 0.5), (50.0, 2.2), (100.0, 4.0)])
def test_charged_pion_hcal_resolution_matches_the_card(energy: float, eta: float) -> None:
    collections = simulate(gun_events(211, energy, eta, n_events=N_GUN))
    towers = collections["Tower"]
    assert ak.all(towers.Eem == 0)
    measured = _single_tower_energy(towers, "Ehad")
    assert measured.size == N_GUN  # every pion far above the thresholds
    width, error = _relative_width(measured)
    expected = atlas_card().hcal.resolution.sigma(np.array([abs(eta)]), np.array([energy]))[0]
    assert width == pytest.approx(expected / energy, abs=N_SIGMA * error)


def test_long_lived_neutral_hadrons_split_between_ecal_and_hcal() -> None:
    card = atlas_card()
    ecal, hcal = card.fractions(np.array([310, 3122, 130, 111, 22, 211, 13, 12]))
    np.testing.assert_allclose(ecal, [0.3, 0.3, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(hcal, [0.7, 0.7, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    towers = simulate(gun_events(310, 100.0, 0.4, n_events=500))["Tower"]
    assert ak.mean(ak.sum(towers.Eem, axis=1)) == pytest.approx(30.0, rel=0.02)
    assert ak.mean(ak.sum(towers.Ehad, axis=1)) == pytest.approx(70.0, rel=0.03)


def test_towers_below_threshold_are_dropped() -> None:
    towers = simulate(gun_events(22, 0.3, 0.0, n_events=200))["Tower"]
    assert ak.sum(ak.num(towers)) == 0  # below E_min = 0.5 GeV whatever the smearing
    hcal = simulate(gun_events(130, 1.5, 0.0, n_events=200))["Tower"]
    # The HCal noise term (1.59 GeV) makes 2-sigma significance need about 3.8 GeV.
    assert ak.all(ak.num(hcal) == 0) or ak.all(ak.flatten(hcal.E) > 3.0)


def test_neutrino_leaves_nothing() -> None:
    collections = simulate(gun_events(12, 100.0, 0.5, n_events=100))
    for name in ("Tower", "Track", "Jet", "FatJet", "GenJet", "GenFatJet"):
        assert ak.sum(ak.num(collections[name])) == 0, name
    assert ak.all(ak.num(collections["Event"]) == 1)


def test_muon_leaves_a_track_and_a_muon_tower_without_calorimeter_energy() -> None:
    """As Delphes' ATLAS card: no ECal or HCal energy, but the smeared muon is added to Tower
    (Eem = Ehad = 0, E from the track's momentum), in every event where it gave a track."""
    collections = simulate(pt_gun_events(13, 50.0, 0.7, n_events=500))
    towers, tracks = collections["Tower"], collections["Track"]
    found = ak.num(tracks)
    assert ak.all(found <= 1)
    assert ak.mean(found) == pytest.approx(0.99, abs=N_SIGMA * np.sqrt(0.99 * 0.01 / 500))
    assert ak.all(np.abs(ak.flatten(tracks.PID)) == 13)
    assert ak.to_list(ak.num(towers)) == ak.to_list(found)
    assert ak.all(ak.flatten(towers.Eem) == 0)
    assert ak.all(ak.flatten(towers.Ehad) == 0)
    energy = np.hypot(ak.to_numpy(ak.flatten(tracks.P)), ak.to_numpy(ak.flatten(tracks.Mass)))
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(towers.E)), energy, rtol=1e-6)
    np.testing.assert_allclose(
        ak.to_numpy(ak.flatten(towers.Eta)), ak.to_numpy(ak.flatten(tracks.Eta)), rtol=1e-6
    )


def test_muon_towers_come_last_and_enter_the_jets() -> None:
    """Per event the ECal towers, then the HCal towers, then the muons (Delphes' merger
    order); a hard muon makes a jet only through its muon tower."""
    pions = pt_gun_events(211, 60.0, 0.0, n_events=50)
    muons = pt_gun_events(13, 80.0, 0.0, n_events=50)
    for axis in ("px", "py"):  # back to back with the pion
        muons = ak.with_field(muons, muons.particles[axis] * -1.0, ["particles", axis])
    events = ak.with_field(
        pions, ak.concatenate([pions.particles, muons.particles], axis=1), "particles"
    )
    towers = simulate(events)["Tower"]
    is_muon = (towers.Eem == 0) & (towers.Ehad == 0)
    assert ak.sum(is_muon) > 45
    assert ak.all(ak.sort(is_muon, axis=1) == is_muon)  # the muon towers are each event's last
    without = dataclasses.replace(atlas_card(), muon_towers=False)
    plain = simulate(events, card=without)
    assert not ak.any((plain["Tower"].Eem == 0) & (plain["Tower"].Ehad == 0))
    extra_jets = ak.num(simulate(events)["Jet"]) - ak.num(plain["Jet"])
    assert ak.all(extra_jets == ak.sum(is_muon, axis=1))  # each muon tower is one more jet


def test_tower_count_and_energy_are_conserved_under_sharding() -> None:
    events = random_events(60, 120, seed=3)
    whole = simulate(events)["Tower"]
    parts = [simulate(events[:25])["Tower"], simulate(events[25:])["Tower"]]
    joined = ak.concatenate(parts)
    assert ak.to_list(ak.num(joined)) == ak.to_list(ak.num(whole))
    assert ak.sum(joined.E) == pytest.approx(ak.sum(whole.E), rel=1e-12)
    assert ak.all(joined.E == whole.E)


def test_deposited_energy_is_what_reaches_the_calorimeters() -> None:
    # Without smearing thresholds, the tower energy sum is the visible energy in acceptance.
    events = gun_events(22, np.array([30.0, 40.0, 50.0]), np.array([0.1, -1.0, 5.5]))
    towers = simulate(events)["Tower"]
    assert ak.to_list(ak.num(towers)) == [1, 1, 0]  # |eta| = 5.5 is outside the ECal


# --- tracks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pid", "pt", "eta", "efficiency"),
    [
        (211, 0.5, 0.5, 0.70),
        (211, 5.0, 0.5, 0.95),
        (-211, 0.5, 2.0, 0.60),
        (211, 5.0, 2.0, 0.85),
        (11, 50.0, 0.3, 0.95),
        (11, 150.0, 0.3, 0.99),
        (11, 5.0, 2.0, 0.83),
        (13, 0.5, 1.0, 0.75),
        (-13, 20.0, 2.2, 0.98),
        (211, 5.0, 2.7, 0.0),
    ],
)
def test_tracking_efficiency_matches_the_card(
    pid: int, pt: float, eta: float, efficiency: float
) -> None:
    tracks = simulate(pt_gun_events(pid, pt, eta, n_events=N_GUN))["Track"]
    found = ak.to_numpy(ak.num(tracks)).astype(float)
    error = max(np.sqrt(efficiency * (1 - efficiency) / N_GUN), 1e-9)
    assert found.mean() == pytest.approx(efficiency, abs=N_SIGMA * error)


@pytest.mark.parametrize(
    ("pid", "pt", "eta"), [(211, 100.0, 0.2), (211, 10.0, 1.0), (13, 50.0, 1.0), (11, 20.0, 2.0)]
)
def test_track_pt_resolution_matches_the_card(pid: int, pt: float, eta: float) -> None:
    tracks = simulate(pt_gun_events(pid, pt, eta, n_events=N_GUN))["Track"]
    measured = ak.to_numpy(ak.flatten(tracks.PT)).astype(np.float64)
    width, error = _relative_width(measured)
    card = atlas_card()
    name = {211: "charged_hadron", 13: "muon", 11: "electron"}[pid]
    # Tracks of these momenta reach the calorimeter within the same |eta| bin.
    expected = card.tracking.resolution[name](np.array([eta]), np.array([pt]))[0]
    assert width == pytest.approx(expected, abs=N_SIGMA * error)
    assert np.mean(measured) == pytest.approx(
        pt, abs=N_SIGMA * expected * pt / np.sqrt(measured.size)
    )
    np.testing.assert_allclose(ak.flatten(tracks.Eta), eta, atol=1e-5)


def test_track_records_carry_charge_and_outer_position() -> None:
    tracks = simulate(pt_gun_events(-211, 2.0, 0.0, n_events=200))["Track"]
    flat = ak.flatten(tracks)
    assert ak.all(flat.Charge == -1)
    assert ak.all(flat.PID == -211)
    np.testing.assert_allclose(np.hypot(flat.XOuter, flat.YOuter), 1150.0, rtol=1e-5)  # mm
    bend = (flat.PhiOuter - flat.Phi + np.pi) % (2 * np.pi) - np.pi
    assert ak.all(bend > 0)  # negative charges turn counter-clockwise


# --- random numbers ----------------------------------------------------------------------


def test_counter_rng_is_reproducible_and_uniform() -> None:
    rng = CounterRNG(12345)
    event, index = np.repeat(np.arange(1000), 50), np.tile(np.arange(50), 1000)
    first = rng.uniform("s", event, index)
    np.testing.assert_array_equal(first, rng.uniform("s", event, index))
    assert not np.array_equal(first, rng.uniform("other", event, index))
    assert not np.array_equal(first, CounterRNG(1).uniform("s", event, index))
    counts, _ = np.histogram(first, bins=10, range=(0, 1))
    expected = first.size / 10
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))
    normal = rng.normal("n", event, index)
    assert abs(normal.mean()) < 5 / np.sqrt(normal.size)
    assert normal.std() == pytest.approx(1.0, abs=5 / np.sqrt(2 * normal.size))
