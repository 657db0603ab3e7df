"""The DDPM forward (noising) process q (Ho et al. 2020, section 2).

Indexing follows :mod:`diffusion_course.schedules`: the data ``x0`` comes before index 0, and
the sample at index ``t`` (``0..T-1``) has marginal ``q(x_t | x0) = N(alpha(t) x0, sigma(t)^2 I)``
with ``alpha(t)^2 = alpha_bar_t``. The first Markov step (data -> index 0) uses ``beta_0``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .schedules import NoiseSchedule, expand
from .seeds import PerImageGenerator

__all__ = ["q_sample", "q_step", "q_sample_chain", "q_posterior", "sample_timesteps", "noise_like"]


def _check_x(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor) or not x.dtype.is_floating_point:
        raise ValueError(
            f"{name} must be a floating-point tensor of shape (B, ...); got {getattr(x, 'dtype', type(x).__name__)}"
        )
    if x.ndim < 1:
        raise ValueError(f"{name} must have a batch dimension, shape (B, ...); got a 0-d tensor")


def _check_noise(noise: Tensor, x: Tensor) -> None:
    _check_x(noise, "noise")
    if noise.shape != x.shape:
        raise ValueError(f"noise shape {tuple(noise.shape)} must equal x shape {tuple(x.shape)}")


def _batch_t(t: int | Tensor, x: Tensor, keep_int: bool = False) -> int | Tensor:
    """Timesteps as a ``(B,)`` LongTensor on x's device; a Python int is used for every sample
    (kept as an int when ``keep_int``: the schedule then returns 0-d coefficients)."""
    if isinstance(t, int) and not isinstance(t, bool):
        return t if keep_int else torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
    if not isinstance(t, Tensor) or t.dtype.is_floating_point or t.dtype == torch.bool:
        raise ValueError(f"t must be an int or an integer tensor of shape (B,); got {t!r}")
    if t.shape != (x.shape[0],):
        raise ValueError(
            f"t must have shape (B,) = ({x.shape[0]},) to match x of shape {tuple(x.shape)}; got {tuple(t.shape)}"
        )
    return t.to(x.device)


def noise_like(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Standard Gaussian noise like ``x``, drawn from ``generator`` (on its device), on x's device.

    ``generator`` may also be a :class:`~diffusion_course.diffusion.seeds.PerImageGenerator`,
    which draws each image's noise from that image's own stream.
    """
    if isinstance(generator, PerImageGenerator):
        return generator.randn(x.shape, dtype=x.dtype).to(x.device)
    dev = generator.device if generator is not None else x.device
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=dev).to(x.device)


def q_sample(x0: Tensor, t: int | Tensor, schedule: NoiseSchedule, noise: Tensor) -> Tensor:
    """Closed-form forward marginal (Ho et al. 2020, eq. 4): ``x_t = alpha(t) x0 + sigma(t) eps``."""
    _check_x(x0, "x0")
    _check_noise(noise, x0)
    t = _batch_t(t, x0, keep_int=True)
    return expand(schedule.alpha(t), x0) * x0 + expand(schedule.sigma(t), x0) * noise


def q_step(x_prev: Tensor, t: int | Tensor, schedule: NoiseSchedule, noise: Tensor) -> Tensor:
    """One Markov forward step (Ho et al. 2020, eq. 2).

    ``x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps``, for teaching and testing.

    ``x_prev`` is the sample at index ``t - 1`` (the data itself when ``t = 0``).
    """
    _check_x(x_prev, "x_prev")
    _check_noise(noise, x_prev)
    t = _batch_t(t, x_prev, keep_int=True)
    beta = schedule.beta(t)
    return expand((1.0 - beta).sqrt(), x_prev) * x_prev + expand(beta.sqrt(), x_prev) * noise


def q_sample_chain(
    x0: Tensor, t_final: int, schedule: NoiseSchedule, generator: torch.Generator | None = None
) -> Tensor:
    """Forward process by iteration (Ho et al. 2020, eq. 2): apply :func:`q_step` for t = 0..t_final.

    Has the same law as ``q_sample(x0, t_final, ...)``; meant for teaching and testing (slow).
    """
    if isinstance(t_final, bool) or not isinstance(t_final, int) or not 0 <= t_final < schedule.T:
        raise ValueError(f"t_final must be an int in 0..{schedule.T - 1}; got {t_final!r}")
    _check_x(x0, "x0")
    x = x0
    for t in range(t_final + 1):
        x = q_step(x, t, schedule, noise_like(x, generator))
    return x


def q_posterior(x0: Tensor, x_t: Tensor, t: int | Tensor, schedule: NoiseSchedule) -> tuple[Tensor, Tensor]:
    """Forward-process posterior q(x_{t-1} | x_t, x0) (Ho et al. 2020, eqs. 6-7).

    ``mean = sqrt(abar_{t-1}) beta_t / (1 - abar_t) x0
    + sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) x_t``,
    ``variance = (1 - abar_{t-1}) / (1 - abar_t) beta_t``, with ``abar_{-1} = 1``. At ``t = 0`` the
    "previous" sample is the data itself, so the mean is exactly ``x0`` and the variance is 0.
    Returns ``(mean, variance)``; ``variance`` has shape ``(B, 1, ..., 1)`` and x's dtype.
    """
    _check_x(x0, "x0")
    _check_x(x_t, "x_t")
    if x0.shape != x_t.shape:
        raise ValueError(f"x0 shape {tuple(x0.shape)} must equal x_t shape {tuple(x_t.shape)}")
    t = _batch_t(t, x_t)
    beta = schedule.beta(t).cpu()  # validates t; the float64 tables stay on the CPU
    idx = t.cpu()
    abar = schedule.alpha_bar[idx]
    abar_prev = torch.cat([torch.ones(1, dtype=torch.float64), schedule.alpha_bar[:-1]])[idx]
    coef_x0 = abar_prev.sqrt() * beta / (1.0 - abar)
    coef_xt = (1.0 - beta).sqrt() * (1.0 - abar_prev) / (1.0 - abar)
    variance = (1.0 - abar_prev) / (1.0 - abar) * beta
    mean = expand(coef_x0, x_t) * x0 + expand(coef_xt, x_t) * x_t
    return mean, expand(variance, x_t)


def sample_timesteps(
    batch: int,
    schedule: NoiseSchedule,
    generator: torch.Generator | None = None,
    device: str | torch.device | None = None,
) -> Tensor:
    """Training timesteps t ~ Uniform{0..T-1} (Ho et al. 2020, Algorithm 1), a (batch,) LongTensor."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive int; got {batch!r}")
    gen_device = generator.device if generator is not None else device
    t = torch.randint(0, schedule.T, (batch,), generator=generator, device=gen_device)
    return t.to(device) if device is not None else t
