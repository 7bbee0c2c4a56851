"""``hepdl compare-detectors``: the statistics on hand-made numbers, and the whole command
against a stand-in Delphes that is the fast simulation itself with the fast simulation's seed,
so that every per-event difference must vanish (the comparison with real Delphes runs in
tests/test_delphes_integration.py)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

from hepdl.cli import main
from hepdl.detector.compare import (
    PER_EVENT_QUANTITIES,
    compare_objects,
    compare_per_event,
    signal_region_comparison,
    targets,
)
from hepdl.detector.rng import detector_seed
from hepdl.io.atomic import write_text_atomic

from .detector_fixtures import ATLAS_CARD, detector_config, random_events, write_event_file


def test_per_event_comparison_of_paired_values() -> None:
    rng = np.random.default_rng(1)
    delphes = rng.uniform(50.0, 150.0, 4000)
    fast = delphes * 1.02
    result = compare_per_event(fast, delphes, np.random.default_rng(2))
    assert result["median_ratio"] == pytest.approx(1.02, rel=1e-12)
    assert result["median_ratio_error"] == pytest.approx(0.0, abs=1e-12)
    assert result["ratio_of_means"] == pytest.approx(1.02, rel=1e-12)
    # fully correlated: the ratio of the paired means has (almost) no error
    assert result["ratio_of_means_error"] < 1e-6
    assert result["mean_difference"] == pytest.approx(0.02 * delphes.mean(), rel=1e-9)
    assert 0.0 <= result["ks_p_value"] <= 1.0
    assert result["n"] == [4000, 4000]
    # events where Delphes has nothing do not enter the ratio
    assert compare_per_event(np.array([1.0, 2.0]), np.array([0.0, 1.0]), rng)["median_ratio"] == 2.0


def test_object_comparison_and_its_ks_test() -> None:
    rng = np.random.default_rng(3)
    same = compare_objects(rng.normal(100, 10, 3000), rng.normal(100, 10, 3000))
    shifted = compare_objects(rng.normal(100, 10, 3000), rng.normal(110, 10, 3000))
    assert same["ks_p_value"] > 1e-3
    assert shifted["ks_p_value"] < 1e-10
    assert shifted["ratio_of_means"] == pytest.approx(100 / 110, abs=0.005)
    assert shifted["ratio_of_means_error"] == pytest.approx(
        100 / 110 * np.sqrt(2 * (10 / np.sqrt(3000)) ** 2 / 105**2), rel=0.1
    )


def test_signal_region_comparison_uses_the_paired_error() -> None:
    fast = np.array([1, 1, 0, 0, 1, 0, 0, 0, 0, 0], dtype=float)
    delphes = np.array([1, 0, 1, 0, 1, 0, 0, 0, 0, 0], dtype=float)
    result = signal_region_comparison(fast, delphes)
    assert result["passed"] == [3, 3]
    assert result["difference"] == 0.0
    assert result["events_passing_one_only"] == 2
    assert result["difference_error"] == pytest.approx(np.sqrt(2) / 10)
    rate = 4 / 12
    assert result["efficiency_error"][1] == pytest.approx(np.sqrt(rate * (1 - rate) / 10))
    nothing = signal_region_comparison(np.zeros(50), np.zeros(50))
    assert nothing["efficiency_error"][1] > 0  # an empty signal region still has an error


def test_targets_at_their_boundaries() -> None:
    def result(median: float, pt_ratio: float, difference: float) -> dict:
        return {
            "per_event": {"tower_e_gev": {"median_ratio": median, "median_ratio_error": 0.0}},
            "objects": {
                "fatjet_pt_gev": {"ratio_of_means": pt_ratio, "ratio_of_means_error": 0.0},
                "fatjet_mass_gev": {"ratio_of_means": 1.0, "ratio_of_means_error": 0.0},
            },
            "signal_region": {"difference": difference, "efficiency_error": [0.01, 0.01]},
        }

    met = targets(result(1.0049, 0.9901, 0.0099))
    assert all(target["met"] for target in met.values())
    missed = targets(result(1.0051, 0.9899, 0.0101))
    assert not any(missed[key]["met"] for key in missed if key != "fatjet_mean_mass_ratio")
    assert not targets(result(float("nan"), 1.0, 0.0))["tower_e_median_ratio"]["met"]


#: A DelphesHepMC3 that is hepdl's fast simulation, seeded as the fast simulation is (the seed
#: comes from $HEPDL_TEST_FASTSIM_SEED, not from the card), so that its output is the fast
#: simulation's, event by event.
_FASTSIM_AS_DELPHES = """#!{python}
import os, sys
from pathlib import Path
import awkward as ak, numpy as np
from hepdl.config import validate_config
from hepdl.detector.card import load_card
from hepdl.detector.fastsim import SimulationSettings, simulate_events
from hepdl.detector.hepmc import read_hepmc3
from hepdl.detector.rng import CounterRNG
from hepdl.io.delphes import DelphesWriter
card, output, hepmc = map(Path, sys.argv[1:])
numbers = read_hepmc3(hepmc).event_number
events = ak.from_parquet(os.environ["HEPDL_TEST_EVENTS"])
events = events[np.isin(ak.to_numpy(events.event_number), ak.to_numpy(numbers))]
config = validate_config({{"samples": {{"A": {{"process": "minbias", "events": 1, "shards": 1}}}}}})
out = simulate_events(events, load_card("{card}"), SimulationSettings.from_config(config),
                      CounterRNG(int(os.environ["HEPDL_TEST_FASTSIM_SEED"])))
with DelphesWriter(output, collections=("Tower", "Track")) as writer:
    writer.extend(out)
"""


@pytest.mark.slow  # the whole command: both backends, a stand-in process, the plots
def test_compare_detectors_of_identical_backends_finds_no_difference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    executable = bin_dir / "DelphesHepMC3"
    executable.write_text(_FASTSIM_AS_DELPHES.format(python=sys.executable, card=ATLAS_CARD))
    executable.chmod(executable.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    card = tmp_path / "delphes_card.tcl"
    card.write_text("set ExecutionPath {TreeWriter}\n")
    detector = {
        "delphes_card": str(card),
        "batch_size": 15,  # the fast simulation in two batches, Delphes in one run
        "fatjet": {"pt_min_gev": 20.0},
    }
    config = detector_config(tmp_path / "results", detector, events=40)
    config["compare_detectors"] = {"enabled": True, "events": 30, "chunk_events": 30}
    config_file = tmp_path / "config.yaml"
    write_text_atomic(config_file, json.dumps(config))
    events = random_events(40, 400, seed=6)
    source = write_event_file(tmp_path / "results" / "events" / "GUN" / "0.parquet", events)
    monkeypatch.setenv("HEPDL_TEST_EVENTS", str(source))
    monkeypatch.setenv("HEPDL_TEST_FASTSIM_SEED", str(detector_seed(config, "GUN")))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    assert main(["compare-detectors", "--config", str(config_file)]) == 0
    assert "GUN: 30 events: tower_e_median_ratio 1 (meets)" in capsys.readouterr().out
    folder = tmp_path / "results" / "validation" / "compare_detectors"
    comparison = json.loads((folder / "comparison.json").read_text())
    assert (folder / "GUN.png").stat().st_size > 0
    result = comparison["samples"]["GUN"]
    assert result["n_events"] == 30
    for name in PER_EVENT_QUANTITIES:
        assert result["per_event"][name]["mean_difference"] == 0.0, name
        assert result["per_event"][name]["ks_statistic"] == 0.0, name
    # the stand-in's jets are clustered on its file's float32 towers, the fast simulation's
    # on float64 ones
    for name in ("jet_pt_gev", "fatjet_pt_gev", "fatjet_mass_gev"):
        assert result["objects"][name]["ratio_of_means"] == pytest.approx(1.0, rel=1e-6), name
    assert result["objects"]["fatjet_pt_gev"]["n"][0] > 0
    assert result["signal_region"]["events_passing_one_only"] == 0
    fast_response, delphes_response = result["jet_response"]["mean"]
    assert fast_response == pytest.approx(delphes_response, rel=1e-6)
    assert comparison["all_targets_met"]
    assert comparison["muon_towers"] is True
