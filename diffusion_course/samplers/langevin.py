"""Annealed Langevin dynamics (Song & Ermon 2019) over the VP noise levels.

Signature and conventions: :mod:`diffusion_course.samplers` (the package docstring).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from .run import SamplerRun, noise_like

__all__ = ["annealed_langevin"]


def annealed_langevin(
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
    n_inner: int = 20,
    step_size: float = 1e-4,
) -> Tensor:
    """Annealed Langevin dynamics (Song & Ermon 2019, Algorithm 1) over the VP noise levels.

    For each timestep ``t`` (noise level ``sigma_t``), ``n_inner`` Langevin steps
    ``x <- x + a_t / 2 score(x, t) + sqrt(a_t) z`` with ``a_t = step_size sigma_t^2 / sigma_L^2``,
    ``sigma_L`` the noise level of the last timestep; this samples each noised marginal in turn.
    Then one more evaluation takes x to clean data with the denoised mean ``x0_pred`` (Tweedie).
    Costs ``n n_inner + 1`` evaluations; ``callback`` is called once per noise level (the last
    report is the denoised output).
    """
    if isinstance(n_inner, bool) or not isinstance(n_inner, int) or n_inner < 1:
        raise ValueError(f"n_inner must be an int >= 1; got {n_inner!r}")
    if not (isinstance(step_size, (int, float)) and step_size > 0):
        raise ValueError(f"step_size must be a positive number; got {step_size!r}")
    run = SamplerRun(model, x_T, schedule, timesteps, prediction, clip_x0, stats, callback)
    sig_L = run.coeffs(run.timesteps[-1])[1]
    x = x_T
    for i, t, t_next in run.steps():
        sig_t = run.coeffs(t)[1]
        a = step_size * (sig_t / sig_L) ** 2
        for _ in range(n_inner):
            x0, eps = run(x, t)
            x = x - (0.5 * a / sig_t) * eps + math.sqrt(a) * noise_like(x, generator)  # score = -eps / sigma
        if t_next is None:
            x0, _ = run(x, t)
            x = x0
        run.report(i, t, x, x0)
    return x
