"""The training, validation and test splits: one event assignment for every model.

Each event is identified by (sample, event number). A keyed 64-bit hash of that pair, seeded
from the config's ``seed``, gives every event a random sort key; all events of all samples,
ordered by that key, are a seeded random permutation, and its first ``train`` fraction is the
training split, the next ``val`` fraction the validation split and the rest the test split,
each in permuted order. Images, features and graphs are written in that order, so row i of
``images/train.h5``, ``features/train.parquet`` and ``graphs/train.h5`` is the same event.

Because the key depends only on the seed and the event's identity, not on which other files
are present, the assignment is reproducible from any subset of the inputs; adding a sample
moves only the events whose keys fall near the split boundaries.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hepdl.errors import ConfigError
from hepdl.io.layout import SPLITS
from hepdl.seeds import splitmix64

__all__ = ["SplitAssignment", "assign_splits", "event_keys", "split_fractions"]

#: Stable integer for the purpose "split assignment" in the seed sequence.
_SPLIT_PURPOSE = 0x5B1175


def split_fractions(config: Mapping[str, Any]) -> dict[str, float]:
    """The split fractions of a validated config, checked to add up to 1.

    Raises:
        ConfigError: naming ``splits`` if the fractions do not add up to 1.
    """
    fractions = {name: float(config["splits"][name]) for name in SPLITS}
    if not math.isclose(sum(fractions.values()), 1.0, abs_tol=1e-9):
        raise ConfigError(
            "splits",
            f"fractions {fractions} add up to {sum(fractions.values()):.6g}; expected 1",
        )
    return fractions


def event_keys(seed: int, sample: str, event_number: ArrayLike) -> NDArray[np.uint64]:
    """The random sort key of each event of one sample.

    Args:
        seed: The config's global seed.
        sample: The sample name.
        event_number: The events' numbers within the sample (non-negative integers).

    Returns:
        One uint64 key per event, a keyed hash of (seed, sample, event number).
    """
    entropy = [seed, _SPLIT_PURPOSE, zlib.crc32(sample.encode())]
    key = np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0]
    numbers = np.asarray(event_number, dtype=np.int64).astype(np.uint64)
    return splitmix64(splitmix64(numbers ^ key))


@dataclass(frozen=True)
class SplitAssignment:
    """Where every event of the input goes.

    The inputs are a list of per-shard tables; event j of input table t is global event
    ``offsets[t] + j``.

    Attributes:
        order: Per split, the global indices of its events in the order they are written.
        offsets: Start of each input table in the global event index (length tables + 1).
    """

    order: dict[str, NDArray[np.int64]]
    offsets: NDArray[np.int64]

    def sizes(self) -> dict[str, int]:
        """Number of events per split."""
        return {name: len(index) for name, index in self.order.items()}

    def locate(self, split: str) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """For each event of ``split`` in written order: its input table and its row there."""
        index = self.order[split]
        table = np.searchsorted(self.offsets, index, side="right") - 1
        return table.astype(np.int64), (index - self.offsets[table]).astype(np.int64)


def assign_splits(
    seed: int,
    fractions: Mapping[str, float],
    samples: Sequence[str],
    event_numbers: Sequence[ArrayLike],
) -> SplitAssignment:
    """Assign the events of several input tables to the splits.

    Args:
        seed: The config's global seed.
        fractions: Fraction per split name of :data:`hepdl.io.layout.SPLITS`, adding up to 1.
        samples: The sample of each input table.
        event_numbers: The event numbers of each input table, row by row.

    Returns:
        The assignment; split sizes are round(fraction x N), the test split takes the rest.

    Raises:
        ValueError: if an event (sample, event number) appears twice.
    """
    numbers = [np.asarray(n, dtype=np.int64).reshape(-1) for n in event_numbers]
    lengths = np.array([len(n) for n in numbers], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    total = int(offsets[-1])
    keys = np.concatenate(
        [event_keys(seed, s, n) for s, n in zip(samples, numbers, strict=True)]
        or [np.zeros(0, np.uint64)]
    )
    # Ties (same sample and event number twice, or a 2^-64 coincidence) are broken by the
    # input order, so the permutation is fully determined; true duplicates are an error.
    permutation = np.argsort(keys, kind="stable").astype(np.int64)
    sorted_keys = keys[permutation]
    if total > 1 and np.any(sorted_keys[1:] == sorted_keys[:-1]):
        sample_code = np.repeat(np.array([zlib.crc32(s.encode()) for s in samples]), lengths)
        pairs = np.stack([sample_code, np.concatenate(numbers or [np.zeros(0, np.int64)])], 1)
        if len(np.unique(pairs, axis=0)) < total:
            raise ValueError("the same (sample, event number) appears in two inputs")
    n_train = round(fractions["train"] * total)
    n_val = min(round(fractions["val"] * total), total - n_train)
    bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val)}
    bounds["test"] = (n_train + n_val, total)
    order = {name: permutation[low:high] for name, (low, high) in bounds.items()}
    return SplitAssignment(order=order, offsets=offsets)
