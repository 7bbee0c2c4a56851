"""Graph networks on the event graphs of towers and tracks (:mod:`hepdl.graphs`).

Two architectures, both ending in a global pooling over the nodes of each event and a small
dense head giving one logit per event:

- ``gcn``, the IceCube GraphCNN design (Choma et al., arXiv:1809.06166): the adjacency is the
  Gaussian kernel of the (eta, phi) distance stored with the graphs, normalised over each node's
  neighbours (the softmax of -d^2 / 2 sigma^2 used there), and every layer computes
  h_i' = ReLU(W_1 h_i + W_2 sum_j a_ij h_j) (torch-geometric's ``GraphConv`` with those edge
  weights);
- ``edgeconv``, a dynamic-graph network as ParticleNet (Qu & Gouskos, arXiv:1902.08570): EdgeConv
  blocks h_i' = mean_j MLP([h_i, h_j - h_i]) with a shortcut, the first on the stored kNN graph
  in (eta, phi), each later one on the k nearest neighbours in the previous block's features
  (recomputed per batch, :func:`knn_in_batch`).

Node inputs are built from the stored node features (:data:`hepdl.graphs.NODE_FEATURES`) by
:func:`encode_nodes`: eta, cos phi, sin phi (phi is periodic), log(1 + E/GeV) of the energy,
ECal and HCal energies, and the track flag. Neither network depends on the order of the nodes.
torch-geometric is imported when a network is built, so the rest of hepdl imports without it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from hepdl.extras import require_torch_geometric
from hepdl.graphs.build import NODE_FEATURES

__all__ = [
    "ARCHITECTURES",
    "NODE_INPUTS",
    "POOLINGS",
    "EdgeConvNet",
    "GraphAugment",
    "GraphInputs",
    "KernelGCN",
    "build_graph_network",
    "encode_nodes",
    "knn_in_batch",
]

#: The graph networks by config name (``train.gnn.architecture``).
ARCHITECTURES = ("gcn", "edgeconv")

#: Global poolings over the nodes of a graph (``train.gnn.pooling``).
POOLINGS = ("mean", "max", "sum")

#: Inputs per node after :func:`encode_nodes`.
NODE_INPUTS = 7

_ETA, _PHI, _ENERGY, _EEM, _EHAD, _TRACK = (
    NODE_FEATURES.index(name)
    for name in ("eta", "phi", "energy_gev", "eem_gev", "ehad_gev", "is_track")
)

#: Largest distance matrix (entries) :func:`knn_in_batch` builds at once (64 MB in float32).
_KNN_CHUNK_ENTRIES = 2**24


class GraphInputs(NamedTuple):
    """A batch of graphs, concatenated (torch-geometric's batching, as plain tensors).

    Attributes:
        x: (nodes, len(NODE_FEATURES)) stored node features, graph after graph.
        edge_index: (2, edges) int64 node numbers within the batch; row 0 the source.
        edge_weight: (edges,) Gaussian-kernel weights of the edges.
        batch: (nodes,) int64 graph of each node (0 .. num_graphs - 1, non-decreasing).
        num_graphs: Graphs in the batch (some may have no node).
    """

    x: Tensor
    edge_index: Tensor
    edge_weight: Tensor
    batch: Tensor
    num_graphs: int

    def to(self, device: torch.device | str, non_blocking: bool = False) -> GraphInputs:
        """The same graphs on ``device`` (Lightning moves batches with this)."""
        x, edge_index, edge_weight, batch = (
            t.to(device, non_blocking=non_blocking)
            for t in (self.x, self.edge_index, self.edge_weight, self.batch)
        )
        return GraphInputs(x, edge_index, edge_weight, batch, self.num_graphs)


def encode_nodes(x: Tensor) -> Tensor:
    """Stored node features -> network inputs (nodes, :data:`NODE_INPUTS`).

    eta; cos and sin of phi; log(1 + E / GeV) of the energy (tower E or track pT), the ECal and
    the HCal energy; 1 for a track, 0 for a tower.
    """
    energies = torch.log1p(torch.clamp(x[:, [_ENERGY, _EEM, _EHAD]], min=0.0))
    phi = x[:, _PHI : _PHI + 1]
    return torch.cat(
        [
            x[:, _ETA : _ETA + 1],
            torch.cos(phi),
            torch.sin(phi),
            energies,
            x[:, _TRACK : _TRACK + 1],
        ],
        dim=1,
    )


class GraphAugment(nn.Module):
    """Random symmetry transformations of each event's graph, in training mode only.

    Every event is flipped in eta (eta -> -eta) with probability 1/2 and rotated in phi by a
    uniform random angle: the physics is symmetric under both, and neither changes an (eta, phi)
    distance, so the stored edges and their weights stay valid. Randomness from torch's global
    generator (seeded by ``lightning.seed_everything``).

    Args:
        eta_flip: Flip in eta.
        phi_rotate: Rotate in phi.
    """

    def __init__(self, eta_flip: bool = True, phi_rotate: bool = True) -> None:
        super().__init__()
        self.eta_flip = eta_flip
        self.phi_rotate = phi_rotate

    def forward(self, graphs: GraphInputs) -> GraphInputs:
        """Augmented copy of ``graphs`` in training mode, ``graphs`` itself in eval mode."""
        if not self.training or not (self.eta_flip or self.phi_rotate):
            return graphs
        x = graphs.x.clone()
        n, device = graphs.num_graphs, x.device
        if self.eta_flip:
            sign = torch.where(torch.rand(n, device=device) < 0.5, -1.0, 1.0)
            x[:, _ETA] *= sign[graphs.batch]
        if self.phi_rotate:
            angle = (torch.rand(n, device=device) * 2 - 1) * math.pi
            phi = x[:, _PHI] + angle[graphs.batch]
            x[:, _PHI] = torch.remainder(phi + math.pi, 2 * math.pi) - math.pi
        return graphs._replace(x=x)


def knn_in_batch(h: Tensor, batch: Tensor, num_graphs: int, k: int) -> Tensor:
    """Edges from each node's k nearest neighbours in feature space, within its own graph.

    Euclidean distance in ``h`` (no gradient flows through the choice). Graphs with fewer than
    k + 1 nodes give each node all the others. Works graph by graph in chunks whose padded
    distance matrices stay below 2^24 entries, so a batch of thousand-node events fits.

    Args:
        h: (nodes, features), graph after graph.
        batch: (nodes,) graph of each node, non-decreasing.
        num_graphs: Graphs in the batch.
        k: Neighbours per node.

    Returns:
        (2, edges) int64: row 0 the neighbour (source), row 1 the node (target).
    """
    counts = torch.bincount(batch, minlength=num_graphs).tolist()
    ptr = [0]
    for count in counts:
        ptr.append(ptr[-1] + count)
    edges = []
    start = 0
    with torch.no_grad():
        while start < num_graphs:
            stop, n_max = start, 0
            while stop < num_graphs:
                widest = max(n_max, counts[stop])
                if stop > start and (stop - start + 1) * widest**2 > _KNN_CHUNK_ENTRIES:
                    break
                n_max, stop = widest, stop + 1
            if n_max > 1:
                edges.append(_knn_chunk(h, batch, ptr, start=start, stop=stop, n_max=n_max, k=k))
            start = stop
    if not edges:
        return torch.zeros((2, 0), dtype=torch.long, device=h.device)
    return torch.cat(edges, dim=1)


def _knn_chunk(
    h: Tensor, batch: Tensor, ptr: list[int], *, start: int, stop: int, n_max: int, k: int
) -> Tensor:
    """kNN edges of graphs start .. stop - 1 through one padded distance matrix."""
    first, last = ptr[start], ptr[stop]
    nodes = torch.arange(first, last, device=h.device)
    graph = batch[first:last] - start
    base = torch.tensor(ptr[start:stop], device=h.device)
    position = nodes - base[graph]
    dense = h.new_zeros((stop - start, n_max, h.shape[1]))
    dense[graph, position] = h[first:last].detach()
    present = torch.zeros((stop - start, n_max), dtype=torch.bool, device=h.device)
    present[graph, position] = True
    distance = torch.cdist(dense, dense)
    blocked = ~present[:, None, :] | torch.eye(n_max, dtype=torch.bool, device=h.device)
    distance = distance.masked_fill(blocked, math.inf)
    n_neighbours = min(k, n_max - 1)
    nearest, neighbour = distance.topk(n_neighbours, dim=2, largest=False)
    # Row (g, i) belongs to node base[g] + i when present; neighbours at infinity are padding.
    keep = torch.isfinite(nearest) & present[:, :, None]
    target = (base[:, None] + torch.arange(n_max, device=h.device)[None, :])[:, :, None]
    source = base[:, None, None] + neighbour
    return torch.stack([source[keep], target.expand_as(source)[keep]])


def _pool(h: Tensor, graphs: GraphInputs, poolings: Sequence[str]) -> Tensor:
    """Concatenated global poolings of node features, and log(1 + number of nodes)."""
    pyg = require_torch_geometric()
    functions = {
        "mean": pyg.nn.global_mean_pool,
        "max": pyg.nn.global_max_pool,
        "sum": pyg.nn.global_add_pool,
    }
    pooled = [functions[p](h, graphs.batch, graphs.num_graphs) for p in poolings]
    counts = torch.bincount(graphs.batch, minlength=graphs.num_graphs).to(h.dtype)
    return torch.cat([*pooled, torch.log1p(counts)[:, None]], dim=1)


def _head(in_features: int, dense_units: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_features, dense_units),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(dense_units, 1),
    )


def _check_poolings(poolings: Sequence[str]) -> list[str]:
    unknown = [p for p in poolings if p not in POOLINGS]
    if not poolings or unknown:
        msg = f"poolings {list(poolings)}: expected a non-empty list of {POOLINGS}"
        raise ValueError(msg)
    return list(poolings)


class KernelGCN(nn.Module):
    """Graph convolutions with the Gaussian-kernel adjacency (the IceCube GraphCNN).

    Args:
        channels: Output features of each graph-convolution layer.
        dense_units: Units of the hidden dense layer after pooling.
        dropout: Dropout probability before the output layer.
        batch_norm: Batch normalisation after each convolution.
        pooling: Global poolings, concatenated (``mean``, ``max``, ``sum``).
    """

    def __init__(
        self,
        channels: Sequence[int] = (64, 64, 64),
        *,
        dense_units: int = 64,
        dropout: float = 0.1,
        batch_norm: bool = True,
        pooling: Sequence[str] = ("mean", "max"),
    ) -> None:
        super().__init__()
        pyg = require_torch_geometric()
        self.pooling = _check_poolings(pooling)
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        width = NODE_INPUTS
        for out in channels:
            self.convs.append(pyg.nn.GraphConv(width, out, aggr="add"))
            self.norms.append(nn.BatchNorm1d(out) if batch_norm else nn.Identity())
            width = out
        self.head = _head(width * len(self.pooling) + 1, dense_units, dropout)

    def forward(self, graphs: GraphInputs) -> Tensor:
        """A batch of graphs -> (num_graphs,) logits."""
        target = graphs.edge_index[1]
        # a_ij = w_ij / sum_j w_ij over the neighbours j of node i (zero without neighbours).
        total = torch.zeros(len(graphs.x), dtype=graphs.edge_weight.dtype, device=graphs.x.device)
        total = total.index_add(0, target, graphs.edge_weight)
        weight = graphs.edge_weight / torch.clamp(total[target], min=1e-30)
        h = encode_nodes(graphs.x)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = torch.relu(norm(conv(h, graphs.edge_index, weight)))
        logits: Tensor = self.head(_pool(h, graphs, self.pooling))
        return logits.squeeze(-1)


class _EdgeBlock(nn.Module):
    """One EdgeConv block: mean over neighbours of MLP([h_i, h_j - h_i]), plus a shortcut."""

    def __init__(self, pyg: Any, in_features: int, out: int, batch_norm: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = 2 * in_features
        for _ in range(3):
            layers += [
                nn.Linear(width, out, bias=not batch_norm),
                nn.BatchNorm1d(out) if batch_norm else nn.Identity(),
                nn.ReLU(inplace=True),
            ]
            width = out
        self.conv = pyg.nn.EdgeConv(nn.Sequential(*layers[:-1]), aggr="mean")
        self.shortcut = nn.Linear(in_features, out, bias=False)

    def forward(self, h: Tensor, edge_index: Tensor) -> Tensor:
        return torch.relu(self.conv(h, edge_index) + self.shortcut(h))


class EdgeConvNet(nn.Module):
    """A dynamic-graph EdgeConv network (ParticleNet-style).

    Args:
        channels: Output features of each EdgeConv block (3 linear layers each).
        k_neighbours: Neighbours in feature space of every block after the first (the first
            uses the stored (eta, phi) graph).
        dense_units: Units of the hidden dense layer after pooling.
        dropout: Dropout probability before the output layer.
        batch_norm: Batch normalisation in the edge networks.
        pooling: Global poolings, concatenated (``mean``, ``max``, ``sum``).
    """

    def __init__(
        self,
        channels: Sequence[int] = (64, 64, 64),
        *,
        k_neighbours: int = 16,
        dense_units: int = 64,
        dropout: float = 0.1,
        batch_norm: bool = True,
        pooling: Sequence[str] = ("mean", "max"),
    ) -> None:
        super().__init__()
        pyg = require_torch_geometric()
        self.pooling = _check_poolings(pooling)
        self.k_neighbours = k_neighbours
        self.input_norm = nn.BatchNorm1d(NODE_INPUTS) if batch_norm else nn.Identity()
        self.blocks = nn.ModuleList()
        width = NODE_INPUTS
        for out in channels:
            self.blocks.append(_EdgeBlock(pyg, width, out, batch_norm))
            width = out
        self.head = _head(width * len(self.pooling) + 1, dense_units, dropout)

    def forward(self, graphs: GraphInputs) -> Tensor:
        """A batch of graphs -> (num_graphs,) logits."""
        h = self.input_norm(encode_nodes(graphs.x))
        edge_index = graphs.edge_index
        for number, block in enumerate(self.blocks):
            if number > 0:
                edge_index = knn_in_batch(h, graphs.batch, graphs.num_graphs, self.k_neighbours)
            h = block(h, edge_index)
        logits: Tensor = self.head(_pool(h, graphs, self.pooling))
        return logits.squeeze(-1)


def build_graph_network(
    architecture: str,
    channels: Sequence[int],
    *,
    k_neighbours: int = 16,
    dense_units: int = 64,
    dropout: float = 0.1,
    batch_norm: bool = True,
    pooling: Sequence[str] = ("mean", "max"),
) -> nn.Module:
    """The network called ``architecture`` (one of :data:`ARCHITECTURES`).

    Raises:
        ValueError: for an unknown architecture or pooling, or no layer.
    """
    if not channels:
        msg = "a graph network needs at least one layer (channels is empty)"
        raise ValueError(msg)
    if architecture == "gcn":
        return KernelGCN(
            channels,
            dense_units=dense_units,
            dropout=dropout,
            batch_norm=batch_norm,
            pooling=pooling,
        )
    if architecture == "edgeconv":
        return EdgeConvNet(
            channels,
            k_neighbours=k_neighbours,
            dense_units=dense_units,
            dropout=dropout,
            batch_norm=batch_norm,
            pooling=pooling,
        )
    msg = f"unknown graph network {architecture!r}; expected one of {ARCHITECTURES}"
    raise ValueError(msg)
