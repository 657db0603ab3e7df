"""Sampler benchmark: sample quality against model evaluations (NFE) and wall time.

The models it measures are built in :mod:`.bench_models`.

Each (sampler, steps) pair starts from the same ``n`` points x_T and records the model evaluations
per sample (NFE, from the sampler's ``stats``), wall and CPU time per sample, the device, and the
metrics: 2-D, ``toy.metrics.evaluate_2d`` against the exact ring of 8 Gaussians; MNIST,
``image_metrics.evaluate_images`` of guided samples. The "floor" rows measure real data at the same
``n``. The command line is ``python -m diffusion_course bench``; results go through the results
writer to ``assets/results/bench_<model>/``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..samplers.registry import SAMPLERS, get_sampler
from ..tables import round_sig

__all__ = [
    "STEPS",
    "DEFAULTS",
    "Bench",
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
