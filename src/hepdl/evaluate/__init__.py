"""Scoring the test split and measuring every classifier against the cut-based benchmark.

- :mod:`hepdl.evaluate.predict`: ``hepdl predict``, test-split scores of one model (Parquet).
- :mod:`hepdl.evaluate.metrics`: weighted ROC curves, AUC, signal efficiency at the benchmark's
  background efficiency, significance gain, bootstrap uncertainties.
- :mod:`hepdl.evaluate.plots`: ROC, score distributions, CNN score vs M_J and N_jet (mplhep).
- :mod:`hepdl.evaluate.stage`: ``hepdl evaluate``, ``metrics.json``, summary table and plots.
- :mod:`hepdl.evaluate.robustness`: the trained models on other mass points and with pile-up.
"""

from __future__ import annotations

__all__: list[str] = []
