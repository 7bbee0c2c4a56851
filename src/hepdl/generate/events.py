"""Generating batches of events from an initialised Pythia, with optional pile-up overlay."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import awkward as ak
import numpy as np

from hepdl.errors import GenerationError
from hepdl.generate.bindings import pythia8
from hepdl.generate.particles import ChargeTable, final_state_particles

__all__ = ["HardEvents", "PileupOverlay", "generate_batches"]

#: Give up when Pythia returns nothing for this many consecutive requests.
_MAX_EMPTY_BATCHES = 10


def generate_batches(
    pythia: pythia8.Pythia, n_events: int, batch_size: int, context: str
) -> Iterator[ak.Array]:
    """Yield ``nextBatch`` records until ``n_events`` events have been produced.

    Failed events are skipped by Pythia and asked for again, so exactly ``n_events`` come out.
    """
    produced = empty = 0
    while produced < n_events:
        batch = pythia.nextBatch(min(batch_size, n_events - produced), "skip")
        if len(batch) == 0:
            empty += 1
            if empty >= _MAX_EMPTY_BATCHES:
                msg = f"{context}: Pythia produced no event in {empty} tries (see the log)"
                raise GenerationError(msg)
            continue
        empty = 0
        produced += len(batch)
        yield batch


@dataclass(frozen=True)
class HardEvents:
    """Final-state particles and generator weights of one batch of hard-process events."""

    particles: ak.Array
    weight: np.ndarray

    @classmethod
    def from_batch(cls, batch: ak.Array, charge: ChargeTable) -> HardEvents:
        """Extract from a ``nextBatch`` record; the weight is Pythia's nominal one."""
        weight = ak.to_numpy(batch["info"]["weights"][:, 0]).astype(np.float64)
        return cls(final_state_particles(batch, charge, pileup=False), weight)


class PileupOverlay:
    """Adds Poisson(mu) minimum-bias interactions to each event, flagged ``pileup = True``.

    Args:
        pythia: An initialised minimum-bias (SoftQCD:inelastic) generator.
        mu: Mean number of interactions overlaid per event.
        rng: Draws the number of interactions per event.
        batch_size: Minimum-bias events per ``nextBatch`` call.
        context: Sample and shard, for error messages.
    """

    def __init__(
        self,
        pythia: pythia8.Pythia,
        mu: float,
        rng: np.random.Generator,
        batch_size: int,
        context: str,
    ) -> None:
        self._pythia = pythia
        self._mu = mu
        self._rng = rng
        self._batch_size = batch_size
        self._context = context
        self._charge = ChargeTable(pythia.particleData)

    def __call__(self, particles: ak.Array) -> tuple[ak.Array, np.ndarray]:
        """Return the events with pile-up particles appended, and the interactions per event."""
        n_events = len(particles)
        n_pileup = self._rng.poisson(self._mu, size=n_events).astype(np.int32)
        total = int(n_pileup.sum())
        if total == 0:
            return particles, n_pileup
        minbias = ak.concatenate(
            [
                final_state_particles(batch, self._charge, pileup=True)
                for batch in generate_batches(self._pythia, total, self._batch_size, self._context)
            ]
        )
        owner = np.repeat(np.arange(n_events), n_pileup)
        per_event = np.bincount(owner, weights=ak.to_numpy(ak.num(minbias)), minlength=n_events)
        grouped = ak.unflatten(ak.flatten(minbias), per_event.astype(np.int64))
        return ak.concatenate([particles, grouped], axis=1), n_pileup
