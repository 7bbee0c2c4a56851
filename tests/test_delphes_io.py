"""Delphes-schema files: written atomically, read back by hepdl.io and by plain uproot."""

from __future__ import annotations

import json
from pathlib import Path

import awkward as ak
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uproot

from hepdl.cli import main
from hepdl.detector import simulate_shard
from hepdl.errors import InputFileError
from hepdl.io import DelphesWriter, read_collections, read_delphes
from hepdl.io.delphes import COLLECTIONS, METADATA_KEY

from .detector_fixtures import detector_config, random_events, simulate, write_event_file


@pytest.fixture(scope="module")
def collections() -> dict[str, ak.Array]:
    """Detector collections of a few random events (jets included)."""
    events = random_events(12, 300, seed=11)
    return simulate(events)


def _write(path: Path, collections: dict[str, ak.Array]) -> Path:
    with DelphesWriter(path, {"sample": "X"}) as writer:
        writer.extend({name: array[:5] for name, array in collections.items()})
        writer.extend({name: array[5:] for name, array in collections.items()})
    return path


def test_plain_uproot_reads_delphes_branch_names(
    collections: dict[str, ak.Array], tmp_path: Path
) -> None:
    path = _write(tmp_path / "d.root", collections)
    with uproot.open(path) as root_file:
        tree = root_file["Delphes"]
        assert tree.num_entries == 12
        for name, fields in COLLECTIONS.items():
            assert f"{name}_size" in tree
            for field in fields:
                assert f"{name}.{field}" in tree
        assert ak.to_list(tree["Tower_size"].array()) == ak.to_list(ak.num(collections["Tower"]))
        eta = tree["Tower.Eta"].array()
        assert ak.all(eta == ak.values_astype(collections["Tower"].Eta, np.float32))
        assert tree["Track.Charge"].typename == "int32_t[]"
        assert tree["Event.Number"].typename == "int64_t[]"
        jets = tree.arrays(filter_name="Jet.*")
        assert set(jets.fields) == {f"Jet.{field}" for field in COLLECTIONS["Jet"]}
        assert json.loads(str(root_file[METADATA_KEY])) == {"sample": "X"}


def test_hepdl_reader_returns_collections(collections: dict[str, ak.Array], tmp_path: Path) -> None:
    path = _write(tmp_path / "d.root", collections)
    content = read_delphes(path)
    assert content.metadata == {"sample": "X"}
    assert set(content.events.fields) == set(COLLECTIONS)
    assert ak.all(ak.num(content.events.Event) == 1)
    np.testing.assert_allclose(
        ak.to_numpy(ak.flatten(content.events.Jet.PT)),
        ak.to_numpy(ak.flatten(collections["Jet"].PT)),
        rtol=1e-6,
    )
    towers = read_collections(path, {"Tower": ["Eem", "Ehad"]})
    assert towers.fields == ["Tower"]
    assert towers.Tower.fields == ["Eem", "Ehad"]
    with pytest.raises(InputFileError, match=r"lacks the branches \['Tower.Nope'\]"):
        read_collections(path, {"Tower": ["Nope"]})


def _interrupted_write(path: Path, collections: dict[str, ak.Array]) -> None:
    with DelphesWriter(path) as writer:
        writer.extend(collections)
        raise RuntimeError("interrupted")


def _write_once(path: Path, collections: dict[str, ak.Array]) -> None:
    with DelphesWriter(path) as writer:
        writer.extend(collections)


def test_writer_leaves_nothing_behind_on_failure(
    collections: dict[str, ak.Array], tmp_path: Path
) -> None:
    path = tmp_path / "d.root"
    with pytest.raises(RuntimeError, match="interrupted"):
        _interrupted_write(path, collections)
    assert list(tmp_path.iterdir()) == []
    broken = dict(collections, Track=collections["Track"][["PT", "Eta"]])
    with pytest.raises(ValueError, match="lacks the fields"):
        _write_once(path, broken)
    assert list(tmp_path.iterdir()) == []
    # A writer of every collection given a batch without GenFatJet (truth jets off): no file.
    lean = {name: array for name, array in collections.items() if name != "GenFatJet"}
    with pytest.raises(ValueError, match=r"lacks the collections \['GenFatJet'\]"):
        _write_once(path, lean)
    assert list(tmp_path.iterdir()) == []


def test_truncated_or_foreign_root_input_names_the_file(
    collections: dict[str, ak.Array], tmp_path: Path
) -> None:
    path = _write(tmp_path / "d.root", collections)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.root"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match=r"truncated\.root"):
        read_delphes(truncated)
    foreign = tmp_path / "foreign.root"
    foreign.write_bytes(b"PAR1" + data[4:100])
    with pytest.raises(InputFileError, match=r"foreign\.root"):
        read_delphes(foreign)
    with pytest.raises(InputFileError, match=r"absent\.root"):
        read_delphes(tmp_path / "absent.root")
    other_tree = tmp_path / "other.root"
    with uproot.recreate(other_tree) as root_file:
        root_file["Events"] = {"x": np.arange(3)}
    with pytest.raises(InputFileError, match="no 'Delphes' tree"):
        read_delphes(other_tree)


def test_simulate_stage_writes_the_contract_file(tmp_path: Path) -> None:
    config = detector_config(tmp_path / "results", events=20)
    events = random_events(20, 200, seed=5, first_event=100)
    source = write_event_file(tmp_path / "events.parquet", events)
    result = simulate_shard(config, "GUN", 0, events_file=source, progress=False)
    assert result.path == tmp_path / "results" / "detector" / "GUN" / "0.root"
    assert result.n_events == 20
    assert all(result.steps[step] > 0 for step in ("propagation", "towers", "jets", "writing"))
    content = read_delphes(result.path)
    assert ak.to_list(ak.flatten(content.events.Event.Number)) == list(range(100, 120))
    assert content.metadata is not None
    assert content.metadata["backend"] == "fastsim"
    assert content.metadata["card_sha256"] == result.metadata["card_sha256"]
    assert [p.name for p in result.path.parent.iterdir()] == ["0.root"]


def test_without_truth_fat_jets_only_gen_fat_jet_is_left_out(tmp_path: Path) -> None:
    """``detector.fatjet.truth: false`` drops the GenFatJet branches, as Delphes' ATLAS card
    does, and leaves every other branch as it was (same events, same seed)."""
    source = write_event_file(tmp_path / "events.parquet", random_events(15, 250, seed=8))
    paths = {}
    for truth in (True, False):
        fatjet = {"truth": truth, "pt_min_gev": 20.0}  # the fixture's jets are soft
        config = detector_config(tmp_path / f"truth-{truth}", {"fatjet": fatjet})
        result = simulate_shard(config, "GUN", 0, events_file=source, progress=False)
        assert result.metadata["fatjet"]["truth"] is truth
        paths[truth] = result.path
        if not truth:
            assert result.steps["genfatjets"] == 0.0
    with uproot.open(paths[True]) as full, uproot.open(paths[False]) as lean:
        full_tree, lean_tree = full["Delphes"], lean["Delphes"]
        full_branches, lean_branches = set(full_tree.keys()), set(lean_tree.keys())
        gen_fat_jet = {name for name in full_branches if name.startswith("GenFatJet")}
        assert gen_fat_jet >= {"GenFatJet_size", "GenFatJet.TrimmedMass"}
        assert lean_branches == full_branches - gen_fat_jet
        assert ak.sum(full_tree["GenFatJet_size"].array()) > 0, "the fixture has truth jets"
        for name in sorted(lean_branches):
            assert ak.array_equal(lean_tree[name].array(), full_tree[name].array()), name

    content = read_delphes(paths[False])
    assert set(content.events.fields) == set(COLLECTIONS) - {"GenFatJet"}
    assert len(read_collections(paths[False], {"FatJet": ["PT", "TrimmedMass"]})) == 15
    with pytest.raises(InputFileError, match=r"truth-False.*lacks the branches \['GenFatJet\."):
        read_delphes(paths[False], ["Jet", "GenFatJet"])


def test_simulate_cli_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = detector_config(tmp_path / "results", events=8)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(json.dumps(config), encoding="utf-8")
    source = write_event_file(tmp_path / "events.parquet", random_events(8, 100, seed=1))
    output = tmp_path / "out" / "gun.root"
    argv = ["simulate", "--config", str(config_file), "--sample", "GUN", "--shard", "0"]
    assert main([*argv, "--input", str(source), "--output", str(output), "--no-progress"]) == 0
    assert "simulate: GUN shard 0 (fastsim): 8 events" in capsys.readouterr().out
    assert output.is_file()

    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(source.read_bytes()[:300])
    bad_output = tmp_path / "bad" / "gun.root"
    assert main([*argv, "--input", str(truncated), "--output", str(bad_output)]) == 2
    assert "truncated.parquet" in capsys.readouterr().err
    assert not bad_output.exists()
    assert not (tmp_path / "bad").exists()  # the output is checked up front, creating nothing

    foreign = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"x": [1, 2, 3]}), foreign)
    assert main([*argv, "--input", str(foreign), "--output", str(bad_output)]) == 2
    assert "foreign.parquet" in capsys.readouterr().err
    assert not bad_output.exists()

    wrong = write_event_file(tmp_path / "wrong.parquet", random_events(3, 10, seed=2), sample="JZ4")
    assert main([*argv, "--input", str(wrong), "--output", str(bad_output)]) == 2
    assert "holds events of sample 'JZ4'" in capsys.readouterr().err
