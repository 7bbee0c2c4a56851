"""Training the classifiers: data, Lightning modules, checkpoints and the ``train`` stages.

- :mod:`hepdl.train.settings`: which models a config trains, their files and seeds.
- :mod:`hepdl.train.balance`: training weights, the classes balanced (files: :mod:`hepdl.io.splits`).
- :mod:`hepdl.train.datamodules`: Lightning DataModules streaming the splits in batches.
- :mod:`hepdl.train.graph_data`: the graph splits, batched as torch-geometric does.
- :mod:`hepdl.train.modules`: Lightning modules (weighted BCE, Adam) holding the networks.
- :mod:`hepdl.train.checkpoint`: atomic checkpoints, weights-only loading, architecture checks.
- :mod:`hepdl.train.trainer`: the Trainer from the config; fit, resume, export.
- :mod:`hepdl.train.costs`: parameters, time per step and memory per batch (``costs.json``).
- :mod:`hepdl.train.cnn`, :mod:`hepdl.train.mlp`, :mod:`hepdl.train.gbdt`,
  :mod:`hepdl.train.gnn`: the stages ``train cnn``, ``train mlp`` / ``train cnn_jets``,
  ``train gbdt`` and ``train gnn``.
- :mod:`hepdl.train.score`: logits of a trained network on a split file.
"""

from __future__ import annotations

__all__: list[str] = []
