"""Hyper-parameter searches as DAG jobs (Optuna), and the CNN they find trained as ``cnn_hpo``.

- :mod:`hepdl.hpo.space`: the search spaces of the ``hpo`` block, checked with the config
  (no Optuna import);
- :mod:`hepdl.hpo.settings`: which studies a config runs, what each depends on, its files
  (no Optuna import: the Snakemake rules use it);
- :mod:`hepdl.hpo.study`: the study on Optuna's journal file storage, its sampler and pruner;
- :mod:`hepdl.hpo.callbacks`: per-epoch reporting and pruning, the validation signal efficiency;
- :mod:`hepdl.hpo.objective`: one trial: its config, its training, its score;
- :mod:`hepdl.hpo.worker`: ``hepdl hpo worker``, pulling trials until the study has enough;
- :mod:`hepdl.hpo.best`: ``hepdl hpo best`` (``best.yaml``) and the config of ``cnn_hpo``;
- :mod:`hepdl.hpo.report`: ``hepdl hpo report``, history and importances plots;
- :mod:`hepdl.hpo.cli`: the ``hepdl hpo`` sub-commands.

Optuna is the ``hpo`` extra: ``pip install -e ".[hpo]"``.
"""

from __future__ import annotations

__all__: list[str] = []
