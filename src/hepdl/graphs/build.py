"""Per-event graphs of towers and tracks, built for all events of a shard at once.

Nodes are the calorimeter towers with energy above ``tower_min_e_gev`` and the tracks with pT
above ``track_min_pt_gev``, both within |eta| < ``eta_max``; per event, towers come first, then
tracks. Node features (:data:`NODE_FEATURES`): eta, phi, energy (tower E or track pT, GeV),
ECal and HCal energy (GeV, 0 for tracks), and 1 for a track, 0 for a tower.

Each node receives a directed edge from each of its ``k_neighbours`` nearest neighbours in
(eta, phi) of the same event, phi periodic (fewer if the event has fewer nodes), with the
Gaussian weight exp(-d^2 / (2 sigma^2)) of their distance d, as the adjacency of the IceCube
GraphCNN (arXiv:1809.06166). ``edge_index`` follows torch-geometric: row 0 the source
(neighbour), row 1 the target, both numbered from the graph's first node.

The neighbour search is one periodic k-d tree over all nodes of all events, with events
placed far apart along a third axis, so no Python loop runs over events.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from hepdl.images.histogram import wrap_phi
from hepdl.io.splits import NODE_FEATURES

__all__ = ["NODE_FEATURES", "GraphBatch", "GraphSpec", "build_graphs", "knn_edges"]


#: Separation of consecutive events along the tree's third axis: far beyond any (eta, phi)
#: distance (at most sqrt(10^2 + pi^2) < 11), so neighbours never cross events.
_EVENT_GAP = 100.0


@dataclass(frozen=True)
class GraphSpec:
    """Graph construction settings (the config's ``graphs`` block)."""

    eta_max: float = 2.5
    tower_min_e_gev: float = 1.0
    track_min_pt_gev: float = 1.0
    k_neighbours: int = 8
    kernel_sigma: float = 0.1

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> GraphSpec:
        """The settings of a validated config."""
        graphs = config["graphs"]
        return cls(**{key: graphs[key] for key in cls.__dataclass_fields__})


@dataclass(frozen=True)
class GraphBatch:
    """Many graphs, concatenated: as torch-geometric's InMemoryDataset stores them.

    Attributes:
        x: Node features (nodes, len(NODE_FEATURES)) float32.
        edge_index: (2, edges) int32, node numbers local to each graph.
        edge_weight: (edges,) float32 Gaussian-kernel weights.
        node_ptr: (graphs + 1,) int64; graph g owns nodes node_ptr[g]:node_ptr[g + 1].
        edge_ptr: (graphs + 1,) int64; graph g owns edges edge_ptr[g]:edge_ptr[g + 1].
    """

    x: NDArray[np.float32]
    edge_index: NDArray[np.int32]
    edge_weight: NDArray[np.float32]
    node_ptr: NDArray[np.int64]
    edge_ptr: NDArray[np.int64]

    @property
    def n_graphs(self) -> int:
        """Number of graphs (events)."""
        return len(self.node_ptr) - 1


def _flat(values: ak.Array) -> NDArray[np.float64]:
    return np.asarray(ak.to_numpy(ak.flatten(values, axis=1)), dtype=np.float64)


def _nodes(towers: ak.Array, tracks: ak.Array, spec: GraphSpec) -> ak.Array:
    """Per event, the node records (towers, then tracks)."""
    tower_ok = (towers["E"] > spec.tower_min_e_gev) & (abs(towers.Eta) < spec.eta_max)
    track_ok = (tracks["PT"] > spec.track_min_pt_gev) & (abs(tracks.Eta) < spec.eta_max)
    kept_towers, kept_tracks = towers[tower_ok], tracks[track_ok]
    zeros = kept_tracks.PT * 0
    tower_nodes = ak.zip(
        {
            "eta": kept_towers.Eta,
            "phi": kept_towers.Phi,
            "energy_gev": kept_towers.E,
            "eem_gev": kept_towers.Eem,
            "ehad_gev": kept_towers.Ehad,
            "is_track": kept_towers.E * 0,
        }
    )
    track_nodes = ak.zip(
        {
            "eta": kept_tracks.Eta,
            "phi": kept_tracks.Phi,
            "energy_gev": kept_tracks.PT,
            "eem_gev": zeros,
            "ehad_gev": zeros,
            "is_track": zeros + 1,
        }
    )
    return ak.concatenate([tower_nodes, track_nodes], axis=1)


def knn_edges(
    eta: NDArray[np.float64],
    phi: NDArray[np.float64],
    node_ptr: NDArray[np.int64],
    k: int,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """The k nearest neighbours of every node within its own event, phi periodic.

    Args:
        eta: Node pseudorapidities, all events concatenated.
        phi: Node azimuths (radians).
        node_ptr: Event boundaries in the node arrays (events + 1).
        k: Neighbours per node (fewer where the event has fewer other nodes).

    Returns:
        Source (neighbour) and target node numbers (global) and their distances, ordered by
        target node, then by increasing distance.
    """
    n_nodes = len(eta)
    if n_nodes == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float64)
    counts = np.diff(node_ptr)
    event = np.repeat(np.arange(len(counts), dtype=np.float64), counts)
    span = float(np.max(np.abs(eta))) * 2 + 1.0
    points = np.column_stack(
        [
            eta + span / 2,
            np.mod(wrap_phi(phi) + math.pi, 2 * math.pi),
            event * _EVENT_GAP,
        ]
    )
    # Periodic only in phi in effect: the eta and event boxes are far larger than any
    # neighbour distance that the upper bound lets through.
    box = [span * 4 + 100.0, 2 * math.pi, (len(counts) + 1) * _EVENT_GAP]
    points[:, 1] = np.where(points[:, 1] >= 2 * math.pi, 0.0, points[:, 1])
    tree = cKDTree(points, boxsize=box)
    n_query = min(k + 1, n_nodes)
    distance, neighbour = tree.query(
        points, k=n_query, distance_upper_bound=_EVENT_GAP / 2, workers=1
    )
    distance = distance.reshape(n_nodes, n_query)
    neighbour = neighbour.reshape(n_nodes, n_query)
    target = np.broadcast_to(np.arange(n_nodes)[:, None], neighbour.shape)
    keep = (neighbour < n_nodes) & (neighbour != target)
    # At most k per node (self may be missing among equidistant points: keep the first k).
    keep &= np.cumsum(keep, axis=1) <= k
    return (
        neighbour[keep].astype(np.int64),
        target[keep].astype(np.int64),
        distance[keep].astype(np.float64),
    )


def build_graphs(towers: ak.Array, tracks: ak.Array, spec: GraphSpec) -> GraphBatch:
    """The graphs of all events.

    Args:
        towers: Per event, towers (records ``Eta``, ``Phi``, ``E``, ``Eem``, ``Ehad``; GeV).
        tracks: Per event, tracks (records ``PT`` in GeV, ``Eta``, ``Phi``).
        spec: Thresholds, k and the kernel width.

    Raises:
        ValueError: if towers and tracks disagree in the number of events.
    """
    if len(towers) != len(tracks):
        msg = f"{len(towers)} events of towers but {len(tracks)} of tracks; expected the same"
        raise ValueError(msg)
    nodes = _nodes(towers, tracks, spec)
    counts = np.asarray(ak.num(nodes, axis=1), dtype=np.int64)
    node_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    x = np.column_stack([_flat(nodes[name]) for name in NODE_FEATURES]).astype(np.float32)
    x = x.reshape(-1, len(NODE_FEATURES))
    x[:, 1] = wrap_phi(x[:, 1])
    source, target, distance = knn_edges(
        x[:, 0].astype(np.float64), x[:, 1].astype(np.float64), node_ptr, spec.k_neighbours
    )
    graph_of_target = np.repeat(np.arange(len(counts), dtype=np.int64), counts)[target]
    edge_counts = np.bincount(graph_of_target, minlength=len(counts))
    edge_ptr = np.concatenate([[0], np.cumsum(edge_counts)]).astype(np.int64)
    start = node_ptr[graph_of_target]
    edge_index = np.stack([source - start, target - start]).astype(np.int32)
    weight = np.exp(-(distance**2) / (2 * spec.kernel_sigma**2)).astype(np.float32)
    return GraphBatch(
        x=x, edge_index=edge_index, edge_weight=weight, node_ptr=node_ptr, edge_ptr=edge_ptr
    )
