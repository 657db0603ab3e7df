"""Reporting helpers: significant-digit rounding and plain-text tables of result dicts."""

from __future__ import annotations

import math

__all__ = ["round_sig", "format_table", "side_by_side"]


def round_sig(x: float, digits: int = 3) -> float:
    """Round to ``digits`` significant digits (no false precision in reports)."""
    x = float(x)
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, digits - 1 - int(math.floor(math.log10(abs(x)))))


def format_table(rows: dict | list[dict], title: str | None = None) -> str:
    """Plain-text table of one result dict (key / value) or of a list of result dicts (columns)."""
    if isinstance(rows, dict):
        rows = [{"metric": k, "value": v} for k, v in rows.items() if not isinstance(v, (list, dict))]
    cols = list(dict.fromkeys(k for r in rows for k in r if not isinstance(r[k], (list, dict))))
    cells = [[str(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = lambda vals: "  ".join(v.rjust(w) for v, w in zip(vals, widths))  # noqa: E731
    out = [line(cols), line(["-" * w for w in widths])] + [line(row) for row in cells]
    return "\n".join(([title] if title else []) + out)


def side_by_side(tables: dict[str, list[dict]], key: tuple[str, ...], fields: dict[str, str]) -> list[dict]:
    """Join several tables on ``key``: one row per key value, one column per (field, table).

    ``tables`` maps a label to its rows; ``fields`` maps a column name to the row field it reads.
    Columns are named ``"<column> <label>"``; a key missing from a table leaves its cells blank
    (``""``). Rows keep the order in which their key first appears, table by table.
    """
    order: list[tuple] = []
    index: dict[str, dict[tuple, dict]] = {}
    for label, rows in tables.items():
        index[label] = {}
        for row in rows:
            k = tuple(row[f] for f in key)
            index[label][k] = row
            if k not in order:
                order.append(k)
    return [
        {
            **dict(zip(key, k)),
            **{
                f"{col} {label}": index[label][k][field] if k in index[label] else ""
                for col, field in fields.items()
                for label in tables
            },
        }
        for k in order
    ]
