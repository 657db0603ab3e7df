"""Samplers for discrete-time diffusion models, as pure functions.

Every sampler has the signature::

    x0 = sampler(model, x_T, schedule, timesteps, *, prediction="eps", generator=None,
                 callback=None, clip_x0=None, stats=None, **opts)

``timesteps`` is a strictly descending sequence of training timesteps in ``0..T-1``
(``schedule.timesteps(n)``); step ``i`` goes from ``timesteps[i]`` to ``timesteps[i+1]``, and
the last step goes to clean data (``alpha_bar = 1``: alpha 1, sigma 0). ``model(x_t, t)`` returns
a prediction of kind ``prediction`` (eps, x0, v or score; converted with :mod:`param`).
``clip_x0=c`` clamps the predicted x0 to ``[-c, c]`` (and re-derives eps from it).
``callback(info)`` is called after every step with ``info = {"i", "t", "x", "x0_pred", "nfe"}``:
``x`` is the state after step ``i``, ``x0_pred`` the prediction made at timestep ``t``.
``stats["nfe"]`` counts model evaluations. Randomness only through ``generator``.

Notation (CONTRIBUTING.md): ``abar_t`` = ``schedule.alpha_bar[t]``, ``alpha_t = sqrt(abar_t)``,
``sigma_t = sqrt(1 - abar_t)``, ``lambda_t = log(alpha_t / sigma_t)``; ``s`` is the next
timestep. Here: DDPM, DDIM, DPM-Solver++ and classifier-free guidance; the probability-flow
ODE, reverse SDE and Langevin samplers live in :mod:`score_samplers` and are re-exported.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from ._sampling import Denoiser, noise_like
from .score_samplers import annealed_langevin, pf_ode_euler, pf_ode_heun, reverse_sde_em  # noqa: F401 (re-export)

__all__ = ["ddpm", "ddim", "dpm_solver_pp", "pf_ode_euler", "pf_ode_heun", "reverse_sde_em",
           "annealed_langevin", "guided", "logsnr_timesteps", "VARIANCES"]

VARIANCES = ("posterior", "beta")


def ddpm(model: Callable, x_T: Tensor, schedule, timesteps, *, prediction: str = "eps",
         generator: torch.Generator | None = None, callback: Callable | None = None,
         clip_x0: float | None = None, stats: dict | None = None,
         variance: str = "posterior") -> Tensor:
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
    den = Denoiser(model, x_T, schedule, timesteps, prediction, clip_x0, stats, callback)
    x = x_T
    for i, t, s in den.steps():
        x0, _ = den(x, t)
        ab_t, ab_s = den.alpha_bar(t), den.alpha_bar(s)
        beta = 1.0 - ab_t / ab_s
        mean = (math.sqrt(ab_s) * beta / (1 - ab_t)) * x0 + (math.sqrt(1 - beta) * (1 - ab_s) / (1 - ab_t)) * x
        if s is None:
            x = mean
        else:
            var = beta * (1 - ab_s) / (1 - ab_t) if variance == "posterior" else beta
            x = mean + math.sqrt(var) * noise_like(x, generator)
        den.report(i, t, x, x0)
    return x


def ddim(model: Callable, x_T: Tensor, schedule, timesteps, *, prediction: str = "eps",
         generator: torch.Generator | None = None, callback: Callable | None = None,
         clip_x0: float | None = None, stats: dict | None = None, eta: float = 0.0) -> Tensor:
    """DDIM sampling (Song, Meng & Ermon 2021, eq. 12); ``eta=0`` is deterministic.

    ``x_s = alpha_s x0 + sqrt(1 - abar_s - c^2) eps + c z`` with
    ``c = eta sqrt((1 - abar_s) / (1 - abar_t)) sqrt(1 - abar_t / abar_s)`` (eq. 16). With
    ``eta=1``, ``c^2`` is DDPM's posterior variance and the step is DDPM's (same noise draws,
    one per noisy step). The last step to clean data returns ``x0``.
    """
    if not (isinstance(eta, (int, float)) and eta >= 0):
        raise ValueError(f"eta must be a number >= 0; got {eta!r}")
    den = Denoiser(model, x_T, schedule, timesteps, prediction, clip_x0, stats, callback)
    x = x_T
    for i, t, s in den.steps():
        x0, eps = den(x, t)
        ab_t, ab_s = den.alpha_bar(t), den.alpha_bar(s)
        c = eta * math.sqrt((1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s))
        x = math.sqrt(ab_s) * x0 + math.sqrt(max(1 - ab_s - c * c, 0.0)) * eps
        if c > 0:
            x = x + c * noise_like(x, generator)
        den.report(i, t, x, x0)
    return x


def _log_snr_half(alpha: float, sigma: float) -> float:
    """``lambda = log(alpha / sigma)``, with -inf at alpha 0 and +inf at sigma 0."""
    if alpha == 0.0:
        return -math.inf
    return math.inf if sigma == 0.0 else math.log(alpha) - math.log(sigma)


def dpm_solver_pp(model: Callable, x_T: Tensor, schedule, timesteps, *, prediction: str = "eps",
                  generator: torch.Generator | None = None, callback: Callable | None = None,
                  clip_x0: float | None = None, stats: dict | None = None, order: int = 2) -> Tensor:
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
    den = Denoiser(model, x_T, schedule, timesteps, prediction, clip_x0, stats, callback)
    n, x = len(den.timesteps), x_T
    lams: list[float] = []
    x0s: list[Tensor] = []
    for i, t, s in den.steps():
        x0, _ = den(x, t)
        (a_t, sig_t), (a_s, sig_s) = den.coeffs(t), den.coeffs(s)
        lams, x0s = (lams + [_log_snr_half(a_t, sig_t)])[-3:], (x0s + [x0])[-3:]
        k = min(order, i + 1, n - i)
        if s is None:
            x = x0
        else:
            h = _log_snr_half(a_s, sig_s) - lams[-1]
            exp_neg_h = (sig_s * a_t) / (a_s * sig_t)  # e^{-h}, exact also at alpha_t = 0
            x = (sig_s / sig_t) * x + (a_s * (1.0 - exp_neg_h)) * _dpmpp_D(k, h, lams, x0s)
        den.report(i, t, x, x0)
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


def guided(model: Callable, y, scale: float, null_label: int) -> Callable:
    """Classifier-free guidance (Ho & Salimans 2022) as a model wrapper.

    Returns ``m(x_t, t) = m(x_t, t, null) + scale * (m(x_t, t, y) - m(x_t, t, null))``, so
    ``scale=1`` is the conditional model, ``scale=0`` the unconditional one (the paper's
    ``w = scale - 1``). Both branches run as one forward pass on a doubled batch. ``y`` is an int
    or a (B,) LongTensor of labels; ``null_label`` the label the model was trained with for
    "no label".
    """
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
        raise ValueError(f"guidance scale must be a finite number; got {scale!r}")
    if isinstance(null_label, bool) or not isinstance(null_label, int):
        raise ValueError(f"null_label must be an int; got {null_label!r}")
    y = torch.as_tensor(y)
    if y.dtype.is_floating_point or y.dtype == torch.bool or y.ndim > 1:
        raise ValueError(f"y must be an int or a 1-D integer tensor of labels; got {y.dtype}, shape {tuple(y.shape)}")

    label_cache: dict = {}  # (device, B) -> labels for [cond; null], made once (no copy per step)

    def guided_model(x_t: Tensor, t) -> Tensor:
        B = x_t.shape[0]
        if y.ndim == 1 and y.shape[0] != B:
            raise ValueError(f"y has {y.shape[0]} labels for a batch of {B}")
        key = (x_t.device, B)
        if key not in label_cache:
            labels = y.to(dtype=torch.long).expand(B)
            label_cache[key] = torch.cat([labels, torch.full_like(labels, null_label)]).to(x_t.device)
        tt = torch.as_tensor(t, device=x_t.device).expand(B)
        out = model(torch.cat([x_t, x_t]), torch.cat([tt, tt]), label_cache[key])
        cond, uncond = out.chunk(2)
        return uncond + scale * (cond - uncond)

    return guided_model


def logsnr_timesteps(schedule, n: int) -> Tensor:
    """``n`` timesteps spaced uniformly in log-SNR (Lu et al. 2022, DPM-Solver, sec. 3.3), descending.

    Each target ``lambda`` between ``lambda_{T-1}`` and ``lambda_0`` is rounded to the nearest
    training timestep; where the table is too coarse (near ``t = 0``) neighbours are pushed apart
    so the ``n`` timesteps stay distinct. With zero terminal SNR (``lambda_{T-1} = -inf``) the
    targets end at ``lambda_{T-2}`` and the first timestep is still ``T - 1``. Returns a
    LongTensor from ``T - 1`` down to ``0``.
    """
    abar = torch.as_tensor(schedule.alpha_bar, dtype=torch.float64).cpu()
    T = abar.numel()
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= T:
        raise ValueError(f"number of steps n must be an int in 1..{T}; got {n!r}")
    if n == 1:
        return torch.tensor([T - 1], dtype=torch.long)
    neg_lam = 0.5 * (torch.log1p(-abar) - abar.log())  # -lambda_t, increasing in t
    top = T - 1 if torch.isfinite(neg_lam[-1]) else T - 2  # zero terminal SNR: lambda_{T-1} = -inf
    target = torch.linspace(neg_lam[0].item(), neg_lam[top].item(), n, dtype=torch.float64)
    hi = torch.searchsorted(neg_lam[:top + 1], target).clamp(1, top)
    ts = torch.where((target - neg_lam[hi - 1]) < (neg_lam[hi] - target), hi - 1, hi).tolist()
    ts[-1] = T - 1  # always start from the last training timestep (pure noise when its SNR is 0)
    for i in range(1, n):  # push apart upwards, then cap at T - 1 downwards
        ts[i] = max(ts[i], ts[i - 1] + 1)
    for i in range(n - 1, -1, -1):
        ts[i] = min(ts[i], T - 1 - (n - 1 - i))
    return torch.tensor(ts[::-1], dtype=torch.long)
