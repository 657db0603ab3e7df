"""Sampling timesteps: which ``n`` of the ``T`` training timesteps a sampler visits.

Conventions of diffusers and Lin et al. 2024 ("Common diffusion noise schedules and sample steps
are flawed", Table 2), plus log-SNR spacing (Lu et al. 2022, DPM-Solver, sec. 3.3). The default is
``trailing``, which always starts at ``T - 1`` (pure noise). ``leading`` is kept because DDIM and
Stable Diffusion used it, and because its trap is worth seeing: the integer step ``T // n`` can
leave the noisiest timesteps unused, so the sampler starts from "pure noise" where the data
signal is still present. It warns when that happens.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

__all__ = ["SPACINGS", "timesteps", "logsnr_timesteps"]

SPACINGS = ("trailing", "leading", "linspace", "logsnr")


def _check_n(n: int, T: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= T:
        raise ValueError(f"number of steps n must be an int in 1..{T}; got {n!r}")


def timesteps(schedule, n: int, spacing: str = "trailing") -> Tensor:
    """Sampling timesteps, strictly descending (diffusers conventions; Lin et al. 2024, Table 2).

    - ``trailing``: ``round(arange(T, 0, -T / n)) - 1`` (always starts at ``T - 1``; the default);
    - ``leading``: ``arange(0, n) * (T // n)``, reversed (DDIM, Stable Diffusion); warns when the
      integer step leaves more than one step unused at the top (n = 400 of T = 1000 starts at
      t = 798, where the data signal is still visible);
    - ``linspace``: ``round(linspace(0, T - 1, n))``, reversed;
    - ``logsnr``: uniform in log-SNR (:func:`logsnr_timesteps`).

    Rounding is half-to-even, as NumPy's ``round``. Returns a LongTensor of length ``n``.
    """
    T = int(schedule.T)
    _check_n(n, T)
    if spacing == "trailing":
        starts = T - torch.arange(n, dtype=torch.float64) * (T / n)
        return (torch.round(starts) - 1).long()
    if spacing == "leading":
        ts = (torch.arange(n, dtype=torch.long) * (T // n)).flip(0)
        if T % n >= T // n:  # the integer step T // n leaves more than one step unused at the top
            abar = torch.as_tensor(schedule.alpha_bar, dtype=torch.float64)[ts[0]].item()
            warnings.warn(
                f"leading spacing with n={n} of T={T} starts at t={ts[0].item()}: the step T // n = "
                f"{T // n} leaves the noisiest {T - 1 - ts[0].item()} timesteps unused: a sampler starts "
                f"from pure noise where alpha_bar = {abar:.2g}, not ~0 "
                "(Lin et al. 2024); use spacing='trailing' or 'linspace'",
                UserWarning,
                stacklevel=3,
            )
        return ts
    if spacing == "linspace":
        return torch.round(torch.linspace(0, T - 1, n, dtype=torch.float64)).long().flip(0)
    if spacing == "logsnr":
        return logsnr_timesteps(schedule, n)
    raise ValueError(f"unknown spacing {spacing!r}; expected one of {SPACINGS}")


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
    _check_n(n, T)
    if n == 1:
        return torch.tensor([T - 1], dtype=torch.long)
    neg_lam = 0.5 * (torch.log1p(-abar) - abar.log())  # -lambda_t, increasing in t
    top = T - 1 if torch.isfinite(neg_lam[-1]) else T - 2  # zero terminal SNR: lambda_{T-1} = -inf
    target = torch.linspace(neg_lam[0].item(), neg_lam[top].item(), n, dtype=torch.float64)
    hi = torch.searchsorted(neg_lam[: top + 1], target).clamp(1, top)
    ts = torch.where((target - neg_lam[hi - 1]) < (neg_lam[hi] - target), hi - 1, hi).tolist()
    ts[-1] = T - 1  # always start from the last training timestep (pure noise when its SNR is 0)
    for i in range(1, n):  # push apart upwards, then cap at T - 1 downwards
        ts[i] = max(ts[i], ts[i - 1] + 1)
    for i in range(n - 1, -1, -1):
        ts[i] = min(ts[i], T - 1 - (n - 1 - i))
    return torch.tensor(ts[::-1], dtype=torch.long)
