"""``python -m diffusion_course bench --model {oracle,toy,mnist}``: sample quality against NFE and time.

    python -m diffusion_course bench --model oracle     # exact 2-D mixture denoiser (no model error)
    python -m diffusion_course bench --model toy        # MLP trained on gaussians8 (cached after one run)
    python -m diffusion_course bench --model mnist      # the shipped MNIST checkpoint, a small sweep

Writes ``assets/results/<experiment>/result.{json,csv,png}`` (experiment default ``bench_<model>``);
keeps an existing result unless ``--overwrite``. The measured cost of each sweep (wall time, ms
per image and model evaluation, hardware) is in its result file and in the README's table.
"""

from __future__ import annotations

import argparse
import sys
import time

from .common import Parser, command_line, fail, positive_int, run_guarded

PROG = "python -m diffusion_course bench"
NOTES = (
    "ms_per_sample: wall time of the sampler calls / n; cpu_ms_per_sample: this process's CPU time / n "
    "(all threads). On a busy machine (see the load average) wall times are inflated; CPU time with 1 "
    "thread is close to an idle machine's wall time. The floor row measures real data against the same "
    "reference at the same n; floor_spread is its [min, max] over independent real sample sets (the "
    "metrics' sampling noise)."
)


def _parser() -> Parser:
    from ..diffusion.spacing import SPACINGS
    from ..evaluation.bench import DEFAULTS, STEPS
    from ..samplers.registry import SAMPLERS

    p = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, choices=sorted(DEFAULTS))
    p.add_argument(
        "--samplers",
        nargs="+",
        choices=list(SAMPLERS),
        help=f"default: all for 2-D; {' '.join(DEFAULTS['mnist']['samplers'])} for mnist",
    )
    p.add_argument(
        "--steps",
        nargs="+",
        type=positive_int,
        help=f"default: {' '.join(map(str, STEPS))} for 2-D; "
        f"{' '.join(map(str, DEFAULTS['mnist']['steps']))} for mnist",
    )
    p.add_argument("--n", type=positive_int, help="samples per point (default 2000 for 2-D, 200 for mnist)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--spacing", default="trailing", choices=list(SPACINGS))
    p.add_argument(
        "--device",
        help="cpu, cuda, mps (default: DIFFUSION_COURSE_DEVICE, else the best available)",
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        help="torch CPU threads (default: torch's; on a busy machine 1 thread can be many times faster than 2)",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        help="samples per sampler call (default 2000 for 2-D, 100 for mnist)",
    )
    p.add_argument("--w", type=float, default=0.5, help="mnist: guidance weight w (scale 1 + w)")
    p.add_argument(
        "--train-steps",
        type=positive_int,
        help="toy: training steps (default: the toy-ddpm recipe's)",
    )
    p.add_argument("--experiment", help="results folder name (default: bench_<model>)")
    p.add_argument("--results-dir", default=None, help="folder of experiments (default: assets/results)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing result")
    p.add_argument("--quiet", action="store_true")
    return p


def _run(a, argv: list[str]) -> int:
    import torch

    from ..checkpoints import weights_sha256
    from ..config import device as pick_device
    from ..evaluation import bench as B
    from ..evaluation import bench_models as M
    from ..evaluation.results import load_average, provenance, result_path, write_result
    from ..samplers.registry import SAMPLERS
    from ..tables import format_table, round_sig
    from ..viz.bench_plot import plot_results

    d = B.DEFAULTS[a.model]
    names, steps = a.samplers or list(d["samplers"]), a.steps or list(d["steps"])
    n, bs = a.n or d["n"], a.batch_size or d["batch_size"]
    if n < (10 if a.model == "mnist" else 2):
        return fail(PROG, f"--n must be >= {10 if a.model == 'mnist' else 2} for --model {a.model}")
    experiment = a.experiment or f"bench_{a.model}"
    path = result_path(experiment, a.results_dir)
    if path.exists() and not a.overwrite:
        return fail(PROG, f"{path} exists; pass --overwrite to replace it")
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = pick_device(a.device)
    prov = provenance(
        command_line("bench", argv),
        dev,
        weights_sha256("mnist-ddpm") if a.model == "mnist" else None,
    )
    prov["load_average"] = load_average()
    t0 = time.perf_counter()
    bench = {
        "oracle": lambda: M.oracle_bench(),
        "toy": lambda: M.toy_bench(a.seed, a.train_steps, dev, not a.quiet),
        "mnist": lambda: M.mnist_bench(n, a.w, dev),
    }[a.model]()
    if max(steps) > bench.schedule.T:
        return fail(PROG, f"--steps must be in 1..{bench.schedule.T} for this schedule")
    rows = B.sweep(
        bench,
        names,
        steps,
        n,
        seed=a.seed,
        spacing=a.spacing,
        device=dev,
        batch_size=bs,
        verbose=not a.quiet,
    )
    floor, spread = B.floor_spread(bench, n)
    result = {
        "model": a.model,
        "description": bench.description,
        "n": n,
        "seed": a.seed,
        "spacing": a.spacing,
        "samplers": {k: {"function": SAMPLERS[k].function.__name__, **SAMPLERS[k].options} for k in names},
        "steps": steps,
        "wall_seconds": round(time.perf_counter() - t0),
        "notes": NOTES,
        "floor": floor,
        "floor_spread": spread,
        "floor_seeds": list(range(bench.floor_seeds)),
        "rows": rows,
    }
    if a.model == "mnist":
        result["guidance_w"] = a.w
        full = B.full_sweep_nfe()
        est = result["full_sweep_estimate"] = {"nfe_per_image": full}
        for kind in (
            "ms",
            "cpu_ms",
        ):  # from this run's measured cost per image and guided evaluation
            per = sum(r[f"{kind}_per_sample"] / r["nfe"] for r in rows) / len(rows)
            est[f"{kind}_per_image_nfe"] = round_sig(per)
            est.update({f"hours_at_n{m}_from_{kind}": round_sig(per * full * m / 3.6e6, 2) for m in (200, 1000)})
    spread_rows = [
        {"sampler": "floor", **floor},
        {"sampler": "floor_min", **{k: v[0] for k, v in spread.items()}},
        {"sampler": "floor_max", **{k: v[1] for k, v in spread.items()}},
    ]
    json_path = write_result(
        experiment,
        result,
        prov,
        root=a.results_dir,
        csv_rows=rows + spread_rows,
        overwrite=a.overwrite,
    )
    plot_results({**prov, **result}, bench.plot_metrics, json_path.with_suffix(".png"))
    if not a.quiet:
        print(format_table(rows + [{"sampler": "floor", **floor}], title=f"bench {a.model}: n={n} per row"))
        print(f"wrote {json_path.parent}/result.{{json,csv,png}}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run a sweep and write its result (JSON, CSV) and plot."""
    argv = list(sys.argv[1:] if argv is None else argv)
    a = _parser().parse_args(argv)
    return run_guarded(PROG, lambda: _run(a, argv))
