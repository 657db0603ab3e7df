"""``python -m diffusion_course floors``: the real-vs-real floor and the corruption ladder (cached)."""

from __future__ import annotations

import sys

from .common import Parser, positive_int, run_guarded

PROG = "python -m diffusion_course floors"


def main(argv: list[str] | None = None) -> int:
    """Print (and cache) the real-vs-real floor and the corruption ladder at ``--n`` samples."""
    p = Parser(prog=PROG, description=main.__doc__)
    p.add_argument("--n", type=positive_int, default=10000)
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--no-cache", action="store_true")
    a = p.parse_args(list(sys.argv[1:] if argv is None else argv))

    def run() -> int:
        from ..evaluation.floors import corruption_ladder
        from ..tables import format_table

        rows = corruption_ladder(a.n, use_cache=not a.no_cache, dataset=a.dataset)
        print(format_table(rows, title=f"{a.dataset} classifier metrics, n = {a.n} (not Inception FIDs)"))
        return 0

    return run_guarded(PROG, run)
