"""Training cost on the CPU: wall time from scratch until guided samples reach 80% and 95%
conditional accuracy on MNIST (the course's class-conditional UNet recipe, Ho et al. 2020 training
with classifier-free guidance, Ho & Salimans 2022).

    python benchmarks/train_cost.py                       # the mnist-ddpm UNet, batch 64
    python benchmarks/train_cost.py --base-channels 16    # a 4x smaller UNet

Every ``--eval-every`` steps a callback of the training loop has the EMA model draw ``--n-eval``
samples (an equal number per digit) with DDIM, 20 steps, guidance w = 0.5 (scale 1.5), and the
shipped MNIST classifier reads them. The reported training time excludes that evaluation. A
second callback stops training cleanly at the last target or after ``--max-minutes`` of training
(checked at each evaluation). It prints a table and writes
``<results-dir>/<experiment>/result.json`` with the results writer (refusing to overwrite).
Run it on a quiet machine: its numbers are wall-clock times.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time

import torch

from diffusion_course import data
from diffusion_course.checkpoints import build_model
from diffusion_course.cli.common import Parser, positive_int
from diffusion_course.diffusion.guidance import guided, scale_of
from diffusion_course.diffusion.schedules import schedule_from_config
from diffusion_course.evaluation.features import feature_network
from diffusion_course.evaluation.results import ResultError, provenance, result_path, write_result
from diffusion_course.samplers.registry import get_sampler
from diffusion_course.training.callbacks import evaluate_every, stop_when
from diffusion_course.training.diffusion import train_diffusion
from diffusion_course.training.recipes import RECIPES

EVAL_SAMPLER, EVAL_STEPS, EVAL_W = "ddim", 20, 0.5


def conditional_accuracy(ema, schedule, prediction: str, classifier, n: int, seed: int = 0) -> float:
    """Fraction of guided DDIM samples (20 steps, w = 0.5) that the classifier reads as the requested digit."""
    y = torch.arange(n) % 10
    g = torch.Generator().manual_seed(seed)
    x_T = torch.randn((n, 1, 28, 28), generator=g)
    with torch.no_grad():
        x = get_sampler(EVAL_SAMPLER)(
            guided(ema, y, scale_of(EVAL_W), ema.null_label),
            x_T,
            schedule,
            schedule.timesteps(EVAL_STEPS, "trailing"),
            prediction=prediction,
            clip_x0=1.0,
        )
        pred = classifier(x.clamp(-1, 1)).argmax(1)
    return float((pred == y).float().mean())


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0; got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0; got {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an accuracy in (0, 1]; got {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be an accuracy in (0, 1]; got {value}")
    return value


def parser() -> Parser:
    p = Parser(prog="train_cost.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base-channels", type=positive_int, default=32)
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--lr", type=_positive_float, default=1e-3)
    p.add_argument(
        "--p-uncond",
        type=float,
        default=0.1,
        help="label-dropout rate in [0, 1) (the shipped GPU recipe uses 0.2)",
    )
    p.add_argument("--targets", type=_fraction, nargs="+", default=[0.80, 0.95], help="accuracies in (0, 1]")
    p.add_argument("--eval-every", type=positive_int, default=100, help="training steps between evaluations")
    p.add_argument("--n-eval", type=positive_int, default=200, help="samples per evaluation")
    p.add_argument("--max-minutes", type=_positive_float, default=30.0, help="training-time limit")
    p.add_argument("--threads", type=positive_int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--experiment", default="train_cost", help="result folder name (default: train_cost)")
    p.add_argument("--results-dir", default=None, help="where experiment folders go (default: assets/results)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing result")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = parser()
    a = p.parse_args(argv)
    if not 0.0 <= a.p_uncond < 1.0:
        p.error(f"--p-uncond must be in [0, 1); got {a.p_uncond}")
    try:
        out = result_path(a.experiment, a.results_dir)
    except ResultError as err:
        p.error(f"--experiment: {err}")
    if out.exists() and not a.overwrite:
        p.error(f"{out} exists; pass --overwrite to replace it")
    torch.set_num_threads(a.threads)
    prov = provenance(shlex.join(["python", "benchmarks/train_cost.py", *argv]), "cpu", None)
    recipe = RECIPES["mnist-ddpm"]
    spec = {
        **recipe["model"],
        "kwargs": {**recipe["model"]["kwargs"], "base_channels": a.base_channels},
    }
    torch.manual_seed(a.seed)
    model = build_model(spec)
    n_params = sum(q.numel() for q in model.parameters())
    schedule = schedule_from_config(recipe)
    tr = recipe["train"]
    prediction = tr["prediction"]
    classifier = feature_network("mnist")
    x, y = data.mnist(train=True)
    targets = sorted(a.targets)
    log: list[dict] = []
    reached: dict[str, float | None] = {f"{t:.0%}": None for t in targets}
    clock = {"eval": 0.0, "start": 0.0, "train_s": 0.0}

    def evaluate(info: dict) -> dict:
        t0 = time.perf_counter()
        train_s = clock["train_s"] = t0 - clock["start"] - clock["eval"]
        acc = conditional_accuracy(info["emas"]["model"], schedule, prediction, classifier, a.n_eval, a.seed)
        clock["eval"] += time.perf_counter() - t0
        print(
            f"step {info['step']:6d}  training {train_s / 60:6.2f} min  accuracy {100 * acc:5.1f}%",
            flush=True,
        )
        for t in targets:
            if acc >= t and reached[f"{t:.0%}"] is None:
                reached[f"{t:.0%}"] = round(train_s / 60, 2)
        return {"train_minutes": round(train_s / 60, 2), "accuracy_pct": round(100 * acc, 1)}

    stop = {"reason": None}

    def done(info: dict) -> bool:
        if all(v is not None for v in reached.values()):
            stop["reason"] = "all targets reached"
        elif clock["train_s"] > 60 * a.max_minutes:
            stop["reason"] = f"training-time limit of {a.max_minutes:g} min"
        return stop["reason"] is not None

    clock["start"] = time.perf_counter()
    res = train_diffusion(
        model,
        (x, y),
        schedule,
        prediction=prediction,
        weighting=tr["weighting"],
        steps=10**7,
        batch_size=a.batch_size,
        lr=a.lr,
        warmup=100,
        lr_decay="constant",
        ema_decay=tr["ema_decay"],
        p_uncond=a.p_uncond,
        grad_clip=tr["grad_clip"],
        device="cpu",
        seed=a.seed,
        progress=False,
        # in this order: the evaluation, then the stop test that reads it
        callbacks=[evaluate_every(a.eval_every, evaluate, log), stop_when(a.eval_every, done)],
    )
    result = {
        "model": f"UNet base_channels={a.base_channels}, {n_params / 1e6:.2f}M parameters",
        "batch_size": a.batch_size,
        "lr": a.lr,
        "p_uncond": a.p_uncond,
        "eval": f"{a.n_eval} DDIM-{EVAL_STEPS} samples, w={EVAL_W:g}",
        "classifier_sha256": getattr(classifier, "sha256", None),
        "minutes_to_accuracy": reached,
        "steps": res.step,
        "stopped": stop["reason"] if res.stopped else "step limit",
        "log": log,
    }
    print(json.dumps({k: result[k] for k in ("model", "minutes_to_accuracy", "steps", "stopped")}, indent=1))
    try:
        path = write_result(a.experiment, result, prov, root=a.results_dir, overwrite=a.overwrite)
    except ResultError as err:  # e.g. another run wrote the file meanwhile
        p.error(str(err))
    print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
