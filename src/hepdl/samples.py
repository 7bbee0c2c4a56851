"""Samples and shards: the one place that turns the config's sample list into jobs.

A sample is a signal mass point or a QCD pT-hat slice; it is generated in ``shards`` files of
nearly equal size. Every shard gets its own seeds, derived from the global seed, the sample name
and the shard index, so shards are independent and the same config reproduces the same bytes.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from hepdl.errors import ConfigError

__all__ = ["PYTHIA_MAX_SEED", "Sample", "get_sample", "shard_seed"]

#: Pythia's Random:seed accepts 1..900000000 (0 would mean "seed from the clock").
PYTHIA_MAX_SEED = 900_000_000

SIGNAL_PROCESSES = frozenset({"rpv_gluino"})


@dataclass(frozen=True)
class Sample:
    """One sample of the config, with the process definition and its sharding.

    Attributes:
        name: The config key, used as the ``{sample}`` wildcard.
        process: ``rpv_gluino``, ``qcd``, ``qcd_biased`` or ``minbias``.
        events: Events over all shards.
        shards: Number of files the sample is split into.
        pileup_mu: Mean number of overlaid minimum-bias events (0: none).
        m_gluino_gev: Gluino mass in GeV (signal only).
        m_neutralino_gev: Neutralino mass in GeV (signal only).
        pthat_min_gev: Lower pT-hat bound in GeV (QCD only).
        pthat_max_gev: Upper pT-hat bound in GeV (sliced QCD only).
        bias_power: Exponent of the pT-hat bias (biased QCD only).
    """

    name: str
    process: str
    events: int
    shards: int
    pileup_mu: float = 0.0
    m_gluino_gev: float | None = None
    m_neutralino_gev: float | None = None
    pthat_min_gev: float | None = None
    pthat_max_gev: float | None = None
    bias_power: float | None = None

    @classmethod
    def from_config(cls, name: str, spec: dict[str, Any]) -> Sample:
        """Build from one validated entry of ``config['samples']``."""
        return cls(name=name, **spec)

    @property
    def is_signal(self) -> bool:
        """True for the RPV SUSY signal, False for QCD and minimum bias."""
        return self.process in SIGNAL_PROCESSES

    @property
    def label(self) -> int:
        """Classification target: 1 for signal, 0 for background."""
        return int(self.is_signal)

    def masses(self) -> tuple[float, float]:
        """(gluino, neutralino) masses in GeV of a signal sample.

        Raises:
            ConfigError: if the sample lacks either mass (a background sample).
        """
        if self.m_gluino_gev is None or self.m_neutralino_gev is None:
            raise ConfigError(
                f"samples.{self.name}",
                f"process {self.process} has no m_gluino_gev and m_neutralino_gev",
            )
        return self.m_gluino_gev, self.m_neutralino_gev

    def shard_events(self, shard: int) -> int:
        """Events in ``shard``; the first ``events % shards`` shards take one more."""
        if not 0 <= shard < self.shards:
            raise ConfigError(
                f"samples.{self.name}.shards",
                f"shard {shard} does not exist; the sample has shards 0..{self.shards - 1}",
            )
        base, extra = divmod(self.events, self.shards)
        return base + (1 if shard < extra else 0)

    def definition(self) -> dict[str, Any]:
        """The physics definition (process, masses or pT-hat bounds) without sharding."""
        keys = ["process", "pileup_mu", "m_gluino_gev", "m_neutralino_gev"]
        keys += ["pthat_min_gev", "pthat_max_gev", "bias_power"]
        return {key: getattr(self, key) for key in keys if getattr(self, key) is not None}


def get_sample(config: dict[str, Any], name: str) -> Sample:
    """The sample called ``name`` in a validated config."""
    try:
        spec = config["samples"][name]
    except KeyError:
        known = ", ".join(sorted(config["samples"]))
        raise ConfigError("samples", f"no sample named '{name}'; the config has: {known}") from None
    return Sample.from_config(name, spec)


def shard_seed(global_seed: int, sample: str, shard: int, stream: str = "hard") -> int:
    """A Pythia seed for one random stream of one shard.

    Independent of how many samples or shards the config has, so adding a sample does not
    change the events of the others. ``stream`` separates generators used in the same shard
    (the hard process and the pile-up overlay).
    """
    entropy = [global_seed, zlib.crc32(sample.encode()), shard, zlib.crc32(stream.encode())]
    state = np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0]
    return int(state % PYTHIA_MAX_SEED) + 1
