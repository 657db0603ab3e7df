"""Training stability of the eps, x0, v and score targets on the 2-D ring of 8 Gaussians, over seeds and learning rates.

    python benchmarks/param_stability_sweep.py --out assets/results      # 4 targets x 2 lrs x 5 seeds, ~10 CPU min
    python benchmarks/param_stability_sweep.py --quick                   # 30 steps, 2 seeds: a check that it runs

Trains notebook 03's toy MLP once per (target, learning rate, seed) with
``evaluation.param_stability.param_run`` and reports, per target and learning rate, the mean and
the std over seeds of: the final model's loss in common units (implied-eps and implied-x0 MSE on
one fixed evaluation set), the sliced Wasserstein distance of DDIM-50 and DDPM-200 samples to the
data, and the coefficient of variation over timesteps of the gradient norm (at initialization and
after training). With ``--out`` the rows and the summary go to
``<out>/param_stability_sweep/result.json`` through the results writer.
"""

from __future__ import annotations

import shlex
import sys

import torch

from diffusion_course.cli.common import Parser, fail, positive_int, refuse_to_overwrite
from diffusion_course.diffusion.schedules import make_schedule
from diffusion_course.evaluation.param_stability import TARGETS, oracle_floor, param_run, summarize
from diffusion_course.evaluation.results import ResultError, provenance, write_result
from diffusion_course.tables import format_table

PROG = "python benchmarks/param_stability_sweep.py"
COLUMNS = ("target", "lr", "runs", "diverged", "eps_mse_mean", "eps_mse_std", "w2_ddim_mean", "w2_ddim_std",
           "w2_ddpm_mean", "w2_ddpm_std", "grad_cv_init_mean", "grad_cv_final_mean")  # fmt: skip


def _parser() -> Parser:
    p = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--targets", nargs="+", default=list(TARGETS), choices=TARGETS)
    p.add_argument("--lrs", type=float, nargs="+", default=[3e-3, 3e-2], help="Adam learning rates (> 0)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--steps", type=positive_int, default=2000, help="training steps per run (batch 256)")
    p.add_argument("--n", type=positive_int, default=2000, help="samples per run for the sliced W2")
    p.add_argument("--quick", action="store_true", help="30 steps, seeds 0 and 1, n = 200: a check that it runs")
    p.add_argument("--out", help="results root: write <out>/<experiment>/result.json (and result.csv)")
    p.add_argument("--experiment", default="param_stability_sweep")
    p.add_argument("--overwrite", action="store_true", help="replace an existing result")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    a = _parser().parse_args(argv)
    if any(not lr > 0 for lr in a.lrs):
        return fail(PROG, f"--lrs must be positive numbers; got {a.lrs}")
    if len(set(a.seeds)) < 2:
        return fail(PROG, f"--seeds needs at least two different seeds to measure a spread; got {a.seeds}")
    if a.quick:
        a.seeds, a.steps, a.n = a.seeds[:2], 30, 200
    if a.out is not None:
        try:
            refuse_to_overwrite(a.experiment, a.out, a.overwrite)
        except (ResultError, FileExistsError) as err:
            return fail(PROG, str(err))
    prov = provenance(f"{PROG} " + shlex.join(argv), "cpu")
    rows = []
    for target in a.targets:
        for lr in a.lrs:
            for seed in a.seeds:
                rows.append(param_run(target, lr, seed, steps=a.steps, n=a.n))
                print({k: v for k, v in rows[-1].items() if not isinstance(v, list)}, flush=True)
    summary = summarize(rows)
    floor = oracle_floor(make_schedule("linear"))
    title = (
        f"{a.steps} steps per run, {len(a.seeds)} seeds; mean and std over seeds (oracle eps MSE {floor['eps_mse']})"
    )
    print(format_table([{k: s[k] for k in COLUMNS} for s in summary], title=title))
    if a.out is not None:
        result = {
            "kind": "param_stability",
            "steps": a.steps,
            "n": a.n,
            "batch_size": 256,
            "seeds": a.seeds,
            "lrs": a.lrs,
            "oracle": floor,
            "summary": summary,
            "rows": rows,
            "torch_threads": torch.get_num_threads(),
        }
        print(write_result(a.experiment, result, prov, root=a.out, overwrite=a.overwrite, csv_rows=rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
