"""Small split files following the images/features contracts, for the classifier tests.

Events are drawn as a few jets ("blobs" of energy in eta-phi): QCD-like background with two
back-to-back jets, signal with four to six central jets of higher summed mass. The images,
the 23 jet variables and the cut-based decision all come from the same jets, so a classifier
can learn the difference in a few steps, and the images and features files hold the same events
in the same order, as the real merge stage writes them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hepdl.config import validate_config
from hepdl.reco.jets import feature_names
from hepdl.reco.merge import skim_record

SAMPLES = {
    "RPV_1400_850": {
        "process": "rpv_gluino",
        "m_gluino_gev": 1400,
        "m_neutralino_gev": 850,
        "events": 100,
        "shards": 1,
    },
    "RPV_1600_850": {
        "process": "rpv_gluino",
        "m_gluino_gev": 1600,
        "m_neutralino_gev": 850,
        "events": 100,
        "shards": 1,
    },
    "JZ4": {
        "process": "qcd",
        "pthat_min_gev": 400,
        "pthat_max_gev": 800,
        "events": 100,
        "shards": 1,
    },
    "JZ5": {
        "process": "qcd",
        "pthat_min_gev": 800,
        "pthat_max_gev": 1300,
        "events": 100,
        "shards": 1,
    },
}

#: Physical weight per event of each sample (background slices differ by orders of magnitude).
WEIGHTS = {"RPV_1400_850": 0.02, "RPV_1600_850": 0.01, "JZ4": 50.0, "JZ5": 2.0}
MASSES = {"RPV_1400_850": (1400.0, 850.0), "RPV_1600_850": (1600.0, 850.0)}

TINY_TRAIN = {
    "accelerator": "cpu",
    "num_workers": 0,
    "log_every_n_steps": 1,
    "progress_refresh_steps": 1,
    "cnn": {
        "conv_filters": [4, 8],
        "dense_units": 16,
        "dropout": 0.1,
        "batch_size": 32,
        "eval_batch_size": 64,
        "learning_rate": 3e-3,
        "max_epochs": 3,
    },
    "mlp": {"hidden_units": 16, "batch_size": 32, "learning_rate": 1e-2, "max_epochs": 3},
    "cnn_jets": {"hidden_units": 8, "batch_size": 32, "learning_rate": 1e-2, "max_epochs": 3},
    "gbdt": {"max_rounds": 30, "early_stopping_rounds": 5, "max_depth": 3},
    "threads": 1,
}


def make_config(results: Path, **overrides: Any) -> dict[str, Any]:
    """A validated config for the synthetic splits, tiny networks, writing to ``results``."""
    train = {**TINY_TRAIN, **overrides.pop("train", {})}
    config = {
        "results": str(results),
        "samples": SAMPLES,
        "train": train,
        "evaluate": {"bootstrap": 20, "plot_formats": ["png"]},
        **overrides,
    }
    return validate_config(config)


def _jets(rng: np.random.Generator, signal: bool) -> np.ndarray:
    """(n_jets, 4) jets: pT (GeV), eta, phi, mass (GeV), by decreasing pT."""
    if signal:
        n = int(rng.integers(4, 7))
        eta = rng.normal(0.0, 0.6, n)
        pt = rng.uniform(250.0, 700.0, n)
        mass = rng.uniform(120.0, 300.0, n)
    else:
        n = int(rng.choice([2, 3, 4, 5], p=[0.4, 0.3, 0.18, 0.12]))
        eta = rng.normal(0.0, 1.0, n)
        pt = rng.uniform(250.0, 900.0, n)
        mass = rng.uniform(20.0, 240.0, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    if not signal:
        phi[1] = phi[0] + np.pi
    phi = (phi + np.pi) % (2 * np.pi) - np.pi
    jets = np.stack([pt, np.clip(eta, -2.4, 2.4), phi, mass], axis=1)
    return jets[np.argsort(-jets[:, 0])]


def _image(jets: np.ndarray, n_pix: int, rng: np.random.Generator) -> np.ndarray:
    """(3, n_pix, n_pix) ECal, HCal and track-count image of ``jets`` (eta in [-2.5, 2.5])."""
    image = np.zeros((3, n_pix, n_pix), dtype=np.float64)
    for pt, eta, phi, _ in jets:
        i = int(np.clip((eta + 2.5) / 5.0 * n_pix, 0, n_pix - 1))
        j = int(np.clip((phi + np.pi) / (2 * np.pi) * n_pix, 0, n_pix - 1))
        energy = pt * np.cosh(eta)
        em = rng.uniform(0.2, 0.6)
        for di, dj, share in ((0, 0, 0.6), (1, 0, 0.1), (-1, 0, 0.1), (0, 1, 0.1), (0, -1, 0.1)):
            ii, jj = min(max(i + di, 0), n_pix - 1), (j + dj) % n_pix
            image[0, ii, jj] += share * em * energy
            image[1, ii, jj] += share * (1 - em) * energy
            image[2, ii, jj] += round(share * rng.poisson(pt / 40.0))
    image[:2] += rng.exponential(0.5, size=(2, n_pix, n_pix)) * (
        rng.random((2, n_pix, n_pix)) < 0.05
    )
    return image


def _features(jets: np.ndarray) -> dict[str, float]:
    n_jet = len(jets)
    padded = np.zeros((5, 4))
    padded[: min(n_jet, 5)] = jets[:5]
    columns = {
        "n_jet": float(n_jet),
        "mj_gev": float(jets[:4, 3].sum()),
        "delta_eta": float(abs(jets[0, 1] - jets[1, 1])),
    }
    for k in range(5):
        for q, suffix in enumerate(("pt_gev", "eta", "phi", "mass_gev")):
            columns[f"jet{k + 1}_{suffix}"] = float(padded[k, q])
    return columns


def _pass_sr(f: dict[str, float]) -> bool:
    if f["n_jet"] < 3 or f["jet1_pt_gev"] <= 440 or f["delta_eta"] >= 1.4:
        return False
    return (f["n_jet"] == 4 and f["mj_gev"] > 800) or (f["n_jet"] >= 5 and f["mj_gev"] > 600)


def write_splits(
    results: Path,
    sizes: dict[str, int] | None = None,
    n_pix: int = 16,
    chunk: int = 8,
    seed: int = 1,
) -> dict[str, dict[str, Path]]:
    """Write ``images/{split}.h5`` and ``features/{split}.parquet`` under ``results``.

    Returns:
        ``{"images": {split: path}, "features": {split: path}}``.
    """
    sizes = sizes or {"train": 480, "val": 160, "test": 320}
    rng = np.random.default_rng(seed)
    names = feature_names(5)
    samples = list(SAMPLES)
    probability = np.array([0.3, 0.15, 0.35, 0.2])
    split_data = {}
    for split, n in sizes.items():
        chosen = rng.choice(samples, size=n, p=probability)
        images, rows = [], []
        for k, sample in enumerate(chosen):
            signal = sample.startswith("RPV")
            jets = _jets(rng, signal)
            f = _features(jets)
            mg, mn = MASSES.get(sample, (0.0, 0.0))
            rows.append(
                {
                    **f,
                    "passSR": _pass_sr(f),
                    "weight": WEIGHTS[sample] * rng.uniform(0.9, 1.1),
                    "label": int(signal),
                    "mg": mg,
                    "mn": mn,
                    "sample": sample,
                    "event_number": k,
                }
            )
            images.append(_image(jets, n_pix, rng))
        split_data[split] = (np.stack(images), rows)
    scales = split_data["train"][0].max(axis=(0, 2, 3))
    paths: dict[str, dict[str, Path]] = {"images": {}, "features": {}}
    for split, (images, rows) in split_data.items():
        image_path = results / "images" / f"{split}.h5"
        image_path.parent.mkdir(parents=True, exist_ok=True)
        weight = np.array([r["weight"] for r in rows])
        with h5py.File(image_path, "w") as h5:
            h5.create_dataset(
                "data",
                data=(images / scales.reshape(-1, 1, 1)).astype(np.float32),
                chunks=(chunk, 3, n_pix, n_pix),
                compression="lzf",
            )
            h5.create_dataset("label", data=np.array([r["label"] for r in rows], dtype=np.int8))
            h5.create_dataset("weight", data=weight)
            h5.create_dataset("normweight", data=(weight / weight.max()).astype(np.float32))
            h5.create_dataset("psr", data=np.array([r["passSR"] for r in rows]))
            h5.create_dataset("mg", data=np.array([r["mg"] for r in rows], dtype=np.float32))
            h5.create_dataset("mn", data=np.array([r["mn"] for r in rows], dtype=np.float32))
            h5.create_dataset("sample", data=np.array([r["sample"].encode() for r in rows]))
            h5.attrs["channel_scales"] = scales
        feature_path = results / "features" / f"{split}.parquet"
        feature_path.parent.mkdir(parents=True, exist_ok=True)
        columns = {
            name: [r[name] for r in rows]
            for name in [*names, "passSR", "weight", "label", "mg", "mn", "sample", "event_number"]
        }
        columns["n_jet"] = [int(v) for v in columns["n_jet"]]
        pq.write_table(pa.table(columns), feature_path)
        paths["images"][split] = image_path
        paths["features"][split] = feature_path
    # The skim record the features merge writes beside the splits (every synthetic event counts
    # as generated; those with 3 jets and a leading jet above 440 GeV pass the baseline).
    tables = []
    for _, rows in split_data.values():
        for sample in samples:
            mine = [r for r in rows if r["sample"] == sample]
            tables.append(
                {
                    "sample": np.array([sample] * len(mine), dtype=object),
                    "label": np.array([r["label"] for r in mine], dtype=np.int8),
                    "weight": np.array([r["weight"] for r in mine]),
                    "passBaseline": np.array(
                        [r["n_jet"] >= 3 and r["jet1_pt_gev"] > 440 for r in mine], dtype=bool
                    ),
                    "passSR": np.array([r["passSR"] for r in mine], dtype=bool),
                }
            )
    skim = results / "features" / "skim.json"
    skim.write_text(json.dumps({"preselection": "none", "samples": skim_record(tables)}))
    return paths
