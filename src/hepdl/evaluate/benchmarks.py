"""What a run cost, per stage: the summary of Snakemake's per-job benchmark files.

Snakemake writes one TSV per job of a rule with ``benchmark:`` (``{results}/benchmarks/<stage>/
<wildcards>.tsv``, where the stage is the rule's, e.g. ``train`` for every training rule):
wall time ``s``, ``cpu_time`` (s), peak memory ``max_rss`` (MB), ``io_in`` and ``io_out`` (MB)
and ``mean_load`` (%). The summary has one row per stage: the number of jobs, the summed and the
longest wall time, the summed CPU time and the largest peak memory: what to ask a cluster for,
and where the time of a run goes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from hepdl.errors import InputFileError
from hepdl.evaluate.tables import write_table

__all__ = ["read_benchmarks", "summarize_benchmarks", "write_benchmark_summary"]

#: The columns of a Snakemake benchmark file that the summary reads.
_COLUMNS = ("s", "cpu_time", "max_rss")


def read_benchmarks(
    files: Sequence[str | os.PathLike[str]], root: str | os.PathLike[str]
) -> pd.DataFrame:
    """One row per job: ``stage`` (the first folder under ``root``), ``job`` (the rest of the
    path), and the file's last row (a rerun job's own measurement; Snakemake's ``repeat``
    adds rows).

    Raises:
        InputFileError: naming the file, if it is not a benchmark TSV under ``root``.
    """
    rows = []
    base = Path(root)
    for file in map(Path, files):
        try:
            parts = file.relative_to(base).with_suffix("").parts
        except ValueError:
            raise InputFileError(file, f"a benchmark file must lie under {base}") from None
        try:
            table = pd.read_csv(file, sep="\t")
        except (OSError, ValueError) as error:
            raise InputFileError(file, f"not a Snakemake benchmark TSV ({error})") from None
        missing = [column for column in _COLUMNS if column not in table]
        if missing or table.empty:
            raise InputFileError(
                file,
                f"a Snakemake benchmark TSV needs the columns {list(_COLUMNS)} and a row;"
                f" it has {list(table.columns)} and {len(table)} rows",
            )
        last = table.iloc[-1]
        rows.append(
            {
                "stage": parts[0],
                "job": "/".join(parts[1:]) or parts[0],
                **{column: pd.to_numeric(last[column], errors="coerce") for column in _COLUMNS},
            }
        )
    return pd.DataFrame(rows, columns=["stage", "job", *_COLUMNS])


def summarize_benchmarks(jobs: pd.DataFrame) -> list[dict[str, Any]]:
    """Per stage (in order of summed wall time, largest first): jobs, wall time summed and
    longest (s), CPU time summed (s), largest peak memory (MB), and the share of the run's
    summed wall time."""
    total = float(jobs["s"].sum()) or 1.0
    rows = []
    for stage, group in jobs.groupby("stage", sort=False):
        rows.append(
            {
                "stage": str(stage),
                "jobs": len(group),
                "wall_s_sum": round(float(group["s"].sum()), 2),
                "wall_s_max": round(float(group["s"].max()), 2),
                "cpu_s_sum": round(float(group["cpu_time"].sum()), 2),
                "max_rss_mb": round(float(group["max_rss"].max()), 1),
                "wall_share": round(float(group["s"].sum()) / total, 4),
            }
        )
    return sorted(rows, key=lambda row: -row["wall_s_sum"])


def write_benchmark_summary(
    files: Sequence[str | os.PathLike[str]],
    root: str | os.PathLike[str],
    *,
    table: str | os.PathLike[str],
    html_table: str | os.PathLike[str],
) -> list[dict[str, Any]]:
    """Summarize the benchmark files into a CSV and an HTML page (the report's table).

    Returns:
        The summary's rows.
    """
    rows = summarize_benchmarks(read_benchmarks(files, root))
    jobs = sum(int(row["jobs"]) for row in rows)
    wall = sum(float(row["wall_s_sum"]) for row in rows)
    write_table(
        Path(table),
        Path(html_table),
        rows,
        title="Benchmarks",
        intro_html=(
            f"<p>Per-stage cost of the run from Snakemake's benchmark files ({jobs} jobs,"
            f" {wall:.0f} s of summed wall time): wall and CPU time in seconds, peak memory"
            " (max RSS) in MB, and each stage's share of the summed wall time.</p>"
        ),
    )
    return rows
