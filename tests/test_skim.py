"""The baseline skim, the cut-flow, the measured background and the seed combination."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
from scipy import stats

from hepdl.errors import ConfigError, InputFileError
from hepdl.evaluate.background import (
    POISSON_UPPER_68,
    background_measurement,
    effective_count,
    skim_background_measurement,
)
from hepdl.evaluate.cutflow import cutflow_rows, skim_efficiencies
from hepdl.evaluate.markdown import results_markdown
from hepdl.evaluate.seeds import combine_seeds, group_replicas
from hepdl.evaluate.stage import evaluate
from hepdl.images import ImageSpec
from hepdl.images.stage import images_shard, read_shard_images
from hepdl.io.features import read_features
from hepdl.io.layout import Layout
from hepdl.io.skim import read_skim
from hepdl.reco.merge import load_events, merge_features
from hepdl.reco.selection import preselected
from hepdl.reco.stage import features_shard
from hepdl.train.settings import base_model, cnn_of_cnn_jets, models, replica_names

from .synthetic_splits import make_config as synthetic_config
from .synthetic_splits import write_splits
from .test_features import event_records, make_config, random_events, write_delphes, write_xsec

#: Leading-jet pT and number of central large-R jets above 200 GeV of hand-built events, at
#: each boundary of the baseline (>= 3 jets, leading pT > 440 GeV), and whether it passes.
BOUNDARY_EVENTS = (
    (440.5, 3, True),  # just above both thresholds
    (440.0, 3, False),  # leading pT at the threshold: the inequality is strict
    (900.0, 2, False),  # one jet too few
    (439.9, 5, False),  # many jets, too soft a leader
    (1200.0, 4, True),
)


def boundary_fatjets() -> ak.Array:
    events = []
    for leading, n_jets, _ in BOUNDARY_EVENTS:
        jets = [{"PT": leading, "Eta": 0.1, "Phi": 0.0, "Mass": 100.0}]
        jets += [
            {"PT": 250.0 - 5 * k, "Eta": 0.3, "Phi": 1.0 + k, "Mass": 300.0}
            for k in range(n_jets - 1)
        ]
        # A hard jet outside |eta| < 2 and a soft central one count for nothing.
        jets += [{"PT": 800.0, "Eta": 2.5, "Phi": 2.0, "Mass": 90.0}]
        jets += [{"PT": 150.0, "Eta": 0.0, "Phi": -2.0, "Mass": 10.0}]
        events.append(jets)
    return ak.Array(events, with_name=None)


def boundary_detector_file(path: Path, first_number: int = 0, scale: float = 1.0) -> Path:
    """A detector file of :data:`BOUNDARY_EVENTS` (their jet pT times ``scale``)."""
    n = len(BOUNDARY_EVENTS)
    events = random_events(7, n)
    fatjet = boundary_fatjets()
    fields = {name: ak.values_astype(fatjet[name], np.float32) for name in ("Eta", "Phi", "Mass")}
    events["FatJet"] = ak.zip({"PT": ak.values_astype(fatjet["PT"] * scale, np.float32), **fields})
    events["Event"] = event_records(np.arange(first_number, first_number + n), np.ones(n))
    return write_delphes(path, events)


def test_skim_keeps_exactly_the_baseline_events_at_each_boundary(tmp_path: Path) -> None:
    config = make_config(tmp_path, preselection="baseline")
    xsec = write_xsec(tmp_path, "JZ4", 1997.0, 20.0)
    detector = boundary_detector_file(tmp_path / "jz4.root")
    table_path = features_shard(config, "JZ4", 0, detector, xsec).path
    table = read_features(table_path)
    expected = np.array([passes for *_, passes in BOUNDARY_EVENTS])
    np.testing.assert_array_equal(table["passBaseline"], expected)
    np.testing.assert_array_equal(preselected("baseline", table["passBaseline"]), expected)
    assert preselected("none", table["passBaseline"]).all()
    # Images only for the kept events, in file order.
    images = images_shard(config, "JZ4", 0, detector, features_file=table_path)
    shard = read_shard_images(images.path, ImageSpec.from_config(config))
    np.testing.assert_array_equal(shard.event_number, table["event_number"][expected])
    # Without its feature table a skimming config refuses to image.
    with pytest.raises(ConfigError, match="preselection"):
        images_shard(config, "JZ4", 0, detector, output=tmp_path / "other.h5")


def skimmed_merge(tmp_path: Path, preselection: str = "baseline") -> tuple[dict[str, Any], Any]:
    """Features of two signal and two background shards of boundary events, merged."""
    config = make_config(
        tmp_path, preselection=preselection, splits={"train": 0.4, "val": 0.2, "test": 0.4}
    )
    write_xsec(tmp_path, "JZ4", 1997.0, 20.0)
    write_xsec(tmp_path, "RPV_1400_850", 0.0144, 30.0)
    files = []
    for sample, shard in (("JZ4", 0), ("RPV_1400_850", 0), ("RPV_1400_850", 1)):
        blocks = []
        for block in range(4):
            first = 100 * shard + 10 * block
            blocks.append(
                boundary_detector_file(tmp_path / f"{sample}_{shard}_{block}.root", first)
            )
        for block, detector in enumerate(blocks):
            xsec = tmp_path / "events" / sample / "xsec.json"
            output = tmp_path / "features" / sample / f"{shard}_{block}.parquet"
            files.append(features_shard(config, sample, shard, detector, xsec, output=output).path)
    return config, load_events(config, files)


def test_merge_keeps_the_skim_and_records_the_cutflow(tmp_path: Path) -> None:
    config, merged = skimmed_merge(tmp_path)
    merge_features(merged, Layout.of(config).splits("features"), config)
    kept = sum(passes for *_, passes in BOUNDARY_EVENTS)
    split_events = [read_features(p) for p in Layout.of(config).splits("features").values()]
    assert sum(len(t["event_number"]) for t in split_events) == 12 * kept
    assert all(t["passBaseline"].all() for t in split_events)
    skim = read_skim(Layout.of(config).skim())
    n = len(BOUNDARY_EVENTS)
    assert skim["JZ4"]["n_generated"] == 4 * n
    assert skim["JZ4"]["n_baseline"] == 4 * kept
    assert skim["RPV_1400_850"]["n_generated"] == 8 * n
    # The weights of all generated events add up to sigma x L (1997 pb x 36 fb^-1 for JZ4,
    # whose xsec.json says 20 events of weight 1).
    assert skim["JZ4"]["weight_generated"] == pytest.approx(1997.0 * 36e3 * 4 * n / 20.0)
    assert skim["JZ4"]["weight_baseline"] == pytest.approx(
        skim["JZ4"]["weight_generated"] * kept / n
    )
    # Relative to the skim, a selection's efficiency over the split events is its weight over
    # the baseline weight of the skim record: the splits hold exactly the baseline events.
    columns = {
        k: np.concatenate([t[k] for t in split_events]) for k in ("weight", "label", "passSR")
    }
    for label, name in ((0, "JZ4"), (1, "RPV_1400_850")):
        mine = columns["label"] == label
        efficiency = (
            columns["weight"][mine & columns["passSR"]].sum() / columns["weight"][mine].sum()
        )
        entry = skim[name]
        assert efficiency == pytest.approx(entry["weight_signal_region"] / entry["weight_baseline"])
        assert entry["n_signal_region"] == int((mine & columns["passSR"]).sum())
    # The 4-jet event of M_J = 1000 GeV is the one in the signal region, in each of 12 files.
    assert skim["JZ4"]["n_signal_region"] + skim["RPV_1400_850"]["n_signal_region"] == 12


def test_a_skim_that_empties_a_split_names_the_sample_and_split(tmp_path: Path) -> None:
    config = make_config(tmp_path, preselection="baseline")
    write_xsec(tmp_path, "JZ4", 1997.0, 20.0)
    write_xsec(tmp_path, "RPV_1400_850", 0.0144, 30.0)
    files = []
    # The background's jets are ten times softer: none passes the baseline.
    for sample, scale in (("JZ4", 0.1), ("RPV_1400_850", 1.0)):
        detector = boundary_detector_file(tmp_path / f"{sample}.root", scale=scale)
        xsec = tmp_path / "events" / sample / "xsec.json"
        files.append(features_shard(config, sample, 0, detector, xsec).path)
    with pytest.raises(ConfigError, match=r"train split has no background event \(JZ4 keeps 0"):
        load_events(config, files)


def skim_of(entries: dict[str, tuple[int, float, int, float, int, float]]) -> dict[str, Any]:
    """A skim record from (label, n/weight generated, baseline, signal region) per sample."""
    record = {}
    for name, (label, *steps) in entries.items():
        entry: dict[str, Any] = {"label": label}
        for (n, w), step in zip(
            zip(steps[::2], steps[1::2], strict=True),
            ("generated", "baseline", "signal_region"),
            strict=True,
        ):
            entry[f"n_{step}"], entry[f"weight_{step}"] = n, w
            entry[f"weight2_{step}"] = w * w / n if n else 0.0
        record[name] = entry
    return record


def known_skim() -> dict[str, Any]:
    """A skim record of hand-set counts: a signal, JZ4 with no signal-region event, JZ5, and
    JZ6 (which the tests leave out of the headline samples)."""
    return skim_of(
        {
            "RPV": (1, 100, 10.0, 90, 9.0, 40, 4.0),
            "JZ4": (0, 1000, 1e6, 100, 1e5, 0, 0.0),
            "JZ5": (0, 1000, 1e4, 200, 2e3, 2, 20.0),
            "JZ6": (0, 10, 1e2, 5, 50.0, 1, 10.0),
        }
    )


def test_cutflow_adds_up() -> None:
    skim = known_skim()
    rows = cutflow_rows(skim, ["RPV", "JZ4", "JZ5"])
    by_name = {row["sample"]: row for row in rows}
    background = by_name["total background"]
    # JZ6 is not a headline sample: it is listed but left out of the totals.
    assert background["n_generated"] == 2000
    assert background["yield_signal_region"] == pytest.approx(20.0)
    assert background["yield_baseline"] == pytest.approx(1e5 + 2e3)
    assert background["eff_signal_region_of_baseline"] == pytest.approx(20.0 / (1e5 + 2e3))
    for row in rows:
        assert row["n_signal_region"] <= row["n_baseline"] <= row["n_generated"]
    assert by_name["total signal"]["eff_baseline"] == pytest.approx(0.9)
    efficiencies = skim_efficiencies(skim, ["RPV", "JZ4", "JZ5"])
    assert efficiencies == pytest.approx({"signal": 0.9, "background": 1.02e5 / 1.01e6})


def test_neff_and_fpr_error_on_known_weights() -> None:
    # JZ5: two selected events of weight 10 and eight more; JZ6: one selected of weight 1 and
    # one more; JZ4: three events of weight 100, none selected.
    sample = ["JZ5"] * 10 + ["JZ6"] * 2 + ["JZ4"] * 3
    weight = [10.0] * 10 + [1.0] * 2 + [100.0] * 3
    selected = [True, True] + [False] * 8 + [True, False] + [False] * 3
    result = background_measurement(
        sample, weight, selected, generated_weight={"JZ4": 100.0, "JZ3": 5000.0}, min_neff=5
    )
    total = 100.0 + 2.0 + 300.0
    assert result["fpr"] == pytest.approx(21.0 / total)
    assert result["n_eff"] == pytest.approx(21.0**2 / 201.0)
    assert effective_count([10.0, 10.0, 1.0]) == pytest.approx(21.0**2 / 201.0)
    f = 21.0 / total
    rest = 8 * 100.0 + 1.0 + 3 * 1e4
    assert result["fpr_err_stat"] == pytest.approx(
        math.sqrt((1 - f) ** 2 * 201.0 + f**2 * rest) / total
    )
    # JZ4 (in the split, nothing selected) and JZ3 (skimmed away entirely) get their bounds.
    assert result["samples"]["JZ4"]["upper_bound"] == pytest.approx(POISSON_UPPER_68 * 100.0)
    assert result["samples"]["JZ3"]["upper_bound"] == pytest.approx(POISSON_UPPER_68 * 5000.0)
    assert "upper_bound" not in result["samples"]["JZ5"]
    bound = POISSON_UPPER_68 * math.hypot(100.0, 5000.0) / total
    assert result["fpr_err_unmeasured"] == pytest.approx(bound)
    assert result["fpr_err"] == pytest.approx(math.hypot(result["fpr_err_stat"], bound))
    # The bound is the mean for which seeing no event has a probability of 1 - 68%.
    assert stats.poisson.cdf(0, POISSON_UPPER_68) == pytest.approx(1 - 0.68)
    assert result["unmeasured"]  # N_eff 2.2 < 5
    assert not background_measurement(sample, weight, selected, generated_weight={}, min_neff=2)[
        "unmeasured"
    ]


def test_fpr_upper_and_bounds_that_dominate() -> None:
    sample = ["JZ5"] * 10 + ["JZ4"] * 3
    weight = [10.0] * 10 + [100.0] * 3
    selected = [True, True] + [False] * 11
    result = background_measurement(sample, weight, selected, generated_weight={}, min_neff=1)
    total = 400.0
    assert result["fpr_upper"] == pytest.approx((20.0 + POISSON_UPPER_68 * 100.0) / total)
    # The JZ4 bound (114 events) is far above the measured 20: bounded, not measured.
    assert result["bounds_dominate"]
    assert not result["unmeasured"]


def test_cuts_on_every_skimmed_event_from_the_skim_record() -> None:
    skim = known_skim()
    result = skim_background_measurement(skim, ["RPV", "JZ4", "JZ5"], min_neff=1)
    assert result["fpr"] == pytest.approx(20.0 / (1e5 + 2e3))
    # Two JZ5 events of weight 10 in the signal region: N_eff 2.
    assert result["n_eff"] == pytest.approx(2.0)
    assert result["n_events"] == 2
    # JZ4: no event in the signal region among its 100 baseline events of weight 1000.
    assert result["samples"]["JZ4"]["upper_bound"] == pytest.approx(POISSON_UPPER_68 * 1e3)
    assert set(result["samples"]) == {"JZ4", "JZ5"}


def test_seed_spread_combination() -> None:
    replicas = {
        "cnn": {"tpr_at_benchmark_fpr": 0.80, "tpr_at_benchmark_fpr_err": 0.03},
        "cnn_seed1": {"tpr_at_benchmark_fpr": 0.70, "tpr_at_benchmark_fpr_err": 0.05},
        "cnn_seed2": {"tpr_at_benchmark_fpr": 0.75, "tpr_at_benchmark_fpr_err": 0.04},
    }
    combined = combine_seeds(replicas)
    assert combined["tpr_at_benchmark_fpr"] == pytest.approx(0.75)
    assert combined["tpr_at_benchmark_fpr_seed_spread"] == pytest.approx(0.05)
    assert combined["tpr_at_benchmark_fpr_bootstrap_err"] == pytest.approx(0.04)
    assert combined["tpr_at_benchmark_fpr_err"] == pytest.approx(math.hypot(0.05, 0.04))
    assert combined["seed_spread_source"] == "measured"
    single = combine_seeds({"cnn": replicas["cnn"]}, stated_spread=0.06)
    assert single["tpr_at_benchmark_fpr_seed_spread"] == 0.06
    assert single["tpr_at_benchmark_fpr_err"] == pytest.approx(math.hypot(0.06, 0.03))
    assert single["seed_spread_source"] == "stated"
    assert combine_seeds({"cnn": replicas["cnn"]})["seed_spread_source"] == "none"
    assert group_replicas(["cnn", "cnn_seed1", "mlp", "cnn_seed2"]) == {
        "cnn": ["cnn", "cnn_seed1", "cnn_seed2"],
        "mlp": ["mlp"],
    }


def test_seed_replicas_are_models_of_their_own(tmp_path: Path) -> None:
    config = synthetic_config(tmp_path, train={"models": ["cnn", "cnn_jets", "gbdt"], "seeds": 3})
    assert list(models(config)) == [
        *replica_names("cnn", 3),
        *replica_names("cnn_jets", 3),
        *replica_names("gbdt", 3),
    ]
    assert base_model("cnn_jets_seed2") == "cnn_jets"
    assert cnn_of_cnn_jets(config, "cnn_jets_seed2") == "cnn_seed2"
    with pytest.raises(ConfigError, match=r"train\.models"):
        models(synthetic_config(tmp_path, train={"models": ["cnn_seed1"]}))


def write_scores(results: Path, config: dict[str, Any], name: str, shift: float) -> Path:
    """A predictions file for the test split: a score that separates, shifted by ``shift``."""
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    test = read_features(results / "features" / "test.parquet")
    rng = np.random.default_rng(int(shift * 100))
    score = np.clip(
        0.3 + 0.4 * test["label"] + shift + rng.normal(0, 0.2, len(test["label"])), 0, 1
    )
    columns = {
        "score": score,
        "logit": np.log(score + 1e-6) - np.log1p(-score + 1e-6),
        **{k: test[k] for k in ("weight", "label", "passSR", "mg", "mn", "sample")},
    }
    path = results / "predictions" / f"{name}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return path


def test_evaluate_is_skim_relative_and_flags_an_unmeasured_point(tmp_path: Path) -> None:
    config = synthetic_config(tmp_path, train={"models": ["mlp"], "seeds": 2})
    write_splits(tmp_path)
    predictions = {
        n: write_scores(tmp_path, config, n, s) for n, s in (("mlp", 0.0), ("mlp_seed1", 0.05))
    }
    result = evaluate(config, predictions)
    cuts = result.metrics["cuts"]
    test = read_features(tmp_path / "features" / "test.parquet")
    background = test["label"] == 0
    # The FPR is the signal-region weight over the weight of the background in the split.
    expected = test["weight"][background & test["passSR"]].sum() / test["weight"][background].sum()
    assert cuts["fpr"] == pytest.approx(expected)
    assert cuts["background"]["fpr"] == pytest.approx(expected)
    skim = json.loads((tmp_path / "features" / "skim.json").read_text())["samples"]
    efficiency = skim_efficiencies(skim, None)["background"]
    assert cuts["relative_to_generated"]["fpr"] == pytest.approx(expected * efficiency)
    # Two seeds: the mean, and the spread beside the bootstrap error.
    mlp = result.metrics["mlp"]
    per_seed = mlp["tpr_at_benchmark_fpr_per_seed"]
    assert mlp["seeds"] == 2
    assert mlp["tpr_at_benchmark_fpr"] == pytest.approx(np.mean(per_seed))
    assert mlp["tpr_at_benchmark_fpr_seed_spread"] == pytest.approx(np.std(per_seed, ddof=1))
    assert set(result.metrics) == {"cuts", "mlp"}
    assert cuts["unmeasured"] == (cuts["background"]["n_eff"] < 5)
    # Below evaluate.min_background_neff the point is flagged and the report warns; above, not.
    for minimum, flagged in ((1e6, True), (1e-3, False)):
        settings = {"min_background_neff": minimum, "bootstrap": 5, "plot_formats": ["png"]}
        strict = synthetic_config(
            tmp_path, train={"models": ["mlp"], "seeds": 2}, evaluate=settings
        )
        assert evaluate(strict, predictions).metrics["cuts"]["unmeasured"] is flagged
        summary = (tmp_path / "evaluation" / "summary.html").read_text()
        assert ("working point is unmeasured" in summary) is flagged
        table = results_markdown(evaluate(strict, predictions).metrics, title="run")
        assert ("(**unmeasured**)" in table) is flagged
    # The cuts also measured on every skimmed event, and each classifier at the upper bound.
    assert cuts["all_events"]["n_events"] >= cuts["background"]["n_events"]
    assert 0 <= result.metrics["mlp"]["tpr_at_fpr_upper"] <= 1
    with pytest.raises(InputFileError, match="without the nominal"):
        evaluate(config, {"mlp_seed1": predictions["mlp_seed1"]})
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in rows] == ["| classifier", "| cuts", "| mlp"]
    assert "(2 seeds)" in rows[2]
    assert (tmp_path / "evaluation" / "cutflow.csv").read_text().count("\n") == len(skim) + 3
