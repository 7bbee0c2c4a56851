"""Training weights of a split: the physical weights, rebalanced so that the classes carry
equal total weight (the split files themselves are read by :mod:`hepdl.io.splits`)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hepdl.errors import InputFileError

__all__ = ["balanced_weights"]

log = logging.getLogger(__name__)


def balanced_weights(
    weight: NDArray[np.float64],
    label: NDArray[np.integer[Any]],
    source: object,
    *,
    require_both: bool = True,
    sample: NDArray[np.str_] | None = None,
) -> NDArray[np.float32]:
    """Training weights: physical weights with signal and background each summing to N/2.

    The classes then carry equal total weight (the classifier learns the likelihood ratio up to
    a constant) and the mean weight is 1, so a weighted mean loss has the scale of an unweighted
    one.

    Args:
        weight: Physical event weights.
        label: 1 signal, 0 background.
        source: The file they came from, for messages.
        require_both: Fail if a class is absent (training); otherwise (a tiny validation split)
            the class present gets its N/2 alone.
        sample: Per event, its sample: if given, every background sample is first scaled to
            the same total weight (``train.background_weights: per_sample``).

    Raises:
        InputFileError: naming ``source``, if a needed class is absent or has no positive total
            weight, or a weight is negative or not finite.
    """
    weight = np.asarray(weight, dtype=np.float64)
    if not np.all(np.isfinite(weight)) or np.any(weight < 0):
        raise InputFileError(source, "event weights must be finite and non-negative")
    if sample is not None:
        weight = weight.copy()
        for name in np.unique(sample[label == 0]):
            mask = (sample == name) & (label == 0)
            total = weight[mask].sum()
            if total > 0:
                weight[mask] /= total
    out = np.empty(len(weight), dtype=np.float64)
    for cls, name in ((1, "signal"), (0, "background")):
        mask = label == cls
        total = weight[mask].sum()
        if not mask.any() and not require_both:
            log.warning("%s: no %s events; the validation loss sees one class only", source, name)
            continue
        if not mask.any() or total <= 0:
            raise InputFileError(
                source,
                f"no {name} events (label {cls}) with positive weight; a classifier "
                "needs both classes",
            )
        out[mask] = weight[mask] / total * (len(weight) / 2.0)
    return out.astype(np.float32)
