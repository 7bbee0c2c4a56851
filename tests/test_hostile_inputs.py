"""Hostile inputs (issue #18): each is one line naming the config key or file, exit status 2,
and an output an earlier run wrote is left as it was.

Every case drives the command line (:func:`hepdl.cli.main`) as a user or a rule would.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uproot
import yaml

from hepdl.cli import main
from hepdl.evaluate.predict import PREDICTION_COLUMNS
from hepdl.io.atomic import write_text_atomic
from hepdl.io.delphes import METADATA_KEY
from hepdl.io.events import write_events
from hepdl.io.features import read_features

from .synthetic_splits import make_config as synthetic_config
from .synthetic_splits import write_splits
from .test_features import make_config, random_events, write_delphes, write_xsec

#: What an earlier, successful run left at the output path.
EARLIER = "an earlier run's output\n"


def refused(argv: list[Any], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the command line, check it exits with status 2, return its one error line."""
    status = main([str(arg) for arg in argv])
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert "Traceback" not in err
    return err


def earlier_output(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(EARLIER)
    return path


def config_file(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


# -- Config values (items 4, 6, 7) ---------------------------------------------------------

JZ4_TEXT = "{process: qcd, pthat_min_gev: 400, pthat_max_gev: 800, events: 20, shards: 1}"
CONFIG_CASES = {
    "duplicate key": (f"samples:\n  JZ4: {JZ4_TEXT}\n  JZ4: {JZ4_TEXT}\n", "'JZ4'"),
    "duplicate nested key": (
        "samples:\n  JZ4:\n    process: qcd\n    events: 20\n    events: 2000\n",
        "'events'",
    ),
    "NaN luminosity": (f"luminosity_ifb: .nan\nsamples: {{JZ4: {JZ4_TEXT}}}\n", "luminosity_ifb"),
    "infinite pT-hat": (
        (
            "samples: {JZ4: {process: qcd, pthat_min_gev: 400, pthat_max_gev: .inf, events: 20, "
            "shards: 1}}\n"
        ),
        "samples.JZ4.pthat_max_gev",
    ),
    "NaN mass": (
        (
            "samples: {S: {process: rpv_gluino, m_gluino_gev: .nan, m_neutralino_gev: 850, "
            "events: 20, shards: 1}}\n"
        ),
        "samples.S.m_gluino_gev",
    ),
    "10^12 events": (
        (
            "samples: {JZ4: {process: qcd, pthat_min_gev: 400, pthat_max_gev: 800, "
            "events: 1000000000000, shards: 100}}\n"
        ),
        "samples.JZ4.events",
    ),
    "10^9 shards": (
        (
            "samples: {JZ4: {process: qcd, pthat_min_gev: 400, pthat_max_gev: 800, "
            "events: 1000000000, shards: 1000000000}}\n"
        ),
        "samples.JZ4.shards",
    ),
    "too many events per shard": (
        (
            "samples: {JZ4: {process: qcd, pthat_min_gev: 400, pthat_max_gev: 800, "
            "events: 100000000, shards: 10}}\n"
        ),
        "samples.JZ4.shards",
    ),
    "extra setting Random:seed": (
        f"generator: {{extra_settings: ['Random:seed = 7']}}\nsamples: {{JZ4: {JZ4_TEXT}}}\n",
        "generator.extra_settings.0",
    ),
    "extra setting Beams:eCM": (
        (
            "generator: {extra_settings: ['MultipartonInteractions:pT0Ref = 2.3', 'beams:ecm = 8000']}\n"
            f"samples: {{JZ4: {JZ4_TEXT}}}\n"
        ),
        "generator.extra_settings.1",
    ),
    "extra setting pT-hat": (
        f"generator: {{extra_settings: ['PhaseSpace:pTHatMin=10']}}\nsamples: {{JZ4: {JZ4_TEXT}}}\n",
        "generator.extra_settings.0",
    ),
}


@pytest.mark.parametrize(("text", "key"), CONFIG_CASES.values(), ids=CONFIG_CASES.keys())
def test_bad_config_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(f"results: {tmp_path}\n{text}")
    output = earlier_output(tmp_path / "events/JZ4/xsec.json")
    err = refused(["xsec", "--config", config, "--sample", "JZ4"], capsys)
    assert "bad.yaml" in err
    assert key in err
    assert output.read_text() == EARLIER


def test_extra_setting_names_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, _ = CONFIG_CASES["extra setting Random:seed"]
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    assert "Random:seed" in refused(["xsec", "--config", config, "--sample", "JZ4"], capsys)


# -- Detector files of another sample or without events (items 1, 2) -------------------------


def other_sample_file(path: Path) -> Path:
    """A detector file whose provenance says it is RPV_1400_850's shard 0."""
    write_delphes(path, random_events(3, 20))
    with uproot.update(path) as root_file:
        root_file[METADATA_KEY] = json.dumps({"sample": "RPV_1400_850", "shard": 0})
    return path


def empty_file(path: Path) -> Path:
    return write_delphes(path, {name: array[:0] for name, array in random_events(4, 3).items()})


DETECTOR_CASES = {
    "another sample": (other_sample_file, "detector file of sample 'RPV_1400_850', not 'JZ4'"),
    "no events": (empty_file, "detector file without events"),
}


@pytest.mark.parametrize("stage", ["features", "images", "graphs"])
@pytest.mark.parametrize(("make", "message"), DETECTOR_CASES.values(), ids=DETECTOR_CASES.keys())
def test_foreign_or_empty_detector_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], stage: str, make: Any, message: str
) -> None:
    config = config_file(tmp_path, make_config(tmp_path))
    xsec = write_xsec(tmp_path, "JZ4", 1997.0, 20.0)
    detector = make(tmp_path / "detector.root")
    output = earlier_output(tmp_path / f"{stage}/JZ4/0.out")
    argv = [stage, "--config", config, "--sample", "JZ4", "--shard", 0, "--input", detector]
    argv += ["--output", output, *(["--xsec", xsec] if stage == "features" else [])]
    err = refused(argv, capsys)
    assert f"{detector}: {message}" in err
    assert output.read_text() == EARLIER


def test_damaged_baskets_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = random_events(5, 400)
    # Compressible towers, so that their baskets are stored compressed and the damage is seen.
    events["Tower"] = ak.values_astype(ak.ones_like(events["Tower"]), np.float32)
    detector = write_delphes(tmp_path / "damaged.root", events)
    raw = bytearray(detector.read_bytes())
    start, stop = len(raw) // 5, 4 * len(raw) // 5
    raw[start:stop] = b"\x5a" * (stop - start)
    detector.write_bytes(bytes(raw))
    config = config_file(tmp_path, make_config(tmp_path))
    output = earlier_output(tmp_path / "images/JZ4/0.h5")
    argv = ["images", "--config", config, "--sample", "JZ4", "--shard", 0, "--input", detector]
    err = refused([*argv, "--output", output], capsys)
    assert f"{detector}: not a readable Delphes ROOT file" in err
    assert output.read_text() == EARLIER


# -- The shards of xsec (item 3) -------------------------------------------------------------


def event_file(path: Path, sample: str, shard: int) -> Path:
    """An event file with the shard metadata xsec reads (its events do not matter here)."""
    metadata = {
        "sample": sample,
        "shard": shard,
        "label": 0,
        "definition": {"process": "qcd", "pthat_min_gev": 400, "pthat_max_gev": 800},
        "sigma_pb": 1997.0,
        "sigma_err_pb": 10.0,
        "n_accepted": 10,
        "n_tried": 30,
        "n_events": 10,
        "sum_weights": 10.0,
        "seed": shard,
        "pythia_version": "8.317",
    }
    events = ak.Array({"event_number": np.arange(10) + 10 * shard, "weight": np.ones(10)})
    return write_events(path, events, metadata)


XSEC_CASES = {
    "missing shard": ([0], "shards [1] of JZ4 are missing"),
    "repeated shard": ([0, 0, 1], "repeats shard 0 of JZ4"),
    "shard of another sample": ([0, "other"], "holds sample 'JZ5', not 'JZ4'"),
}


@pytest.mark.parametrize(("shards", "message"), XSEC_CASES.values(), ids=XSEC_CASES.keys())
def test_xsec_needs_every_shard_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], shards: list[Any], message: str
) -> None:
    config = make_config(tmp_path)
    config["samples"]["JZ4"]["shards"] = 2
    path = config_file(tmp_path, config)
    files = {k: event_file(tmp_path / f"{k}.parquet", "JZ4", k) for k in (0, 1)}
    files["other"] = event_file(tmp_path / "other.parquet", "JZ5", 1)
    output = earlier_output(tmp_path / "xsec.json")
    argv = ["xsec", "--config", path, "--sample", "JZ4", "--output", output, "--inputs"]
    err = refused([*argv, *(files[k] for k in shards)], capsys)
    assert message in err
    assert str(tmp_path) in err  # the file(s) are named
    assert output.read_text() == EARLIER


# -- Predictions and feature tables: NaN scores, truncated files (items 5, 8) ----------------


@pytest.fixture
def evaluation(tmp_path: Path) -> dict[str, Path]:
    """Synthetic splits, their config on disk and a predictions file of the test split."""
    results = tmp_path / "results"
    splits = write_splits(results, sizes={"train": 16, "val": 16, "test": 64})
    config = synthetic_config(results)
    test = read_features(splits["features"]["test"])
    n = len(test["label"])
    columns = {name: test[name] for name in PREDICTION_COLUMNS if name in test}
    logit = np.linspace(-2.0, 2.0, n)
    logit[[3, 10, 20]] = np.nan
    columns |= {"score": 1.0 / (1.0 + np.exp(-logit)), "logit": logit}
    predictions = results / "predictions/cnn.parquet"
    predictions.parent.mkdir(parents=True)
    pq.write_table(pa.table({name: columns[name] for name in PREDICTION_COLUMNS}), predictions)
    return {
        "config": config_file(tmp_path, config),
        "predictions": predictions,
        "features": splits["features"]["test"],
        "output": earlier_output(results / "evaluation/metrics.json"),
    }


def truncate(path: Path) -> Path:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def test_non_finite_scores_are_refused(
    evaluation: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["evaluate", "--config", evaluation["config"], "--output", evaluation["output"]]
    err = refused([*argv, "--predictions", evaluation["predictions"]], capsys)
    assert f"{evaluation['predictions']}: 3 of 64 scores are not finite" in err
    assert evaluation["output"].read_text() == EARLIER


@pytest.mark.parametrize("damaged", ["predictions", "features"])
def test_truncated_parquet_is_named(
    evaluation: dict[str, Path], capsys: pytest.CaptureFixture[str], damaged: str
) -> None:
    truncate(evaluation[damaged])
    argv = ["evaluate", "--config", evaluation["config"], "--output", evaluation["output"]]
    argv += ["--predictions", evaluation["predictions"], "--features", evaluation["features"]]
    err = refused(argv, capsys)
    assert f"{evaluation[damaged]}: not a readable" in err
    assert evaluation["output"].read_text() == EARLIER


def test_truncated_shard_feature_table_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_file(tmp_path, make_config(tmp_path, preselection="baseline"))
    detector = write_delphes(tmp_path / "detector.root", random_events(3, 20))
    table = truncate(earlier_output(tmp_path / "features.parquet"))
    output = earlier_output(tmp_path / "images/JZ4/0.h5")
    argv = ["images", "--config", config, "--sample", "JZ4", "--shard", 0, "--input", detector]
    err = refused([*argv, "--features", table, "--output", output], capsys)
    assert f"{table}: not a readable feature table" in err
    assert output.read_text() == EARLIER


# -- Outputs checked before the work (item 8) ------------------------------------------------


@pytest.mark.parametrize("stage", ["generate", "features", "xsec"])
def test_output_that_is_a_folder_is_refused_up_front(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], stage: str
) -> None:
    config = config_file(tmp_path, make_config(tmp_path))
    folder = tmp_path / "taken"
    (folder / "kept").mkdir(parents=True)
    argv = {
        "generate": ["--shard", 0],
        # Inputs that do not exist: the output is checked before any of them is read.
        "features": ["--shard", 0, "--input", tmp_path / "missing.root"],
        "xsec": ["--inputs", tmp_path / "missing.parquet"],
    }[stage]
    err = refused([stage, "--config", config, "--sample", "JZ4", *argv, "--output", folder], capsys)
    assert f"output '{folder}' is a folder" in err
    assert (folder / "kept").is_dir()


# -- Temporaries of a killed writer (item 9) -------------------------------------------------


def test_a_killed_writers_temporaries_are_cleared_by_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "xsec.json"
    dead = tmp_path / f".xsec.json.{2**22 + 1}.tmp"  # above Linux's pid_max: never alive
    live = tmp_path / f".xsec.json.{os.getppid()}.tmp"  # a concurrent writer's, still running
    unrelated = tmp_path / f".xsec.json.{2**22 + 1}.tmp.bak"  # not our naming pattern
    other = tmp_path / f".other.json.{2**22 + 1}.tmp"  # another target's
    for path in (dead, live, unrelated, other):
        path.write_text("partial")
    write_text_atomic(target, "{}\n")
    assert target.read_text() == "{}\n"
    assert not dead.exists()
    assert live.exists()
    assert unrelated.exists()
    assert other.exists()
    # A day-old temporary is stale even if its pid is alive again (pids are reused).
    os.utime(live, (0, 0))
    write_text_atomic(target, "{}\n")
    assert not live.exists()
