"""A run's headline numbers as Markdown, for the README and docs/results.md.

``hepdl results-table`` prints them from a run's ``metrics.json``, so the tables in the
documentation are pasted from a measured run, never typed: the working point (the cuts'
efficiencies relative to the skim, the background's N_eff and the FPR's errors, the slices
entered as upper bounds), then per classifier the signal efficiency at that point with its
combined error, the seed spread and the bootstrap error apart, and the significance gain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hepdl.evaluate.seeds import spread_text

__all__ = ["results_markdown"]

#: Signal efficiency at the cuts' background efficiency in the talk (skim-relative).
PUBLISHED = {"cuts": "0.41 (0.419)", "cnn": "0.77"}


def _num(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _sci(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def results_markdown(metrics: Mapping[str, Mapping[str, Any]], *, title: str) -> str:
    """The working point and the classifier table of one run's ``metrics.json``."""
    cuts = metrics["cuts"]
    background = cuts["background"]
    skim = cuts.get("skim", {})
    generated = cuts.get("relative_to_generated", {})
    bounded = {n: s for n, s in background["samples"].items() if "upper_bound" in s}
    shares = ", ".join(
        f"{n} {s['share']:.0%}" for n, s in background["samples"].items() if s["n_selected"]
    )
    lines = [
        f"**{title}**",
        "",
        (
            f"- Skim ({skim.get('preselection', 'n/a')}): keeps "
            f"{_num(skim.get('signal_efficiency'))} of the signal and "
            f"{_sci(skim.get('background_efficiency'))} of the QCD cross-section (weighted)."
        ),
        (
            f"- Cuts, relative to the skim: signal efficiency {_num(cuts['tpr'])} ± "
            f"{_num(cuts.get('tpr_err'))}, background efficiency {_sci(cuts['fpr'])} ± "
            f"{_sci(background['fpr_err_stat'])} (stat.); relative to all generated events "
            f"{_num(generated.get('tpr'))} and {_sci(generated.get('fpr'))}. Published: 0.419 "
            "and 3.39e-4."
        ),
        f"- Background in the cuts' signal region (test split): {background['n_events']} "
        f"events, N_eff = {background['n_eff']:.1f}"
        + (" (**unmeasured**)" if background["unmeasured"] else "")
        + f"; by slice: {shares or 'none'}.",
    ]
    if bounded:
        names = ", ".join(f"{n} (< {s['upper_bound']:.3g})" for n, s in bounded.items())
        lines.append(
            f"- No test event in the signal region, entered as 68% upper bounds (expected "
            f"events): {names}. With them the background efficiency's error is "
            f"{_sci(background['fpr_err'])} ({_num(background.get('fpr_rel_err'), 1)} "
            f"relative); with every bound in full it could be up to "
            f"{_sci(background.get('fpr_upper'))}."
        )
    everything = cuts.get("all_events")
    if everything:
        lines.append(
            f"- The cuts on every skimmed event (they need no training): background efficiency "
            f"{_sci(everything['fpr'])} ± {_sci(everything['fpr_err_stat'])} (stat.), "
            f"N_eff = {everything['n_eff']:.1f}, up to {_sci(everything['fpr_upper'])} with "
            "the unmeasured slices' bounds."
        )
    lines += [
        "",
        (
            "| classifier | signal eff. at the cuts' bkg. eff. | seed spread | bootstrap | "
            "S/√B gain | AUC (skim) | at the bkg. eff.'s upper bound | published |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    ordered = ["cuts", *(name for name in metrics if name != "cuts")]
    for name in ordered:
        m = metrics[name]
        bootstrap = m.get("tpr_at_benchmark_fpr_bootstrap_err", m.get("tpr_at_benchmark_fpr_err"))
        lines.append(
            f"| {name} | {_num(m.get('tpr_at_benchmark_fpr'))} ± "
            f"{_num(m.get('tpr_at_benchmark_fpr_err'))} | "
            f"{spread_text(m)} | {_num(bootstrap)} | "
            f"{_num(m.get('significance_gain'), 2)} ± {_num(m.get('significance_gain_err'), 2)} | "
            f"{_num(m.get('auc'))} | {_num(m.get('tpr_at_fpr_upper'))} | "
            f"{PUBLISHED.get(name, '')} |"
        )
    return "\n".join(lines) + "\n"
