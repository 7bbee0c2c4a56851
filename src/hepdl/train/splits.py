"""Reading the split files every classifier trains and is evaluated on.

``{results}/images/{split}.h5`` (HDF5) holds the events' images and per-event truth;
``{results}/features/{split}.parquet`` holds the same events, in the same order, with the jet
variables of the shallow baselines. This module opens them, checks them against the contract and
against each other, picks the events of the configured samples and gives the training weights.
Image pixels are never loaded here: the data loaders read them in blocks.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

from hepdl.errors import ConfigError, InputFileError
from hepdl.models.channels import CHANNELS

__all__ = [
    "IMAGE_KEYS",
    "FeatureSplit",
    "ImageSplit",
    "balanced_weights",
    "check_aligned",
    "event_truth",
    "feature_columns",
    "select_samples",
]

log = logging.getLogger(__name__)

#: The datasets every images split file holds (see DESIGN.md).
IMAGE_KEYS = ("data", "label", "weight", "normweight", "psr", "mg", "mn", "sample")

#: Attribute of an images split file with the per-channel scales (training-split maxima).
SCALES_ATTR = "channel_scales"


def _decode(values: NDArray[Any]) -> NDArray[np.str_]:
    """Sample names stored as bytes (HDF5) or str (Parquet) as a numpy str array."""
    if values.dtype.kind in "SO":
        return np.array(
            [v.decode() if isinstance(v, bytes) else str(v) for v in values], dtype=np.str_
        )
    return values.astype(np.str_)


def event_truth(columns: Mapping[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
    """The per-event truth of a split file (``label``, ``weight``, ``psr``, ``mg``, ``mn``,
    ``sample``) in the dtypes of the contract, from the arrays read."""
    return {
        "label": np.asarray(columns["label"], dtype=np.int8),
        "weight": np.asarray(columns["weight"], dtype=np.float64),
        "psr": np.asarray(columns["psr"], dtype=bool),
        "mg": np.asarray(columns["mg"], dtype=np.float64),
        "mn": np.asarray(columns["mn"], dtype=np.float64),
        "sample": _decode(np.asarray(columns["sample"])),
    }


@dataclass(frozen=True)
class ImageSplit:
    """An images split file: per-event truth in memory, the pixels left on disk.

    Attributes:
        path: The HDF5 file.
        n_events: Events in the file.
        image_shape: (n_eta, n_phi) pixels.
        chunk_events: Events per HDF5 chunk of ``data`` (1 if not chunked).
        scales: Per stored channel, the scale the pixels were divided by.
        label: 1 signal, 0 background.
        weight: Physical event weight (cross-section x luminosity share).
        psr: Whether the event passes the cut-based signal region.
        mg: Gluino mass (GeV; 0 for background).
        mn: Neutralino mass (GeV; 0 for background).
        sample: Sample name of each event.
    """

    path: Path
    n_events: int
    image_shape: tuple[int, int]
    chunk_events: int
    scales: tuple[float, ...]
    label: NDArray[np.int8]
    weight: NDArray[np.float64]
    psr: NDArray[np.bool_]
    mg: NDArray[np.float64]
    mn: NDArray[np.float64]
    sample: NDArray[np.str_]

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> ImageSplit:
        """Read and check an images split file.

        Raises:
            InputFileError: naming the file, if it is missing, lacks a key of
                :data:`IMAGE_KEYS`, has images not shaped (N, 3, H, W) or per-event arrays of
                another length.
        """
        path = Path(path)
        if not path.is_file():
            raise InputFileError(path, "images split file not found (run the images stage first)")
        try:
            with h5py.File(path, "r") as file:
                missing = [key for key in IMAGE_KEYS if key not in file]
                if missing:
                    raise InputFileError(
                        path,
                        f"images split file lacks the datasets {missing}; expected {IMAGE_KEYS}",
                    )
                data = file["data"]
                if data.ndim != 4 or data.shape[1] != len(CHANNELS):
                    raise InputFileError(
                        path,
                        f"'data' has shape {data.shape}; expected (N, {len(CHANNELS)}, n_eta, n_phi)",
                    )
                n_events = int(data.shape[0])
                columns = {key: file[key][()] for key in IMAGE_KEYS if key != "data"}
                chunk_events = int(data.chunks[0]) if data.chunks else 1
                scales = cls._scales(path, file)
                image_shape = (int(data.shape[2]), int(data.shape[3]))
        except OSError as err:
            raise InputFileError(path, f"not a readable HDF5 file ({err})") from None
        for key, values in columns.items():
            if len(values) != n_events:
                raise InputFileError(
                    path, f"'{key}' has {len(values)} entries but 'data' has {n_events} events"
                )
        return cls(
            path=path,
            n_events=n_events,
            image_shape=image_shape,
            chunk_events=chunk_events,
            scales=scales,
            **event_truth(columns),
        )

    @staticmethod
    def _scales(path: Path, file: h5py.File) -> tuple[float, ...]:
        if SCALES_ATTR not in file.attrs:
            raise InputFileError(
                path, f"images split file lacks the attribute '{SCALES_ATTR}' (channel scales)"
            )
        scales = tuple(float(s) for s in np.ravel(file.attrs[SCALES_ATTR]))
        if len(scales) != len(CHANNELS) or not all(np.isfinite(s) and s > 0 for s in scales):
            raise InputFileError(
                path,
                f"attribute '{SCALES_ATTR}' is {scales}; expected {len(CHANNELS)} positive "
                f"scales ({', '.join(CHANNELS)})",
            )
        return scales


def feature_columns(config: Mapping[str, Any]) -> list[str]:
    """The shallow-baseline input names (23 for 5 stored jets), from :mod:`hepdl.reco.jets`."""
    from hepdl.reco.jets import feature_names  # noqa: PLC0415 (reco pulls in awkward)

    return feature_names(int(config["selection"]["n_jets_stored"]))


@dataclass(frozen=True)
class FeatureSplit:
    """A features split file, loaded into memory (a few dozen numbers per event).

    Attributes:
        path: The Parquet file.
        names: The input variables, in column order of ``inputs``.
        inputs: (N, len(names)) float32 inputs.
        label: 1 signal, 0 background.
        weight: Physical event weight.
        pass_sr: Whether the event passes the cut-based signal region.
        mg: Gluino mass (GeV; 0 for background).
        mn: Neutralino mass (GeV; 0 for background).
        sample: Sample name of each event.
    """

    path: Path
    names: tuple[str, ...]
    inputs: NDArray[np.float32]
    label: NDArray[np.int8]
    weight: NDArray[np.float64]
    pass_sr: NDArray[np.bool_]
    mg: NDArray[np.float64]
    mn: NDArray[np.float64]
    sample: NDArray[np.str_]

    @property
    def n_events(self) -> int:
        """Events in the file."""
        return len(self.label)

    @classmethod
    def open(cls, path: str | os.PathLike[str], names: Sequence[str]) -> FeatureSplit:
        """Read a features split file.

        Raises:
            InputFileError: naming the file, if it is missing or lacks a column.
        """
        import pyarrow as pa  # noqa: PLC0415
        import pyarrow.parquet as pq  # noqa: PLC0415

        path = Path(path)
        if not path.is_file():
            raise InputFileError(path, "features split file not found (run the merge stage first)")
        truth = ["label", "weight", "passSR", "mg", "mn", "sample"]
        try:
            schema = pq.read_schema(path)
            missing = [name for name in [*names, *truth] if name not in schema.names]
            if missing:
                raise InputFileError(path, f"features split file lacks the columns {missing}")
            table = pq.read_table(path, columns=[*names, *truth])
        except (OSError, pa.ArrowInvalid) as err:  # truncated: no footer, or a damaged page
            raise InputFileError(path, f"not a readable Parquet file ({err})") from None
        column = {
            name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names
        }
        inputs = np.stack([np.asarray(column[n], dtype=np.float32) for n in names], axis=1)
        return cls(
            path=path,
            names=tuple(names),
            inputs=inputs.reshape(len(table), len(names)),
            label=np.asarray(column["label"], dtype=np.int8),
            weight=np.asarray(column["weight"], dtype=np.float64),
            pass_sr=np.asarray(column["passSR"], dtype=bool),
            mg=np.asarray(column["mg"], dtype=np.float64),
            mn=np.asarray(column["mn"], dtype=np.float64),
            sample=_decode(np.asarray(column["sample"])),
        )


def check_aligned(images: ImageSplit, features: FeatureSplit) -> None:
    """Check that an images and a features split file hold the same events in the same order.

    Raises:
        InputFileError: naming both files and the first disagreement.
    """
    where = f"{images.path} and {features.path}"
    if images.n_events != features.n_events:
        raise InputFileError(
            where, f"{images.n_events} vs {features.n_events} events; they must be the same split"
        )
    for name, a, b in [
        ("sample", images.sample, features.sample),
        ("label", images.label, features.label),
        ("passes-SR flag", images.psr, features.pass_sr),
    ]:
        bad = np.flatnonzero(a != b)
        if len(bad):
            raise InputFileError(
                where,
                f"{name} differs at event {bad[0]} ({a[bad[0]]!r} vs {b[bad[0]]!r}); "
                "they must hold the same events in the same order",
            )
    if not np.allclose(images.weight, features.weight, rtol=1e-6, atol=0.0):
        first = int(np.flatnonzero(~np.isclose(images.weight, features.weight, rtol=1e-6))[0])
        raise InputFileError(
            where, f"event weight differs at event {first}; they must hold the same events"
        )


def select_samples(
    sample: NDArray[np.str_],
    samples: Sequence[str] | None,
    source: object,
    key: str = "train.samples",
) -> NDArray[np.int64]:
    """Indices (sorted) of the events of ``samples``; all events when ``samples`` is None.

    Raises:
        ConfigError: naming ``key``, if a listed sample has no event in the file ``source``.
    """
    if samples is None:
        return np.arange(len(sample), dtype=np.int64)
    present = set(np.unique(sample).tolist())
    absent = [name for name in samples if name not in present]
    if absent:
        raise ConfigError(
            key, f"samples {absent} have no events in {source}; it holds {sorted(present)}"
        )
    return np.flatnonzero(np.isin(sample, list(samples))).astype(np.int64)


def balanced_weights(
    weight: NDArray[np.float64],
    label: NDArray[np.integer[Any]],
    source: object,
    *,
    require_both: bool = True,
    sample: NDArray[np.str_] | None = None,
) -> NDArray[np.float32]:
    """Training weights: physical weights with signal and background each summing to N/2.

    The classes then carry equal total weight (the classifier learns the likelihood ratio up to
    a constant) and the mean weight is 1, so a weighted mean loss has the scale of an unweighted
    one.

    Args:
        weight: Physical event weights.
        label: 1 signal, 0 background.
        source: The file they came from, for messages.
        require_both: Fail if a class is absent (training); otherwise (a tiny validation split)
            the class present gets its N/2 alone.
        sample: Per event, its sample: if given, every background sample is first scaled to
            the same total weight (``train.background_weights: per_sample``).

    Raises:
        InputFileError: naming ``source``, if a needed class is absent or has no positive total
            weight, or a weight is negative or not finite.
    """
    weight = np.asarray(weight, dtype=np.float64)
    if not np.all(np.isfinite(weight)) or np.any(weight < 0):
        raise InputFileError(source, "event weights must be finite and non-negative")
    if sample is not None:
        weight = weight.copy()
        for name in np.unique(sample[label == 0]):
            mask = (sample == name) & (label == 0)
            total = weight[mask].sum()
            if total > 0:
                weight[mask] /= total
    out = np.empty(len(weight), dtype=np.float64)
    for cls, name in ((1, "signal"), (0, "background")):
        mask = label == cls
        total = weight[mask].sum()
        if not mask.any() and not require_both:
            log.warning("%s: no %s events; the validation loss sees one class only", source, name)
            continue
        if not mask.any() or total <= 0:
            raise InputFileError(
                source,
                f"no {name} events (label {cls}) with positive weight; a classifier "
                "needs both classes",
            )
        out[mask] = weight[mask] / total * (len(weight) / 2.0)
    return out.astype(np.float32)
