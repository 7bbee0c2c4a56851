"""Event graphs: nodes, k-nearest-neighbour edges (phi periodic), weights, the stage on files."""

from __future__ import annotations

import math
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from hepdl.graphs import NODE_FEATURES, GraphSpec, build_graphs
from hepdl.graphs.build import knn_edges
from hepdl.graphs.stage import graphs_shard, read_shard_graphs

from .test_features import make_config, random_events, write_delphes


def _records(names: tuple[str, ...], events: tuple[list[tuple[float, ...]], ...]) -> ak.Array:
    counts = np.array([len(e) for e in events], dtype=np.int64)
    rows = np.array([row for e in events for row in e], dtype=np.float64).reshape(-1, len(names))
    return ak.unflatten(ak.zip({name: rows[:, k] for k, name in enumerate(names)}), counts)


def towers(*events: list[tuple[float, float, float, float, float]]) -> ak.Array:
    """Towers from (eta, phi, E, Eem, Ehad)."""
    return _records(("Eta", "Phi", "E", "Eem", "Ehad"), events)


def tracks(*events: list[tuple[float, float, float]]) -> ak.Array:
    """Tracks from (pT, eta, phi)."""
    return _records(("PT", "Eta", "Phi"), events)


def test_nodes_are_towers_then_tracks_above_thresholds() -> None:
    graphs = build_graphs(
        towers([(0.0, 0.0, 5.0, 3.0, 2.0), (0.5, 0.0, 0.5, 0.5, 0.0), (3.0, 0.0, 9.0, 9.0, 0.0)]),
        tracks([(2.0, 0.1, 0.2), (0.5, 0.0, 0.0)]),
        GraphSpec(k_neighbours=1),
    )
    assert NODE_FEATURES == ("eta", "phi", "energy_gev", "eem_gev", "ehad_gev", "is_track")
    # The 0.5 GeV tower, the tower at eta 3 and the 0.5 GeV track fall below thresholds.
    np.testing.assert_allclose(graphs.x, [[0, 0, 5, 3, 2, 0], [0.1, 0.2, 2, 0, 0, 1]])
    assert graphs.node_ptr.tolist() == [0, 2]
    assert graphs.edge_index.tolist() == [[1, 0], [0, 1]]
    distance = math.hypot(0.1, 0.2)
    np.testing.assert_allclose(graphs.edge_weight, np.exp(-(distance**2) / (2 * 0.1**2)), rtol=1e-6)


def test_phi_is_periodic() -> None:
    # Nodes at phi = +-3.1 are 0.083 apart across pi; the node at phi = 2.5 is 0.6 away.
    graphs = build_graphs(
        towers([(0.0, 3.1, 5.0, 5.0, 0.0), (0.0, -3.1, 5.0, 5.0, 0.0), (0.0, 2.5, 5.0, 5.0, 0.0)]),
        tracks([]),
        GraphSpec(k_neighbours=1),
    )
    source, target = graphs.edge_index
    assert dict(zip(target.tolist(), source.tolist(), strict=True)) == {0: 1, 1: 0, 2: 0}


def test_edges_never_cross_events_and_small_events_get_fewer() -> None:
    events = random_events(21, 30)
    spec = GraphSpec(k_neighbours=6)
    graphs = build_graphs(events["Tower"], events["Track"], spec)
    counts = np.diff(graphs.node_ptr)
    edges = np.diff(graphs.edge_ptr)
    # Each node receives min(k, other nodes of its event) edges.
    np.testing.assert_array_equal(edges, counts * np.clip(counts - 1, 0, spec.k_neighbours))
    everything = GraphSpec(k_neighbours=6, eta_max=5.0, tower_min_e_gev=0.0, track_min_pt_gev=0.0)
    small = build_graphs(events["Tower"][:2, :2], events["Track"][:2, :1], everything)
    assert np.diff(small.node_ptr).tolist() == [3, 3]
    assert np.diff(small.edge_ptr).tolist() == [6, 6]  # 2 edges into each of 3 nodes
    graph_of_edge = np.repeat(np.arange(len(counts)), edges)
    assert np.all(graphs.edge_index >= 0)
    assert np.all(graphs.edge_index < counts[graph_of_edge])
    assert np.all(graphs.edge_index[0] != graphs.edge_index[1])


def test_edges_are_the_k_nearest_by_brute_force() -> None:
    events = random_events(22, 5)
    spec = GraphSpec(k_neighbours=4, tower_min_e_gev=0.0, track_min_pt_gev=0.0)
    graphs = build_graphs(events["Tower"], events["Track"], spec)
    for g in range(graphs.n_graphs):
        x = graphs.x[graphs.node_ptr[g] : graphs.node_ptr[g + 1]].astype(np.float64)
        edges = graphs.edge_index[:, graphs.edge_ptr[g] : graphs.edge_ptr[g + 1]]
        d_eta = x[:, None, 0] - x[None, :, 0]
        d_phi = np.abs(x[:, None, 1] - x[None, :, 1])
        d_phi = np.minimum(d_phi, 2 * np.pi - d_phi)
        distance = np.hypot(d_eta, d_phi)
        np.fill_diagonal(distance, np.inf)
        for node in range(len(x)):
            found = np.sort(distance[node, edges[0][edges[1] == node]])
            np.testing.assert_allclose(found, np.sort(distance[node])[:4], rtol=1e-5, atol=1e-6)


def test_empty_events_and_no_events() -> None:
    graphs = build_graphs(towers([], [(0.0, 0.0, 5.0, 5.0, 0.0)]), tracks([], []), GraphSpec())
    assert graphs.node_ptr.tolist() == [0, 0, 1]
    assert graphs.edge_ptr.tolist() == [0, 0, 0]
    none = build_graphs(towers(), tracks(), GraphSpec())
    assert none.n_graphs == 0
    assert none.x.shape == (0, len(NODE_FEATURES))
    source, target, distance = knn_edges(np.zeros(0), np.zeros(0), np.zeros(1, np.int64), 3)
    assert len(source) == len(target) == len(distance) == 0


def test_towers_and_tracks_of_different_event_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="2 events of towers but 1 of tracks"):
        build_graphs(towers([], []), tracks([]), GraphSpec())


def test_graphs_shard_on_a_delphes_file(tmp_path: Path) -> None:
    config = make_config(tmp_path, graphs={"k_neighbours": 3})
    events = random_events(23, 12)
    detector = write_delphes(tmp_path / "shard.root", events)
    result = graphs_shard(config, "JZ4", 0, detector)
    graphs, numbers = read_shard_graphs(result.path)
    assert numbers.tolist() == list(range(12))
    expected = build_graphs(events["Tower"], events["Track"], GraphSpec(k_neighbours=3))
    np.testing.assert_array_equal(graphs.x, expected.x)
    np.testing.assert_array_equal(graphs.edge_index, expected.edge_index)
    assert result.n_edges == graphs.edge_index.shape[1]


def test_edges_and_weights_of_a_hand_built_event() -> None:
    # Four towers: A (0, 0), B (0.3, 0), C (0, 3.0), D (0, -3.1); C and D are 2 pi - 6.1 apart
    # across phi = pi. With k = 2 each node receives its two nearest, nearest first.
    spec = GraphSpec(k_neighbours=2, kernel_sigma=1.0)
    event = [(0.0, 0.0, 5.0, 5.0, 0.0), (0.3, 0.0, 5.0, 5.0, 0.0)]
    event += [(0.0, 3.0, 5.0, 5.0, 0.0), (0.0, -3.1, 5.0, 5.0, 0.0)]
    graphs = build_graphs(towers(event), tracks([]), spec)
    a, b, c, d = range(4)
    cd = 2 * math.pi - 6.1
    expected = [  # (source, target, distance)
        (b, a, 0.3),
        (c, a, 3.0),
        (a, b, 0.3),
        (c, b, math.hypot(0.3, 3.0)),
        (d, c, cd),
        (a, c, 3.0),
        (c, d, cd),
        (a, d, 3.1),
    ]
    assert graphs.edge_index.T.tolist() == [[s, t] for s, t, _ in expected]
    distance = np.array([e[2] for e in expected])
    np.testing.assert_allclose(graphs.edge_weight, np.exp(-(distance**2) / 2), rtol=1e-5)
    assert graphs.edge_ptr.tolist() == [0, 8]
