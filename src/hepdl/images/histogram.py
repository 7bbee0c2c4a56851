"""Whole-detector eta-phi images, histogrammed for all events of a shard at once.

Channel 0 is the ECal energy (``Tower.Eem``, GeV), channel 1 the HCal energy
(``Tower.Ehad``, GeV), channel 2 the number of tracks. Rows run in eta over
[-eta_max, eta_max], columns in phi over [-pi, pi]; bins follow :func:`numpy.histogram2d`
(left edges inclusive, the last bin also holds its right edge), so the result equals a
per-event ``histogram2d`` loop.

Each tower's energy goes to the pixel holding its centre (Delphes' ``Tower.Eta``/``Phi``),
as in the published converters. Spreading a tower over the pixels it covers would need its
edges, which the input contract does not carry, and blur the detector's own granularity (ECal
cells are finer than a 64 x 64 pixel, HCal towers coarser); the centre deposit keeps every
GeV, so a channel's sum is the towers' summed energy inside the eta range.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "CHANNELS",
    "ImageSpec",
    "SparseImages",
    "event_images",
    "pixel_index",
    "sparse_event_images",
    "wrap_phi",
]

#: Channel names, in channel order (units in the name).
CHANNELS = ("ecal_energy_gev", "hcal_energy_gev", "track_count")


@dataclass(frozen=True)
class ImageSpec:
    """Image geometry.

    Attributes:
        n_eta: Pixels along eta (rows).
        n_phi: Pixels along phi (columns).
        eta_max: Images span eta in [-eta_max, eta_max].
    """

    n_eta: int = 64
    n_phi: int = 64
    eta_max: float = 2.5

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ImageSpec:
        """The geometry of a validated config (its ``images`` block)."""
        images = config["images"]
        return cls(n_eta=images["n_eta"], n_phi=images["n_phi"], eta_max=images["eta_max"])

    @property
    def eta_edges(self) -> NDArray[np.float64]:
        """Pixel edges in eta (n_eta + 1)."""
        return np.linspace(-self.eta_max, self.eta_max, self.n_eta + 1)

    @property
    def phi_edges(self) -> NDArray[np.float64]:
        """Pixel edges in phi (n_phi + 1), radians."""
        return np.linspace(-math.pi, math.pi, self.n_phi + 1)

    @property
    def eta_centres(self) -> NDArray[np.float64]:
        """Pixel centres in eta (n_eta)."""
        edges = self.eta_edges
        return 0.5 * (edges[:-1] + edges[1:])

    @property
    def phi_centres(self) -> NDArray[np.float64]:
        """Pixel centres in phi (n_phi), radians."""
        edges = self.phi_edges
        return 0.5 * (edges[:-1] + edges[1:])

    @property
    def shape(self) -> tuple[int, int, int]:
        """(channels, n_eta, n_phi) of one event's image."""
        return (len(CHANNELS), self.n_eta, self.n_phi)


def wrap_phi(phi: ArrayLike) -> NDArray[np.float64]:
    """Azimuth in [-pi, pi]: values outside (e.g. float32 rounding of pi) are wrapped in."""
    values = np.asarray(phi, dtype=np.float64)
    outside = (values < -math.pi) | (values > math.pi)
    wrapped: NDArray[np.float64] = np.where(
        outside, np.mod(values + math.pi, 2 * math.pi) - math.pi, values
    )
    return wrapped


def _bin(values: NDArray[np.float64], edges: NDArray[np.float64]) -> NDArray[np.int64]:
    """Bin index as numpy.histogram2d assigns it on uniform ``edges``; -1 outside.

    Arithmetic first guess, then the same one-step correction against the edges that
    numpy.histogram applies, so the bins agree with ``searchsorted`` exactly (at a fraction
    of its cost).
    """
    n = len(edges) - 1
    low, high = edges[0], edges[-1]
    guess = np.floor((values - low) * (n / (high - low)))
    index: NDArray[np.int64] = np.clip(np.nan_to_num(guess, nan=0.0), 0, n - 1).astype(np.int64)
    index -= values < edges[index]
    index += (values >= edges[index + 1]) & (index < n - 1)
    index[~((values >= low) & (values <= high))] = -1
    return index


def pixel_index(
    eta: ArrayLike, phi: ArrayLike, spec: ImageSpec
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Flat pixel index (row x n_phi + column) of each (eta, phi), and whether it is inside.

    Args:
        eta: Pseudorapidities.
        phi: Azimuths in radians (wrapped into [-pi, pi]).
        spec: The image geometry.

    Returns:
        The flat index (meaningless where outside) and the inside mask (|eta| <= eta_max).
    """
    eta_values = np.asarray(eta, dtype=np.float64)
    row = _bin(eta_values, spec.eta_edges)
    column = _bin(wrap_phi(phi), spec.phi_edges)
    inside = (row >= 0) & (row < spec.n_eta) & (column >= 0) & (column < spec.n_phi)
    return row * spec.n_phi + column, inside


def _flat(values: ak.Array) -> NDArray[np.float64]:
    return np.asarray(ak.to_numpy(ak.flatten(values, axis=1)), dtype=np.float64)


def _flat32(values: ak.Array) -> NDArray[np.float32]:
    return np.asarray(ak.to_numpy(ak.flatten(values, axis=1)), dtype=np.float32)


def _event_of_each(counts: NDArray[np.int64]) -> NDArray[np.int64]:
    return np.repeat(np.arange(len(counts), dtype=np.int64), counts)


@dataclass(frozen=True)
class SparseImages:
    """The non-empty pixels of many events' images.

    A tower-level image is mostly empty (a few hundred of 3 x 64 x 64 pixels), so the shard
    files keep only the filled pixels; :meth:`dense` builds the arrays a network reads.

    Attributes:
        event_ptr: (events + 1,) int64; event i owns entries event_ptr[i]:event_ptr[i + 1].
        pixel: Flat pixel index within the event's image, channel x n_eta x n_phi +
            row x n_phi + column (int32), increasing within each event.
        value: The pixel's content (float32): GeV for channels 0 and 1, tracks for channel 2.
    """

    event_ptr: NDArray[np.int64]
    pixel: NDArray[np.int32]
    value: NDArray[np.float32]

    @property
    def n_events(self) -> int:
        """Number of events."""
        return len(self.event_ptr) - 1

    def dense(
        self, spec: ImageSpec, events: NDArray[np.int64] | None = None
    ) -> NDArray[np.float32]:
        """The images (events, 3, n_eta, n_phi) float32, of all events or of ``events``."""
        chosen = np.arange(self.n_events) if events is None else np.asarray(events, np.int64)
        images = np.zeros((len(chosen), *spec.shape), dtype=np.float32)
        counts = self.event_ptr[chosen + 1] - self.event_ptr[chosen]
        total = int(counts.sum())
        if total == 0:
            return images
        starts = np.repeat(self.event_ptr[chosen] - np.cumsum(counts) + counts, counts)
        entries = np.arange(total, dtype=np.int64) + starts
        target = np.repeat(np.arange(len(chosen), dtype=np.int64), counts) * int(
            np.prod(spec.shape)
        )
        images.reshape(-1)[target + self.pixel[entries]] = self.value[entries]
        return images


def sparse_event_images(towers: ak.Array, tracks: ak.Array, spec: ImageSpec) -> SparseImages:
    """The 3-channel images of all events as their filled pixels, without a per-event loop.

    Args:
        towers: Per event, the calorimeter towers (records ``Eta``, ``Phi``, ``Eem``, ``Ehad``
            with energies in GeV).
        tracks: Per event, the tracks (records ``Eta``, ``Phi``).
        spec: The image geometry.

    Raises:
        ValueError: if towers and tracks disagree in the number of events.
    """
    n_events = len(towers)
    if len(tracks) != n_events:
        msg = f"{n_events} events of towers but {len(tracks)} of tracks; expected the same"
        raise ValueError(msg)
    pixels = spec.n_eta * spec.n_phi
    per_event = len(CHANNELS) * pixels
    tower_event = _event_of_each(np.asarray(ak.num(towers, axis=1), dtype=np.int64))
    tower_pixel, tower_in = pixel_index(_flat(towers.Eta), _flat(towers.Phi), spec)
    track_event = _event_of_each(np.asarray(ak.num(tracks, axis=1), dtype=np.int64))
    track_pixel, track_in = pixel_index(_flat(tracks.Eta), _flat(tracks.Phi), spec)

    tower_base = tower_event[tower_in] * per_event + tower_pixel[tower_in]
    track_base = track_event[track_in] * per_event + track_pixel[track_in]
    index = np.concatenate([tower_base, tower_base + pixels, track_base + 2 * pixels])
    weight = np.concatenate(
        [_flat(towers.Eem)[tower_in], _flat(towers.Ehad)[tower_in], np.ones(len(track_base))]
    )
    # Entries landing in one pixel are summed (in float64); sorting orders them by event.
    filled, slot = np.unique(index, return_inverse=True)
    value = np.bincount(slot, weights=weight, minlength=len(filled))
    keep = value != 0
    filled, value = filled[keep], value[keep]
    event = filled // per_event
    return SparseImages(
        event_ptr=np.searchsorted(event, np.arange(n_events + 1)).astype(np.int64),
        pixel=(filled - event * per_event).astype(np.int32),
        value=value.astype(np.float32),
    )


def event_images(towers: ak.Array, tracks: ak.Array, spec: ImageSpec) -> NDArray[np.float32]:
    """The 3-channel images of all events, without a per-event loop.

    Args:
        towers: Per event, the calorimeter towers (records ``Eta``, ``Phi``, ``Eem``, ``Ehad``
            with energies in GeV).
        tracks: Per event, the tracks (records ``Eta``, ``Phi``).
        spec: The image geometry.

    Returns:
        float32 array (events, 3, n_eta, n_phi): ECal energy (GeV), HCal energy (GeV), tracks.

    Raises:
        ValueError: if towers and tracks disagree in the number of events.
    """
    return sparse_event_images(towers, tracks, spec).dense(spec)
