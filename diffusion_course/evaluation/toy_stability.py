"""Training stability on the 2-D ring of 8 Gaussians: a GAN against a diffusion model, same data, same metrics.

The seed's claims: GANs are "unstable, prone to mode collapse, sensitive to hyperparameters";
diffusion has "very stable training ... excellent mode coverage". :func:`toy_run` trains one model
of either family at one learning rate and seed on ``data.make_toy("gaussians8")`` and measures its
samples against the exact mixture: modes covered (:func:`~diffusion_course.toy.metrics.mode_coverage`)
and the sliced Wasserstein distance to fresh data. :func:`summarize` turns runs into, per family
and learning rate, the share of runs that cover all 8 modes, the mean modes covered, and the spread
of the final distance.

The GAN: MLP generator and discriminator (Goodfellow et al. 2014), non-saturating loss, Adam
(0.5, 0.999). The diffusion model: the ``toy-ddpm`` recipe's MLP (Ho et al. 2020), sampled by
DDPM in 100 steps (the stochastic sampler: the deterministic ones let a few trajectories of this
toy MLP escape, which notebook 05 measures separately).
"""

from __future__ import annotations

import time

import torch

from ..data import make_toy
from ..diffusion.seeds import PerImageGenerator
from ..models.gan import MLPDiscriminator, MLPGenerator
from ..samplers.ddpm import ddpm
from ..toy.metrics import mode_coverage, sliced_wasserstein
from ..toy.oracle import GaussianMixture
from ..training.diffusion import train_diffusion
from ..training.gan import train_gan
from ..training.recipes import build_recipe
from .bench import RING

__all__ = ["FAMILIES_2D", "toy_run", "summarize"]

FAMILIES_2D = ("gan", "diffusion")


def _data(seed: int) -> torch.Tensor:
    return make_toy("gaussians8", 20000, generator=torch.Generator().manual_seed(1000 + seed))


def _gan_samples(lr: float, seed: int, steps: int, n: int, batch_size: int) -> tuple[torch.Tensor, list[float]]:
    torch.manual_seed(seed)
    g, d = MLPGenerator(latent_dim=8, hidden=128, depth=3), MLPDiscriminator(hidden=128, depth=3)
    res = train_gan(g, d, _data(seed), steps=steps, batch_size=batch_size, lr_g=lr, lr_d=lr, seed=seed, progress=False)
    with torch.no_grad():
        x = res.generator.eval()(PerImageGenerator(seed, range(n)).randn((n, 8)))
    return x, res.losses["generator"]


def _diffusion_samples(lr: float, seed: int, steps: int, n: int, batch_size: int) -> tuple[torch.Tensor, list[float]]:
    model, schedule, recipe = build_recipe("toy-ddpm", seed)
    tr = {**recipe["train"], "lr": lr, "steps": steps, "batch_size": batch_size}
    res = train_diffusion(model, _data(seed), schedule, seed=seed, progress=False, **tr)
    g = PerImageGenerator(seed, range(n))
    with torch.no_grad():
        x = ddpm(
            res.ema.eval(),
            g.randn((n, 2)),
            schedule,
            schedule.timesteps(100, "trailing"),
            prediction=tr["prediction"],
            generator=g,
        )
    return x, res.losses


def toy_run(family: str, lr: float, seed: int, steps: int = 3000, n: int = 2000, batch_size: int = 256) -> dict:
    """Train one 2-D model of ``family`` ("gan" or "diffusion") and measure its ``n`` samples."""
    if family not in FAMILIES_2D:
        raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES_2D}")
    t0 = time.perf_counter()
    run = _gan_samples if family == "gan" else _diffusion_samples
    x, losses = run(lr, seed, steps, n, batch_size)
    ring = GaussianMixture.ring(**RING)
    ref = ring.sample(n, generator=torch.Generator().manual_seed(99))[0].float()
    finite = bool(torch.isfinite(x).all())
    cov = mode_coverage(x.double(), ring) if finite else {"modes_covered": 0}
    w2 = sliced_wasserstein(x.float(), ref, generator=torch.Generator().manual_seed(0)) if finite else float("inf")
    return {
        "family": family,
        "lr": lr,
        "seed": seed,
        "steps": steps,
        "modes_covered": int(cov["modes_covered"]),
        "sliced_w2": round(float(w2), 4),
        "final_loss": round(sum(losses[-100:]) / max(1, len(losses[-100:])), 4),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def summarize(rows: list[dict], n_modes: int = RING["k"]) -> list[dict]:
    """Per (family, lr): runs, share covering all modes, mean modes covered, sliced W2 min/median/max."""
    out = []
    for key in dict.fromkeys((r["family"], r["lr"]) for r in rows):
        group = [r for r in rows if (r["family"], r["lr"]) == key]
        w2 = sorted(r["sliced_w2"] for r in group)
        out.append(
            {
                "family": key[0],
                "lr": key[1],
                "runs": len(group),
                "all_modes_pct": round(100 * sum(r["modes_covered"] == n_modes for r in group) / len(group), 1),
                "mean_modes": round(sum(r["modes_covered"] for r in group) / len(group), 2),
                "w2_min": w2[0],
                "w2_median": w2[len(w2) // 2],
                "w2_max": w2[-1],
            }
        )
    return out
