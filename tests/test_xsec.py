"""Combining shard cross-sections into a sample's xsec.json."""

from __future__ import annotations

import math
from typing import Any

import pytest

from hepdl.errors import InputFileError
from hepdl.generate.xsec import combine_shards


def shard(index: int, sigma: float, error: float, accepted: int, **extra: Any) -> dict[str, Any]:
    return {
        "sample": "JZ4",
        "shard": index,
        "label": 0,
        "definition": {"process": "qcd", "pthat_min_gev": 400, "pthat_max_gev": 800},
        "sigma_pb": sigma,
        "sigma_err_pb": error,
        "n_accepted": accepted,
        "n_tried": 3 * accepted,
        "n_events": accepted,
        "sum_weights": float(accepted),
        "seed": 100 + index,
        "pythia_version": "8.317",
        **extra,
    }


def test_accepted_weighted_mean_and_quadrature_error() -> None:
    xsec = combine_shards([shard(1, 2100.0, 30.0, 100), shard(0, 1900.0, 20.0, 300)])
    assert xsec["sigma_pb"] == pytest.approx((100 * 2100 + 300 * 1900) / 400)
    assert xsec["sigma_err_pb"] == pytest.approx(math.hypot(100 * 30, 300 * 20) / 400)
    assert xsec["n_events"] == 400
    assert xsec["sum_weights"] == 400.0
    assert [s["shard"] for s in xsec["shards"]] == [0, 1]


def test_identical_shards_give_the_shard_value_with_smaller_error() -> None:
    xsec = combine_shards([shard(k, 1997.0, 40.0, 50) for k in range(4)])
    assert xsec["sigma_pb"] == pytest.approx(1997.0)
    assert xsec["sigma_err_pb"] == pytest.approx(20.0)


def test_mixing_samples_is_refused() -> None:
    other = shard(1, 1.0, 0.1, 10, sample="JZ5")
    with pytest.raises(InputFileError, match="different samples"):
        combine_shards([shard(0, 1.0, 0.1, 10), other])
