"""Sampler benchmark: sample quality against model evaluations (NFE) and wall time.

Each (sampler, steps) pair starts from the same ``n`` points x_T and records the model evaluations
per sample (NFE, from the sampler's ``stats``), wall and CPU time per sample, the device, and the
metrics: 2-D, ``toy.metrics.evaluate_2d`` against the exact ring of 8 Gaussians; MNIST,
``image_metrics.evaluate_images`` of guided samples. The "floor" rows measure real data at the same
``n``. The command line is ``python -m diffusion_course bench``; results go through the results
writer to ``assets/results/bench_<model>/``.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..config import cache_dir
from ..diffusion.guidance import guided, scale_of
from ..diffusion.schedules import schedule_from_config
from ..samplers.registry import SAMPLERS, get_sampler
from ..tables import round_sig
from ..toy.metrics import evaluate_2d

__all__ = [
    "STEPS",
    "DEFAULTS",
    "Bench",
    "oracle_bench",
    "toy_bench",
    "mnist_bench",
    "toy_model",
    "run_one",
    "sweep",
    "floor_spread",
    "full_sweep_nfe",
]

STEPS = (5, 10, 20, 50, 100, 250, 1000)
DEFAULTS = {
    "oracle": {"n": 2000, "steps": STEPS, "samplers": tuple(SAMPLERS), "batch_size": 2000},
    "toy": {"n": 2000, "steps": STEPS, "samplers": tuple(SAMPLERS), "batch_size": 2000},
    "mnist": {
        "n": 200,
        "steps": (10, 20, 50),
        "samplers": ("ddim", "dpm_solver_pp", "heun", "ddpm"),
        "batch_size": 100,
    },
}
RING = {"k": 8, "radius": 2.0, "std": 0.15}  # = data.make_toy("gaussians8")


def full_sweep_nfe() -> int:
    """Model evaluations per image of the full sweep: every registered sampler at every step count."""
    return sum(SAMPLERS[k].nfe(s) for k in SAMPLERS for s in STEPS)


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
    from ..toy.oracle import GaussianMixture

    mix = GaussianMixture.ring(**RING)
    # "outliers_pct": % of samples where log p(x) is below the 0.1% quantile of log p over real data
    # (so real data scores about 0.1); a few far-off points dominate mean log-likelihood and W2
    real = mix.sample(100_000, generator=torch.Generator().manual_seed(999))[0]
    threshold = torch.quantile(mix.log_prob(real), 0.001)

    def ev(x: Tensor) -> dict:
        out = evaluate_2d(x, mix, generator=torch.Generator().manual_seed(0))
        return {
            **out,
            "outliers_pct": round_sig(100 * float((mix.log_prob(x) < threshold).double().mean()), 2),
        }

    floor = lambda n, seed: ev(mix.sample(n, generator=torch.Generator().manual_seed(12345 + seed))[0])  # noqa: E731
    return Bench(
        name,
        description,
        schedule,
        prediction,
        (2,),
        lambda sl: model,
        ev,
        floor,
        ("sliced_w2", "mmd_rbf", "log_likelihood", "outliers_pct"),
    )


def oracle_bench() -> Bench:
    """The exact eps of GaussianMixture.ring(8, 2.0, 0.15) under the toy recipe's linear schedule."""
    from ..toy.oracle import GaussianMixture, MixtureDenoiser
    from ..training.recipes import RECIPES

    s = RECIPES["toy-ddpm"]["schedule"]
    schedule = schedule_from_config(RECIPES["toy-ddpm"])
    den = MixtureDenoiser(GaussianMixture.ring(**RING), schedule, "eps")
    return _bench_2d(
        "oracle",
        "exact MixtureDenoiser (eps) of GaussianMixture.ring(8, radius=2.0, std=0.15), "
        f"{s['name']} schedule T={s['T']} (toy-ddpm recipe's): sampler error only",
        den,
        schedule,
        "eps",
    )


def toy_model(seed: int = 0, train_steps: int | None = None, device=None, progress: bool = True):
    """The toy-ddpm recipe's MLP trained on gaussians8 (Ho et al. 2020, Algorithm 1), cached under
    ``config.cache_dir()/bench`` by a hash of its settings. Returns ``(EMA model, config)``."""
    from ..checkpoints import load_checkpoint, save_checkpoint
    from ..training.diffusion import train_diffusion
    from ..training.recipes import build_recipe, load_data

    model, schedule, recipe = build_recipe("toy-ddpm", seed)
    tr, data = dict(recipe["train"]), {"name": "toy", "toy": "gaussians8", "n": 20000}
    tr["steps"] = train_steps or tr["steps"]
    key = json.dumps(
        {
            "model": recipe["model"],
            "schedule": recipe["schedule"],
            "train": tr,
            "data": data,
            "seed": seed,
        },
        sort_keys=True,
    )
    path = cache_dir() / "bench" / f"toy-gaussians8-{hashlib.sha256(key.encode()).hexdigest()[:12]}.pt"
    if path.exists():
        return load_checkpoint(path, map_location=device or "cpu")
    print(f"training the toy model ({tr['steps']} steps; cached at {path})", file=sys.stderr)
    config = {
        "recipe": "toy-ddpm",
        "data": data,
        "schedule": recipe["schedule"],
        "description": "toy-ddpm recipe's MLP trained on gaussians8 by diffusion_course.bench",
    }
    res = train_diffusion(
        model,
        load_data(data, seed),
        schedule,
        device=device,
        seed=seed,
        progress=progress,
        config=config,
        **tr,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, res.ema, res.config, half=False, overwrite=True)
    return res.ema.eval(), res.config


def toy_bench(seed: int = 0, train_steps: int | None = None, device=None, progress: bool = True) -> Bench:
    """A trained MLP (toy-ddpm recipe on gaussians8): sampler error plus model error."""
    model, config = toy_model(seed, train_steps, device, progress)
    desc = (
        f"MLPDenoiser {model.config} trained {config['steps']} steps on gaussians8 "
        f"(toy-ddpm recipe, {config['prediction']}, {config['schedule']['name']} schedule)"
    )
    return _bench_2d("toy", desc, model, schedule_from_config(config), config["prediction"])


def mnist_bench(n: int, w: float = 0.5, device=None) -> Bench:
    """The shipped class-conditional MNIST UNet with classifier-free guidance weight ``w``
    (scale 1 + w; Ho & Salimans 2022), labels ``arange(n) % 10``."""
    from ..checkpoints import load_any
    from . import floors, image_metrics

    model, config = load_any("mnist-ddpm", map_location=device or "cpu")
    labels = torch.arange(n) % 10
    dev = next(model.parameters()).device
    size = config.get("image_size", 28)
    return Bench(
        "mnist",
        f"shipped mnist-ddpm checkpoint, guidance w={w} (scale {1 + w}), labels balanced "
        "over digits; metrics on the course's MNIST classifier features (not Inception FID)",
        schedule_from_config(config),
        config["prediction"],
        (model.in_channels, size, size),
        lambda sl: guided(model, labels[sl].to(dev), scale_of(w), model.null_label),
        lambda x: image_metrics.evaluate_images(x, labels=labels),
        lambda n, seed: floors.real_floor(n, seed),
        ("mnist_classifier_fid", "class_accuracy_pct"),
        1.0,
        floor_seeds=3,
    )


@torch.no_grad()
def _sample(bench: Bench, sampler: str, x_T: Tensor, ts, sl: slice, g=None, stats=None) -> Tensor:
    return get_sampler(sampler)(
        bench.model_for(sl),
        x_T,
        bench.schedule,
        ts,
        prediction=bench.prediction,
        generator=g,
        clip_x0=bench.clip_x0,
        stats=stats,
    )


@torch.no_grad()
def run_one(
    bench: Bench,
    sampler: str,
    steps: int,
    n: int,
    *,
    seed: int = 0,
    spacing: str = "trailing",
    device: torch.device | str = "cpu",
    batch_size: int | None = None,
) -> dict:
    """Sample ``n`` points with one sampler at ``steps`` timesteps; time it and measure the samples.

    Every call draws the same x_T (seed ``seed``), so rows differ only by the sampler.
    Returns a row ``{sampler, steps, nfe, ms_per_sample, cpu_ms_per_sample, device, **metrics}``.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; expected one of {sorted(SAMPLERS)}")
    device, g, stats = torch.device(device), torch.Generator().manual_seed(seed), {}
    ts = bench.schedule.timesteps(steps, spacing)
    x_T, bs = torch.randn((n, *bench.shape), generator=g), batch_size or n
    wall, cpu = time.perf_counter(), time.process_time()
    out = [
        _sample(bench, sampler, x_T[i : i + bs].to(device), ts, slice(i, i + bs), g, stats).cpu()
        for i in range(0, n, bs)
    ]  # .cpu() waits for the device
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    x = torch.cat(out)
    if bench.clip_x0 is not None:
        x = x.clamp(-bench.clip_x0, bench.clip_x0)
    return {
        "sampler": sampler,
        "steps": steps,
        "nfe": stats["nfe"],
        "ms_per_sample": round_sig(1e3 * wall / n),
        "cpu_ms_per_sample": round_sig(1e3 * cpu / n),
        "device": str(device),
        **bench.evaluate(x),
    }


def sweep(
    bench: Bench,
    sampler_names: Sequence[str],
    steps: Sequence[int],
    n: int,
    *,
    seed: int = 0,
    spacing: str = "trailing",
    device="cpu",
    batch_size: int | None = None,
    verbose: bool = True,
) -> list[dict]:
    """:func:`run_one` for every sampler and step count, in that order."""
    k = min(n, batch_size or n, 64)
    for name in sampler_names:  # warm-up: first calls pay for lazy initialisation; keep it out of the timings
        _sample(
            bench,
            name,
            torch.randn((k, *bench.shape), device=device),
            bench.schedule.timesteps(2, spacing),
            slice(0, k),
        )
    rows = []
    for name in sampler_names:
        for s in steps:
            rows.append(
                run_one(
                    bench,
                    name,
                    s,
                    n,
                    seed=seed,
                    spacing=spacing,
                    device=device,
                    batch_size=batch_size,
                )
            )
            if verbose:
                r = rows[-1]
                print(
                    f"{name:>15} {s:>5} steps  nfe {r['nfe']:>5}  {r['ms_per_sample']} ms/sample  "
                    + "  ".join(f"{k} {r[k]}" for k in bench.plot_metrics),
                    file=sys.stderr,
                    flush=True,
                )
    return rows


def floor_spread(bench: Bench, n: int) -> tuple[dict, dict]:
    """The real-data floor at ``n`` (seed 0) and, per numeric metric, its ``[min, max]`` over
    ``bench.floor_seeds`` independent real sample sets: differences inside it are sampling noise."""
    floors = [bench.floor(n, seed) for seed in range(bench.floor_seeds)]
    numeric = [
        k
        for k, v in floors[0].items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("n", "n_reference")
    ]
    return floors[0], {k: [min(f[k] for f in floors), max(f[k] for f in floors)] for k in numeric}
