"""Plots of the inputs for the report (``hepdl plot-inputs``).

- :mod:`~hepdl.plots.inputs`: mean and single-event images, jet variables with the cut values.
"""

from __future__ import annotations

__all__: list[str] = []
