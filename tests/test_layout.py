"""The results folder's layout: one path per artifact, the same for the rules and the stages."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from hepdl.io.layout import SHARD_KINDS, SPLIT_KINDS, SPLITS, Layout

SAMPLES = {"RPV_1400_850": {"shards": 2}, "JZ4": {"shards": 1}, "JZ10": {"shards": 3}}


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout.of({"results": str(tmp_path / "results"), "samples": SAMPLES})


def _wildcards(method: object) -> list[str]:
    return [name for name in inspect.signature(method).parameters if name != "kind"]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name",
    [
        name
        for name, member in vars(Layout).items()
        if not name.startswith("_") and callable(member) and name not in {"of", "pinned_config"}
    ],
)
def test_a_rule_pattern_filled_in_is_the_stage_path(layout: Layout, name: str) -> None:
    """Every method called with ``{wildcard}`` strings gives the pattern a rule declares; filled
    with values it is the path the stage writes for them."""
    method = getattr(layout, name)
    wildcards = _wildcards(method)
    values = {"sample": "JZ4", "shard": 3, "split": "val", "name": "cnn_seed1"}
    values |= {"study": "cnn", "worker": 1}
    kind = {"kind": "images"} if "kind" in inspect.signature(method).parameters else {}
    if name == "model_file":
        kind = {"kind": "cnn"}
    pattern = method(**{w: f"{{{w}}}" for w in wildcards}, **kind)
    path = method(**{w: values[w] for w in wildcards}, **kind)
    if isinstance(pattern, list | dict):  # the lists of every shard or split: no wildcards
        assert pattern == path
        return
    assert str(pattern).format(**{w: values[w] for w in wildcards}) == str(path)
    assert path.is_relative_to(layout.results)


def test_the_contract_paths(layout: Layout) -> None:
    results = layout.results
    assert layout.events("JZ4", 0) == results / "events/JZ4/0.parquet"
    assert layout.detector("JZ4", 0) == results / "detector/JZ4/0.root"
    assert layout.features_shard("JZ4", 0) == results / "features/JZ4/0.parquet"
    assert layout.images_split("test") == results / "images/test.h5"
    assert layout.skim() == results / "features/skim.json"
    assert layout.model_file("gbdt", "gbdt") == results / "models/gbdt/model.json"
    assert layout.model_file("mlp", "mlp") == results / "models/mlp/model.ckpt"
    assert layout.predictions("cnn") == results / "predictions/cnn.parquet"
    assert layout.metrics() == results / "evaluation/metrics.json"
    assert layout.hpo_worker_record("cnn", 1) == results / "hpo/cnn/workers/1.json"
    assert layout.hpo_best("gan") == results / "hpo/gan/best.yaml"
    assert layout.gan_validation("cgan") == results / "gan/cgan/validation.json"
    assert layout.gan_speed("cgan") == results / "gan/cgan/speed.json"
    assert layout.gan_speed_table("cgan") == results / "gan/cgan/speed.html"


def test_every_shard_in_the_merge_order(layout: Layout) -> None:
    """Samples by name, shards in order: the order of every merge's inputs."""
    expected = [("JZ10", 0), ("JZ10", 1), ("JZ10", 2), ("JZ4", 0)]
    expected += [("RPV_1400_850", 0), ("RPV_1400_850", 1)]
    assert layout.shard_keys() == expected
    assert layout.all_shards("graphs")[1] == layout.graphs_shard("JZ10", 1)
    assert list(layout.splits("features")) == list(SPLITS)


def test_an_unknown_kind_is_refused_by_name(layout: Layout) -> None:
    with pytest.raises(ValueError, match=r"'histograms'.*\['events', 'detector'"):
        layout.shard_file("histograms", "JZ4", 0)
    with pytest.raises(ValueError, match=r"'detector'.*\['features', 'images', 'graphs'\]"):
        layout.split_file("detector", "train")
    assert set(SPLIT_KINDS) < set(SHARD_KINDS)
