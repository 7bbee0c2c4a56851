"""hepdl: whole-detector deep learning for collider physics, as one reproducible pipeline.

Stages (each a ``hepdl`` sub-command and a Snakemake rule):

- :mod:`hepdl.generate`: Pythia 8 events, RPV gluino signal and QCD pT-hat slices.

Shared pieces:

- :mod:`hepdl.config`: loading and validating the configuration.
- :mod:`hepdl.samples`: samples, shards and seeds.
- :mod:`hepdl.weights`: cross-section x luminosity event weights.
- :mod:`hepdl.io`: the files passed between stages.
- :mod:`hepdl.errors`: the errors reported to users.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
