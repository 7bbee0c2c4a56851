"""Samples, shard sizes and seeds."""

from __future__ import annotations

import pytest

from hepdl.errors import ConfigError
from hepdl.samples import PYTHIA_MAX_SEED, Sample, shard_seed


def test_shard_sizes_add_up_and_differ_by_at_most_one() -> None:
    sample = Sample(name="JZ4", process="qcd", events=103, shards=10)
    sizes = [sample.shard_events(k) for k in range(10)]
    assert sum(sizes) == 103
    assert max(sizes) - min(sizes) <= 1


def test_unknown_shard_is_a_config_error() -> None:
    sample = Sample(name="JZ4", process="qcd", events=10, shards=2)
    with pytest.raises(ConfigError, match="shard 2 does not exist"):
        sample.shard_events(2)


def test_labels() -> None:
    assert Sample(name="S", process="rpv_gluino", events=1, shards=1).label == 1
    assert Sample(name="B", process="qcd", events=1, shards=1).label == 0


def test_masses_of_signal_and_their_absence_in_background() -> None:
    signal = Sample(
        name="S",
        process="rpv_gluino",
        events=1,
        shards=1,
        m_gluino_gev=1400.0,
        m_neutralino_gev=850.0,
    )
    assert signal.masses() == (1400.0, 850.0)
    with pytest.raises(ConfigError, match=r"samples\.B"):
        Sample(name="B", process="qcd", events=1, shards=1).masses()


def test_seeds_are_deterministic_distinct_and_in_pythia_range() -> None:
    seeds = {
        shard_seed(7, sample, shard, stream)
        for sample in ("JZ3", "JZ4", "RPV_1400_850")
        for shard in range(50)
        for stream in ("hard", "pileup")
    }
    assert len(seeds) == 3 * 50 * 2
    assert all(1 <= seed <= PYTHIA_MAX_SEED for seed in seeds)
    assert shard_seed(7, "JZ4", 3) == shard_seed(7, "JZ4", 3)
    assert shard_seed(7, "JZ4", 3) != shard_seed(8, "JZ4", 3)
