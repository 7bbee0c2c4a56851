"""The jet features against a direct per-event computation, and the features stage on files."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot

from hepdl.config import validate_config
from hepdl.errors import InputFileError
from hepdl.io.features import read_features
from hepdl.reco import SelectionCuts, feature_names, jet_features
from hepdl.reco.stage import features_shard
from hepdl.weights import sample_event_weights

SIGNAL = {"process": "rpv_gluino", "m_gluino_gev": 1400, "m_neutralino_gev": 850}
JZ4 = {"process": "qcd", "pthat_min_gev": 400, "pthat_max_gev": 800}


def random_events(seed: int, n_events: int) -> dict[str, ak.Array]:
    """Delphes-like collections with random content (float32 as Delphes writes them)."""
    rng = np.random.default_rng(seed)

    def collection(fields: dict[str, Any], mean: float) -> ak.Array:
        counts = rng.poisson(mean, n_events)
        total = int(counts.sum())
        flat = {name: make(total).astype(np.float32) for name, make in fields.items()}
        return ak.unflatten(ak.zip(flat), counts)

    angles = {
        "Eta": lambda n: rng.uniform(-3.2, 3.2, n),
        "Phi": lambda n: rng.uniform(-np.pi, np.pi, n),
    }
    fatjet = collection(
        {
            "PT": lambda n: rng.exponential(300, n),
            **angles,
            "Mass": lambda n: rng.exponential(80, n),
        },
        5,
    )
    tower = collection(
        {**angles, "Eem": lambda n: rng.exponential(3, n), "Ehad": lambda n: rng.exponential(2, n)},
        60,
    )
    tower["E"] = tower.Eem + tower.Ehad
    track = collection({"PT": lambda n: rng.exponential(4, n), **angles}, 30)
    event = event_records(np.arange(n_events), np.ones(n_events))
    return {"Event": event, "Tower": tower, "Track": track, "FatJet": fatjet}


def event_records(number: Any, weight: Any) -> ak.Array:
    """The ``Event`` collection: one record (Number, Weight) per event, as Delphes stores it."""
    flat = {"Number": np.asarray(number, np.int64), "Weight": np.asarray(weight, np.float32)}
    return ak.unflatten(ak.zip(flat), np.ones(len(flat["Number"]), np.int64))


def write_delphes(path: Path, collections: dict[str, ak.Array]) -> Path:
    """A Delphes-schema ROOT file: tree ``Delphes``, branches ``Tower.Eta``, ``Tower_size``..."""
    with uproot.recreate(path) as root_file:
        root_file.mktree(
            "Delphes",
            {name: array.type for name, array in collections.items()},
            field_name=lambda outer, inner: f"{outer}.{inner}",
            counter_name=lambda counted: f"{counted}_size",
        )
        root_file["Delphes"].extend(collections)
    return path


def direct_features(jets: list[dict[str, float]], cuts: SelectionCuts) -> dict[str, float]:
    """The features of one event, computed the plain way."""
    good = [
        j for j in jets if j["PT"] > cuts.jet_pt_min_gev and abs(j["Eta"]) < cuts.jet_abs_eta_max
    ]
    good.sort(key=lambda j: -j["PT"])
    result = {
        "n_jet": float(len(good)),
        "mj_gev": math.fsum(j["Mass"] for j in good[: cuts.mj_n_jets]),
        "delta_eta": abs(good[0]["Eta"] - good[1]["Eta"]) if len(good) >= 2 else 0.0,
    }
    for i in range(cuts.n_jets_stored):
        jet = good[i] if i < len(good) else {"PT": 0.0, "Eta": 0.0, "Phi": 0.0, "Mass": 0.0}
        for field, suffix in (
            ("PT", "pt_gev"),
            ("Eta", "eta"),
            ("Phi", "phi"),
            ("Mass", "mass_gev"),
        ):
            result[f"jet{i + 1}_{suffix}"] = jet[field]
    return result


def test_23_variables() -> None:
    names = feature_names()
    assert len(names) == 23
    assert names[:3] == ["n_jet", "mj_gev", "delta_eta"]
    assert names[-1] == "jet5_mass_gev"


def test_features_match_a_direct_computation() -> None:
    fatjet = random_events(1, 40)["FatJet"]
    cuts = SelectionCuts()
    computed = jet_features(fatjet, cuts)
    assert set(computed) == set(feature_names())
    for i, jets in enumerate(fatjet.tolist()):
        expected = direct_features(jets, cuts)
        for name, value in expected.items():
            assert computed[name][i] == pytest.approx(value, rel=1e-6, abs=1e-6), (i, name)
    assert np.max(computed["n_jet"]) >= 4  # the sample exercises the zero padding and M_J cap


def make_config(results: Path, **overrides: Any) -> dict[str, Any]:
    samples = {
        "RPV_1400_850": {**SIGNAL, "events": 30, "shards": 2},
        "JZ4": {**JZ4, "events": 20, "shards": 1},
    }
    # Random events, for the stages' mechanics: no skim unless a test asks for one.
    overrides.setdefault("preselection", "none")
    return validate_config({"results": str(results), "samples": samples, **overrides})


def write_xsec(results: Path, sample: str, sigma_pb: float, sum_weights: float) -> Path:
    path = results / "events" / sample / "xsec.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"sample": sample, "sigma_pb": sigma_pb, "sum_weights": sum_weights})
    )
    return path


def test_features_shard_writes_the_contract_columns(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    collections = random_events(2, 15)
    collections["Event"] = event_records(np.arange(15, 30), np.full(15, 2.0))
    detector = write_delphes(tmp_path / "shard.root", collections)
    xsec = write_xsec(tmp_path, "RPV_1400_850", 0.0144, 60.0)
    result = features_shard(config, "RPV_1400_850", 1, detector, xsec)
    assert result.path == tmp_path / "features/RPV_1400_850/1.parquet"
    table = read_features(result.path)
    assert table["event_number"].tolist() == list(range(15, 30))
    assert set(table["sample"]) == {"RPV_1400_850"}
    assert set(table["label"]) == {1}
    assert set(table["mg"]) == {1400.0}
    assert set(table["mn"]) == {850.0}
    expected_weight = sample_event_weights(
        np.full(15, 2.0), {"sigma_pb": 0.0144, "sum_weights": 60.0}, 36.0
    )
    np.testing.assert_allclose(table["weight"], expected_weight)
    assert table["passSR"].dtype == np.bool_
    assert result.n_pass == int(table["passSR"].sum())
    direct = jet_features(collections["FatJet"], SelectionCuts())
    np.testing.assert_array_equal(table["mj_gev"], direct["mj_gev"])
    metadata = json.loads(pq.read_schema(result.path).metadata[b"hepdl"])
    assert metadata["selection"]["mj_min_gev_4_jets"] == 800.0


def test_background_has_label_0_and_no_masses(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    detector = write_delphes(tmp_path / "jz4.root", random_events(3, 20))
    xsec = write_xsec(tmp_path, "JZ4", 1997.0, 20.0)
    table = read_features(features_shard(config, "JZ4", 0, detector, xsec).path)
    assert set(table["label"]) == {0}
    assert set(table["mg"]) == set(table["mn"]) == {0.0}


def test_a_detector_file_without_events_is_refused(tmp_path: Path) -> None:
    # Every shard has events: a file without any is truncated or damaged, not a shard.
    config = make_config(tmp_path)
    collections = {name: array[:0] for name, array in random_events(4, 3).items()}
    detector = write_delphes(tmp_path / "empty.root", collections)
    xsec = write_xsec(tmp_path, "JZ4", 1997.0, 20.0)
    with pytest.raises(InputFileError, match=r"empty\.root: detector file without events"):
        features_shard(config, "JZ4", 0, detector, xsec)
    assert not (tmp_path / "features").exists()


def test_missing_branch_and_wrong_xsec_are_named(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    collections = random_events(5, 3)
    del collections["FatJet"]
    detector = write_delphes(tmp_path / "nojets.root", collections)
    xsec = write_xsec(tmp_path, "JZ4", 1997.0, 20.0)
    with pytest.raises(InputFileError, match=r"nojets\.root.*FatJet\.PT"):
        features_shard(config, "JZ4", 0, detector, xsec)
    with pytest.raises(InputFileError, match="RPV_1400_850"):
        features_shard(config, "RPV_1400_850", 0, detector, xsec)
    assert not (tmp_path / "features").exists()
