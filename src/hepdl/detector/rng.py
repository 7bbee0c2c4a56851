"""Counter-based random numbers: one reproducible number per (stream, event, object).

The detector response of an event must not depend on which shard the event lands in, on the
batch it is processed in, or on the order of the operations. A sequential generator cannot
promise that; a counter-based one can: every random number is a hash of the sample's detector
seed, a stream name (what the number is for), the event number and the index of the object
inside the event (a particle, a tower). The hash is SplitMix64's finaliser (:mod:`hepdl.seeds`), a bijection of 64-bit
integers with full avalanche, so nearby counters give independent-looking numbers. Everything is
vectorised over numpy arrays.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hepdl.samples import shard_seed
from hepdl.seeds import GOLDEN_GAMMA, splitmix64_mix

__all__ = ["CounterRNG", "detector_seed"]

_OBJECT_OFFSET = np.uint64(0x632BE59BD9B4E019)
_MANTISSA_SHIFT = np.uint64(11)
_TO_UNIT = 2.0**-53


def detector_seed(config: dict[str, Any], sample: str) -> int:
    """The detector seed of ``sample``, derived from the config's global seed.

    One seed per sample (the ``shard`` argument of :func:`~hepdl.samples.shard_seed` is 0 by
    convention): the random numbers are keyed by event number, so an event's detector response
    is the same however the sample is sharded.
    """
    return shard_seed(config["seed"], sample, 0, stream="detector")


class CounterRNG:
    """Uniform and normal random numbers keyed by (stream, event number, object index).

    Args:
        seed: The sample's detector seed (:func:`detector_seed`).
    """

    def __init__(self, seed: int) -> None:
        self._seed = np.uint64(seed)

    def _stream_key(self, stream: str) -> np.uint64:
        key = np.array([self._seed ^ (np.uint64(zlib.crc32(stream.encode())) << np.uint64(32))])
        return np.uint64(splitmix64_mix(key)[0])

    def bits(self, stream: str, event: NDArray[Any], index: NDArray[Any]) -> NDArray[np.uint64]:
        """64 random bits per (event, index) pair of ``stream``.

        Args:
            stream: What the numbers are for, e.g. ``"ecal/energy"``.
            event: Event numbers (integers, broadcast against ``index``).
            index: Object indices inside each event (integers >= 0).
        """
        event_u = np.asarray(event).astype(np.uint64)
        index_u = np.asarray(index).astype(np.uint64)
        per_event = splitmix64_mix(event_u * GOLDEN_GAMMA + self._stream_key(stream))
        return splitmix64_mix(per_event ^ (index_u * GOLDEN_GAMMA + _OBJECT_OFFSET))

    def uniform(self, stream: str, event: NDArray[Any], index: NDArray[Any]) -> NDArray[np.float64]:
        """Uniform numbers in [0, 1), one per (event, index) pair."""
        return (self.bits(stream, event, index) >> _MANTISSA_SHIFT).astype(np.float64) * _TO_UNIT

    def normal(self, stream: str, event: NDArray[Any], index: NDArray[Any]) -> NDArray[np.float64]:
        """Standard-normal numbers (Box-Muller), one per (event, index) pair."""
        radius = np.sqrt(-2.0 * np.log1p(-self.uniform(f"{stream}/radius", event, index)))
        angle = 2.0 * np.pi * self.uniform(f"{stream}/angle", event, index)
        return radius * np.cos(angle)

    def lognormal(
        self,
        stream: str,
        event: NDArray[Any],
        index: NDArray[Any],
        mean: NDArray[np.float64],
        sigma: NDArray[np.float64],
    ) -> NDArray[np.float64]:
        """Log-normal numbers with the given mean and standard deviation (as Delphes smears).

        A log-normal keeps energies positive and has exactly the requested mean and width;
        entries with ``mean <= 0`` give 0.
        """
        positive = mean > 0
        safe_mean = np.where(positive, mean, 1.0)
        width = np.sqrt(np.log1p((sigma / safe_mean) ** 2))
        location = np.log(safe_mean) - 0.5 * width**2
        drawn = np.exp(location + width * self.normal(stream, event, index))
        return np.where(positive, drawn, 0.0)
