"""The beta sweep of the VAE (Higgins et al. 2017): rate (KL) against distortion (reconstruction), with
sharpness and sample quality at each KL weight, on MNIST.

    python benchmarks/vae_beta_sweep.py --betas 0.1 0.5 1 2 4 --steps 1500 --n 500

Trains the ``mnist-vae`` recipe once per beta (same seed, same data order), then reads each model
with the course's common instruments (``evaluation.measure``): requested-class accuracy, classifier
FID over the floor, recall, sharpness of samples and reconstructions. The rate and distortion are
the trained model's final KL and reconstruction terms in nats per image (``train_vae``'s final
evaluation). One result file, through the results writer.
"""

from __future__ import annotations

import shlex
import sys
import time

import torch

from diffusion_course.cli.common import Parser, fail, positive_int
from diffusion_course.evaluation.measure import measure
from diffusion_course.evaluation.results import provenance, result_path, write_result
from diffusion_course.training.recipes import build_recipe, load_data
from diffusion_course.training.vae import train_vae

PROG = "python benchmarks/vae_beta_sweep.py"


def one_beta(beta: float, steps: int, n: int, seed: int) -> dict:
    model, _, recipe = build_recipe("mnist-vae", seed)
    train = {k: v for k, v in recipe["train"].items() if k not in ("beta", "steps")}
    t0 = time.perf_counter()
    res = train_vae(
        model,
        load_data(recipe["data"], seed),
        beta=beta,
        steps=steps,
        seed=seed,
        progress=False,
        config={"family": "vae", "recipe": "mnist-vae", "data": recipe["data"]},
        **train,
    )
    seconds = time.perf_counter() - t0
    m = measure(res.ema, {**recipe, **res.config, "family": "vae"}, dataset="mnist", n=n, seed=seed)
    rec = m.get("reconstruction", {})
    return {
        "beta": beta,
        "rate_kl_nats": round(res.config["final_kl"], 2),
        "distortion_recon_nats": round(res.config["final_recon"], 2),
        "class_accuracy_pct": m["class_accuracy_pct"],
        "fid_over_floor": m["fid_over_floor"],
        "recall_pct": m["recall_pct"],
        "sample_gradient_ratio": m["sharpness"]["gradient_ratio"],
        "recon_fid_over_floor": rec.get("fid_over_floor"),
        "recon_gradient_ratio": rec.get("sharpness", {}).get("gradient_ratio"),
        "train_seconds": round(seconds),
    }


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = Parser(prog=PROG, description=__doc__)
    p.add_argument("--betas", type=float, nargs="+", default=[0.1, 0.5, 1.0, 2.0, 4.0])
    p.add_argument("--steps", type=positive_int, default=1500)
    p.add_argument("--n", type=positive_int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--experiment", default="vae_beta_sweep")
    p.add_argument("--results-dir", default=None)
    p.add_argument("--overwrite", action="store_true")
    a = p.parse_args(argv)
    if any(b <= 0 for b in a.betas):
        return fail(PROG, "--betas must be positive numbers")
    if a.n < 20:
        return fail(PROG, "--n must be >= 20")
    path = result_path(a.experiment, a.results_dir)
    if path.exists() and not a.overwrite:
        return fail(PROG, f"{path} exists; pass --overwrite to replace it")
    prov = provenance(f"{PROG} " + shlex.join(argv), "cpu")
    rows = []
    for beta in a.betas:
        rows.append(one_beta(beta, a.steps, a.n, a.seed))
        print(rows[-1], flush=True)
    result = {
        "recipe": "mnist-vae",
        "steps": a.steps,
        "n": a.n,
        "seed": a.seed,
        "rows": rows,
        "torch_threads": torch.get_num_threads(),
    }
    print(write_result(a.experiment, result, prov, root=a.results_dir, overwrite=a.overwrite, csv_rows=rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
