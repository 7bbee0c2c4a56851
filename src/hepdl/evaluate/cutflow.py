"""The cut-flow: per sample, generated -> baseline (the skim) -> signal region, and the yields.

Built from the skim record of the features merge (:func:`hepdl.reco.merge.skim_record`), which
counts every generated event of every shard, so the cut-flow is that of the whole sample, not of
one split. Each step has its raw count, its weighted yield (expected events at the config's
luminosity, with the statistical error sqrt(sum w^2)) and its efficiency relative to the
generated events, weighted; the signal region also relative to the baseline. Two summary rows
add up the signal and the background samples of the headline (``train.samples``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hepdl.evaluate.tables import write_table

__all__ = ["cutflow_rows", "skim_efficiencies", "write_cutflow"]


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def _row(name: str, kind: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "sample": name,
        "kind": kind,
        "n_generated": int(entry["n_generated"]),
        "n_baseline": int(entry["n_baseline"]),
        "n_signal_region": int(entry["n_signal_region"]),
        "yield_generated": entry["weight_generated"],
        "yield_baseline": entry["weight_baseline"],
        "yield_baseline_err": math.sqrt(entry["weight2_baseline"]),
        "yield_signal_region": entry["weight_signal_region"],
        "yield_signal_region_err": math.sqrt(entry["weight2_signal_region"]),
        "eff_baseline": _ratio(entry["weight_baseline"], entry["weight_generated"]),
        "eff_signal_region": _ratio(entry["weight_signal_region"], entry["weight_generated"]),
        "eff_signal_region_of_baseline": _ratio(
            entry["weight_signal_region"], entry["weight_baseline"]
        ),
    }


def _sum(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    keys = [f"{k}_{s}" for k in ("n", "weight", "weight2") for s in ("generated", "baseline")]
    keys += ["n_signal_region", "weight_signal_region", "weight2_signal_region"]
    return {key: sum(entry[key] for entry in entries) for key in keys}


def cutflow_rows(
    skim: Mapping[str, Mapping[str, Any]], samples: Sequence[str] | None
) -> list[dict[str, Any]]:
    """The cut-flow table: one row per sample, then the signal and background totals of
    ``samples`` (None: every sample)."""
    chosen = [name for name in skim if samples is None or name in samples]
    rows = [
        _row(name, "signal" if skim[name]["label"] == 1 else "background", skim[name])
        for name in skim
    ]
    for label, kind in ((1, "signal"), (0, "background")):
        members = [skim[name] for name in chosen if skim[name]["label"] == label]
        if members:
            rows.append(_row(f"total {kind}", f"{kind} (headline samples)", _sum(members)))
    return rows


def skim_efficiencies(
    skim: Mapping[str, Mapping[str, Any]], samples: Sequence[str] | None
) -> dict[str, float | None]:
    """Weighted fraction of the generated signal and background of ``samples`` that the skim
    keeps: the factor from skim-relative to generated-relative efficiencies."""
    out: dict[str, float | None] = {}
    for label, kind in ((1, "signal"), (0, "background")):
        members = [
            e
            for name, e in skim.items()
            if e["label"] == label and (samples is None or name in samples)
        ]
        total = _sum(members) if members else None
        out[kind] = _ratio(total["weight_baseline"], total["weight_generated"]) if total else None
    return out


def write_cutflow(
    folder: Path, rows: Sequence[Mapping[str, Any]], *, luminosity_ifb: float, preselection: str
) -> None:
    """``cutflow.csv`` and ``cutflow.html`` in ``folder``."""
    intro = (
        f"<p>Every generated event of every sample; yields are expected events at "
        f"{luminosity_ifb:g} fb<sup>-1</sup> (&plusmn; sqrt(sum w<sup>2</sup>)), efficiencies "
        f"weighted, relative to the generated events. The skim (preselection "
        f"<code>{preselection}</code>) keeps the baseline; classifiers see only those events, "
        f"and every efficiency of the summary is relative to it.</p>"
    )
    write_table(
        folder / "cutflow.csv",
        folder / "cutflow.html",
        rows,
        title="hepdl cut-flow",
        intro_html=intro,
        column_titles={
            "sample": "Sample",
            "kind": "Kind",
            "n_generated": "Generated",
            "n_baseline": "Baseline (raw)",
            "n_signal_region": "Signal region (raw)",
            "yield_generated": "Yield, generated",
            "yield_baseline": "Yield, baseline",
            "yield_baseline_err": "&plusmn;",
            "yield_signal_region": "Yield, signal region",
            "yield_signal_region_err": "&plusmn;",
            "eff_baseline": "Eff. baseline",
            "eff_signal_region": "Eff. signal region",
            "eff_signal_region_of_baseline": "Eff. SR / baseline",
        },
    )
