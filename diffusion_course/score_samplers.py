"""Score-based samplers: probability-flow ODE (Euler, Heun), reverse SDE, annealed Langevin.

Same signature and conventions as :mod:`samplers` (which re-exports these functions).
The continuous view of the discrete VP schedule (Song et al. 2021, "Score-based generative
modeling through SDEs"): ``dx = -1/2 beta(t) x dt + sqrt(beta(t)) dW`` with
``abar(t) = exp(-int_0^t beta)``, so the integral of ``beta`` from timestep ``s`` to ``t`` is
``log(abar_s / abar_t)``, and the score is ``-eps / sigma_t``.

Probability-flow ODE variable: we integrate in the coordinates of Karras et al. 2022 (EDM),
``y = x / alpha`` and ``tau = sigma / alpha`` (the "sigma" of a variance-exploding process),
where the ODE is ``dy / dtau = eps(x, t)``. Euler in these coordinates is exactly DDIM with eta 0
(Song et al. 2021, DDIM sec. 4.3); Heun adds the second-order correction except on the last
step, to ``tau = 0``, which is an Euler step (EDM Algorithm 1).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from ._sampling import Denoiser, noise_like

__all__ = ["pf_ode_euler", "pf_ode_heun", "reverse_sde_em", "annealed_langevin"]


def pf_ode_euler(model: Callable, x_T: Tensor, schedule, timesteps, *, prediction: str = "eps",
                 generator: torch.Generator | None = None, callback: Callable | None = None,
                 clip_x0: float | None = None, stats: dict | None = None) -> Tensor:
    """Probability-flow ODE, Euler in ``(y, tau) = (x / alpha, sigma / alpha)`` (Song et al. 2021; Karras et al. 2022).

    ``y_s = y_t + (tau_s - tau_t) eps``, i.e. ``x_s = alpha_s x0_pred + sigma_s eps_pred``, the
    same step as DDIM with eta 0. ``generator`` is unused (deterministic).
    """
    den = Denoiser(model, x_T, schedule, timesteps, prediction, clip_x0, stats, callback)
    x = x_T
    for i, t, s in den.steps():
        x0, eps = den(x, t)
        a_s, sig_s = den.coeffs(s)
        x = a_s * x0 + sig_s * eps
        den.report(i, t, x, x0)
    return x


def pf_ode_heun(model: Callable, x_T: Tensor, schedule, timesteps, *, prediction: str = "eps",
                generator: torch.Generator | None = None, callback: Callable | None = None,
                clip_x0: float | None = None, stats: dict | None = None) -> Tensor:
    """Probability-flow ODE, Heun's 2nd-order method in ``(x / alpha, sigma / alpha)`` (Karras et al. 2022, Alg. 1).

    Euler predictor ``y' = y_t + (tau_s - tau_t) eps_t``, then the trapezoid corrector
    ``y_s = y_t + (tau_s - tau_t) (eps_t + eps(x'_s, s)) / 2``; the last step to clean data stays
    Euler. Costs ``2 n - 1`` model evaluations for ``n`` timesteps. Needs ``alpha_t > 0``.
    """
    den = Denoiser(model, x_T, schedule, timesteps, prediction, clip_x0, stats, callback)
    if den.alpha_bar(den.timesteps[0]) <= 0.0:
        raise ValueError("pf_ode_heun needs alpha_bar > 0 at every timestep (not a zero-terminal-SNR "
                         "last timestep); start one timestep later or use dpm_solver_pp")
    x = x_T
    for i, t, s in den.steps():
        x0, eps = den(x, t)
        (a_t, sig_t), (a_s, sig_s) = den.coeffs(t), den.coeffs(s)
        dtau = sig_s / a_s - sig_t / a_t
        y_t = x / a_t
        x = a_s * (y_t + dtau * eps)  # Euler predictor
        if s is not None:
            _, eps_s = den(x, s)
            x = a_s * (y_t + dtau * 0.5 * (eps + eps_s))  # trapezoid corrector
        den.report(i, t, x, x0)
    return x


def reverse_sde_em(model: Callable, x_T: Tensor, schedule, timesteps, *, prediction: str = "eps",
                   generator: torch.Generator | None = None, callback: Callable | None = None,
                   clip_x0: float | None = None, stats: dict | None = None) -> Tensor:
    """Reverse-time VP SDE with Euler-Maruyama (Song et al. 2021, eq. 6; Anderson 1982).

    ``dx = [-1/2 beta x - beta score] dt + sqrt(beta) dW_bar`` run backwards: from ``t`` to ``s``
    with ``B = log(abar_s / abar_t)`` (the integral of beta over the step),
    ``x_s = (1 + B / 2) x_t + B score + sqrt(B) z``. The last step to clean data returns the
    denoised mean ``x0_pred = (x + sigma^2 score) / alpha`` (Tweedie; the "noise removal" step of
    Song et al.'s code) rather than an EM step.
    """
    den = Denoiser(model, x_T, schedule, timesteps, prediction, clip_x0, stats, callback)
    x = x_T
    for i, t, s in den.steps():
        x0, eps = den(x, t)
        if s is None:
            x = x0
        else:
            B = math.log(den.alpha_bar(s) / den.alpha_bar(t))
            score_coef = -B / den.coeffs(t)[1]  # B * score = -B eps / sigma_t
            x = (1.0 + 0.5 * B) * x + score_coef * eps + math.sqrt(B) * noise_like(x, generator)
        den.report(i, t, x, x0)
    return x


def annealed_langevin(model: Callable, x_T: Tensor, schedule, timesteps, *, prediction: str = "eps",
                      generator: torch.Generator | None = None, callback: Callable | None = None,
                      clip_x0: float | None = None, stats: dict | None = None,
                      n_inner: int = 20, step_size: float = 1e-4) -> Tensor:
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
    den = Denoiser(model, x_T, schedule, timesteps, prediction, clip_x0, stats, callback)
    sig_L = den.coeffs(den.timesteps[-1])[1]
    x = x_T
    for i, t, s in den.steps():
        sig_t = den.coeffs(t)[1]
        a = step_size * (sig_t / sig_L) ** 2
        for _ in range(n_inner):
            x0, eps = den(x, t)
            x = x - (0.5 * a / sig_t) * eps + math.sqrt(a) * noise_like(x, generator)  # score = -eps / sigma
        if s is None:
            x0, _ = den(x, t)
            x = x0
        den.report(i, t, x, x0)
    return x
