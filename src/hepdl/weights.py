"""Event weights: the one function every stage uses to normalise samples to a luminosity.

An event of a sample with cross-section sigma, generated with generator weight w_i among
events whose weights sum to sum(w), stands for

    weight_i = sigma x L x w_i / sum(w)

events in a data set of integrated luminosity L. For unweighted generation (w_i = 1) this is
sigma x L / N; for the pT-hat-biased QCD sample the generator weights undo the bias.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["FB_INV_TO_PB_INV", "event_weights", "sample_event_weights"]

#: 1 fb^-1 = 1000 pb^-1.
FB_INV_TO_PB_INV = 1.0e3


def event_weights(
    generator_weight: ArrayLike,
    *,
    sigma_pb: float,
    luminosity_ifb: float,
    sum_generator_weights: float,
) -> NDArray[np.float64]:
    """Expected number of events each generated event stands for.

    Args:
        generator_weight: Per-event generator weights w_i (any shape).
        sigma_pb: The sample's cross-section in pb.
        luminosity_ifb: Integrated luminosity in fb^-1.
        sum_generator_weights: Sum of w_i over the whole sample (all shards).

    Returns:
        sigma x L x w_i / sum(w), dimensionless, as float64.
    """
    if not (np.isfinite(sigma_pb) and sigma_pb >= 0):
        msg = f"cross-section must be finite and non-negative, got {sigma_pb} pb"
        raise ValueError(msg)
    if not (np.isfinite(luminosity_ifb) and luminosity_ifb > 0):
        msg = f"luminosity must be finite and positive, got {luminosity_ifb} fb^-1"
        raise ValueError(msg)
    if not (np.isfinite(sum_generator_weights) and sum_generator_weights != 0):
        msg = f"sum of generator weights must be finite and non-zero, got {sum_generator_weights}"
        raise ValueError(msg)
    weights = np.asarray(generator_weight, dtype=np.float64)
    return sigma_pb * luminosity_ifb * FB_INV_TO_PB_INV * weights / sum_generator_weights


def sample_event_weights(
    generator_weight: ArrayLike, xsec: dict[str, Any], luminosity_ifb: float
) -> NDArray[np.float64]:
    """:func:`event_weights` with the sample's ``xsec.json`` record supplying sigma and sum(w)."""
    return event_weights(
        generator_weight,
        sigma_pb=xsec["sigma_pb"],
        luminosity_ifb=luminosity_ifb,
        sum_generator_weights=xsec["sum_weights"],
    )
