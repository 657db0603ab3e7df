"""DDIM sampling (Song, Meng & Ermon 2021): deterministic at eta 0, DDPM at eta 1.

Signature and conventions: :mod:`diffusion_course.samplers` (the package docstring).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from .run import SamplerRun, noise_like

__all__ = ["ddim"]


def ddim(
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
    eta: float = 0.0,
) -> Tensor:
    """DDIM sampling (Song, Meng & Ermon 2021, eq. 12); ``eta=0`` is deterministic.

    ``x_s = alpha_s x0 + sqrt(1 - abar_s - c^2) eps + c z`` with
    ``c = eta sqrt((1 - abar_s) / (1 - abar_t)) sqrt(1 - abar_t / abar_s)`` (eq. 16). With
    ``eta=1``, ``c^2`` is DDPM's posterior variance and the step is DDPM's (same noise draws,
    one per noisy step). The last step to clean data returns ``x0``.
    """
    if not (isinstance(eta, (int, float)) and eta >= 0):
        raise ValueError(f"eta must be a number >= 0; got {eta!r}")
    run = SamplerRun(model, x_T, schedule, timesteps, prediction, clip_x0, stats, callback)
    x = x_T
    for i, t, t_next in run.steps():
        x0, eps = run(x, t)
        ab_t, ab_next = run.alpha_bar(t), run.alpha_bar(t_next)
        c = eta * math.sqrt((1 - ab_next) / (1 - ab_t) * (1 - ab_t / ab_next))
        x = math.sqrt(ab_next) * x0 + math.sqrt(max(1 - ab_next - c * c, 0.0)) * eps
        if c > 0:
            x = x + c * noise_like(x, generator)
        run.report(i, t, x, x0)
    return x
