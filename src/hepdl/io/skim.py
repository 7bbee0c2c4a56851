"""The skim record ``{results}/features/skim.json``: per sample, its events before the skim.

Written by the features merge (:func:`hepdl.reco.merge.skim_record`, :mod:`hepdl.reco.merge`),
read by the evaluation: the denominator of every efficiency quoted relative to all generated
events, and the cut-flow's first rows.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hepdl.errors import InputFileError

__all__ = ["SKIM_STEPS", "read_skim"]

#: Per-sample counts of the record, raw (``n_*``) and weighted (``weight_*``, ``weight2_*``).
SKIM_STEPS = ("generated", "baseline", "signal_region")


def read_skim(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """The skim record written by the features merge.

    Raises:
        InputFileError: naming the file, if it is missing or not a skim record.
    """
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
        samples = record["samples"]
        for entry in samples.values():
            for step in SKIM_STEPS:
                float(entry[f"weight_{step}"]), int(entry[f"n_{step}"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise InputFileError(path, f"not a skim record ({err}); rerun the features merge") from None
    return dict(samples)
