"""Sampler benchmark: sample quality against model evaluations (NFE) and wall time.

    python -m diffusion_course bench --model oracle     # exact 2-D mixture denoiser (no model error)
    python -m diffusion_course bench --model toy        # MLP trained on gaussians8 (cached after one run)
    python -m diffusion_course bench --model mnist      # the shipped MNIST checkpoint, a small sweep

Each (sampler, steps) pair starts from the same ``n`` points x_T and records the model evaluations
per sample (NFE, from the sampler's ``stats``), wall and CPU time per sample, the device, and the
metrics: 2-D, ``metrics.evaluate_2d`` against the exact ring of 8 Gaussians; MNIST,
``image_metrics.evaluate_images`` of guided samples. The "floor" rows measure real data at the same
``n``. Writes ``<out-dir>/bench_<model>.{csv,json,png}``; keeps existing files unless ``--overwrite``.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import platform
import shlex
import sys
import textwrap
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import Tensor

from . import samplers
from .bench_report import hardware, load_average, output_paths, write_results
from .config import ASSETS_DIR, cache_dir, device as pick_device
from .metrics import evaluate_2d, format_table, round_sig

__all__ = ["SAMPLERS", "STEPS", "DEFAULTS", "Bench", "oracle_bench", "toy_bench", "mnist_bench", "toy_model",
           "run_one", "sweep", "floor_spread", "output_paths", "main"]

# name -> (sampler function, fixed options); NFE per sample is n for all but Heun (2 n - 1)
SAMPLERS: dict[str, tuple[Callable, dict]] = {
    "ddpm": (samplers.ddpm, {}),
    "ddim": (samplers.ddim, {"eta": 0.0}),
    "ddim_eta1": (samplers.ddim, {"eta": 1.0}),
    "dpm_solver_pp": (samplers.dpm_solver_pp, {"order": 2}),
    "heun": (samplers.pf_ode_heun, {}),
    "euler_maruyama": (samplers.reverse_sde_em, {}),
}
STEPS = (5, 10, 20, 50, 100, 250, 1000)
DEFAULTS = {
    "oracle": {"n": 2000, "steps": STEPS, "samplers": tuple(SAMPLERS), "batch_size": 2000},
    "toy": {"n": 2000, "steps": STEPS, "samplers": tuple(SAMPLERS), "batch_size": 2000},
    "mnist": {"n": 200, "steps": (10, 20, 50), "samplers": ("ddim", "dpm_solver_pp", "heun", "ddpm"),
              "batch_size": 100},
}
RING = {"k": 8, "radius": 2.0, "std": 0.15}  # = data.make_toy("gaussians8")
# Cost of one guided UNet evaluation per image: 15.7 ms of CPU time with 1 thread (measured here,
# batch 20; 15-22 ms at batch 50-200); 9-10.5 ms on 2 idle cores in two runs of the default sweep
# (assets/results/cpu_default).
MNIST_HELP = (
    "MNIST cost: one guided evaluation (conditional and unconditional branch in one doubled batch) of the "
    "1.7M-parameter UNet costs about 16 ms per image with 1 CPU thread and 9-10.5 ms on 2 idle CPU cores. "
    "The default sweep (n=200; ddim, dpm_solver_pp, heun, ddpm at 10, 20, 50 steps: 397 NFE per image) took "
    "12-14 minutes on 2 idle CPU cores; the full sweep (all 6 samplers at 5..1000 steps: 10038 NFE per image) "
    "would take about 5-6 hours there at n=200 and 25-29 hours at n=1000. On one NVIDIA H100 (batch 1000) a guided "
    "evaluation costs about 0.046 ms per image: all 6 samplers at 5..100 steps (1285 NFE per image) took 79 s "
    "at n=1000, so the full sweep would take about 8 minutes there.")


@dataclass
class Bench:
    """What a sweep needs to know about one model: schedule, prediction, sample shape, the
    denoiser for samples ``[sl]`` (``model_for(sl)``), the metrics and the real-data floor."""
    model: str
    description: str
    schedule: object
    prediction: str
    shape: tuple[int, ...]
    model_for: Callable[[slice], Callable]
    evaluate: Callable[[Tensor], dict]
    floor: Callable[[int, int], dict]  # (n, seed) -> metrics of n real samples
    plot_metrics: tuple[str, ...]
    clip_x0: float | None = None
    floor_seeds: int = 5


def _bench_2d(name: str, description: str, model: Callable, schedule, prediction: str) -> Bench:
    from .oracle import GaussianMixture
    mix = GaussianMixture.ring(**RING)
    # "outliers_pct": % of samples where log p(x) is below the 0.1% quantile of log p over real data
    # (so real data scores about 0.1); a few far-off points dominate mean log-likelihood and W2
    real = mix.sample(100_000, generator=torch.Generator().manual_seed(999))[0]
    threshold = torch.quantile(mix.log_prob(real), 0.001)

    def ev(x: Tensor) -> dict:
        out = evaluate_2d(x, mix, generator=torch.Generator().manual_seed(0))
        return {**out, "outliers_pct": round_sig(100 * float((mix.log_prob(x) < threshold).double().mean()), 2)}

    floor = lambda n, seed: ev(mix.sample(n, generator=torch.Generator().manual_seed(12345 + seed))[0])  # noqa: E731
    return Bench(name, description, schedule, prediction, (2,), lambda sl: model, ev, floor,
                 ("sliced_w2", "mmd_rbf", "log_likelihood", "outliers_pct"))


def oracle_bench() -> Bench:
    """The exact eps of GaussianMixture.ring(8, 2.0, 0.15) under the toy recipe's linear schedule."""
    from .oracle import GaussianMixture, MixtureDenoiser
    from .schedules import make_schedule
    from .recipes import RECIPES
    s = RECIPES["toy-ddpm"]["schedule"]
    schedule = make_schedule(s["name"], T=s["T"], zero_terminal_snr=s["zero_terminal_snr"])
    den = MixtureDenoiser(GaussianMixture.ring(**RING), schedule, "eps")
    return _bench_2d("oracle", "exact MixtureDenoiser (eps) of GaussianMixture.ring(8, radius=2.0, std=0.15), "
                     f"{s['name']} schedule T={s['T']} (toy-ddpm recipe's): sampler error only", den, schedule, "eps")


def toy_model(seed: int = 0, train_steps: int | None = None, device=None, progress: bool = True):
    """The toy-ddpm recipe's MLP trained on gaussians8 (Ho et al. 2020, Algorithm 1), cached under
    ``config.cache_dir()/bench`` by a hash of its settings. Returns ``(EMA model, config)``."""
    from .checkpoints import load_checkpoint, save_checkpoint
    from .recipes import build_recipe, load_data
    from .train import train_diffusion
    model, schedule, recipe = build_recipe("toy-ddpm", seed)
    tr, data = dict(recipe["train"]), {"name": "toy", "toy": "gaussians8", "n": 20000}
    tr["steps"] = train_steps or tr["steps"]
    key = json.dumps({"model": recipe["model"], "schedule": recipe["schedule"], "train": tr, "data": data,
                      "seed": seed}, sort_keys=True)
    path = cache_dir() / "bench" / f"toy-gaussians8-{hashlib.sha256(key.encode()).hexdigest()[:12]}.pt"
    if path.exists():
        return load_checkpoint(path, map_location=device or "cpu")
    print(f"training the toy model ({tr['steps']} steps; cached at {path})", file=sys.stderr)
    config = {"recipe": "toy-ddpm", "data": data, "schedule": recipe["schedule"],
              "description": "toy-ddpm recipe's MLP trained on gaussians8 by diffusion_course.bench"}
    res = train_diffusion(model, load_data(data, seed), schedule, device=device, seed=seed, progress=progress,
                          config=config, **tr)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, res.ema, res.config, half=False, overwrite=True)
    return res.ema.eval(), res.config


def toy_bench(seed: int = 0, train_steps: int | None = None, device=None, progress: bool = True) -> Bench:
    """A trained MLP (toy-ddpm recipe on gaussians8): sampler error plus model error."""
    from .evaluate import schedule_of
    model, config = toy_model(seed, train_steps, device, progress)
    desc = (f"MLPDenoiser {model.config} trained {config['steps']} steps on gaussians8 "
            f"(toy-ddpm recipe, {config['prediction']}, {config['schedule']['name']} schedule)")
    return _bench_2d("toy", desc, model, schedule_of(config), config["prediction"])


def mnist_bench(n: int, w: float = 0.5, device=None) -> Bench:
    """The shipped class-conditional MNIST UNet with classifier-free guidance weight ``w``
    (scale 1 + w; Ho & Salimans 2022), labels ``arange(n) % 10``."""
    from . import image_metrics, metric_reports
    from .evaluate import load_model, schedule_of
    model, config = load_model("mnist-ddpm", map_location=device or "cpu")
    labels = torch.arange(n) % 10
    dev = next(model.parameters()).device
    size = config.get("image_size", 28)
    return Bench("mnist", f"shipped mnist-ddpm checkpoint, guidance w={w} (scale {1 + w}), labels balanced "
                 "over digits; metrics on the course's MNIST classifier features (not Inception FID)",
                 schedule_of(config), config["prediction"], (model.in_channels, size, size),
                 lambda sl: samplers.guided(model, labels[sl].to(dev), 1.0 + w, model.null_label),
                 lambda x: image_metrics.evaluate_images(x, labels=labels),
                 lambda n, seed: metric_reports.real_floor(n, seed), ("mnist_classifier_fid", "class_accuracy_pct"),
                 1.0, floor_seeds=3)


def _timesteps(schedule, steps: int, spacing: str) -> Tensor:
    return samplers.logsnr_timesteps(schedule, steps) if spacing == "logsnr" else schedule.timesteps(steps, spacing)


@torch.no_grad()
def _sample(bench: Bench, sampler: str, x_T: Tensor, ts, sl: slice, g=None, stats=None) -> Tensor:
    fn, opts = SAMPLERS[sampler]
    return fn(bench.model_for(sl), x_T, bench.schedule, ts, prediction=bench.prediction, generator=g,
              clip_x0=bench.clip_x0, stats=stats, **opts)


@torch.no_grad()
def run_one(bench: Bench, sampler: str, steps: int, n: int, *, seed: int = 0, spacing: str = "trailing",
            device: torch.device | str = "cpu", batch_size: int | None = None) -> dict:
    """Sample ``n`` points with one sampler at ``steps`` timesteps; time it and measure the samples.

    Every call draws the same x_T (seed ``seed``), so rows differ only by the sampler.
    Returns a row ``{sampler, steps, nfe, ms_per_sample, cpu_ms_per_sample, device, **metrics}``.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; expected one of {sorted(SAMPLERS)}")
    device, g, stats = torch.device(device), torch.Generator().manual_seed(seed), {}
    ts = _timesteps(bench.schedule, steps, spacing)
    x_T, bs = torch.randn((n, *bench.shape), generator=g), batch_size or n
    wall, cpu = time.perf_counter(), time.process_time()
    out = [_sample(bench, sampler, x_T[i:i + bs].to(device), ts, slice(i, i + bs), g, stats).cpu()
           for i in range(0, n, bs)]  # .cpu() waits for the device
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    x = torch.cat(out)
    if bench.clip_x0 is not None:
        x = x.clamp(-bench.clip_x0, bench.clip_x0)
    return {"sampler": sampler, "steps": steps, "nfe": stats["nfe"], "ms_per_sample": round_sig(1e3 * wall / n),
            "cpu_ms_per_sample": round_sig(1e3 * cpu / n), "device": str(device), **bench.evaluate(x)}


def sweep(bench: Bench, sampler_names: Sequence[str], steps: Sequence[int], n: int, *, seed: int = 0,
          spacing: str = "trailing", device="cpu", batch_size: int | None = None, verbose: bool = True) -> list[dict]:
    """:func:`run_one` for every sampler and step count, in that order."""
    k = min(n, batch_size or n, 64)
    for name in sampler_names:  # warm-up: first calls pay for lazy initialisation; keep it out of the timings
        _sample(bench, name, torch.randn((k, *bench.shape), device=device), _timesteps(bench.schedule, 2, spacing),
                slice(0, k))
    rows = []
    for name in sampler_names:
        for s in steps:
            rows.append(run_one(bench, name, s, n, seed=seed, spacing=spacing, device=device, batch_size=batch_size))
            if verbose:
                r = rows[-1]
                print(f"{name:>15} {s:>5} steps  nfe {r['nfe']:>5}  {r['ms_per_sample']} ms/sample  "
                      + "  ".join(f"{k} {r[k]}" for k in bench.plot_metrics), file=sys.stderr, flush=True)
    return rows


def floor_spread(bench: Bench, n: int) -> tuple[dict, dict]:
    """The real-data floor at ``n`` (seed 0) and, per numeric metric, its ``[min, max]`` over
    ``bench.floor_seeds`` independent real sample sets: differences inside it are sampling noise."""
    floors = [bench.floor(n, seed) for seed in range(bench.floor_seeds)]
    numeric = [k for k, v in floors[0].items()
               if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("n", "n_reference")]
    return floors[0], {k: [min(f[k] for f in floors), max(f[k] for f in floors)] for k in numeric}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m diffusion_course bench", description=__doc__,
                                epilog=textwrap.fill(MNIST_HELP, 100), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, choices=sorted(DEFAULTS))
    p.add_argument("--samplers", nargs="+", choices=list(SAMPLERS), help="default: all for 2-D; "
                   f"{' '.join(DEFAULTS['mnist']['samplers'])} for mnist")
    p.add_argument("--steps", nargs="+", type=int, help=f"default: {' '.join(map(str, STEPS))} for 2-D; "
                   f"{' '.join(map(str, DEFAULTS['mnist']['steps']))} for mnist")
    p.add_argument("--n", type=int, help="samples per point (default 2000 for 2-D, 200 for mnist)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--spacing", default="trailing", choices=["trailing", "leading", "linspace", "logsnr"])
    p.add_argument("--device", help="cpu, cuda, mps (default: DIFFUSION_COURSE_DEVICE, else the best available)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's; on a busy machine "
                   "1 thread can be many times faster than 2)")
    p.add_argument("--batch-size", type=int, help="samples per sampler call (default 2000 for 2-D, 100 for mnist)")
    p.add_argument("--guidance", type=float, default=0.5, help="mnist: guidance weight w (scale 1 + w)")
    p.add_argument("--train-steps", type=int, help="toy: training steps (default: the toy-ddpm recipe's)")
    p.add_argument("--out-dir", default=str(ASSETS_DIR / "results"))
    p.add_argument("--overwrite", action="store_true", help="replace existing bench_<model> results")
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m diffusion_course bench``: run a sweep and write CSV, JSON and a plot."""
    argv = list(sys.argv[1:] if argv is None else argv)
    a = _parser().parse_args(argv)
    d = DEFAULTS[a.model]
    names, steps = a.samplers or list(d["samplers"]), a.steps or list(d["steps"])
    n, bs = a.n or d["n"], a.batch_size or d["batch_size"]
    if n < (10 if a.model == "mnist" else 2) or min(steps) < 1 or bs < 1:
        print(f"error: need --n >= {10 if a.model == 'mnist' else 2}, --steps >= 1, --batch-size >= 1", file=sys.stderr)
        return 2
    try:
        paths = output_paths(a.out_dir, a.model, a.overwrite)
    except FileExistsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = pick_device(a.device)
    load_start = load_average()
    t0 = time.perf_counter()
    bench = {"oracle": lambda: oracle_bench(),
             "toy": lambda: toy_bench(a.seed, a.train_steps, dev, not a.quiet),
             "mnist": lambda: mnist_bench(n, a.guidance, dev)}[a.model]()
    if max(steps) > bench.schedule.T:
        print(f"error: --steps must be in 1..{bench.schedule.T} for this schedule", file=sys.stderr)
        return 2
    rows = sweep(bench, names, steps, n, seed=a.seed, spacing=a.spacing, device=dev, batch_size=bs,
                 verbose=not a.quiet)
    floor, spread = floor_spread(bench, n)
    result = {"command": "python -m diffusion_course bench " + shlex.join(argv), "model": a.model,
              "description": bench.description, "n": n, "seed": a.seed, "spacing": a.spacing,
              "samplers": {k: {"function": SAMPLERS[k][0].__name__, **SAMPLERS[k][1]} for k in names},
              "steps": steps, "hardware": hardware(dev), "load_average_at_start": load_start,
              "torch": torch.__version__, "python": platform.python_version(),
              "date": _dt.datetime.now().isoformat(timespec="seconds"), "wall_seconds": round(time.perf_counter() - t0),
              "notes": "ms_per_sample: wall time of the sampler calls / n; cpu_ms_per_sample: this process's CPU "
                       "time / n (all threads). On a busy machine (see the load averages) wall times are "
                       "inflated; CPU time with 1 thread is close to an idle machine's wall time. The floor "
                       "row measures real data against the same reference at the same n; floor_spread is "
                       "its [min, max] over independent real sample sets (the metrics' sampling noise).",
              "floor": floor, "floor_spread": spread, "floor_seeds": list(range(bench.floor_seeds)), "rows": rows}
    if a.model == "mnist":
        from .evaluate import checkpoint_sha256
        result["guidance_w"] = a.guidance
        result["checkpoint_sha256"] = checkpoint_sha256("mnist-ddpm")  # which weights were measured
        result["cost_note"] = MNIST_HELP
        full_nfe = sum((2 * s - 1 if k == "heun" else s) for k in SAMPLERS for s in STEPS)
        est = result["full_sweep_estimate"] = {"nfe_per_image": full_nfe}
        for kind in ("ms", "cpu_ms"):  # from this run's measured cost per image and guided evaluation
            per = sum(r[f"{kind}_per_sample"] / r["nfe"] for r in rows) / len(rows)
            est[f"{kind}_per_image_nfe"] = round_sig(per)
            est.update({f"hours_at_n{m}_from_{kind}": round_sig(per * full_nfe * m / 3.6e6, 2) for m in (200, 1000)})
    write_results(paths, result, bench.plot_metrics)
    if not a.quiet:
        print(format_table(rows + [{"sampler": "floor", **floor}], title=f"bench {a.model}: n={n} per row"))
        print("wrote " + ", ".join(map(str, paths.values())))
    return 0
