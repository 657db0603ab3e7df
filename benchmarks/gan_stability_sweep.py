"""Stability on the 2-D ring of 8 Gaussians: GAN against diffusion over learning rates and seeds.

    python benchmarks/gan_stability_sweep.py --lrs 1e-4 1e-3 1e-2 --seeds 0 1 2 3 4 --steps 3000

Trains one model per (family, learning rate, seed) with ``evaluation.toy_stability.toy_run`` and
reports, per family and learning rate, the share of runs covering all 8 modes, the mean modes
covered and the spread of the sliced Wasserstein distance to the data. One result file, through
the results writer (rows per run, summary per family and learning rate).
"""

from __future__ import annotations

import shlex
import sys

import torch

from diffusion_course.cli.common import Parser, fail, positive_int
from diffusion_course.evaluation.results import provenance, result_path, write_result
from diffusion_course.evaluation.toy_stability import FAMILIES_2D, summarize, toy_run
from diffusion_course.tables import format_table

PROG = "python benchmarks/gan_stability_sweep.py"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = Parser(prog=PROG, description=__doc__)
    p.add_argument("--families", nargs="+", default=list(FAMILIES_2D), choices=FAMILIES_2D)
    p.add_argument("--lrs", type=float, nargs="+", default=[1e-4, 1e-3, 1e-2])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--steps", type=positive_int, default=3000)
    p.add_argument("--n", type=positive_int, default=2000)
    p.add_argument("--experiment", default="gan_stability_sweep")
    p.add_argument("--results-dir", default=None)
    p.add_argument("--overwrite", action="store_true")
    a = p.parse_args(argv)
    if any(not lr > 0 for lr in a.lrs):
        return fail(PROG, "--lrs must be positive numbers")
    path = result_path(a.experiment, a.results_dir)
    if path.exists() and not a.overwrite:
        return fail(PROG, f"{path} exists; pass --overwrite to replace it")
    prov = provenance(f"{PROG} " + shlex.join(argv), "cpu")
    rows = []
    for family in a.families:
        for lr in a.lrs:
            for seed in a.seeds:
                rows.append(toy_run(family, lr, seed, a.steps, a.n))
                print(rows[-1], flush=True)
    summary = summarize(rows)
    print(format_table(summary, title="ring of 8 Gaussians: runs covering all modes, mean modes, sliced W2 spread"))
    result = {
        "kind": "toy_stability",
        "steps": a.steps,
        "n": a.n,
        "summary": summary,
        "rows": rows,
        "torch_threads": torch.get_num_threads(),
    }
    print(write_result(a.experiment, result, prov, root=a.results_dir, overwrite=a.overwrite, csv_rows=rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
