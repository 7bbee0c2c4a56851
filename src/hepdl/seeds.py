"""Seeds derived from the config's global ``seed``, and SplitMix64, the one integer hash behind
hepdl's counter-based randomness.

:func:`model_seed` gives each trained model (classifier, seed replica or GAN) its own seed.

Two stages need random numbers that do not depend on how events are sharded or batched: the
detector response (:mod:`hepdl.detector.rng`, keyed by event number and object index) and the
split assignment (:mod:`hepdl.reco.assign_splits`, a random sort key per event). Both hash
64-bit counters with SplitMix64 (Steele, Lea and Flood, OOPSLA 2014): a bijection of 64-bit
integers with full avalanche, so neighbouring counters give independent-looking numbers.
Everything wraps modulo 2^64 and is vectorised over numpy arrays.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["GOLDEN_GAMMA", "model_seed", "splitmix64", "splitmix64_mix"]

#: SplitMix64's increment, 2^64 / the golden ratio, odd.
GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)

_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_SHIFTS = (np.uint64(30), np.uint64(27), np.uint64(31))


def splitmix64_mix(values: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """SplitMix64's finaliser (the "mix" of a state already advanced by the caller)."""
    with np.errstate(over="ignore"):
        values = (values ^ (values >> _SHIFTS[0])) * _MIX_1
        values = (values ^ (values >> _SHIFTS[1])) * _MIX_2
        mixed: NDArray[np.uint64] = values ^ (values >> _SHIFTS[2])
    return mixed


def splitmix64(values: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """One SplitMix64 step of each state: advanced by :data:`GOLDEN_GAMMA`, then mixed."""
    with np.errstate(over="ignore"):
        advanced = values + GOLDEN_GAMMA
    return splitmix64_mix(advanced)


def model_seed(config: Mapping[str, Any], model: str) -> int:
    """The seed of one model's training: the global seed mixed with the model name."""
    return (int(config["seed"]) * 1_000_003 + zlib.crc32(model.encode())) % 2**32
