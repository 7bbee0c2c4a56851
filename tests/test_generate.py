"""The generate stage on real Pythia events: physics sanity, reproducibility, robustness."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest

from hepdl.errors import GenerationError, HepdlError, InputFileError
from hepdl.generate import ShardResult, generate_shard
from hepdl.generate.xsec import write_sample_xsec
from hepdl.io import read_event_metadata, read_events

from .conftest import JZ4, make_config

pytestmark = pytest.mark.slow

SUSY_IDS = {1000021, 1000022}


@pytest.mark.parametrize("name", ["signal0", "jz4"])
def test_energy_momentum_and_charge_conservation(
    generated: dict[str, ShardResult], name: str
) -> None:
    particles = read_events(generated[name].path).events["particles"]
    assert ak.all(ak.num(particles) > 100)
    # Final state including beam remnants carries the beams' four-momentum and charge (p p: +2).
    np.testing.assert_allclose(ak.sum(particles["E"], axis=1), 13000.0, rtol=1e-9)
    for component in ("px", "py", "pz"):
        np.testing.assert_allclose(ak.sum(particles[component], axis=1), 0.0, atol=1e-5)
    assert ak.all(ak.sum(particles["charge"], axis=1) == 2)
    assert not ak.any(particles["pileup"])


def test_final_state_is_physical(generated: dict[str, ShardResult]) -> None:
    particles = read_events(generated["signal0"].path).events["particles"]
    pid = np.abs(ak.to_numpy(ak.flatten(particles["pid"])))
    assert not SUSY_IDS & set(pid.tolist()), "gluinos and neutralinos must decay"
    assert not ({1, 2, 3, 4, 5, 6, 21} & set(pid.tolist())), "no free partons"
    assert {211, 22, 2212} <= set(pid.tolist())
    # ATLAS convention: K0S and Lambda (c tau > 10 mm) reach the detector undecayed.
    assert {310, 3122} & set(pid.tolist())
    mass2 = particles["E"] ** 2 - particles["px"] ** 2 - particles["py"] ** 2 - particles["pz"] ** 2
    assert ak.min(mass2) > -1e-3 * ak.max(particles["E"]) ** 2


def test_signal_is_busier_than_qcd(generated: dict[str, ShardResult]) -> None:
    def mean_multiplicity(name: str) -> float:
        return float(np.mean(ak.num(read_events(generated[name].path).events["particles"])))

    assert mean_multiplicity("signal0") > mean_multiplicity("jz4")


def test_metadata_and_cross_sections(generated: dict[str, ShardResult]) -> None:
    jz4 = read_event_metadata(generated["jz4"].path)
    assert np.isfinite(jz4["sigma_pb"])
    assert jz4["sigma_pb"] > 0
    # Pythia's LO sigma for pT-hat 400-800 GeV is close to the published 1997 pb.
    assert 1000 < jz4["sigma_pb"] < 4000
    assert jz4["n_accepted"] == jz4["n_events"] == 20
    assert jz4["n_tried"] >= jz4["n_accepted"]
    assert jz4["pythia_version"].startswith("8.3")
    signal = read_event_metadata(generated["signal0"].path)
    assert signal["definition"]["m_gluino_gev"] == 1400
    assert "BLOCK MASS" in signal["slha"]
    assert 0.005 < signal["sigma_pb"] < 0.05  # LO about 0.017 pb; NLO+NLL 0.0144 pb
    assert all("SLHA:file" not in line for line in signal["settings"])


def test_shards_have_distinct_seeds_events_and_numbers(generated: dict[str, ShardResult]) -> None:
    first, second = (read_events(generated[k].path) for k in ("signal0", "signal1"))
    assert first.metadata["seed"] != second.metadata["seed"]
    assert ak.to_list(first.events["event_number"]) == list(range(12))
    assert ak.to_list(second.events["event_number"]) == list(range(12, 24))
    assert ak.to_list(ak.num(first.events["particles"])) != ak.to_list(
        ak.num(second.events["particles"])
    )


def test_sample_xsec_combines_shards(generated: dict[str, ShardResult], tmp_path: Path) -> None:
    paths = [generated["signal0"].path, generated["signal1"].path]
    xsec = write_sample_xsec(paths, tmp_path / "xsec.json", sample="RPV_1400_850", shards=2)
    assert xsec["n_events"] == 24
    assert xsec["definition"]["process"] == "rpv_gluino"
    sigmas = [read_event_metadata(p)["sigma_pb"] for p in paths]
    assert min(sigmas) <= xsec["sigma_pb"] <= max(sigmas)


def test_same_config_gives_identical_bytes(
    generated: dict[str, ShardResult], tmp_path: Path
) -> None:
    config = make_config(tmp_path, JZ4={**JZ4, "events": 20, "shards": 1})
    again = generate_shard(config, "JZ4", 0, tmp_path / "again.parquet", progress=False)
    assert again.path.read_bytes() == generated["jz4"].path.read_bytes()


def test_pileup_overlay_is_flagged_and_poisson(tmp_path: Path) -> None:
    config = make_config(tmp_path, JZ4_mu5={**JZ4, "events": 12, "shards": 1, "pileup_mu": 5.0})
    events = read_events(generate_shard(config, "JZ4_mu5", 0, progress=False).path).events
    particles = events["particles"]
    n_pileup = ak.to_numpy(events["n_pileup"])
    assert 2.0 < n_pileup.mean() < 9.0
    hard = particles[~particles["pileup"]]
    np.testing.assert_allclose(ak.sum(hard["E"], axis=1), 13000.0, rtol=1e-9)
    pileup_energy = ak.to_numpy(ak.sum(particles[particles["pileup"]]["E"], axis=1))
    # Each inelastic interaction carries the full 13 TeV into its final state.
    np.testing.assert_allclose(pileup_energy, 13000.0 * n_pileup, rtol=1e-9, atol=1e-6)


def test_biased_qcd_weights_undo_the_bias(tmp_path: Path) -> None:
    sample = {"process": "qcd_biased", "pthat_min_gev": 160, "events": 30, "shards": 1}
    config = make_config(tmp_path, QCD=sample)
    events = read_events(generate_shard(config, "QCD", 0, progress=False).path).events
    weight = ak.to_numpy(events["weight"])
    assert np.all(weight > 0)
    assert weight.std() > 0.1 * weight.mean()


def test_rejected_setting_reports_it(tmp_path: Path) -> None:
    config = make_config(tmp_path, JZ4={**JZ4, "events": 2, "shards": 1})
    config["generator"]["extra_settings"] = ["NoSuch:setting = 3"]
    with pytest.raises(GenerationError, match="NoSuch:setting"):
        generate_shard(config, "JZ4", 0, progress=False)
    assert not list(tmp_path.rglob("*.parquet"))


def test_pythia_init_failure_carries_pythias_message(tmp_path: Path) -> None:
    config = make_config(tmp_path, JZ4={**JZ4, "events": 2, "shards": 1})
    config["generator"]["extra_settings"] = ["Beams:idA = 12345678"]
    with pytest.raises(GenerationError, match=r"PYTHIA (Error|Abort)"):
        generate_shard(config, "JZ4", 0, progress=False)


def test_unwritable_output_fails_before_generation(tmp_path: Path) -> None:
    config = make_config(tmp_path, JZ4={**JZ4, "events": 2, "shards": 1})
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(HepdlError, match="cannot create output folder"):
        generate_shard(config, "JZ4", 0, blocker / "out" / "0.parquet", progress=False)


def test_interrupted_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = make_config(tmp_path, JZ4={**JZ4, "events": 2, "shards": 1})
    target = tmp_path / "events" / "0.parquet"

    def write_then_die(table: object, where: str, **kwargs: object) -> None:
        Path(where).write_bytes(b"PAR1 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(pq, "write_table", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        generate_shard(config, "JZ4", 0, target, progress=False)
    assert list(target.parent.iterdir()) == []


def test_foreign_or_truncated_file_is_named(
    tmp_path: Path, generated: dict[str, ShardResult]
) -> None:
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(generated["jz4"].path.read_bytes()[:1000])
    with pytest.raises(InputFileError, match=r"truncated\.parquet"):
        read_events(truncated)
    foreign = tmp_path / "foreign.parquet"
    pq.write_table(ak.to_arrow_table(ak.Array([{"x": 1}]), extensionarray=False), foreign)
    with pytest.raises(InputFileError, match="without hepdl metadata"):
        read_events(foreign)
