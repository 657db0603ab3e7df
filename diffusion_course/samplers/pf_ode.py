"""Probability-flow ODE samplers, Euler and Heun (Song et al. 2021; Karras et al. 2022).

Probability-flow ODE variable: we integrate in the coordinates of Karras et al. 2022 (EDM),
``y = x / alpha`` and ``tau = sigma / alpha`` (the "sigma" of a variance-exploding process),
where the ODE is ``dy / dtau = eps(x, t)``. Euler in these coordinates is exactly DDIM with eta 0
(Song et al. 2021, DDIM sec. 4.3); Heun adds the second-order correction except on the last
step, to ``tau = 0``, which is an Euler step (EDM Algorithm 1).

Signature and conventions: :mod:`diffusion_course.samplers` (the package docstring).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .run import SamplerRun

__all__ = ["pf_ode_euler", "pf_ode_heun"]


def pf_ode_euler(
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
    """Probability-flow ODE, Euler in ``(y, tau) = (x / alpha, sigma / alpha)`` (Song et al. 2021; Karras et al. 2022).

    ``y_s = y_t + (tau_s - tau_t) eps``, i.e. ``x_s = alpha_s x0_pred + sigma_s eps_pred``, the
    same step as DDIM with eta 0. ``generator`` is unused (deterministic).
    """
    run = SamplerRun(model, x_T, schedule, timesteps, prediction, clip_x0, stats, callback)
    x = x_T
    for i, t, t_next in run.steps():
        x0, eps = run(x, t)
        a_next, sig_next = run.coeffs(t_next)
        x = a_next * x0 + sig_next * eps
        run.report(i, t, x, x0)
    return x


def pf_ode_heun(
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
    """Probability-flow ODE, Heun's 2nd-order method in ``(x / alpha, sigma / alpha)`` (Karras et al. 2022, Alg. 1).

    Euler predictor ``y' = y_t + (tau_s - tau_t) eps_t``, then the trapezoid corrector
    ``y_s = y_t + (tau_s - tau_t) (eps_t + eps(x'_s, s)) / 2``; the last step to clean data stays
    Euler. Costs ``2 n - 1`` model evaluations for ``n`` timesteps. Needs ``alpha_t > 0``.
    """
    run = SamplerRun(model, x_T, schedule, timesteps, prediction, clip_x0, stats, callback)
    if run.alpha_bar(run.timesteps[0]) <= 0.0:
        raise ValueError(
            "pf_ode_heun needs alpha_bar > 0 at every timestep (not a zero-terminal-SNR "
            "last timestep); start one timestep later or use dpm_solver_pp"
        )
    x = x_T
    for i, t, t_next in run.steps():
        x0, eps = run(x, t)
        (a_t, sig_t), (a_next, sig_next) = run.coeffs(t), run.coeffs(t_next)
        dtau = sig_next / a_next - sig_t / a_t
        y_t = x / a_t
        x = a_next * (y_t + dtau * eps)  # Euler predictor
        if t_next is not None:
            _, eps_next = run(x, t_next)
            x = a_next * (y_t + dtau * 0.5 * (eps + eps_next))  # trapezoid corrector
        run.report(i, t, x, x0)
    return x
