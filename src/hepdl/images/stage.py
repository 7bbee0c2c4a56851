"""The ``images`` stage: one detector shard to its images (HDF5).

``results/images/{sample}/{shard}.h5`` holds the images of the shard's events, in the order of
the detector file, as their filled pixels (:class:`hepdl.images.histogram.SparseImages`:
``event_ptr``, ``pixel``, ``value`` in physical units, GeV, GeV and tracks) and
``event_number``. A tower image fills a few hundred of its 12,288 pixels, so this is ~20x
smaller than the dense array and fast to write; ``hepdl merge --kind images`` builds the dense,
chunked split files the networks read.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

import hepdl
from hepdl.errors import InputFileError
from hepdl.images.histogram import CHANNELS, ImageSpec, SparseImages, sparse_event_images
from hepdl.io.atomic import atomic_path, check_output_path
from hepdl.io.layout import Layout
from hepdl.reco.inputs import event_column
from hepdl.reco.stage import skimmed_deposits
from hepdl.samples import get_sample

__all__ = [
    "ImagesResult",
    "ShardImages",
    "h5_compression",
    "images_shard",
    "read_shard_images",
    "write_shard_images",
]


@dataclass(frozen=True)
class ImagesResult:
    """What :func:`images_shard` wrote and how fast (histogramming alone and in all)."""

    path: Path
    n_events: int
    seconds: float
    histogram_seconds: float


@dataclass(frozen=True)
class ShardImages:
    """The images of one shard (filled pixels) and the numbers of their events."""

    images: SparseImages
    event_number: NDArray[np.int64]


def h5_compression(config: Mapping[str, Any]) -> dict[str, Any]:
    """h5py ``create_dataset`` keywords for the config's ``images.compression``."""
    method = config["images"]["compression"]
    if method == "none":
        return {}
    if method == "gzip":
        return {"compression": "gzip", "compression_opts": 4, "shuffle": True}
    return {"compression": method}


def image_attributes(spec: ImageSpec) -> dict[str, Any]:
    """HDF5 attributes describing the image geometry and channels."""
    return {
        "channels": list(CHANNELS),
        "n_eta": spec.n_eta,
        "n_phi": spec.n_phi,
        "eta_range": [-spec.eta_max, spec.eta_max],
        "phi_range": [-np.pi, np.pi],
        "deposit": "tower energy at the pixel of the tower centre",
        "hepdl_version": hepdl.__version__,
    }


def write_shard_images(
    path: str | os.PathLike[str], shard: ShardImages, spec: ImageSpec, config: Mapping[str, Any]
) -> Path:
    """Write one shard's images atomically (filled pixels, compressed)."""
    if shard.images.n_events != len(shard.event_number):
        msg = f"{shard.images.n_events} images but {len(shard.event_number)} event numbers"
        raise ValueError(msg)
    with atomic_path(path) as temporary, h5py.File(temporary, "w") as h5:
        for name in ("pixel", "value"):
            values = getattr(shard.images, name)
            h5.create_dataset(name, data=values, **(h5_compression(config) if len(values) else {}))
        h5.create_dataset("event_ptr", data=shard.images.event_ptr)
        h5.create_dataset("event_number", data=shard.event_number)
        h5.attrs.update(image_attributes(spec))
    return Path(path)


def read_shard_images(path: str | os.PathLike[str], spec: ImageSpec) -> ShardImages:
    """Read one shard's images, checking they have the configured geometry.

    Raises:
        InputFileError: naming the file, if it is unreadable, lacks a key, disagrees with
            itself in length or has another image shape than the config's.
    """
    try:
        with h5py.File(path, "r") as h5:
            arrays = {name: h5[name][...] for name in ("event_ptr", "pixel", "value")}
            event_number = h5["event_number"][...].astype(np.int64)
            shape = (len(CHANNELS), int(h5.attrs["n_eta"]), int(h5.attrs["n_phi"]))
    except (OSError, KeyError) as err:
        raise InputFileError(path, f"not a readable image file ({err})") from None
    if shape != spec.shape:
        raise InputFileError(
            path, f"images of shape {shape}, but the config asks for {spec.shape}; rerun the shard"
        )
    images = SparseImages(**arrays)
    if (
        images.n_events != len(event_number)
        or images.event_ptr[-1] != len(images.pixel)
        or len(images.pixel) != len(images.value)
    ):
        raise InputFileError(
            path,
            f"{images.n_events} images, {len(event_number)} event numbers and "
            f"{len(images.pixel)} pixels for {images.event_ptr[-1]}; the file is damaged",
        )
    return ShardImages(images=images, event_number=event_number)


def images_shard(
    config: dict[str, Any],
    sample_name: str,
    shard: int,
    detector_file: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    features_file: str | os.PathLike[str] | None = None,
) -> ImagesResult:
    """Histogram the images of one shard and write them atomically.

    Only the events the skim keeps (the config's ``preselection``, read from the shard's
    feature table ``features_file``) are built.

    Raises:
        ConfigError: for an unknown sample or shard, or a skim without a feature table.
        InputFileError: naming a missing or malformed detector or feature file, or a
            detector file without events or of another sample or shard.
    """
    start = time.perf_counter()
    sample = get_sample(config, sample_name)
    sample.shard_events(shard)
    path = check_output_path(
        Path(output) if output is not None else Layout.of(config).images_shard(sample.name, shard)
    )
    events = skimmed_deposits(
        config, detector_file, sample=sample.name, shard=shard, features_file=features_file
    )
    spec = ImageSpec.from_config(config)
    histogram_start = time.perf_counter()
    try:
        images = sparse_event_images(events.Tower, events.Track, spec)
    except ValueError as err:
        raise InputFileError(detector_file, str(err)) from None
    histogram_seconds = time.perf_counter() - histogram_start
    number = event_column(events, "Number").astype(np.int64)
    write_shard_images(path, ShardImages(images=images, event_number=number), spec, config)
    return ImagesResult(
        path=path,
        n_events=images.n_events,
        seconds=time.perf_counter() - start,
        histogram_seconds=histogram_seconds,
    )
