"""DDPM ancestral sampling (Ho et al. 2020), on any subsequence of timesteps.

Signature and conventions: :mod:`diffusion_course.samplers` (the package docstring).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from .run import SamplerRun, noise_like

__all__ = ["ddpm", "VARIANCES"]


VARIANCES = ("posterior", "beta")


def ddpm(
    model: Callable,
    x_T: Tensor,
    schedule,
    timesteps,
    *,
    prediction: str = "eps",
    generator: torch.Generator | None = None,
    callback: Callable | None = None,
    clip_x0: float | None = None,
    stats: dict | None = None,
    variance: str = "posterior",
) -> Tensor:
    """DDPM ancestral sampling (Ho et al. 2020, Algorithm 2), on any subsequence of timesteps.

    From ``t`` to ``s`` the chain uses the respaced ``beta' = 1 - abar_t / abar_s`` (Nichol &
    Dhariwal 2021, sec. 4), so with all ``T`` timesteps it is exactly DDPM. The step draws from
    ``q(x_s | x_t, x0_pred) = N(mean, var)`` (Ho et al. eq. 7) with
    ``mean = sqrt(abar_s) beta' / (1 - abar_t) x0 + sqrt(1 - beta') (1 - abar_s) / (1 - abar_t) x_t``
    and ``var = beta' (1 - abar_s) / (1 - abar_t)`` (``variance="posterior"``, beta tilde) or
    ``beta'`` (``"beta"``). The last step to clean data returns the mean, without noise.
    """
    if variance not in VARIANCES:
        raise ValueError(f"unknown variance {variance!r}; expected one of {VARIANCES}")
    run = SamplerRun(model, x_T, schedule, timesteps, prediction, clip_x0, stats, callback)
    x = x_T
    for i, t, t_next in run.steps():
        x0, _ = run(x, t)
        ab_t, ab_next = run.alpha_bar(t), run.alpha_bar(t_next)
        beta = 1.0 - ab_t / ab_next
        mean = (math.sqrt(ab_next) * beta / (1 - ab_t)) * x0 + (math.sqrt(1 - beta) * (1 - ab_next) / (1 - ab_t)) * x
        if t_next is None:
            x = mean
        else:
            var = beta * (1 - ab_next) / (1 - ab_t) if variance == "posterior" else beta
            x = mean + math.sqrt(var) * noise_like(x, generator)
        run.report(i, t, x, x0)
    return x
