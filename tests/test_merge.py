"""The splits: disjoint, complete, seeded, the same events for images, features and graphs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from torch.utils.data import DataLoader

from hepdl.cli import main
from hepdl.errors import ConfigError, InputFileError
from hepdl.graphs import merge as graphs_merge
from hepdl.graphs.dataset import graph_dataset
from hepdl.graphs.merge import merge_graphs
from hepdl.graphs.stage import graphs_shard, read_shard_graphs
from hepdl.images import ImageSpec
from hepdl.images.merge import merge_images
from hepdl.images.stage import images_shard, read_shard_images
from hepdl.io.features import read_features, write_features
from hepdl.io.layout import SPLITS, Layout
from hepdl.io.splits import ImageSplit
from hepdl.plots.inputs import PLOT_NAMES, mean_images, plot_inputs
from hepdl.reco.assign_splits import assign_splits
from hepdl.reco.merge import load_events, merge_features
from hepdl.reco.stage import features_shard
from hepdl.train.datamodules import BlockBatchSampler, ImageBatches

from .test_features import event_records, make_config, random_events, write_delphes, write_xsec

SHARDS = (("JZ4", 0, 20), ("RPV_1400_850", 0, 15), ("RPV_1400_850", 1, 15))


def build_shards(
    results: Path, config: dict[str, Any], *, graphs: bool = True
) -> dict[str, list[Path]]:
    """Detector files, then features, images (and graphs) of every shard of the test config."""
    write_xsec(results, "JZ4", 1997.0, 20.0)
    write_xsec(results, "RPV_1400_850", 0.0144, 30.0)
    files: dict[str, list[Path]] = {"features": [], "images": [], "graphs": []}
    first = {"JZ4": 0, "RPV_1400_850": 0}
    for seed, (sample, shard, n) in enumerate(SHARDS):
        events = random_events(100 + seed, n)
        events["Event"] = event_records(np.arange(first[sample], first[sample] + n), np.ones(n))
        first[sample] += n
        detector = write_delphes(results / f"{sample}_{shard}.root", events)
        xsec = results / "events" / sample / "xsec.json"
        files["features"].append(features_shard(config, sample, shard, detector, xsec).path)
        table = files["features"][-1]
        files["images"].append(
            images_shard(config, sample, shard, detector, features_file=table).path
        )
        if graphs:
            files["graphs"].append(
                graphs_shard(config, sample, shard, detector, features_file=table).path
            )
    return files


@pytest.fixture(scope="module")
def merged_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    results = tmp_path_factory.mktemp("results")
    config = make_config(results)
    files = build_shards(results, config)
    merged = load_events(config, files["features"])
    # A very hot pixel in a test event: the training split's scales must not see it.
    tables, rows = merged.assignment.locate("test")
    with h5py.File(files["images"][tables[0]], "r+") as h5:
        h5["value"][h5["event_ptr"][rows[0]]] = 1.0e6
    merge_features(merged, Layout.of(config).splits("features"), config)
    merge_images(merged, files["images"], Layout.of(config).splits("images"), config)
    merge_graphs(merged, files["graphs"], Layout.of(config).splits("graphs"), config)
    return {"config": config, "files": files, "results": results}


def h5_column(path: Path, key: str) -> np.ndarray:
    with h5py.File(path) as h5:
        return h5[key][...]


def event_ids(path: Path) -> list[tuple[str, int]]:
    if path.suffix == ".parquet":
        table = read_features(path)
        return list(zip(table["sample"].tolist(), table["event_number"].tolist(), strict=True))
    samples = [s.decode() for s in h5_column(path, "sample")]
    return list(zip(samples, h5_column(path, "event_number").tolist(), strict=True))


def test_splits_are_disjoint_complete_and_sized(merged_run: dict[str, Any]) -> None:
    results = merged_run["results"]
    ids = {split: event_ids(results / "features" / f"{split}.parquet") for split in SPLITS}
    everything = [i for split in SPLITS for i in ids[split]]
    assert len(everything) == len(set(everything)) == 50
    assert set(everything) == {("JZ4", n) for n in range(20)} | {
        ("RPV_1400_850", n) for n in range(30)
    }
    assert [len(ids[s]) for s in SPLITS] == [round(0.75 * 50), round(0.05 * 50), 50 - 38 - 2]
    # Shuffled over samples: the training split is not sorted by sample.
    assert ids["train"] != sorted(ids["train"])


def test_images_features_and_graphs_hold_the_same_events(merged_run: dict[str, Any]) -> None:
    results = merged_run["results"]
    for split in SPLITS:
        features = event_ids(results / "features" / f"{split}.parquet")
        assert event_ids(results / "images" / f"{split}.h5") == features
        assert event_ids(results / "graphs" / f"{split}.h5") == features
        table = read_features(results / "features" / f"{split}.parquet")
        for key, column in (("label", "label"), ("psr", "passSR"), ("weight", "weight")):
            np.testing.assert_array_equal(
                h5_column(results / "images" / f"{split}.h5", key), table[column]
            )
            np.testing.assert_array_equal(
                h5_column(results / "graphs" / f"{split}.h5", key), table[column]
            )
        assert set(zip(table["sample"], table["label"], strict=True)) <= {
            ("JZ4", 0),
            ("RPV_1400_850", 1),
        }


def raw_images(run: dict[str, Any]) -> dict[tuple[str, int], np.ndarray]:
    """Every event's image from the shard files, by (sample, event number)."""
    images = {}
    for path in run["files"]["images"]:
        shard = read_shard_images(path, ImageSpec())
        sample = path.parent.name
        for number, image in zip(shard.event_number, shard.images.dense(ImageSpec()), strict=True):
            images[sample, int(number)] = image
    return images


def test_images_follow_their_events_and_scales_come_from_training(
    merged_run: dict[str, Any],
) -> None:
    results = merged_run["results"]
    raw = raw_images(merged_run)
    train_ids = event_ids(results / "images/train.h5")
    expected_scale = np.max([raw[i] for i in train_ids], axis=(0, 2, 3))
    everything_max = np.max(list(raw.values()), axis=(0, 2, 3))
    assert not np.array_equal(expected_scale, everything_max)  # the test can tell the difference
    for split in SPLITS:
        path = results / "images" / f"{split}.h5"
        with h5py.File(path) as h5:
            scale = h5.attrs["channel_scales"]
            np.testing.assert_allclose(scale, expected_scale)
            data = h5["data"][...]
            assert data.dtype == np.float32
            assert data.shape[1:] == (3, 64, 64)
            assert h5["data"].chunks[0] == 64
            assert h5["data"].compression == "lzf"
            weight, normweight = h5["weight"][...], h5["normweight"][...]
            assert h5.attrs["max_weight"] == pytest.approx(_max_weight(merged_run))
        for image, event in zip(data, event_ids(path), strict=True):
            np.testing.assert_allclose(image * scale[:, None, None], raw[event], rtol=1e-6)
        np.testing.assert_allclose(normweight, weight / _max_weight(merged_run), rtol=1e-6)
    train = h5_column(results / "images/train.h5", "data")
    assert train.max(axis=(0, 2, 3)).tolist() == [1.0, 1.0, 1.0]


def _max_weight(run: dict[str, Any]) -> float:
    return float(max(read_features(p)["weight"].max() for p in run["files"]["features"]))


def test_graph_splits_hold_the_shard_graphs(merged_run: dict[str, Any]) -> None:
    results = merged_run["results"]
    by_event = {}
    for path in merged_run["files"]["graphs"]:
        graphs, numbers = read_shard_graphs(path)
        for g, number in enumerate(numbers):
            nodes = graphs.x[graphs.node_ptr[g] : graphs.node_ptr[g + 1]]
            edges = graphs.edge_index[:, graphs.edge_ptr[g] : graphs.edge_ptr[g + 1]]
            by_event[path.parent.name, int(number)] = (nodes, edges)
    path = results / "graphs/test.h5"
    x, edge_index = h5_column(path, "x"), h5_column(path, "edge_index")
    node_ptr, edge_ptr = h5_column(path, "node_ptr"), h5_column(path, "edge_ptr")
    for g, event in enumerate(event_ids(path)):
        nodes, edges = by_event[event]
        np.testing.assert_array_equal(x[node_ptr[g] : node_ptr[g + 1]], nodes)
        np.testing.assert_array_equal(edge_index[:, edge_ptr[g] : edge_ptr[g + 1]], edges)


def test_graph_split_loads_in_torch_geometric(merged_run: dict[str, Any]) -> None:
    pytest.importorskip("torch_geometric")
    path = merged_run["results"] / "graphs/train.h5"
    dataset = graph_dataset(path)
    assert len(dataset) == 38
    node_ptr = h5_column(path, "node_ptr")
    graph = dataset[5]
    assert graph.x.shape == (node_ptr[6] - node_ptr[5], 6)
    assert int(graph.y) == int(h5_column(path, "label")[5])
    assert graph.edge_index.max() < graph.x.shape[0]


def test_image_batches_for_a_data_loader(merged_run: dict[str, Any]) -> None:
    """The training reader, as bench/images.py times it: every event once per epoch, each batch
    the stored images of its events; and the block reader of the GANs and plots."""
    path = merged_run["results"] / "images/train.h5"
    split = ImageSplit.open(path)
    assert split.n_events == 38
    rows = np.arange(split.n_events, dtype=np.int64)
    dataset = ImageBatches(path, rows, np.ones(38, np.float32), split.label, split.chunk_events)
    sampler = BlockBatchSampler(38, 16, split.chunk_events, seed=1, drop_last=False)
    batches = list(DataLoader(dataset, sampler=sampler, batch_size=None))
    assert [len(b["index"]) for b in batches] == [16, 16, 6]
    stored = h5_column(path, "data")
    for batch in batches:
        index = batch["index"].numpy()
        np.testing.assert_array_equal(batch["x"].numpy(), stored[index])
        np.testing.assert_array_equal(batch["y"].numpy(), h5_column(path, "label")[index])
    np.testing.assert_array_equal(
        np.sort(np.concatenate([b["index"].numpy() for b in batches])), rows
    )
    chosen = rows[::3]
    blocks = list(split.read_blocks(chosen, block_events=16))
    assert [len(inside) for inside, _ in blocks] == [6, 5, 2]
    np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), stored[chosen])
    with h5py.File(path) as h5:
        scale = h5.attrs["channel_scales"]
    np.testing.assert_array_equal(split.scales, scale)


def test_assignment_is_seeded_and_stable() -> None:
    numbers = [np.arange(100), np.arange(60)]
    fractions = {"train": 0.75, "val": 0.05, "test": 0.2}
    one = assign_splits(7, fractions, ["A", "B"], numbers)
    again = assign_splits(7, fractions, ["A", "B"], numbers)
    other = assign_splits(8, fractions, ["A", "B"], numbers)
    for split in SPLITS:
        np.testing.assert_array_equal(one.order[split], again.order[split])
    assert not np.array_equal(one.order["train"], other.order["train"])
    # Split into more shards, the same events land in the same splits.
    sharded = assign_splits(
        7, fractions, ["A", "A", "B"], [np.arange(50), np.arange(50, 100), np.arange(60)]
    )
    for split in SPLITS:
        np.testing.assert_array_equal(np.sort(one.order[split]), np.sort(sharded.order[split]))


def test_fractions_must_add_up_to_one(tmp_path: Path) -> None:
    config = make_config(tmp_path, splits={"train": 0.8, "val": 0.1, "test": 0.2})
    with pytest.raises(ConfigError, match=r"'splits'.*add up to 1\.1"):
        load_events(config, [tmp_path / "any.parquet"])


def test_merging_in_blocks_gives_the_same_files(tmp_path: Path) -> None:
    # 224 x 224 images (0.6 MB each) and a 16 MB buffer: blocks of 27 events, 2 of them.
    images = {"n_eta": 224, "n_phi": 224, "chunk_events": 8}
    small = make_config(tmp_path, images=images, splits={"merge_buffer_mb": 16})
    files = build_shards(tmp_path, small, graphs=False)
    merged = load_events(small, files["features"])
    in_blocks = {s: tmp_path / f"blocks_{s}.h5" for s in SPLITS}
    at_once = {s: tmp_path / f"once_{s}.h5" for s in SPLITS}
    merge_images(merged, files["images"], in_blocks, small)
    big = make_config(tmp_path, images=images)
    merge_images(merged, files["images"], at_once, big)
    for split in SPLITS:
        with h5py.File(in_blocks[split]) as a, h5py.File(at_once[split]) as b:
            np.testing.assert_array_equal(a["data"][...], b["data"][...])
            np.testing.assert_array_equal(a.attrs["channel_scales"], b.attrs["channel_scales"])


def test_shard_files_that_disagree_are_refused(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    files = build_shards(tmp_path, config, graphs=False)
    merged = load_events(config, files["features"])
    outputs = Layout.of(config).splits("images")
    # An image file of another shard (20 events for a 15-event table).
    swapped = [files["images"][0], files["images"][0], files["images"][2]]
    with pytest.raises(
        InputFileError, match=r"20 events, but its feature table .*RPV_1400_850/0\.parquet has 15"
    ):
        merge_images(merged, swapped, outputs, config)
    # Same length, other events.
    reordered = [files["images"][0], files["images"][2], files["images"][1]]
    with pytest.raises(InputFileError, match="event 0 is number 15, but 0"):
        merge_images(merged, reordered, outputs, config)
    with pytest.raises(InputFileError, match="2 image files for 3 feature tables"):
        merge_images(merged, files["images"][:2], outputs, config)
    assert not any(path.exists() for path in outputs.values())
    # The same events twice (a shard listed twice).
    with pytest.raises(InputFileError, match="appears in two inputs"):
        load_events(config, [files["features"][0], files["features"][0]])


def test_an_empty_shard_merges(tmp_path: Path) -> None:
    # A shard whose events the baseline skim all rejects has an image file of 0 events, and
    # an empty feature table merges too. (A detector file of 0 events is refused instead: a
    # shard always has events; tests/test_hostile_inputs.py.)
    config = make_config(tmp_path)
    files = build_shards(tmp_path, config, graphs=False)
    table = read_features(files["features"][0])
    empty_table = write_features(
        tmp_path / "e.parquet", {name: values[:0] for name, values in table.items()}, {}
    )
    skimming = make_config(tmp_path, preselection="baseline")
    jetless = random_events(5, 3)
    jetless["FatJet"] = jetless["FatJet"][:, :0]
    detector = write_delphes(tmp_path / "jetless.root", jetless)
    xsec = tmp_path / "events/JZ4/xsec.json"
    rejected = features_shard(skimming, "JZ4", 0, detector, xsec, output=tmp_path / "r.parquet")
    images = images_shard(
        skimming, "JZ4", 0, detector, output=tmp_path / "e.h5", features_file=rejected.path
    )
    assert images.n_events == 0
    merged = load_events(config, [*files["features"], empty_table])
    outputs = {s: tmp_path / "out" / f"{s}.h5" for s in SPLITS}
    result = merge_images(merged, [*files["images"], images.path], outputs, config)
    assert sum(result.sizes.values()) == 50
    metadata = json.loads(pq.read_schema(files["features"][0]).metadata[b"hepdl"])
    assert metadata["n_events"] == 20


def test_input_plots_are_written(merged_run: dict[str, Any], tmp_path: Path) -> None:
    results = merged_run["results"]
    features = [results / "features" / f"{split}.parquet" for split in SPLITS]
    written = plot_inputs(merged_run["config"], results / "images/train.h5", features, tmp_path)
    assert sorted(p.name for p in written) == sorted(
        f"{name}.{fmt}" for name in PLOT_NAMES for fmt in ("png", "pdf")
    )
    assert all(p.stat().st_size > 10_000 for p in written)
    means = mean_images(results / "images/train.h5")
    assert means[1].shape == (3, 64, 64)
    assert means[0][2].sum() > 0  # mean track count of background events


def test_graphs_merged_in_blocks_match(
    merged_run: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Blocks of 7 events straddle the split boundaries and mix shards.
    config, files = merged_run["config"], merged_run["files"]
    merged = load_events(config, files["features"])
    monkeypatch.setattr(
        graphs_merge,
        "event_blocks",
        lambda total, *_: ((i, min(total, i + 7)) for i in range(0, total, 7)),
    )
    outputs = {split: tmp_path / f"{split}.h5" for split in SPLITS}
    merge_graphs(merged, files["graphs"], outputs, config)
    for split in SPLITS:
        reference = merged_run["results"] / "graphs" / f"{split}.h5"
        for key in ("x", "edge_index", "edge_weight", "node_ptr", "edge_ptr", "event_number"):
            np.testing.assert_array_equal(h5_column(outputs[split], key), h5_column(reference, key))


def test_command_line_runs_the_stages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = make_config(tmp_path)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    write_xsec(tmp_path, "JZ4", 1997.0, 20.0)
    events = random_events(31, 20)
    detector = write_delphes(tmp_path / "detector/JZ4/0.root", events)
    common = ["--config", str(config_file), "--sample", "JZ4", "--shard", "0"]
    assert main(["features", *common]) == 0
    assert main(["images", *common, "--input", str(detector)]) == 0
    assert main(["graphs", *common]) == 0
    features = [str(tmp_path / "features/JZ4/0.parquet")]
    for kind in ("features", "images", "graphs"):
        assert (
            main(["merge", "--config", str(config_file), "--kind", kind, "--features", *features])
            == 0
        )
    out = capsys.readouterr().out
    assert "merge: images: train 15, val 1, test 4 events" in out
    assert (tmp_path / "graphs/test.h5").exists()
    assert (
        main(["plot-inputs", "--config", str(config_file), "--output-dir", str(tmp_path / "p")])
        == 0
    )
    assert (tmp_path / "p/mean_images.png").exists()
    # A missing detector file is one line naming it.
    assert main(["images", "--config", str(config_file), "--sample", "JZ4", "--shard", "0",
                 "--input", str(tmp_path / "none.root")]) == 2  # fmt: skip
    assert "none.root" in capsys.readouterr().err
