"""Discrete noise schedules for DDPM-style diffusion (Ho et al. 2020).

Notation (stated once for the whole package), timesteps ``t`` in ``0..T-1``:

- ``beta_t`` in (0, 1) (the last one may be exactly 1 after the zero-terminal-SNR rescale),
  ``alpha_t = 1 - beta_t`` (``schedule.alphas``), ``alpha_bar_t = prod_{s<=t} alpha_s``
  (``schedule.alpha_bar``). All tables are float64 and live on the CPU.
- ``alpha(t) = sqrt(alpha_bar_t)``, ``sigma(t) = sqrt(1 - alpha_bar_t)``,
  ``snr(t) = alpha^2 / sigma^2``, ``log_snr(t) = log snr(t)``.
- Forward marginal ``q(x_t | x_0) = N(alpha(t) x_0, sigma(t)^2 I)``, so ``x_t = alpha x_0 + sigma eps``.

Schedules: linear (Ho et al. 2020), cosine (Nichol & Dhariwal 2021), sigmoid (Chen 2023,
"On the importance of noise scheduling"; Jabri et al. 2023), and the zero-terminal-SNR rescale
(Lin et al. 2024, "Common diffusion noise schedules and sample steps are flawed").
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = [
    "NoiseSchedule",
    "SCHEDULES",
    "expand",
    "linear_schedule",
    "cosine_schedule",
    "sigmoid_schedule",
    "rescale_zero_terminal_snr",
    "shift_log_snr",
    "make_schedule",
    "schedule_from_config",
]

SCHEDULES = ("linear", "cosine", "sigmoid")

TimeLike = int | Tensor


def _validate_betas(betas: Tensor) -> Tensor:
    betas = torch.as_tensor(betas).detach().to(device="cpu", dtype=torch.float64)
    if betas.ndim != 1 or betas.numel() == 0:
        raise ValueError(f"betas must be a non-empty 1-D tensor; got shape {tuple(betas.shape)}")
    if not torch.isfinite(betas).all():
        raise ValueError("betas must be finite; allowed range is (0, 1) (the last beta may be 1)")
    body, last = betas[:-1], betas[-1]
    if (body <= 0).any() or (body >= 1).any() or last <= 0 or last > 1:
        raise ValueError(
            f"betas must lie in (0, 1), the last one in (0, 1] (zero terminal SNR); "
            f"got min {betas.min().item():.3g}, max {betas.max().item():.3g}"
        )
    return betas


class NoiseSchedule:
    """DDPM noise schedule tables (Ho et al. 2020): betas, alphas, alpha_bar in float64.

    ``NoiseSchedule(betas)`` validates ``betas`` (1-D, finite, in (0, 1); the last may be 1)
    and derives ``alphas = 1 - betas`` and ``alpha_bar = cumprod(alphas)``. The lookups
    ``beta(t)``, ``alpha(t)``, ``sigma(t)``, ``snr(t)``, ``log_snr(t)`` take an int or an
    integer tensor of timesteps in ``0..T-1`` and return float64 tensors on ``t``'s device
    (cast to the data's dtype at the point of use, e.g. with :func:`expand`).
    """

    def __init__(self, betas: Tensor) -> None:
        self.betas: Tensor = _validate_betas(betas)
        self.alphas: Tensor = 1.0 - self.betas
        self.alpha_bar: Tensor = torch.cumprod(self.alphas, dim=0)
        self.T: int = int(self.betas.numel())

    def __repr__(self) -> str:
        return (
            f"NoiseSchedule(T={self.T}, beta[0]={self.betas[0].item():.3g}, "
            f"beta[-1]={self.betas[-1].item():.3g}, alpha_bar[-1]={self.alpha_bar[-1].item():.3g})"
        )

    def _lookup(self, table: Tensor, t: TimeLike) -> Tensor:
        if isinstance(t, bool) or not isinstance(t, (int, Tensor)):
            raise ValueError(f"t must be an int or an integer tensor in 0..{self.T - 1}; got {type(t).__name__}")
        if isinstance(t, Tensor):
            if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
                raise ValueError(f"t must have an integer dtype (e.g. torch.long); got {t.dtype}")
            device, idx = t.device, t.detach().to("cpu", torch.long)
        else:
            device, idx = torch.device("cpu"), torch.tensor(t, dtype=torch.long)
        if idx.numel() and (idx.min() < 0 or idx.max() >= self.T):
            raise ValueError(f"t must lie in 0..{self.T - 1}; got values in {idx.min().item()}..{idx.max().item()}")
        return table[idx].to(device)

    def beta(self, t: TimeLike) -> Tensor:
        """Per-step noise variance ``beta_t`` of ``q(x_t | x_{t-1})`` (Ho et al. 2020, eq. 2)."""
        return self._lookup(self.betas, t)

    def alpha(self, t: TimeLike) -> Tensor:
        """Signal scale ``sqrt(alpha_bar_t)`` of ``q(x_t | x_0)`` (Ho et al. 2020, eq. 4)."""
        return self._lookup(self.alpha_bar.sqrt(), t)

    def sigma(self, t: TimeLike) -> Tensor:
        """Noise scale ``sqrt(1 - alpha_bar_t)`` of ``q(x_t | x_0)`` (Ho et al. 2020, eq. 4)."""
        return self._lookup((1.0 - self.alpha_bar).sqrt(), t)

    def snr(self, t: TimeLike) -> Tensor:
        """Signal-to-noise ratio ``alpha_bar_t / (1 - alpha_bar_t)`` (Kingma et al. 2021)."""
        return self._lookup(self.alpha_bar / (1.0 - self.alpha_bar), t)

    def log_snr(self, t: TimeLike) -> Tensor:
        """Log signal-to-noise ratio ``log alpha_bar_t - log(1 - alpha_bar_t)`` (Kingma et al. 2021)."""
        return self._lookup(torch.log(self.alpha_bar) - torch.log1p(-self.alpha_bar), t)

    def timesteps(self, n: int, spacing: str = "trailing") -> Tensor:
        """``n`` sampling timesteps, strictly descending; see :func:`diffusion.spacing.timesteps`."""
        from .spacing import timesteps

        return timesteps(self, n, spacing)


def expand(values: float | Tensor, x: Tensor) -> Tensor:
    """Broadcast per-sample coefficients against a batch ``x`` of shape ``(B, ...)``.

    ``values`` may be a Python number, a 0-d tensor, a ``(B,)`` tensor (reshaped to
    ``(B, 1, ..., 1)``) or a tensor already broadcastable to ``x``. The result has ``x``'s
    dtype and device (the float64 tables are cast here, at the point of use).
    """
    if isinstance(values, Tensor):
        v = values.to(device=x.device, dtype=x.dtype)
    else:  # straight to x's dtype: a float through float32 would lose precision
        v = torch.as_tensor(values, dtype=x.dtype, device=x.device)
    if v.ndim == 1 and x.ndim > 1:
        if v.shape[0] != x.shape[0]:
            raise ValueError(
                f"per-sample values of shape {tuple(v.shape)} do not match the batch "
                f"size {x.shape[0]} of x with shape {tuple(x.shape)}"
            )
        v = v.reshape(-1, *([1] * (x.ndim - 1)))
    try:
        torch.broadcast_shapes(v.shape, x.shape)
    except RuntimeError as err:
        raise ValueError(
            f"values of shape {tuple(v.shape)} do not broadcast against x of shape {tuple(x.shape)}"
        ) from err
    return v


def _betas_from_alpha_bar(alpha_bar_fn: Callable[[Tensor], Tensor], T: int, max_beta: float) -> Tensor:
    """Discretize a continuous alpha_bar(u), u in [0, 1] (Nichol & Dhariwal 2021, eq. 17).

    ``beta_t = min(1 - alpha_bar((t+1)/T) / alpha_bar(t/T), max_beta)`` for ``t = 0..T-1``.
    """
    u = torch.arange(T + 1, dtype=torch.float64) / T
    ab = alpha_bar_fn(u)
    return torch.clamp(1.0 - ab[1:] / ab[:-1], max=max_beta)


def _check_T(T: int) -> None:
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ValueError(f"T must be a positive int; got {T!r}")


def linear_schedule(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> NoiseSchedule:
    """Linear beta schedule of DDPM (Ho et al. 2020): betas evenly spaced from beta_start to beta_end."""
    _check_T(T)
    return NoiseSchedule(torch.linspace(beta_start, beta_end, T, dtype=torch.float64))


def cosine_schedule(T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> NoiseSchedule:
    """Cosine schedule (Nichol & Dhariwal 2021, eq. 17).

    ``f(u) = cos(((u + s) / (1 + s)) * pi / 2)^2``, ``alpha_bar_t = f((t+1)/T) / f(0)``
    (our t = 0 is the paper's t = 1), betas from the ratios, clipped at ``max_beta``.
    """
    _check_T(T)
    if not s >= 0:
        raise ValueError(f"cosine offset s must be >= 0; got {s!r}")

    def f(u: Tensor) -> Tensor:
        return torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2

    return NoiseSchedule(_betas_from_alpha_bar(lambda u: f(u) / f(torch.zeros(())), T, max_beta))


def sigmoid_schedule(
    T: int = 1000, start: float = -3.0, end: float = 3.0, tau: float = 1.0, max_beta: float = 0.999
) -> NoiseSchedule:
    """Sigmoid schedule (Chen 2023, "On the importance of noise scheduling"; Jabri et al. 2023).

    ``alpha_bar(u) = (sigmoid(end/tau) - sigmoid((u (end - start) + start) / tau))
    / (sigmoid(end/tau) - sigmoid(start/tau))`` for u in [0, 1], discretized as the cosine one.
    """
    _check_T(T)
    if not end > start or not tau > 0:
        raise ValueError(f"sigmoid schedule needs end > start and tau > 0; got start={start}, end={end}, tau={tau}")
    v_start = torch.sigmoid(torch.tensor(start / tau, dtype=torch.float64))
    v_end = torch.sigmoid(torch.tensor(end / tau, dtype=torch.float64))

    def alpha_bar(u: Tensor) -> Tensor:
        return (v_end - torch.sigmoid((u * (end - start) + start) / tau)) / (v_end - v_start)

    return NoiseSchedule(_betas_from_alpha_bar(alpha_bar, T, max_beta))


def rescale_zero_terminal_snr(schedule: NoiseSchedule) -> NoiseSchedule:
    """Zero-terminal-SNR rescale (Lin et al. 2024, Algorithm 1).

    Shift ``sqrt(alpha_bar)`` so the last value is 0 and scale it so the first is unchanged;
    the last beta becomes exactly 1 (x_{T-1} is pure noise).
    """
    if schedule.T < 2:
        raise ValueError(f"zero-terminal-SNR rescale needs T >= 2; got T={schedule.T}")
    a = schedule.alpha_bar.sqrt()
    a0, aT = a[0].clone(), a[-1].clone()
    a = (a - aT) * (a0 / (a0 - aT))
    ab = a**2
    alphas = torch.cat([ab[:1], ab[1:] / ab[:-1]])
    return NoiseSchedule(1.0 - alphas)


def shift_log_snr(schedule: NoiseSchedule, shift: float) -> NoiseSchedule:
    """Shifted schedule (Hoogeboom et al. 2023, "simple diffusion"): ``log SNR(t) + shift`` at every t.

    ``alpha_bar'(t) = sigmoid(log SNR(t) + shift)``. A positive shift makes every step less noisy
    (SNR times ``e^shift``); it acts like scaling the data by ``e^(shift / 2)`` (Chen 2023). A small
    canvas needs a positive shift to see, at a given t, what a larger one sees: averaging over 4 times
    more positions per side raises the SNR of the coarse structure by 16 (``shift = 2 log 4``).
    A zero terminal SNR stays zero.
    """
    if not math.isfinite(shift):
        raise ValueError(f"log-SNR shift must be a finite number; got {shift!r}")
    if shift == 0:
        return schedule
    ab = schedule.alpha_bar
    shifted = torch.sigmoid(torch.log(ab) - torch.log1p(-ab) + shift)
    alphas = torch.cat([shifted[:1], shifted[1:] / shifted[:-1]])
    return NoiseSchedule(1.0 - alphas)


def make_schedule(
    name: str, T: int = 1000, zero_terminal_snr: bool = False, log_snr_shift: float = 0.0, **kw
) -> NoiseSchedule:
    """Build a named schedule: "linear" (Ho et al. 2020), "cosine" (Nichol & Dhariwal 2021), "sigmoid".

    ``zero_terminal_snr=True`` applies :func:`rescale_zero_terminal_snr` (Lin et al. 2024), then
    ``log_snr_shift`` :func:`shift_log_snr` (Hoogeboom et al. 2023); ``kw`` goes to the constructor
    (e.g. ``beta_end`` for linear, ``s`` for cosine).
    """
    builders = {"linear": linear_schedule, "cosine": cosine_schedule, "sigmoid": sigmoid_schedule}
    if name not in builders:
        raise ValueError(f"unknown schedule {name!r}; expected one of {SCHEDULES}")
    schedule = builders[name](T, **kw)
    schedule = rescale_zero_terminal_snr(schedule) if zero_terminal_snr else schedule
    return shift_log_snr(schedule, float(log_snr_shift))


def schedule_from_config(config: dict) -> NoiseSchedule:
    """The :class:`NoiseSchedule` a checkpoint or recipe names in ``config["schedule"]``.

    ``config["schedule"]`` is ``{"name", "T", "zero_terminal_snr", "log_snr_shift"}`` (the last
    two optional); every checkpoint config and recipe stores it this way.
    """
    spec = config.get("schedule") if isinstance(config, dict) else None
    if not isinstance(spec, dict) or "name" not in spec or "T" not in spec:
        raise ValueError(f"config has no schedule spec {{'name', 'T'[, 'zero_terminal_snr']}}; got {spec!r}")
    return make_schedule(
        spec["name"],
        T=int(spec["T"]),
        zero_terminal_snr=bool(spec.get("zero_terminal_snr", False)),
        log_snr_shift=float(spec.get("log_snr_shift", 0.0)),
    )
