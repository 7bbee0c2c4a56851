"""Event weights: sigma x luminosity x w_i / sum(w)."""

from __future__ import annotations

import numpy as np
import pytest

from hepdl.weights import event_weights, sample_event_weights


def test_unweighted_sample_gives_sigma_lumi_over_n() -> None:
    weights = event_weights(
        np.ones(400), sigma_pb=1997.0, luminosity_ifb=36.0, sum_generator_weights=400
    )
    np.testing.assert_allclose(weights, 1997.0 * 36_000.0 / 400)


def test_weights_sum_to_expected_event_count_for_biased_generation() -> None:
    rng = np.random.default_rng(1)
    generator = rng.exponential(size=1000)
    weights = event_weights(
        generator, sigma_pb=0.01436, luminosity_ifb=36.0, sum_generator_weights=generator.sum()
    )
    assert weights.sum() == pytest.approx(0.01436 * 36_000.0)
    np.testing.assert_allclose(weights / generator, weights[0] / generator[0])


def test_shards_weighted_with_the_sample_sum_add_up() -> None:
    shard_a, shard_b = np.full(30, 2.0), np.full(10, 2.0)
    xsec = {"sigma_pb": 10.0, "sum_weights": 80.0}
    total = (
        sample_event_weights(shard_a, xsec, 1.0).sum()
        + sample_event_weights(shard_b, xsec, 1.0).sum()
    )
    assert total == pytest.approx(10.0 * 1000.0)


@pytest.mark.parametrize(
    ("sigma", "lumi", "total", "match"),
    [
        (-1.0, 36.0, 1.0, "cross-section"),
        (float("nan"), 36.0, 1.0, "cross-section"),
        (1.0, 0.0, 1.0, "luminosity"),
        (1.0, 36.0, 0.0, "sum of generator weights"),
    ],
)
def test_bad_inputs(sigma: float, lumi: float, total: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        event_weights([1.0], sigma_pb=sigma, luminosity_ifb=lumi, sum_generator_weights=total)
