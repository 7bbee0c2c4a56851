"""The result tables of the evaluation: one CSV for machines, one HTML page for the report
(the HTML alone for tables whose numbers live in a JSON file, such as the GAN speed table)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hepdl.io.atomic import write_text_atomic

__all__ = ["write_html_table", "write_table"]

_STYLE = (
    "<style>table{border-collapse:collapse}td,th{border:1px solid #999;padding:4px 8px}</style>"
)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def write_table(
    csv_path: Path,
    html_path: Path,
    rows: Sequence[Mapping[str, Any]],
    *,
    title: str,
    intro_html: str,
    column_titles: Mapping[str, str] | None = None,
) -> None:
    """Write ``rows`` (one dict per row, same keys) atomically as CSV and as an HTML page.

    Args:
        csv_path: The CSV file (quoted cells; floats with 4 significant digits).
        html_path: The HTML page for ``snakemake --report``.
        rows: The table rows; the first row's keys are the columns.
        title: The page title.
        intro_html: HTML placed above the table (trusted markup).
        column_titles: Column headings by key (trusted markup); default: the escaped keys.
    """
    header = list(rows[0]) if rows else ["case"]
    lines = [",".join(header)] + [",".join(f'"{_cell(r[h])}"' for h in header) for r in rows]
    write_text_atomic(csv_path, "\n".join(lines) + "\n")
    write_html_table(
        html_path, rows, title=title, intro_html=intro_html, column_titles=column_titles
    )


def write_html_table(
    html_path: Path,
    rows: Sequence[Mapping[str, Any]],
    *,
    title: str,
    intro_html: str,
    column_titles: Mapping[str, str] | None = None,
) -> None:
    """Write ``rows`` atomically as an HTML page for ``snakemake --report`` (no CSV beside it).

    Args:
        html_path: The page.
        rows: The table rows; the first row's keys are the columns (floats with 4 significant
            digits).
        title: The page title.
        intro_html: HTML placed above the table (trusted markup).
        column_titles: Column headings by key (trusted markup); default: the escaped keys.
    """
    header = list(rows[0]) if rows else ["case"]
    titles = column_titles or {}
    head = "".join(f"<th>{titles.get(h, html.escape(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(r[h]))}</td>" for h in header) + "</tr>"
        for r in rows
    )
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"{_STYLE}</head><body>{intro_html}"
        f"<table><tr>{head}</tr>{body}</table></body></html>\n"
    )
    write_text_atomic(html_path, page)
