"""Eta-phi images: pixel placement, energy and track sums, edge cases, the stage on files."""

from __future__ import annotations

import math
from pathlib import Path

import awkward as ak
import h5py
import numpy as np
import pytest

from hepdl.errors import InputFileError
from hepdl.images import CHANNELS, ImageSpec, event_images
from hepdl.images.stage import images_shard, read_shard_images

from .test_features import make_config, random_events, write_delphes

SPEC = ImageSpec()  # 64 x 64, |eta| <= 2.5


def _records(names: tuple[str, ...], events: tuple[list[tuple[float, ...]], ...]) -> ak.Array:
    counts = np.array([len(e) for e in events], dtype=np.int64)
    rows = np.array([row for e in events for row in e], dtype=np.float64).reshape(-1, len(names))
    return ak.unflatten(ak.zip({name: rows[:, k] for k, name in enumerate(names)}), counts)


def towers(*events: list[tuple[float, float, float, float]]) -> ak.Array:
    """Towers from (eta, phi, Eem, Ehad) per tower."""
    return _records(("Eta", "Phi", "Eem", "Ehad"), events)


def tracks(*events: list[tuple[float, float]]) -> ak.Array:
    """Tracks from (eta, phi) per track."""
    return _records(("Eta", "Phi"), events)


def test_geometry() -> None:
    assert CHANNELS == ("ecal_energy_gev", "hcal_energy_gev", "track_count")
    assert SPEC.shape == (3, 64, 64)
    assert SPEC.eta_edges[[0, -1]].tolist() == [-2.5, 2.5]
    assert SPEC.phi_edges[[0, -1]].tolist() == [-math.pi, math.pi]


def test_single_tower_lands_in_its_pixel_with_its_energy() -> None:
    # Pixel (row, column) = (40, 10): eta in [-2.5 + 40 x 5/64, ...), phi likewise.
    eta = -2.5 + (40 + 0.5) * 5 / 64
    phi = -math.pi + (10 + 0.5) * 2 * math.pi / 64
    images = event_images(towers([(eta, phi, 12.5, 7.25)]), tracks([]), SPEC)
    assert images.dtype == np.float32
    assert images.shape == (1, 3, 64, 64)
    assert images[0, 0, 40, 10] == 12.5
    assert images[0, 1, 40, 10] == 7.25
    assert np.count_nonzero(images) == 2
    assert images[0, 2].sum() == 0


@pytest.mark.parametrize(
    ("eta", "phi", "pixel"),
    [
        (-2.5, -math.pi, (0, 0)),  # lower edges are inside
        (2.5, math.pi, (63, 63)),  # the upper edge belongs to the last pixel (histogram2d)
        (0.0, 0.0, (32, 32)),  # a pixel's lower edge belongs to it
        (0.1, float(np.float32(math.pi)), None),  # phi just above pi (float32) is wrapped in
    ],
)
def test_pixel_edges(eta: float, phi: float, pixel: tuple[int, int] | None) -> None:
    images = event_images(towers([(eta, phi, 1.0, 0.0)]), tracks([]), SPEC)
    assert images[0, 0].sum() == 1.0
    if pixel is not None:
        assert images[0, 0][pixel] == 1.0


def test_towers_outside_the_eta_range_are_left_out() -> None:
    images = event_images(towers([(2.51, 0.0, 5.0, 5.0), (-3.0, 1.0, 1.0, 1.0)]), tracks([]), SPEC)
    assert images.sum() == 0.0
    wide = ImageSpec(n_eta=64, n_phi=64, eta_max=5.0)
    assert event_images(towers([(-3.0, 1.0, 1.0, 2.0)]), tracks([]), wide).sum() == 3.0


def test_channel_sums_equal_the_tower_energy_and_track_count_inside() -> None:
    events = random_events(11, 50)
    images = event_images(events["Tower"], events["Track"], SPEC)
    inside = abs(events["Tower"].Eta) <= 2.5
    for channel, field in ((0, "Eem"), (1, "Ehad")):
        expected = ak.to_numpy(ak.sum(events["Tower"][field][inside], axis=1))
        np.testing.assert_allclose(images[:, channel].sum(axis=(1, 2)), expected, rtol=1e-5)
    track_count = ak.to_numpy(ak.sum(abs(events["Track"].Eta) <= 2.5, axis=1))
    np.testing.assert_array_equal(images[:, 2].sum(axis=(1, 2)), track_count)
    assert np.all(images[:, 2] == np.round(images[:, 2]))


def test_equals_a_histogram2d_per_event() -> None:
    events = random_events(12, 20)
    spec = ImageSpec(n_eta=224, n_phi=224, eta_max=2.5)
    images = event_images(events["Tower"], events["Track"], spec)
    assert images.shape == (20, 3, 224, 224)
    bins = (spec.eta_edges, spec.phi_edges)
    for i in range(20):
        tower, track = events["Tower"][i], events["Track"][i]
        for channel, field in ((0, "Eem"), (1, "Ehad")):
            expected, _, _ = np.histogram2d(
                np.asarray(tower.Eta, np.float64), np.asarray(tower.Phi, np.float64), bins=bins,
                weights=np.asarray(tower[field], np.float64),
            )  # fmt: skip
            np.testing.assert_allclose(images[i, channel], expected, rtol=1e-6, atol=1e-6)
        count, _, _ = np.histogram2d(
            np.asarray(track.Eta, np.float64), np.asarray(track.Phi, np.float64), bins=bins
        )
        np.testing.assert_array_equal(images[i, 2], count)


def test_many_events_at_once_match_one_at_a_time() -> None:
    events = random_events(13, 130)
    spec = ImageSpec(n_eta=224, n_phi=224)
    together = event_images(events["Tower"], events["Track"], spec)
    apart = np.concatenate(
        [
            event_images(events["Tower"][i : i + 1], events["Track"][i : i + 1], spec)
            for i in (0, 64, 129)
        ]
    )
    np.testing.assert_array_equal(together[[0, 64, 129]], apart)


def test_events_without_towers_or_tracks_are_blank() -> None:
    images = event_images(
        towers([], [(0.0, 0.0, 1.0, 1.0)], []), tracks([(0.1, 0.1)], [], []), SPEC
    )
    assert images[0, :2].sum() == 0
    assert images[0, 2].sum() == 1
    assert images[1, :2].sum() == 2
    assert images[1, 2].sum() == 0
    assert images[2].sum() == 0
    assert event_images(towers(), tracks(), SPEC).shape == (0, 3, 64, 64)


def test_towers_and_tracks_of_different_event_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="2 events of towers but 1 of tracks"):
        event_images(towers([], []), tracks([]), SPEC)


def test_images_shard_on_a_delphes_file(tmp_path: Path) -> None:
    config = make_config(tmp_path, images={"n_eta": 32, "n_phi": 48, "eta_max": 5.0})
    events = random_events(14, 25)
    detector = write_delphes(tmp_path / "shard.root", events)
    result = images_shard(config, "JZ4", 0, detector)
    assert result.path == tmp_path / "images/JZ4/0.h5"
    spec = ImageSpec(32, 48, 5.0)
    shard = read_shard_images(result.path, spec)
    dense = shard.images.dense(spec)
    assert dense.shape == (25, 3, 32, 48)
    assert shard.event_number.tolist() == list(range(25))
    np.testing.assert_array_equal(dense, event_images(events["Tower"], events["Track"], spec))
    # Only the filled pixels are stored.
    assert len(shard.images.pixel) == np.count_nonzero(dense)
    some = np.array([3, 0, 24])
    np.testing.assert_array_equal(shard.images.dense(spec, some), dense[some])
    with h5py.File(result.path) as h5:
        assert list(h5.attrs["channels"]) == list(CHANNELS)
        assert h5["value"].compression == "lzf"
    with pytest.raises(InputFileError, match=r"shape \(3, 32, 48\), but the config asks for"):
        read_shard_images(result.path, ImageSpec())
