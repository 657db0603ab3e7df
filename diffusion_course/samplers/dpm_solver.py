"""DPM-Solver++ multistep (Lu et al. 2022): an exponential integrator in log-SNR.

Signature and conventions: :mod:`diffusion_course.samplers` (the package docstring).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from .run import SamplerRun

__all__ = ["dpm_solver_pp"]


def _log_snr_half(alpha: float, sigma: float) -> float:
    """``lambda = log(alpha / sigma)``, with -inf at alpha 0 and +inf at sigma 0."""
    if alpha == 0.0:
        return -math.inf
    return math.inf if sigma == 0.0 else math.log(alpha) - math.log(sigma)


def dpm_solver_pp(
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
    order: int = 2,
) -> Tensor:
    """DPM-Solver++ multistep (Lu et al. 2022, "DPM-Solver++", Algorithm 2; order 3 as 3M).

    Exponential integrator of the data-prediction ODE in ``lambda``: with ``h = lambda_s -
    lambda_t``, ``x_s = (sigma_s / sigma_t) x_t + alpha_s (1 - e^{-h}) D``, where ``D`` is x0_pred
    (order 1, which is DDIM with eta 0), corrected by a linear (order 2) or quadratic (order 3)
    extrapolation in ``lambda`` through the previous steps' x0_preds. Lower orders are used
    where history is short and at the final steps (order at step i of n is
    ``min(order, i + 1, n - i)``); the last step to clean data (``lambda = +inf``, ``e^{-h} = 0``)
    is first order and returns x0_pred. ``generator`` is unused (deterministic).
    """
    if order not in (1, 2, 3):
        raise ValueError(f"order must be 1, 2 or 3; got {order!r}")
    run = SamplerRun(model, x_T, schedule, timesteps, prediction, clip_x0, stats, callback)
    n, x = len(run.timesteps), x_T
    lams: list[float] = []
    x0s: list[Tensor] = []
    for i, t, t_next in run.steps():
        x0, _ = run(x, t)
        (a_t, sig_t), (a_next, sig_next) = run.coeffs(t), run.coeffs(t_next)
        lams, x0s = (lams + [_log_snr_half(a_t, sig_t)])[-3:], (x0s + [x0])[-3:]
        k = min(order, i + 1, n - i)
        if t_next is None:
            x = x0
        else:
            h = _log_snr_half(a_next, sig_next) - lams[-1]
            exp_neg_h = (sig_next * a_t) / (a_next * sig_t)  # e^{-h}, exact also at alpha_t = 0
            x = (sig_next / sig_t) * x + (a_next * (1.0 - exp_neg_h)) * _dpmpp_D(k, h, lams, x0s)
        run.report(i, t, x, x0)
    return x


def _dpmpp_D(k: int, h: float, lams: list[float], x0s: list[Tensor]) -> Tensor:
    """The x0 term of a DPM-Solver++ step: x0_pred plus finite-difference corrections."""
    m0 = x0s[-1]
    if k == 1:
        return m0
    r0 = (lams[-1] - lams[-2]) / h
    d1_0 = (m0 - x0s[-2]) / r0
    if k == 2:
        return m0 + 0.5 * d1_0  # Lu et al. 2022b, Alg. 2: (1 + 1/2r) m0 - 1/2r m1
    r1 = (lams[-2] - lams[-3]) / h
    d1_1 = (x0s[-2] - x0s[-3]) / r1
    d1 = d1_0 + (r0 / (r0 + r1)) * (d1_0 - d1_1)
    d2 = (d1_0 - d1_1) / (r0 + r1)
    # weights of u and u^2/2 in the integral of e^{u-h} x0(lambda_t + u) over [0, h], over its mass
    phi1 = -math.expm1(-h)  # 1 - e^{-h}
    w1 = (h - phi1) / (h * phi1)  # for d1 ~ h x0'
    w2 = (h * h / 2 - h + phi1) * 2 / (h * h * phi1)  # for d2 ~ h^2 x0'' / 2
    return m0 + w1 * d1 + w2 * d2
