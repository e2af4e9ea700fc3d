"""Helpers that turn frames into metadata a person can read in the Dagster UI."""

from __future__ import annotations

import polars as pl


def markdown_preview(frame: pl.DataFrame, rows: int = 10) -> str:
    """A markdown table of the first rows, with numbers rounded for reading."""
    head = frame.head(rows)
    if head.width == 0:
        return "_no columns_"
    cols = [c for c in head.columns if c != "properties"][:10]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in head.select(cols).iter_rows():
        cells = []
        for v in row:
            if isinstance(v, float):
                cells.append(f"{v:,.2f}")
            elif v is None:
                cells.append("")
            else:
                cells.append(str(v).replace("|", "\\|").replace("\n", " ")[:60])
        lines.append("| " + " | ".join(cells) + " |")
    if frame.height > rows:
        lines.append(f"\n_{frame.height - rows:,} more rows_")
    if frame.height == 0:
        lines.append("\n_no rows_")
    return "\n".join(lines)
