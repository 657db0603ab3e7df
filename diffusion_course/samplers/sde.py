"""Reverse-time VP SDE with Euler-Maruyama (Song et al. 2021; Anderson 1982).

The continuous view of the discrete VP schedule (Song et al. 2021, "Score-based generative
modeling through SDEs"): ``dx = -1/2 beta(t) x dt + sqrt(beta(t)) dW`` with
``abar(t) = exp(-int_0^t beta)``, so the integral of ``beta`` from timestep ``s`` to ``t`` is
``log(abar_s / abar_t)``, and the score is ``-eps / sigma_t``.

Signature and conventions: :mod:`diffusion_course.samplers` (the package docstring).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from .run import SamplerRun, noise_like

__all__ = ["reverse_sde_em"]


def reverse_sde_em(
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
) -> Tensor:
    """Reverse-time VP SDE with Euler-Maruyama (Song et al. 2021, eq. 6; Anderson 1982).

    ``dx = [-1/2 beta x - beta score] dt + sqrt(beta) dW_bar`` run backwards: from ``t`` to ``s``
    with ``B = log(abar_s / abar_t)`` (the integral of beta over the step),
    ``x_s = (1 + B / 2) x_t + B score + sqrt(B) z``. The last step to clean data returns the
    denoised mean ``x0_pred = (x + sigma^2 score) / alpha`` (Tweedie; the "noise removal" step of
    Song et al.'s code) rather than an EM step.
    """
    run = SamplerRun(model, x_T, schedule, timesteps, prediction, clip_x0, stats, callback)
    x = x_T
    for i, t, t_next in run.steps():
        x0, eps = run(x, t)
        if t_next is None:
            x = x0
        else:
            B = math.log(run.alpha_bar(t_next) / run.alpha_bar(t))
            score_coef = -B / run.coeffs(t)[1]  # B * score = -B eps / sigma_t
            x = (1.0 + 0.5 * B) * x + score_coef * eps + math.sqrt(B) * noise_like(x, generator)
        run.report(i, t, x, x0)
    return x
