"""Real Delphes end to end: built by ``hepdl delphes install`` from ``$HEPDL_DELPHES_SOURCE`` or
the vendored ``../shared/vendor/delphes-*.tar.gz`` (skipped, with the reason, without either),
then the ci config's simulate with ``backend: delphes``, features, images and validation on its
output, and ``compare-detectors``, through Snakemake; and Delphes' own failures: a card it
rejects, and Delphes killed in the middle of a shard."""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import yaml

from hepdl.config import validate_config
from hepdl.detector import simulate_shard
from hepdl.detector.delphes_install import DelphesBuild, runtime_environment
from hepdl.errors import HepdlError
from hepdl.io import read_delphes, read_events, write_events

from .conftest import REPO

pytestmark = pytest.mark.slow

CI_CONFIG = REPO / "config" / "ci.yaml"
#: The ci config's results folder, relative to the Snakemake working folder.
RESULTS = yaml.safe_load(CI_CONFIG.read_text())["results"]
SAMPLES = {"RPV_1400_850": 2, "JZ4": 1}


@pytest.fixture(scope="module")
def delphes_dag(tmp_path_factory: pytest.TempPathFactory, delphes_build: DelphesBuild) -> Path:
    """The ci config's detector files made by real Delphes, with features, images, the
    detector validation and the comparison of the two backends, run through Snakemake."""
    workdir = tmp_path_factory.mktemp("delphes-dag")
    overlay = workdir / "delphes.yaml"
    overlay.write_text(yaml.safe_dump({"detector": {"backend": "delphes"}}))
    targets = [
        f"{RESULTS}/{stage}/{sample}/{shard}.{ext}"
        for sample, shards in SAMPLES.items()
        for shard in range(shards)
        for stage, ext in (("features", "parquet"), ("images", "h5"))
    ]
    targets += [f"{RESULTS}/validation/detector/{sample}/metrics.json" for sample in SAMPLES]
    targets.append(f"{RESULTS}/validation/compare_detectors/comparison.json")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(workdir),
            "--configfile",
            str(CI_CONFIG),
            str(overlay),
            "--cores",
            "2",
            *targets,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    return workdir


def test_ci_config_runs_on_real_delphes(delphes_dag: Path, delphes_build: DelphesBuild) -> None:
    results = delphes_dag / RESULTS
    signal = read_delphes(results / "detector" / "RPV_1400_850" / "1.root")
    assert signal.metadata is not None
    assert signal.metadata["backend"] == "delphes"
    assert signal.metadata["delphes_card"] == str(delphes_build.atlas_card)  # the default card
    assert len(signal.metadata["delphes_seeds"]) == 1  # 30 events, chunks of 30
    assert set(signal.events.fields) >= {"Tower", "Track", "Jet", "FatJet", "GenJet"}
    assert "Delphes" in (results / "logs/simulate/RPV_1400_850/1.log").read_text()
    background = read_delphes(results / "detector" / "JZ4" / "0.root").events
    muons = (background.Tower.Eem == 0) & (background.Tower.Ehad == 0)
    assert ak.sum(muons) > 0, "the ATLAS card adds muons to Tower"
    for sample, shards in SAMPLES.items():
        for shard in range(shards):
            assert (results / "images" / sample / f"{shard}.h5").stat().st_size > 0
            assert (results / "features" / sample / f"{shard}.parquet").stat().st_size > 0
    # GenJet at the reco jets' radius: the jet response of Delphes' towers is near 1, not
    # the +13% of truth jets at R = 0.4 against Delphes' R = 0.6 jets.
    metrics = json.loads((results / "validation/detector/JZ4/metrics.json").read_text())
    binned = metrics["jet_response"]["vs_pt"]
    counts = np.asarray(binned["count"])
    means = np.asarray([m if m is not None else 0.0 for m in binned["mean"]])
    hard = np.asarray(binned["edges"][:-1]) >= 100.0
    response = float(np.sum(counts[hard] * means[hard]) / np.sum(counts[hard]))
    assert 0.9 < response < 1.08, response


def test_comparison_of_the_backends_is_written(delphes_dag: Path) -> None:
    folder = delphes_dag / RESULTS / "validation" / "compare_detectors"
    comparison = json.loads((folder / "comparison.json").read_text())
    assert set(comparison["samples"]) == set(SAMPLES)
    for sample in SAMPLES:
        result = comparison["samples"][sample]
        assert result["n_events"] == {"RPV_1400_850": 60, "JZ4": 160}[sample]
        assert set(result["targets"]) == {
            "tower_e_median_ratio",
            "fatjet_mean_pt_ratio",
            "fatjet_mean_mass_ratio",
            "signal_region_efficiency",
        }
        # the same events on both sides: the summed tower energy agrees event by event
        assert result["per_event"]["tower_e_gev"]["median_ratio"] == pytest.approx(1.0, abs=0.03)
        assert (folder / f"{sample}.png").stat().st_size > 0


def test_delphes_output_does_not_depend_on_the_sharding(delphes_dag: Path, tmp_path: Path) -> None:
    """The signal's two shards of 30 events (chunks of 30) are one shard's events 0-59."""
    results = delphes_dag / RESULTS
    parts = [read_events(results / "events/RPV_1400_850" / f"{k}.parquet") for k in (0, 1)]
    whole = write_events(
        tmp_path / "whole.parquet",
        ak.concatenate([part.events for part in parts]),
        {**parts[0].metadata, "n_events": 60},
    )
    config = yaml.safe_load(CI_CONFIG.read_text())
    config["results"] = str(tmp_path / "results")
    config["samples"]["RPV_1400_850"]["shards"] = 1
    config["detector"]["backend"] = "delphes"
    one = simulate_shard(
        validate_config(config), "RPV_1400_850", 0, events_file=whole, progress=False
    )
    joined = ak.concatenate(
        [read_delphes(results / "detector/RPV_1400_850" / f"{k}.root").events for k in (0, 1)]
    )
    single = read_delphes(one.path).events
    for collection in ("Tower", "Track", "FatJet"):
        assert ak.array_equal(single[collection], joined[collection]), collection


def _ci_delphes_config(tmp_path: Path, **detector: object) -> dict:
    config = yaml.safe_load(CI_CONFIG.read_text())
    config["results"] = str(tmp_path / "results")
    config["detector"].update({"backend": "delphes", **detector})
    return validate_config(config)


def test_a_card_delphes_rejects(delphes_dag: Path, tmp_path: Path) -> None:
    card = tmp_path / "cards" / "broken.tcl"
    card.parent.mkdir()
    card.write_text(
        "set ExecutionPath {\n  NoSuchModule\n}\nmodule NoSuchModule NoSuchModule {\n}\n"
    )
    config = _ci_delphes_config(tmp_path, delphes_card=str(card))
    events = delphes_dag / RESULTS / "events" / "JZ4" / "0.parquet"
    with pytest.raises(HepdlError) as caught:
        simulate_shard(config, "JZ4", 0, events_file=events, progress=False)
    message = str(caught.value)
    assert f"running card {card}" in message
    assert "** ERROR: can't find class 'NoSuchModule'" in message
    assert not (tmp_path / "results" / "detector" / "JZ4" / "0.root").exists()


def test_delphes_killed_mid_shard(
    delphes_dag: Path, delphes_build: DelphesBuild, tmp_path: Path
) -> None:
    """A DelphesHepMC3 that runs the real one and kills it (SIGKILL) once it has worked a
    second on the second chunk: no detector file appears."""
    killer = tmp_path / "DelphesHepMC3"
    runs = tmp_path / "runs"
    environment = runtime_environment(delphes_build.executable, {})
    exports = "".join(
        f"export {name}={shlex.quote(value)}\n" for name, value in environment.items()
    )
    killer.write_text(
        "#!/bin/sh\n"
        f"{exports}"
        f"echo run >> {runs}\n"
        f'"{delphes_build.executable}" "$@" &\n'
        "child=$!\n"
        f'if [ "$(wc -l < {runs})" -ge 2 ]; then sleep 1; kill -9 $child; kill -9 $$; fi\n'
        "wait $child\n"
    )
    killer.chmod(killer.stat().st_mode | stat.S_IEXEC)
    config = _ci_delphes_config(
        tmp_path,
        delphes_executable=str(killer),
        delphes_card=str(delphes_build.atlas_card),
        batch_size=80,
    )
    events = delphes_dag / RESULTS / "events" / "JZ4" / "0.parquet"
    env_before = dict(os.environ)
    with pytest.raises(HepdlError, match="Delphes was killed by SIGKILL"):
        simulate_shard(config, "JZ4", 0, events_file=events, progress=False)
    assert dict(os.environ) == env_before
    folder = tmp_path / "results" / "detector" / "JZ4"
    assert not folder.exists() or list(folder.iterdir()) == []
