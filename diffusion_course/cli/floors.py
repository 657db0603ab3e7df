"""``python -m diffusion_course floors``: the real-vs-real floor and the corruption ladder (cached).

    python -m diffusion_course floors --dataset cifar10 --n 1000 --out floors_cifar10_n1000

Prints the floor (real train images against real test images) and the same images with
Gaussian noise and with blur at several strengths, measured by the dataset's feature network;
``--out`` also writes them as a result file under ``assets/results``.
"""

from __future__ import annotations

import argparse
import sys

from .common import Parser, add_result_options, command_line, positive_int, refuse_to_overwrite, run_guarded

PROG = "python -m diffusion_course floors"


def main(argv: list[str] | None = None) -> int:
    """Print (and cache) the real-vs-real floor and the corruption ladder at ``--n`` samples."""
    argv = list(sys.argv[1:] if argv is None else argv)
    p = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=positive_int, default=10000)
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--no-cache", action="store_true")
    add_result_options(p, required=False)
    a = p.parse_args(argv)

    def run() -> int:
        from ..evaluation.floors import corruption_ladder
        from ..evaluation.results import provenance, write_result
        from ..tables import format_table

        refuse_to_overwrite(a.out, a.results_dir, a.overwrite)
        prov = provenance(command_line("floors", argv))
        rows = corruption_ladder(a.n, use_cache=not a.no_cache, dataset=a.dataset)
        print(format_table(rows, title=f"{a.dataset} classifier metrics, n = {a.n} (not Inception FIDs)"))
        if a.out:
            res = {"kind": "floors", "dataset": a.dataset, "n": a.n, "rows": rows}
            print("wrote", write_result(a.out, res, prov, root=a.results_dir, csv_rows=rows, overwrite=a.overwrite))
        return 0

    return run_guarded(PROG, run)
