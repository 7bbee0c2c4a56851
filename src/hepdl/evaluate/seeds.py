"""Errors that include training: a model's metrics over its seed replicas.

A model trained with ``train.seeds`` = n seeds has n replicas (:mod:`hepdl.train.settings`),
each evaluated on the same test events with its own bootstrap error. The model's number is the
mean over seeds; its errors, apart and combined:

- ``seed_spread``: the standard deviation over seeds (ddof 1), the training's own scatter;
- ``bootstrap_err``: the mean of the replicas' bootstrap errors, the test sample's statistics;
- ``total_err``: both in quadrature. The two are not independent (every replica sees the same
  test events, so the spread over seeds holds no test-sample fluctuation), so adding them is
  the conservative combination.

With one seed the spread is not measured; a config may state the spread measured once with
more seeds (``evaluate.seed_spread``), and it is then quoted as such (``seed_spread_source``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from hepdl.train.settings import base_model

__all__ = ["SEED_KEYS", "combine_seeds", "group_replicas", "spread_text"]

#: The metrics combined over seeds.
SEED_KEYS = ("auc", "tpr_at_benchmark_fpr", "significance_gain")


def group_replicas(names: list[str]) -> dict[str, list[str]]:
    """Model name -> its replica names, in the given order (the nominal first)."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(base_model(name), []).append(name)
    return groups


def combine_seeds(
    replicas: Mapping[str, Mapping[str, Any]], stated_spread: float | None = None
) -> dict[str, Any]:
    """One model's metrics over its replicas (name -> that replica's bootstrap metrics).

    Args:
        replicas: Per replica, its metrics with ``{key}`` and ``{key}_err`` for
            :data:`SEED_KEYS`; the first is the nominal training.
        stated_spread: The seed spread of ``tpr_at_benchmark_fpr`` measured once, for a
            single seed.

    Returns:
        Per key of :data:`SEED_KEYS`: the mean ``{key}``, ``{key}_seed_spread``,
        ``{key}_bootstrap_err``, ``{key}_err`` (combined) and ``{key}_per_seed``; ``seeds``;
        ``seed_spread_source`` (``measured``, ``stated`` or ``none``).
    """
    values = list(replicas.values())
    combined: dict[str, Any] = {"seeds": len(values), "replicas": list(replicas)}
    for key in SEED_KEYS:
        per_seed = [v.get(key) for v in values]
        finite = np.array([x for x in per_seed if x is not None and math.isfinite(x)], dtype=float)
        errors = [v.get(f"{key}_err") for v in values]
        known = [e for e in errors if e is not None]
        mean = float(finite.mean()) if len(finite) else None
        spread = float(finite.std(ddof=1)) if len(finite) > 1 else None
        bootstrap = float(np.mean(known)) if known else None
        combined[key] = mean
        combined[f"{key}_per_seed"] = per_seed
        combined[f"{key}_seed_spread"] = spread
        combined[f"{key}_bootstrap_err"] = bootstrap
        parts = [e for e in (spread, bootstrap) if e is not None]
        combined[f"{key}_err"] = math.hypot(*parts) if parts else None
    source = "measured" if len(values) > 1 else "none"
    if len(values) == 1 and stated_spread is not None:
        key = "tpr_at_benchmark_fpr"
        combined[f"{key}_seed_spread"] = float(stated_spread)
        parts = [e for e in (stated_spread, combined[f"{key}_bootstrap_err"]) if e is not None]
        combined[f"{key}_err"] = math.hypot(*parts)
        source = "stated"
    combined["seed_spread_source"] = source
    return combined


def spread_text(metrics: Mapping[str, Any]) -> str:
    """A model's seed spread as the tables show it: ``0.049 (3 seeds)``, ``0.090 (measured
    once)`` for a stated one, or "" where none was measured."""
    spread = metrics.get("tpr_at_benchmark_fpr_seed_spread")
    if spread is None:
        return ""
    if metrics.get("seed_spread_source") == "stated":
        return f"{spread:.3f} (measured once)"
    return f"{spread:.3f} ({metrics.get('seeds')} seeds)"
