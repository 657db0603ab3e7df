"""One sampler run: input checks, the model's x0 / eps predictions, clipping, NFE, callbacks.

:class:`SamplerRun` is the core every sampler in this folder shares (public, so a new sampler
reuses it). It is not a "denoiser" in the EDM sense: it wraps any model for one call.

Every sampler steps through ``timesteps`` (strictly descending training timesteps) and then
to clean data (``alpha_bar = 1``). Update coefficients are computed in Python floats (double
precision) from the float64 ``schedule.alpha_bar`` table, so they meet the data in its own
dtype at the point of use; the alpha and sigma handed to
:mod:`~diffusion_course.diffusion.parameterization` for converting predictions are made once
per run as 0-d tensors on the data's device (no per-step copy).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ..diffusion.forward import noise_like
from ..diffusion.parameterization import check_prediction, to_eps, to_x0

__all__ = ["SamplerRun", "check_timesteps", "noise_like"]


def check_timesteps(timesteps, T: int) -> list[int]:
    """Return ``timesteps`` as a list of ints after checking the sampler's rules."""
    ts = torch.as_tensor(timesteps)
    if ts.ndim != 1 or ts.numel() == 0:
        raise ValueError(f"timesteps must be a non-empty 1-D sequence; got shape {tuple(ts.shape)}")
    if ts.dtype.is_floating_point or ts.dtype.is_complex or ts.dtype == torch.bool:
        raise ValueError(f"timesteps must be integers in 0..{T - 1}; got dtype {ts.dtype}")
    if ts.min() < 0 or ts.max() >= T:
        raise ValueError(f"timesteps must lie in 0..{T - 1}; got values in {ts.min().item()}..{ts.max().item()}")
    if ts.numel() > 1 and not (ts[1:] < ts[:-1]).all():
        raise ValueError("timesteps must be strictly descending (e.g. schedule.timesteps(n))")
    return [int(t) for t in ts.tolist()]


class SamplerRun:
    """One sampler run's view of the model: x0 and eps predictions, clipping, NFE, callbacks.

    Lives for one call only (samplers stay pure functions). ``coeffs(t)`` gives
    ``(alpha, sigma)`` as floats, with ``t=None`` meaning clean data ``(1, 0)``.
    """

    def __init__(
        self,
        model: Callable,
        x_T: Tensor,
        schedule,
        timesteps,
        prediction: str,
        clip_x0: float | None,
        stats: dict | None,
        callback: Callable | None,
    ):
        if not isinstance(x_T, Tensor) or not x_T.is_floating_point():
            raise ValueError(f"x_T must be a floating-point tensor; got {getattr(x_T, 'dtype', type(x_T))}")
        if x_T.ndim < 1 or x_T.shape[0] == 0:
            raise ValueError(f"x_T must have a batch dimension of size >= 1; got shape {tuple(x_T.shape)}")
        if clip_x0 is not None and not (isinstance(clip_x0, (int, float)) and clip_x0 > 0):
            raise ValueError(f"clip_x0 must be None or a positive number; got {clip_x0!r}")
        if stats is not None and not isinstance(stats, dict):
            raise ValueError(f"stats must be None or a dict; got {type(stats).__name__}")
        self.abar = torch.as_tensor(schedule.alpha_bar, dtype=torch.float64).cpu()
        self.timesteps = check_timesteps(timesteps, self.abar.numel())
        self.model, self.prediction = model, check_prediction(prediction)
        self.clip, self.stats, self.callback = clip_x0, stats, callback
        # alpha, sigma per timestep as 0-d tensors on the data's device, made with one copy, so
        # that converting predictions costs no host-to-device transfer (and no sync) per step
        ab = self.abar[self.timesteps]
        coef = torch.stack([ab.sqrt(), (1 - ab).sqrt()]).to(device=x_T.device, dtype=x_T.dtype)
        self._coef = dict(zip(self.timesteps, zip(coef[0].unbind(), coef[1].unbind())))
        self.nfe = 0
        if stats is not None:
            stats["nfe"] = 0

    def alpha_bar(self, t: int | None) -> float:
        return 1.0 if t is None else float(self.abar[t])

    def coeffs(self, t: int | None) -> tuple[float, float]:
        ab = self.alpha_bar(t)
        return math.sqrt(ab), math.sqrt(1.0 - ab)

    def steps(self):
        """Yield ``(i, t, t_next)``: step ``i`` goes from timestep ``t`` to ``t_next`` (None = clean data)."""
        ts = self.timesteps
        for i, t in enumerate(ts):
            yield i, t, (ts[i + 1] if i + 1 < len(ts) else None)

    def __call__(self, x: Tensor, t: int) -> tuple[Tensor, Tensor]:
        """Evaluate the model at ``(x, t)``; return ``(x0_pred, eps_pred)`` in ``x``'s dtype."""
        alpha, sigma = self._coef[t]
        out = self.model(x, torch.full((x.shape[0],), t, dtype=torch.long, device=x.device))
        self.nfe += 1
        if self.stats is not None:
            self.stats["nfe"] = self.nfe
        if out.shape != x.shape:
            raise ValueError(f"model output shape {tuple(out.shape)} must equal x shape {tuple(x.shape)}")
        x0 = to_x0(out, self.prediction, x, alpha, sigma)
        if self.clip is not None:
            x0 = x0.clamp(-self.clip, self.clip)
            return x0, (x - alpha * x0) / sigma
        return x0, to_eps(out, self.prediction, x, alpha, sigma)

    def report(self, i: int, t: int, x: Tensor, x0: Tensor) -> None:
        """Call the user's callback with the state ``x`` reached after step ``i`` (from timestep ``t``)."""
        if self.callback is not None:
            self.callback({"i": i, "t": t, "x": x, "x0_pred": x0, "nfe": self.nfe})
