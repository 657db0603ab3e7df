"""Sampling noise of the guided MNIST-classifier FID: the shipped checkpoint at one guidance weight,
DDIM (Song et al. 2021) with classifier-free guidance (Ho & Salimans 2022), over several sample seeds,
with and without clipping the predicted x0, unguided, and a 400-step DDPM chain with "leading" spacing
(the step count of the issue's reference; that spacing starts at t = 798 and loses accuracy).

    python benchmarks/guidance_seed_spread.py --device cuda          # ~1.5 min on one H100
    python benchmarks/guidance_seed_spread.py --n 200 --device cpu   # a smaller CPU run
    python benchmarks/guidance_seed_spread.py --device cpu --groups seeds --seeds 1 2   # 27 min on 2 CPU cores

One FID at n = 1000 is one draw of a noisy estimate: this prints how far the ratio to the
real-vs-real floor moves when only the starting noises change, so that a goal like "at most 1.7x
the floor" is read against that spread. Writes JSON (refusing to overwrite).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

import torch

from diffusion_course import image_metrics, metric_reports, samplers
from diffusion_course.bench_report import hardware
from diffusion_course.checkpoints import load_pretrained
from diffusion_course.config import device as pick_device
from diffusion_course.evaluate import checkpoint_sha256, schedule_of

GROUPS = ("seeds", "noclip", "unguided", "ddpm400")


def one_run(
    model,
    config: dict,
    n: int,
    w: float,
    seed: int,
    *,
    sampler: str = "ddim",
    steps: int = 50,
    spacing: str = "trailing",
    clip: float | None = 1.0,
) -> dict:
    """Guided samples (labels 0..9 in turn) from the noises of ``seed``; metrics against real test digits."""
    dev = next(model.parameters()).device
    schedule = schedule_of(config)
    labels = torch.arange(n) % 10
    g = torch.Generator().manual_seed(seed)
    x_T = torch.randn((n, 1, 28, 28), generator=g).to(dev)
    fn = samplers.guided(model, labels.to(dev), 1.0 + w, model.null_label)
    opts = {"generator": g} if sampler == "ddpm" else {}
    start = time.perf_counter()
    with torch.no_grad():
        x = getattr(samplers, sampler)(
            fn,
            x_T,
            schedule,
            schedule.timesteps(steps, spacing),
            prediction=config["prediction"],
            clip_x0=clip,
            **opts,
        )
    seconds = time.perf_counter() - start
    r = image_metrics.evaluate_images(x.cpu().clamp(-1, 1), labels=labels)
    return {
        "w": w,
        "sampler": sampler,
        "steps": steps,
        "spacing": spacing,
        "clip_x0": clip,
        "seed": seed,
        "class_accuracy_pct": r["class_accuracy_pct"],
        "mnist_classifier_fid": r["mnist_classifier_fid"],
        "precision_pct": r["precision_pct"],
        "recall_pct": r["recall_pct"],
        "seconds": round(seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--w", type=float, default=0.5, help="guidance weight (scale 1 + w)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--device", default=None)
    p.add_argument("--out", default="assets/results/mnist_guidance_seeds.json")
    p.add_argument(
        "--groups",
        nargs="+",
        choices=GROUPS,
        default=list(GROUPS),
        help="which runs: the seeds with x0 clipping, the first two without, unguided, DDPM-400 "
        "(the last is 16x the cost of a DDIM-50 run)",
    )
    p.add_argument("--overwrite", action="store_true")
    a = p.parse_args(argv)
    if Path(a.out).exists() and not a.overwrite:
        p.error(f"{a.out} exists; pass --overwrite to replace it")
    model, config = load_pretrained("mnist-ddpm")
    dev = pick_device(a.device)
    model = model.to(dev).eval()
    floor = metric_reports.real_floor(a.n)["mnist_classifier_fid"]
    s0 = a.seeds[0]
    runs = {
        "seeds": [dict(w=a.w, seed=s) for s in a.seeds],  # DDIM-50, x0 clipped (the sweep's)
        "noclip": [dict(w=a.w, seed=s, clip=None) for s in a.seeds[:2]],  # the same without clipping
        "unguided": [dict(w=0.0, seed=s0, clip=None)],
        "ddpm400": [dict(w=a.w, seed=s0, sampler="ddpm", steps=400, spacing="leading", clip=c) for c in (1.0, None)],
    }
    runs = [kw for group in GROUPS if group in a.groups for kw in runs[group]]
    rows = []
    for kw in runs:  # DDPM-400 "leading" starts at t = 798 (T // 400 = 2): see schedules.timesteps
        row = one_run(model, config, a.n, **kw)
        row["fid_over_floor"] = round(row["mnist_classifier_fid"] / floor, 2)
        rows.append(row)
        print(
            {
                k: row[k]
                for k in (
                    "w",
                    "sampler",
                    "steps",
                    "spacing",
                    "clip_x0",
                    "seed",
                    "class_accuracy_pct",
                    "mnist_classifier_fid",
                    "fid_over_floor",
                    "recall_pct",
                )
            },
            flush=True,
        )
    result = {
        "command": "python benchmarks/guidance_seed_spread.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "checkpoint": "mnist-ddpm",
        "checkpoint_sha256": checkpoint_sha256("mnist-ddpm"),
        "n": a.n,
        "w": a.w,
        "floor_fid": floor,
        "rows": rows,
        "hardware": hardware(dev),
        "torch": torch.__version__,
        "date": str(date.today()),
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1))
    print("wrote", a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
