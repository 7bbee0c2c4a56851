"""``hepdl merge --kind images``: the per-shard images gathered into ``images/{split}.h5``.

Each split file holds, in the split's (shuffled) order, ``data`` (N, 3, n_eta, n_phi) float32
divided by the channel scales, ``label`` (int8), ``weight`` (float64, expected events at the config's
luminosity), ``normweight`` (float32, weight / the largest weight of all events), ``psr``
(bool, passes the cut-based signal region), ``mg``/``mn`` (float32, GeV; 0 for background),
``sample`` (bytes), ``shard`` and ``event_number``. ``data`` is chunked by ``chunk_events``
events and compressed, so a loader reads contiguous batches without loading the file.

Each channel is divided by its largest pixel value over the *training* split, as published;
the scales are stored on every split file as the attribute ``channel_scales`` (GeV, GeV,
tracks), so ``data x channel_scales`` gives physical units back. The training split alone sets
them, so nothing of the validation or test events leaks into training.

The output order is the split assignment's; events are gathered block by block (the config's
``splits.merge_buffer_mb``), each block reading the shard files it needs once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

from hepdl.errors import InputFileError
from hepdl.images.histogram import ImageSpec
from hepdl.images.stage import h5_compression, image_attributes, read_shard_images
from hepdl.io.atomic import atomic_path
from hepdl.io.layout import SPLITS
from hepdl.reco.merge import MergedEvents, check_event_numbers, event_blocks

__all__ = ["EVENT_KEYS", "MergeResult", "check_image_files", "merge_images", "sample_bytes"]

#: Attribute holding, per channel, the scale the stored pixels were divided by.
SCALES_ATTR = "channel_scales"

#: Per-event datasets beside ``data``: (HDF5 key, feature-table column, dtype).
EVENT_KEYS = (
    ("label", "label", np.int8),
    ("weight", "weight", np.float64),
    ("normweight", "normweight", np.float32),
    ("psr", "passSR", np.bool_),
    ("mg", "mg", np.float32),
    ("mn", "mn", np.float32),
    ("shard", "shard", np.int32),
    ("event_number", "event_number", np.int64),
)


@dataclass(frozen=True)
class MergeResult:
    """What a merge wrote: events per split, the files and the time taken."""

    sizes: dict[str, int]
    paths: dict[str, Path]
    seconds: float


def sample_bytes(values: NDArray[Any]) -> NDArray[np.bytes_]:
    """Sample names as fixed-width ASCII bytes, the string type HDF5 stores natively."""
    encoded: NDArray[np.bytes_] = np.char.encode(np.asarray(values).astype(str), "ascii")
    return encoded


def check_image_files(
    merged: MergedEvents, image_files: Sequence[str | os.PathLike[str]], spec: ImageSpec
) -> None:
    """Check every image file against its feature table before anything is written.

    Raises:
        InputFileError: naming the files, if they disagree in number, events or geometry.
    """
    if len(image_files) != len(merged.files):
        raise InputFileError(
            ", ".join(map(str, image_files)),
            f"{len(image_files)} image files for {len(merged.files)} feature tables; "
            "expected one per shard",
        )
    for table, path in enumerate(image_files):
        shard = read_shard_images(path, spec)
        check_event_numbers(merged, table, path, shard.event_number)


def _create_outputs(
    files: dict[str, h5py.File],
    merged: MergedEvents,
    spec: ImageSpec,
    config: Mapping[str, Any],
) -> None:
    chunk = config["images"]["chunk_events"]
    for split, h5 in files.items():
        columns = merged.split_columns(split)
        n = len(columns["event_number"])
        h5.create_dataset(
            "data",
            shape=(n, *spec.shape),
            dtype=np.float32,
            chunks=(chunk, *spec.shape),
            maxshape=(None, *spec.shape),
            **h5_compression(config),
        )
        for key, column, dtype in EVENT_KEYS:
            h5.create_dataset(key, data=columns[column].astype(dtype))
        h5.create_dataset("sample", data=sample_bytes(columns["sample"]))
        h5.attrs.update(image_attributes(spec))
        h5.attrs.update(
            {
                "split": split,
                "n_events": n,
                "seed": config["seed"],
                "fractions": [config["splits"][name] for name in SPLITS],
                "max_weight": merged.max_weight,
                "luminosity_ifb": config["luminosity_ifb"],
            }
        )


def _scales_from(train_images: NDArray[np.float32]) -> NDArray[np.float64]:
    """Per channel, the largest pixel value of training images (1 for an empty channel)."""
    if len(train_images) == 0:
        return np.ones(train_images.shape[1], dtype=np.float64)
    largest = train_images.max(axis=(0, 2, 3)).astype(np.float64)
    return np.where(largest > 0, largest, 1.0)


def _train_scales(
    merged: MergedEvents, image_files: Sequence[str | os.PathLike[str]], spec: ImageSpec
) -> NDArray[np.float64]:
    """:func:`_scales_from` over the training events of all shards, one shard at a time."""
    tables, rows = merged.assignment.locate("train")
    largest = np.zeros(spec.shape[0], dtype=np.float64)
    for t in np.unique(tables):
        images = read_shard_images(image_files[t], spec).images
        largest = np.maximum(largest, _scales_from(images.dense(spec, rows[tables == t])))
    return np.where(largest > 0, largest, 1.0)


def merge_images(
    merged: MergedEvents,
    image_files: Sequence[str | os.PathLike[str]],
    outputs: Mapping[str, str | os.PathLike[str]],
    config: Mapping[str, Any],
) -> MergeResult:
    """Write ``images/{split}.h5`` for every split from the per-shard image files.

    Args:
        merged: The events and their assignment (:func:`hepdl.reco.merge.load_events`).
        image_files: The per-shard image files, in the order of ``merged.files``.
        outputs: Target file per split name.
        config: A validated config.

    Raises:
        InputFileError: if the image files and feature tables disagree in number, in events
            or in image geometry (naming the files).
    """
    start = time.perf_counter()
    spec = ImageSpec.from_config(config)
    check_image_files(merged, image_files, spec)
    assignment = merged.assignment
    # The concatenation train | val | test of the written orders, and for each position
    # the split it belongs to and its row there.
    located = [assignment.locate(split) for split in SPLITS]
    table = np.concatenate([t for t, _ in located])
    row = np.concatenate([r for _, r in located])
    split_id = np.concatenate([np.full(len(t), k) for k, (t, _) in enumerate(located)])
    row_in_split = np.concatenate([np.arange(len(t)) for t, _ in located])
    bytes_per_event = int(np.prod(spec.shape)) * 4
    blocks = list(event_blocks(len(table), bytes_per_event, config["splits"]["merge_buffer_mb"]))
    # The scales must be known before the first pixel is written: from the one block in
    # memory when everything fits, otherwise from a first pass over the shards.
    scale = None if len(blocks) == 1 else _train_scales(merged, image_files, spec)

    with ExitStack() as stack:
        temporaries = {split: stack.enter_context(atomic_path(outputs[split])) for split in SPLITS}
        files = {split: stack.enter_context(h5py.File(temporaries[split], "w")) for split in SPLITS}
        _create_outputs(files, merged, spec, config)
        for low, high in blocks:
            buffer = np.empty((high - low, *spec.shape), dtype=np.float32)
            block_table, block_row = table[low:high], row[low:high]
            for t in np.unique(block_table):
                shard = read_shard_images(image_files[t], spec)
                here = np.flatnonzero(block_table == t)
                buffer[here] = shard.images.dense(spec, block_row[here])
            block_split = split_id[low:high]
            if scale is None:
                scale = _scales_from(buffer[block_split == 0])
            buffer /= scale.astype(np.float32).reshape(-1, 1, 1)
            for k, split in enumerate(SPLITS):
                here = np.flatnonzero(block_split == k)
                if len(here) == 0:
                    continue
                rows = row_in_split[low:high][here]
                # Positions of one split within a block are consecutive and increasing.
                files[split]["data"][rows[0] : rows[-1] + 1] = buffer[here]
        if scale is None:  # no events at all
            scale = np.ones(spec.shape[0], dtype=np.float64)
        for h5 in files.values():
            h5.attrs[SCALES_ATTR] = scale
            h5.attrs["channel_scales_method"] = (
                "data = physical value / largest pixel value of the channel in the training split"
            )
    sizes = assignment.sizes()
    return MergeResult(
        sizes=sizes,
        paths={split: Path(outputs[split]) for split in SPLITS},
        seconds=time.perf_counter() - start,
    )
