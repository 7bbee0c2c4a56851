"""hepdl: whole-detector deep learning for collider physics, as one reproducible pipeline.

Stages (each a ``hepdl`` sub-command and a Snakemake rule):

- :mod:`hepdl.generate`: Pythia 8 events, RPV gluino signal and QCD pT-hat slices.
- :mod:`hepdl.detector`: the Delphes-card fast simulation and the real-Delphes backend.
- :mod:`hepdl.reco`: large-R jet variables, the cut-based benchmark, the train/val/test splits.
- :mod:`hepdl.images`, :mod:`hepdl.graphs`: eta-phi detector images and event graphs.
- :mod:`hepdl.models`, :mod:`hepdl.train`: networks, data modules and training.
- :mod:`hepdl.evaluate`: predictions, weighted ROC metrics, robustness, plots.
- :mod:`hepdl.gan`: GANs generating the signal images, conditional on the masses, validated by jets.
- :mod:`hepdl.plots`: input plots for the report.

Shared pieces:

- :mod:`hepdl.config`: loading and validating the configuration.
- :mod:`hepdl.samples`: samples, shards and seeds.
- :mod:`hepdl.weights`: cross-section x luminosity event weights.
- :mod:`hepdl.io`: the files passed between stages.
- :mod:`hepdl.errors`: the errors reported to users.
- :mod:`hepdl.cluster`: Snakemake profiles for Slurm clusters.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
