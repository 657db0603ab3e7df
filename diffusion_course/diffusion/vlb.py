"""The variational bound of DDPM (Ho et al. 2020, eq. 5) and its weights on the eps error (eq. 12).

Course indexing (CONTRIBUTING.md): the data is ``x0``, the noisy samples are ``x_t`` for
``t = 0..T-1`` (``t = 0`` is the paper's ``t = 1``). The bound on ``-log p(x0)``, in nats, is

    L = L_T + sum_{t=1}^{T-1} L_{t-1} + L_0
    L_T     = KL(q(x_{T-1} | x0) || N(0, I))                        (the prior term, no parameters)
    L_{t-1} = E_q KL(q(x_{t-1} | x_t, x0) || p(x_{t-1} | x_t))       (t = 1..T-1)
    L_0     = E_q -log p(x0 | x_{t=0})                              (the decoder, t = 0)

with the reverse step ``p(x_{t-1} | x_t) = N(mu(x_t, eps_hat), s_t^2 I)`` whose mean is the
posterior mean at the predicted ``x0_hat`` and whose variance ``s_t^2`` (Ho et al.'s
``sigma_t^2``; our ``sigma_t`` is the noise scale) is ``beta_tilde_t`` ("posterior") or
``beta_t`` ("beta"). Written with the eps error, each term is

    L_{t-1} = w_t E ||eps - eps_hat||^2 + C_t,   w_t = beta_t^2 / (2 s_t^2 alpha_t (1 - abar_t)),

``C_t = D/2 (log(s_t^2 / beta_tilde_t) + beta_tilde_t / s_t^2 - 1)`` (0 for the posterior variance).
The decoder is a Gaussian density (the toy data are continuous; Ho et al. discretise it for
8-bit images) with mean ``x0_hat`` and variance ``s_0^2 = beta_0`` under both choices, since
``beta_tilde_0 = 0``; the same formula then gives ``w_0 = 1 / (2 alpha_0)`` and
``C_0 = D/2 log(2 pi beta_0)``. L_simple is this sum with every ``w_t`` set to 1 and the constants dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from .forward import noise_like, q_posterior, q_sample
from .schedules import NoiseSchedule, expand

__all__ = [
    "VARIANCES",
    "VLBTerms",
    "normal_kl",
    "reverse_variance",
    "vlb_weights",
    "vlb_constants",
    "prior_kl",
    "vlb_term",
    "vlb_terms",
]

VARIANCES = ("posterior", "beta")
_F64 = torch.float64


class VLBTerms(NamedTuple):
    """The three parts of the bound per data point, in nats (summed over dimensions), float64."""

    prior: Tensor  # L_T, shape (B,)
    diffusion: Tensor  # sum_{t=1}^{T-1} L_{t-1} (a Monte Carlo estimate), shape (B,)
    decoder: Tensor  # L_0, shape (B,)

    @property
    def total(self) -> Tensor:
        """The bound ``L_T + sum L_{t-1} + L_0`` per data point, shape (B,)."""
        return self.prior + self.diffusion + self.decoder


def _check_schedule(schedule: NoiseSchedule) -> None:
    if not isinstance(schedule, NoiseSchedule):
        raise ValueError(f"schedule must be a NoiseSchedule; got {type(schedule).__name__}")
    if schedule.T < 2:
        raise ValueError(f"the bound needs T >= 2 (a decoder and at least one KL term); got T={schedule.T}")
    if (schedule.betas >= 1).any():
        raise ValueError(
            "the bound needs beta_t < 1 at every step (alpha_t > 0); a zero-terminal-SNR schedule has beta = 1"
        )


def _check_variance(variance: str) -> None:
    if variance not in VARIANCES:
        raise ValueError(f"unknown reverse variance {variance!r}; expected one of {VARIANCES}")


def _check_x0(x0: Tensor) -> None:
    if not isinstance(x0, Tensor) or not x0.dtype.is_floating_point or x0.ndim < 2 or x0.shape[0] == 0:
        raise ValueError(
            f"x0 must be a non-empty floating-point tensor of shape (B, ...); got {getattr(x0, 'shape', type(x0))}"
        )


def normal_kl(mean1: Tensor, var1: Tensor | float, mean2: Tensor, var2: Tensor | float) -> Tensor:
    """Closed-form KL(N(mean1, var1) || N(mean2, var2)) between 1-D Gaussians, elementwise, in nats.

    ``1/2 (log(var2 / var1) + (var1 + (mean1 - mean2)^2) / var2 - 1)`` (Kullback 1959), broadcast
    over the inputs; sum over the dimensions of a diagonal Gaussian yourself. Variances must be > 0.
    """
    ref = mean1 if isinstance(mean1, Tensor) else mean2
    v1, v2 = (torch.as_tensor(v, dtype=ref.dtype, device=ref.device) for v in (var1, var2))
    if not (v1 > 0).all() or not (v2 > 0).all():
        raise ValueError("normal_kl needs variances > 0 (a point mass has no density)")
    return 0.5 * (torch.log(v2 / v1) + (v1 + (mean1 - mean2) ** 2) / v2 - 1.0)


def _posterior_variance(schedule: NoiseSchedule) -> Tensor:
    abar_prev = torch.cat([torch.ones(1, dtype=_F64), schedule.alpha_bar[:-1]])
    return schedule.betas * (1.0 - abar_prev) / (1.0 - schedule.alpha_bar)


def reverse_variance(schedule: NoiseSchedule, variance: str = "posterior") -> Tensor:
    """Variance ``s_t^2`` of DDPM's reverse step (Ho et al. 2020, sec. 3.2), a (T,) float64 table.

    "posterior": ``beta_tilde_t``; "beta": ``beta_t``. At ``t = 0`` (the decoder) both use
    ``beta_0``: the posterior variance there is 0, which has no density.
    """
    _check_schedule(schedule)
    _check_variance(variance)
    s2 = _posterior_variance(schedule) if variance == "posterior" else schedule.betas.clone()
    s2[0] = schedule.betas[0]
    return s2


def vlb_weights(schedule: NoiseSchedule, variance: str = "posterior") -> Tensor:
    """Weights of the eps error in DDPM's bound (Ho et al. 2020, eq. 12), a (T,) float64 table.

    ``w_t = beta_t^2 / (2 s_t^2 alpha_t (1 - abar_t))``: the term ``L_{t-1}`` (``L_0`` at ``t = 0``)
    is ``w_t E||eps - eps_hat||^2`` plus the constant :func:`vlb_constants`. L_simple uses 1.
    """
    s2 = reverse_variance(schedule, variance)
    return schedule.betas**2 / (2.0 * s2 * schedule.alphas * (1.0 - schedule.alpha_bar))


def vlb_constants(schedule: NoiseSchedule, variance: str = "posterior", dim: int = 1) -> Tensor:
    """The parts of DDPM's bound terms that no eps error changes (Ho et al. 2020), a (T,) float64 table.

    ``C_t = dim/2 (log(s_t^2 / beta_tilde_t) + beta_tilde_t / s_t^2 - 1)`` for ``t >= 1`` (0 with the
    posterior variance) and ``C_0 = dim/2 log(2 pi s_0^2)``, the decoder's normalising constant.
    """
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be a positive int (the data's dimension); got {dim!r}")
    s2, bt = reverse_variance(schedule, variance), _posterior_variance(schedule)
    c = torch.zeros(schedule.T, dtype=_F64)
    c[1:] = 0.5 * dim * (torch.log(s2[1:] / bt[1:]) + bt[1:] / s2[1:] - 1.0)
    c[0] = 0.5 * dim * math.log(2.0 * math.pi * s2[0].item())
    return c


def prior_kl(x0: Tensor, schedule: NoiseSchedule) -> Tensor:
    """Prior term ``L_T = KL(q(x_{T-1} | x0) || N(0, I))`` of DDPM's bound (Ho et al. 2020, eq. 5).

    Per data point, summed over dimensions, in nats, float64, shape (B,).
    """
    _check_x0(x0)
    _check_schedule(schedule)
    abar = schedule.alpha_bar[-1].item()
    kl = normal_kl(math.sqrt(abar) * x0.to(_F64), 1.0 - abar, torch.zeros((), dtype=_F64, device=x0.device), 1.0)
    return kl.reshape(x0.shape[0], -1).sum(1)


def vlb_term(
    model: Callable[..., Tensor],
    x0: Tensor,
    t: Tensor,
    schedule: NoiseSchedule,
    noise: Tensor,
    variance: str = "posterior",
) -> Tensor:
    """One term of DDPM's bound per data point (Ho et al. 2020, eq. 5), in nats, float64, shape (B,).

    At ``t >= 1``: ``KL(q(x_{t-1} | x_t, x0) || p(x_{t-1} | x_t))`` with ``x_t = q_sample(x0, t, noise)``,
    computed from the two Gaussians' means (:func:`q_posterior` at ``x0`` and at the model's
    ``x0_hat``) and variances. At ``t = 0``: the decoder's ``-log N(x0; x0_hat, beta_0 I)``.
    ``model(x_t, t)`` predicts eps; ``t`` is a (B,) LongTensor. Gradients flow through the model.
    """
    _check_x0(x0)
    _check_schedule(schedule)
    if not isinstance(t, Tensor) or t.dtype.is_floating_point or t.shape != (x0.shape[0],):
        got = f"{t.dtype} of shape {tuple(t.shape)}" if isinstance(t, Tensor) else type(t).__name__
        raise ValueError(f"t must be an integer tensor of shape ({x0.shape[0]},); got {got}")
    s2_table = reverse_variance(schedule, variance)
    x_t = q_sample(x0, t, schedule, noise)  # validates t's range and noise's shape
    eps_hat = model(x_t, t.to(x0.device))
    if eps_hat.shape != x0.shape:
        raise ValueError(f"model output shape {tuple(eps_hat.shape)} must equal x0 shape {tuple(x0.shape)}")
    x0_64, xt_64 = x0.to(_F64), x_t.to(_F64)
    a, s = expand(schedule.alpha(t), xt_64), expand(schedule.sigma(t), xt_64)
    x0_hat = (xt_64 - s * eps_hat.to(_F64)) / a
    s2 = expand(s2_table[t.cpu()], xt_64)
    mean_q, var_q = q_posterior(x0_64, xt_64, t, schedule)
    mean_p, _ = q_posterior(x0_hat, xt_64, t, schedule)
    first = (t == 0).to(x0.device).reshape(-1, *([1] * (x0.ndim - 1)))
    var_q = torch.where(first, s2, var_q)  # placeholder at t = 0, where the decoder term is used
    kl = normal_kl(mean_q, var_q, mean_p, s2)
    nll = 0.5 * ((x0_64 - x0_hat) ** 2 / s2 + torch.log(2.0 * math.pi * s2))
    return torch.where(first, nll, kl).reshape(x0.shape[0], -1).sum(1)


def _block_edges(T: int, n: int) -> list[int]:
    """``n + 1`` strictly increasing edges from 1 to T, geometrically spaced (finer at small t)."""
    edges = [1]
    for i in range(1, n + 1):
        geometric = round(T ** (i / n))
        edges.append(min(max(geometric, edges[-1] + 1), T - (n - i)))
    return edges


def vlb_terms(
    model: Callable[..., Tensor],
    x0: Tensor,
    schedule: NoiseSchedule,
    *,
    variance: str = "posterior",
    n_t: int | None = None,
    generator: torch.Generator | None = None,
) -> VLBTerms:
    """Monte Carlo estimate of DDPM's variational bound (Ho et al. 2020, eq. 5) for each row of ``x0``.

    ``L_T`` is exact; ``L_0`` uses one noise draw; ``sum_{t=1}^{T-1} L_{t-1}`` is estimated by
    stratified sampling: ``1..T-1`` is cut into ``n_t`` blocks of consecutive timesteps (single
    timesteps when ``n_t`` is None), with geometrically spaced edges, so the blocks are finest at
    small t where the weights are largest; one ``t`` and one noise draw per block and data point,
    each term weighted by its block's size. The estimate is unbiased for every ``n_t``. Randomness
    only from ``generator``; the model runs once per block on the whole batch (wrap the call in
    ``torch.no_grad()`` to evaluate). Returns :class:`VLBTerms` in nats per data point.
    """
    _check_x0(x0)
    _check_schedule(schedule)
    _check_variance(variance)
    n_kl = schedule.T - 1
    if n_t is None:
        n_t = n_kl
    if isinstance(n_t, bool) or not isinstance(n_t, int) or not 1 <= n_t <= n_kl:
        raise ValueError(f"n_t must be an int in 1..T-1 = 1..{n_kl} (or None for every t); got {n_t!r}")
    B, dev = x0.shape[0], x0.device
    gen_dev = generator.device if generator is not None else torch.device("cpu")
    edges = _block_edges(schedule.T, n_t)
    diffusion = torch.zeros(B, dtype=_F64, device=dev)
    for lo, hi in zip(edges[:-1], edges[1:]):
        t = torch.randint(lo, hi, (B,), generator=generator, device=gen_dev).to(dev)
        diffusion = diffusion + (hi - lo) * vlb_term(model, x0, t, schedule, noise_like(x0, generator), variance)
    t0 = torch.zeros(B, dtype=torch.long, device=dev)
    decoder = vlb_term(model, x0, t0, schedule, noise_like(x0, generator), variance)
    return VLBTerms(prior_kl(x0, schedule), diffusion, decoder)
