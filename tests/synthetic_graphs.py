"""Graph split files of the synthetic events (:mod:`tests.synthetic_splits`), for the GNN tests.

Each event's graph is built from its image: every pixel with calorimeter energy becomes a tower
(at the pixel centre, ECal and HCal energies in GeV from the stored channel scales) and every
pixel with tracks a track node, then :func:`hepdl.graphs.build_graphs` adds the kNN edges, as
the graphs stage does for detector towers. The files follow the merge stage's layout and hold
the same events, in the same order, as the images and features splits.
"""

from __future__ import annotations

import math
from pathlib import Path

import awkward as ak
import h5py
import numpy as np

from hepdl.graphs import GraphSpec, build_graphs
from hepdl.graphs.stage import graph_attributes

SPEC = GraphSpec(tower_min_e_gev=1.0, track_min_pt_gev=1.0, k_neighbours=4, kernel_sigma=0.3)


def _records(values: dict[str, np.ndarray], counts: np.ndarray) -> ak.Array:
    return ak.unflatten(ak.zip(values), counts)


def write_graph_splits(results: Path, spec: GraphSpec = SPEC) -> dict[str, Path]:
    """Write ``graphs/{split}.h5`` under ``results`` from its ``images/{split}.h5``."""
    paths = {}
    for image_path in sorted((results / "images").glob("*.h5")):
        with h5py.File(image_path, "r") as h5:
            data = h5["data"][...] * np.asarray(h5.attrs["channel_scales"])[None, :, None, None]
            truth = {key: h5[key][...] for key in ("label", "weight", "normweight", "psr", "mg")}
            truth["mn"] = h5["mn"][...]
            sample = h5["sample"][...]
        n, _, n_eta, n_phi = data.shape
        eta = -2.5 + (np.arange(n_eta) + 0.5) * 5.0 / n_eta
        phi = -math.pi + (np.arange(n_phi) + 0.5) * 2 * math.pi / n_phi
        eta_grid, phi_grid = np.meshgrid(eta, phi, indexing="ij")
        calo = (data[:, 0] + data[:, 1]) > 0
        hit = data[:, 2] > 0
        towers = _records(
            {
                "Eta": np.broadcast_to(eta_grid, calo.shape)[calo],
                "Phi": np.broadcast_to(phi_grid, calo.shape)[calo],
                "E": (data[:, 0] + data[:, 1])[calo],
                "Eem": data[:, 0][calo],
                "Ehad": data[:, 1][calo],
            },
            calo.reshape(n, -1).sum(axis=1),
        )
        tracks = _records(
            {
                "PT": 5.0 * data[:, 2][hit],
                "Eta": np.broadcast_to(eta_grid, hit.shape)[hit],
                "Phi": np.broadcast_to(phi_grid, hit.shape)[hit],
            },
            hit.reshape(n, -1).sum(axis=1),
        )
        graphs = build_graphs(towers, tracks, spec)
        path = results / "graphs" / image_path.name
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as h5:
            h5.create_dataset("x", data=graphs.x, chunks=(256, graphs.x.shape[1]))
            h5.create_dataset("edge_index", data=graphs.edge_index)
            h5.create_dataset("edge_weight", data=graphs.edge_weight)
            h5.create_dataset("node_ptr", data=graphs.node_ptr)
            h5.create_dataset("edge_ptr", data=graphs.edge_ptr)
            for key, values in truth.items():
                h5.create_dataset(key, data=values)
            h5.create_dataset("sample", data=sample)
            h5.create_dataset("shard", data=np.zeros(n, np.int32))
            h5.create_dataset("event_number", data=np.arange(n, dtype=np.int64))
            h5.attrs.update(graph_attributes(spec))
        paths[image_path.stem] = path
    return paths
