"""The graph network: invariances, extreme events, batching, training, scoring, bad inputs."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch

from hepdl.cli import main
from hepdl.errors import CheckpointError, ConfigError, InputFileError
from hepdl.evaluate.predict import predict, read_predictions
from hepdl.evaluate.stage import evaluate
from hepdl.graphs import NODE_FEATURES, GraphSpec, build_graphs
from hepdl.io.splits import GraphSplit
from hepdl.models.gnn import (
    GraphAugment,
    GraphInputs,
    build_graph_network,
    encode_nodes,
    knn_in_batch,
)
from hepdl.train.checkpoint import load_checkpoint
from hepdl.train.gnn import gnn_hparams, train_gnn
from hepdl.train.graph_data import GraphBatches, GraphDataModule
from hepdl.train.modules import GraphClassifier
from hepdl.train.settings import models

from .conftest import REPO
from .synthetic_graphs import write_graph_splits
from .synthetic_splits import make_config, write_splits
from .test_graphs import towers, tracks

ARCHITECTURES = ("gcn", "edgeconv")
TINY_GNN = {
    "channels": [8, 8],
    "dense_units": 8,
    "k_neighbours": 4,
    "batch_size": 32,
    "eval_batch_size": 64,
    "learning_rate": 3e-3,
    "max_epochs": 2,
}


def _config(results: Path, **gnn: Any) -> dict[str, Any]:
    return make_config(results, train={"models": ["cnn", "gnn"], "gnn": {**TINY_GNN, **gnn}})


@pytest.fixture(scope="module")
def splits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic images, features and graph splits under one results folder (read only)."""
    results = tmp_path_factory.mktemp("results")
    write_splits(results)
    write_graph_splits(results)
    return results


def random_graphs(n_nodes: list[int], seed: int = 0, k: int = 4) -> GraphInputs:
    """A batch of graphs of ``n_nodes`` towers each, built by the graphs stage's code."""
    rng = np.random.default_rng(seed)
    events = [
        [
            (rng.uniform(-2.4, 2.4), rng.uniform(-math.pi, math.pi), e, 0.4 * e, 0.6 * e)
            for e in rng.exponential(10.0, n) + 1.5
        ]
        for n in n_nodes
    ]
    graphs = build_graphs(
        towers(*events), tracks(*[[] for _ in n_nodes]), GraphSpec(k_neighbours=k)
    )
    counts = np.diff(graphs.node_ptr)
    offset = np.repeat(graphs.node_ptr[:-1], np.diff(graphs.edge_ptr))
    return GraphInputs(
        x=torch.from_numpy(graphs.x),
        edge_index=torch.from_numpy(graphs.edge_index.astype(np.int64) + offset),
        edge_weight=torch.from_numpy(graphs.edge_weight),
        batch=torch.from_numpy(np.repeat(np.arange(len(counts)), counts)),
        num_graphs=len(counts),
    )


def shuffled(graphs: GraphInputs, seed: int = 1) -> GraphInputs:
    """The same graphs with their nodes (and edges) in another order within each graph."""
    rng = np.random.default_rng(seed)
    batch = graphs.batch.numpy()
    order = np.concatenate(
        [rng.permutation(np.flatnonzero(batch == g)) for g in range(graphs.num_graphs)]
    )
    new_of_old = np.empty_like(order)
    new_of_old[order] = np.arange(len(order))
    edge_order = rng.permutation(graphs.edge_index.shape[1])
    edge_index = torch.from_numpy(new_of_old[graphs.edge_index.numpy()[:, edge_order]])
    return GraphInputs(
        x=graphs.x[order],
        edge_index=edge_index,
        edge_weight=graphs.edge_weight[edge_order],
        batch=graphs.batch[order],
        num_graphs=graphs.num_graphs,
    )


def network(architecture: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_graph_network(architecture, [16, 16, 16], k_neighbours=5).eval()


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_shuffling_nodes_does_not_change_the_score(architecture: str) -> None:
    graphs = random_graphs([30, 7, 55])
    net = network(architecture)
    with torch.no_grad():
        reference = net(graphs)
        again = net(shuffled(graphs))
    assert reference.shape == (3,)
    torch.testing.assert_close(again, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_a_graph_scores_the_same_alone_and_in_a_batch(architecture: str) -> None:
    together = random_graphs([12, 40, 25])
    net = network(architecture)
    with torch.no_grad():
        logits = net(together)
        first = net(
            GraphInputs(
                together.x[:12],
                together.edge_index[:, together.edge_index[1] < 12],
                together.edge_weight[together.edge_index[1] < 12],
                together.batch[:12],
                1,
            )
        )
    torch.testing.assert_close(first, logits[:1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_one_node_and_thousands_of_nodes_both_run(architecture: str) -> None:
    graphs = random_graphs([1, 2000, 2])
    assert graphs.edge_index.shape[1] == 2000 * 4 + 2  # the single node has no edge
    net = network(architecture)
    with torch.no_grad():
        logits = net(graphs)
    assert torch.isfinite(logits).all()
    # An event with no node at all (nothing above threshold) still gets a score.
    empty = GraphInputs(
        graphs.x[:1], graphs.edge_index[:, :0], graphs.edge_weight[:0], torch.tensor([1]), 2
    )
    with torch.no_grad():
        assert torch.isfinite(net(empty)).all()
    # And one training step through both extremes.
    net.train()
    net(graphs).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_knn_in_batch_is_the_brute_force_nearest_within_each_graph() -> None:
    torch.manual_seed(3)
    counts = [5, 1, 9, 3]
    h = torch.randn(sum(counts), 4)
    batch = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    source, target = knn_in_batch(h, batch, len(counts), k=3)
    assert torch.all(batch[source] == batch[target])
    for node in range(len(h)):
        same = torch.nonzero((batch == batch[node]) & (torch.arange(len(h)) != node)).flatten()
        distance = torch.linalg.norm(h[same] - h[node], dim=1)
        expected = same[torch.argsort(distance)[:3]].sort().values
        assert source[target == node].sort().values.tolist() == expected.tolist()


def test_node_encoding_is_periodic_in_phi_and_augmentation_keeps_distances() -> None:
    x = torch.tensor([[0.5, math.pi - 1e-4, 10.0, 4.0, 6.0, 0.0]])
    y = x.clone()
    y[0, 1] = -math.pi + 1e-4
    torch.testing.assert_close(encode_nodes(x), encode_nodes(y), atol=1e-3, rtol=0)
    assert encode_nodes(x)[0, 3].item() == pytest.approx(math.log(11.0))
    graphs = random_graphs([20, 20])
    torch.manual_seed(0)
    augmented = GraphAugment().train()(graphs)

    def distances(g: GraphInputs) -> torch.Tensor:
        s, t = g.edge_index
        d_phi = torch.remainder(g.x[s, 1] - g.x[t, 1] + math.pi, 2 * math.pi) - math.pi
        return torch.hypot(g.x[s, 0] - g.x[t, 0], d_phi)

    assert not torch.equal(augmented.x, graphs.x)
    torch.testing.assert_close(distances(augmented), distances(graphs), atol=1e-5, rtol=0)
    assert GraphAugment().eval()(graphs) is graphs


def test_batches_read_from_the_file_are_the_stored_graphs(splits: Path) -> None:
    path = splits / "graphs" / "test.h5"
    graphs = GraphSplit.open(path)
    stored = graphs.read_all()
    rows = np.array([0, 1, 5, 100, 101, 300], dtype=np.int64)
    batches = GraphBatches(graphs, rows, np.ones(6, np.float32), graphs.label[rows])
    item = batches[np.arange(6)]
    inputs = item["x"]
    assert inputs.num_graphs == 6
    node_ptr, edge_ptr = stored["node_ptr"], stored["edge_ptr"]
    offset = 0
    for k, row in enumerate(rows):
        nodes = slice(node_ptr[row], node_ptr[row + 1])
        n = node_ptr[row + 1] - node_ptr[row]
        mine = inputs.batch.numpy() == k
        np.testing.assert_array_equal(inputs.x.numpy()[mine], stored["x"][nodes])
        edges = stored["edge_index"][:, edge_ptr[row] : edge_ptr[row + 1]]
        in_graph = (inputs.edge_index[1].numpy() >= offset) & (
            inputs.edge_index[1].numpy() < offset + n
        )
        np.testing.assert_array_equal(inputs.edge_index.numpy()[:, in_graph] - offset, edges)
        offset += n
    assert item["y"].tolist() == graphs.label[rows].astype(float).tolist()
    moved = inputs.to("cpu")  # how Lightning moves a batch to the device
    assert moved.num_graphs == 6
    assert all(torch.equal(a, b) for a, b in zip(moved[:4], inputs[:4], strict=True))


def test_train_gnn_writes_model_costs_and_logs_and_resumes(splits: Path, tmp_path: Path) -> None:
    config = _config(splits)
    out = tmp_path / "gnn" / "model.ckpt"
    result = train_gnn(config, output=out, progress=False)
    assert result.epochs == 2
    assert np.isfinite(result.best_val_loss)
    assert (out.parent / "checkpoints" / "last.ckpt").is_file()
    assert (out.parent / "training_log.csv").is_file()
    costs = json.loads((out.parent / "costs.json").read_text())
    module = GraphClassifier(**gnn_hparams(config))
    assert costs["parameters"] == sum(p.numel() for p in module.parameters())
    assert costs["batch_size"] == 32
    assert costs["step_seconds"] > 0
    assert costs["memory_per_batch_mb"] > costs["input_mb"] > 0
    assert load_checkpoint(out)["hepdl"]["class"] == "GraphClassifier"
    # Resuming with the same settings continues from last.ckpt (here: nothing left to train).
    resumed = train_gnn(config, output=out, resume=True, progress=False)
    assert resumed.resumed_from == out.parent / "checkpoints" / "last.ckpt"
    assert resumed.epochs == 2
    # Another architecture (other settings) trains afresh instead.
    other = _config(splits, architecture="edgeconv", max_epochs=3)
    afresh = train_gnn(other, output=out, resume=True, progress=False)
    assert afresh.resumed_from is None
    assert afresh.epochs == 3


def test_training_is_deterministic(splits: Path, tmp_path: Path) -> None:
    config = _config(splits, architecture="edgeconv", max_epochs=1)
    weights = []
    for run in ("a", "b"):
        out = tmp_path / run / "model.ckpt"
        train_gnn(config, output=out, progress=False)
        weights.append(load_checkpoint(out)["state_dict"])
    for key, value in weights[0].items():
        torch.testing.assert_close(weights[1][key], value, rtol=0, atol=0)


def test_predict_and_evaluate_put_the_gnn_beside_the_cnn(splits: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    shutil.copytree(splits, results)
    config = _config(results)
    assert models(config) == {"cnn": "cnn", "gnn": "gnn"}
    for name in ("cnn", "gnn"):
        assert (
            main(["train", name, "--config", str(_write(config, tmp_path)), "--no-progress"]) == 0
        )
        predict(config, name)
    table = read_predictions(results / "predictions" / "gnn.parquet")
    assert len(table["score"]) == GraphSplit.open(results / "graphs" / "test.h5").n_events
    assert np.all((table["score"] > 0) & (table["score"] < 1))
    costs = {name: results / "models" / name / "costs.json" for name in ("cnn", "gnn")}
    result = evaluate(
        config, {n: results / "predictions" / f"{n}.parquet" for n in costs}, costs=costs
    )
    assert result.metrics["gnn"]["costs"]["parameters"] > 0
    metrics = json.loads(result.metrics_file.read_text())
    assert {"auc", "tpr_at_benchmark_fpr", "significance_gain", "costs"} <= set(metrics["gnn"])
    summary = (results / "evaluation" / "summary.html").read_text()
    assert "graph network (gnn) reaches a signal efficiency of" in summary
    assert "ms per training step" in summary
    assert "scores_gnn.png" in {p.name for p in result.plots}
    # The wrong architecture in the config is refused when scoring, too.
    other = _config(results, architecture="edgeconv")
    with pytest.raises(CheckpointError, match="different architecture"):
        predict(other, "gnn")


def _write(config: dict[str, Any], folder: Path) -> Path:
    import yaml  # noqa: PLC0415

    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_missing_or_damaged_graph_split_is_named(splits: Path, tmp_path: Path) -> None:
    config = _config(tmp_path / "nothing")
    with pytest.raises(InputFileError, match=r"graphs/train\.h5.*merge --kind graphs"):
        train_gnn(config, progress=False)
    bad = tmp_path / "bad.h5"
    shutil.copy(splits / "graphs" / "val.h5", bad)
    with h5py.File(bad, "a") as h5:
        h5.attrs["node_features"] = ["eta", "phi"]
    with pytest.raises(InputFileError, match="node features"):
        GraphSplit.open(bad)
    with h5py.File(bad, "a") as h5:
        del h5["edge_ptr"]
    with pytest.raises(InputFileError, match=r"lacks the datasets \['edge_ptr'\]"):
        GraphSplit.open(bad)
    code = main(["train", "gnn", "--config", str(_write(config, tmp_path)), "--no-progress"])
    assert code == 2


def test_bad_gnn_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"train\.gnn\.architecture"):
        _config(tmp_path, architecture="transformer")
    with pytest.raises(ValueError, match="unknown graph network"):
        build_graph_network("transformer", [4])
    with pytest.raises(ValueError, match="node features"):
        GraphClassifier("gcn", ["eta", "phi"])
    assert list(NODE_FEATURES) == gnn_hparams(_config(tmp_path))["node_features"]


def test_datamodule_batches_cover_the_split(splits: Path) -> None:
    data = GraphDataModule(predict=splits / "graphs" / "val.h5", eval_batch_size=50)
    data.setup("predict")
    seen = np.concatenate([batch["index"].numpy() for batch in data.predict_dataloader()])
    assert sorted(seen.tolist()) == list(range(data.files["predict"].n_events))


def test_base_package_does_not_import_torch_geometric() -> None:
    code = (
        "import sys, hepdl.cli, hepdl.train.settings, hepdl.evaluate.predict, "
        "hepdl.evaluate.stage, hepdl.train.graph_data, hepdl.models.gnn\n"
        "hepdl.cli.build_parser()\n"
        "assert 'torch_geometric' not in sys.modules, 'imported torch_geometric'"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=REPO
    )
    assert run.returncode == 0, run.stderr


def test_missing_torch_geometric_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, splits: Path
) -> None:
    monkeypatch.setitem(sys.modules, "torch_geometric", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install torch_geometric"):
        train_gnn(_config(splits), progress=False)
