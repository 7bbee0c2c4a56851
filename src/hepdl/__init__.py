"""hepdl: whole-detector deep learning for collider physics, as one reproducible pipeline.

Stages (each a ``hepdl`` sub-command and a Snakemake rule; docs/stages.md maps the two):

- :mod:`hepdl.generate`: Pythia 8 events, RPV gluino signal and QCD pT-hat slices (``generate``,
  ``xsec``).
- :mod:`hepdl.detector`: the Delphes-card fast simulation and the real-Delphes backend
  (``simulate``, ``validate-detector``).
- :mod:`hepdl.reco`: large-R jet variables, the cut-based benchmark, the split assignment and the
  merges (``features``, ``merge``).
- :mod:`hepdl.images`, :mod:`hepdl.graphs`: eta-phi detector images and event graphs.
- :mod:`hepdl.models`, :mod:`hepdl.train`: networks, data modules and training (``train``).
- :mod:`hepdl.evaluate`: predictions, weighted ROC metrics, robustness, plots (``predict``,
  ``evaluate``, ``robustness``).
- :mod:`hepdl.gan`: GANs generating the signal images, conditional on the masses, validated by jets.
- :mod:`hepdl.plots`: input plots for the report (``plot-inputs``).

Shared pieces, which any stage may import:

- :mod:`hepdl.io`: the files between stages. :mod:`hepdl.io.layout` names every path of the
  results folder (stages and rules alike); :mod:`hepdl.io.splits` reads the split files, one
  reader per format; the event, detector and feature files and the skim record have theirs.
- :mod:`hepdl.jets`: anti-kt and trimmed large-R jets (FastJet), for the detector and the GANs.
- :mod:`hepdl.config`: loading and validating the configuration.
- :mod:`hepdl.samples`: samples, shards and seeds; :mod:`hepdl.seeds`: model seeds, SplitMix64.
- :mod:`hepdl.weights`: cross-section x luminosity event weights.
- :mod:`hepdl.errors`: the errors reported to users; :mod:`hepdl.extras`: optional imports.
- :mod:`hepdl.streams`: C++ libraries' printing sent to standard error.
- :mod:`hepdl.lazy`: the packages' ``__getattr__`` that imports a submodule on first use.
- :mod:`hepdl.cluster`: Snakemake profiles for Slurm clusters.

Import rules: a stage reaches another stage's files through :mod:`hepdl.io` only, never
through the other stage; the few stage-to-stage imports left are shared code (the skim's
events and split assignment, the training machinery the GANs reuse, one scoring API for the
evaluation), listed in tests/test_imports.py and docs/development.md. Package ``__init__`` s
import their submodules on first use (:mod:`hepdl.lazy`).
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
