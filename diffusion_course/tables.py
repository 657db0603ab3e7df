"""Reporting helpers: significant-digit rounding and plain-text tables of result dicts."""

from __future__ import annotations

import math

__all__ = ["round_sig", "format_table"]


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
