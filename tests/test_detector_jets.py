"""Jets: the vectorised clustering and trimming agree with FastJet's own tools; QCD response."""

from __future__ import annotations

import json
from pathlib import Path

import awkward as ak
import fastjet
import numpy as np
import pytest

from hepdl.cli import main
from hepdl.config import validate_config
from hepdl.detector import simulate_shard
from hepdl.detector.fastsim import FlatParticles, truth_inputs
from hepdl.detector.validate import PLOTS, match_jets
from hepdl.generate import generate_shard
from hepdl.io import read_delphes
from hepdl.jets import (
    FatJetSettings,
    JetEnergyScale,
    cluster_fat_jets,
    fat_jet_record,
    jet_record,
)

from .detector_fixtures import random_events

FAT = FatJetSettings(radius=1.0, pt_min_gev=20.0, trim_radius=0.2, trim_pt_fraction=0.05)


def test_fat_jets_and_their_trimming_match_fastjet() -> None:
    """Ungroomed jets are FastJet's anti-kt jets (what Delphes stores in FatJet.PT), and the
    trimmed ones FastJet's own Filter of them."""
    events = random_events(8, 400, seed=21)
    inputs = truth_inputs(FlatParticles.from_events(events), (12, 14, 16))
    ours = fat_jet_record(*cluster_fat_jets(inputs, FAT), FAT.pt_min_gev)

    trimmer = fastjet.Filter(
        fastjet.JetDefinition(fastjet.kt_algorithm, FAT.trim_radius),
        fastjet.SelectorPtFractionMin(FAT.trim_pt_fraction),
    )
    definition = fastjet.JetDefinition(fastjet.antikt_algorithm, FAT.radius)
    for event, expected in zip(ak.to_list(inputs), ak.to_list(ours), strict=True):
        particles = [fastjet.PseudoJet(p["px"], p["py"], p["pz"], p["E"]) for p in event]
        sequence = fastjet.ClusterSequence(particles, definition)
        jets = sorted(sequence.inclusive_jets(FAT.pt_min_gev), key=lambda jet: -jet.pt())
        assert jets, "the fixture should have jets"
        np.testing.assert_allclose([jet["PT"] for jet in expected], [j.pt() for j in jets], 1e-5)
        np.testing.assert_allclose(
            [jet["Mass"] for jet in expected], [j.m() for j in jets], rtol=1e-4, atol=1e-3
        )
        trimmed = [trimmer(jet) for jet in jets]
        np.testing.assert_allclose(
            [jet["TrimmedPT"] for jet in expected], [j.pt() for j in trimmed], rtol=1e-5
        )
        np.testing.assert_allclose(
            [jet["TrimmedMass"] for jet in expected], [j.m() for j in trimmed], rtol=1e-4, atol=1e-3
        )
        assert all(jet["TrimmedPT"] <= jet["PT"] * (1 + 1e-6) for jet in expected)


def test_jet_record_sorts_scales_and_handles_empty_events() -> None:
    jets = ak.Array(
        [
            [
                {"px": 30.0, "py": 0.0, "pz": 0.0, "E": 31.0},
                {"px": 0.0, "py": 90.0, "pz": 10, "E": 95},
            ],
            [],
        ]
    )
    record = jet_record(jets)
    assert ak.to_list(ak.num(record)) == [2, 0]
    assert record.PT[0].tolist() == pytest.approx([90.0, 30.0])
    scale = JetEnergyScale(a_sqrt_gev=3.0, b_sqrt_gev=0.2)
    scaled = jet_record(jets, energy_scale=scale)
    expected = 90.0 * np.sqrt((3.0 - 0.2 * abs(np.arcsinh(10 / 90))) ** 2 / 90.0 + 1.0)
    assert scaled.PT[0, 0] == pytest.approx(expected, rel=1e-6)
    assert scaled.Mass[0, 0] / scaled.PT[0, 0] == pytest.approx(
        record.Mass[0, 0] / record.PT[0, 0], rel=1e-5
    )
    assert len(jet_record(jets, pt_min_gev=50.0)[0]) == 1


@pytest.fixture(scope="module")
def qcd_detector(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, Path]:
    """200 QCD JZ4 events, generated with Pythia and simulated."""
    results = tmp_path_factory.mktemp("qcd")
    config = validate_config(
        {
            "results": str(results),
            "samples": {
                "JZ4": {
                    "process": "qcd",
                    "pthat_min_gev": 400,
                    "pthat_max_gev": 800,
                    "events": 200,
                    "shards": 1,
                },
            },
        }
    )
    events = generate_shard(config, "JZ4", 0, progress=False).path
    detector = simulate_shard(config, "JZ4", 0, progress=False).path
    return config, events, detector


@pytest.mark.slow
def test_qcd_jet_response_is_one_for_central_jets(qcd_detector: tuple[dict, Path, Path]) -> None:
    _, _, detector = qcd_detector
    content = read_delphes(detector, ["Jet", "GenJet", "FatJet", "GenFatJet"]).events
    matched = match_jets(content.Jet, content.GenJet)
    central = (np.abs(matched.truth_eta) < 1.0) & (matched.truth_pt > 100.0)
    assert central.sum() > 200
    response = matched.response[central]
    # With the card's jet energy scale (Delphes JetEnergyScale) the response is 1 within 3%.
    assert np.mean(response) == pytest.approx(1.0, abs=0.03)
    assert np.std(response) < 0.2
    fat = match_jets(content.FatJet, content.GenFatJet)
    hard = (np.abs(fat.truth_eta) < 1.5) & (fat.truth_pt > 200.0)
    assert np.mean(fat.response[hard]) == pytest.approx(1.0, abs=0.05)


@pytest.mark.slow
def test_validate_detector_writes_plots_and_metrics(
    qcd_detector: tuple[dict, Path, Path], tmp_path: Path
) -> None:
    config, events, detector = qcd_detector
    config_file = tmp_path / "config.yaml"
    config_file.write_text(json.dumps(config), encoding="utf-8")
    output = tmp_path / "plots"
    argv = ["validate-detector", "--config", str(config_file), "--sample", "JZ4"]
    argv += ["--inputs", str(detector), "--events", str(events), "--output-dir", str(output)]
    assert main(argv) == 0
    for name in (*PLOTS, "metrics.json"):
        assert (output / name).stat().st_size > 0
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["n_events"] == 200
    efficiency = metrics["track_efficiency"]["efficiency"]
    # Charged hadrons dominate: about 0.9 above 1 GeV (0.95 x acceptance at the surface).
    assert 0.8 < efficiency[6] < 1.0
    assert metrics["towers_per_event"]["ecal"] > 50
    # detector.validation_events bounds what is read: the same file twice, cut at 250 events.
    capped = {**config, "detector": {**config["detector"], "validation_events": 250}}
    config_file.write_text(json.dumps(capped), encoding="utf-8")
    argv = ["validate-detector", "--config", str(config_file), "--sample", "JZ4"]
    argv += ["--inputs", str(detector), str(detector), "--events", str(events), str(events)]
    assert main([*argv, "--output-dir", str(tmp_path / "capped")]) == 0
    assert json.loads((tmp_path / "capped" / "metrics.json").read_text())["n_events"] == 250
