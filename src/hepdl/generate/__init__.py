"""Event generation with Pythia 8 (``hepdl generate``).

- :mod:`~hepdl.generate.slha`: the minimal SLHA spectrum of the RPV gluino signal.
- :mod:`~hepdl.generate.pythia`: Pythia settings per process, initialisation, output routing.
- :mod:`~hepdl.generate.particles`: final-state particle arrays from Pythia's batch record.
- :mod:`~hepdl.generate.events`: batched generation and pile-up overlay.
- :mod:`~hepdl.generate.stage`: one shard from config to Parquet file.
- :mod:`~hepdl.generate.xsec`: per-sample cross-section from the shards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hepdl.lazy import lazy_exports

if TYPE_CHECKING:
    from hepdl.generate.stage import ShardResult, generate_shard
    from hepdl.generate.xsec import combine_shards

__all__ = ["ShardResult", "combine_shards", "generate_shard"]

#: The submodule of each public name: imported on first use, so that importing the package (or
#: one of its light submodules) loads nothing heavy it does not need.
_HOMES = {"ShardResult": "stage", "combine_shards": "xsec", "generate_shard": "stage"}


__getattr__ = lazy_exports(__name__, _HOMES)
