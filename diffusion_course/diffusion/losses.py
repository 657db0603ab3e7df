"""Training losses: the diffusion objective with eps / x0 / v / score targets and loss weighting
(Ho et al. 2020; Salimans & Ho 2022; Song et al. 2021; Hang et al. 2023).
The VAE and GAN objectives live in :mod:`diffusion_course.training.objectives`.

Weighting. Each target's squared error is a fixed multiple of the eps error at the same
``x_t`` (with ``SNR = alpha^2 / sigma^2`` and a VP schedule, ``alpha^2 + sigma^2 = 1``):

    ||x0_hat - x0||^2 = ||eps_hat - eps||^2 / SNR
    ||v_hat - v||^2   = ||eps_hat - eps||^2 (SNR + 1) / SNR
    ||s_hat - s||^2   = ||eps_hat - eps||^2 / sigma^2

The weight ``w(t)`` multiplying each target's per-sample MSE is

    =========  ===============  ===========  =====================  =======================
    weighting  eps              x0           v                      score
    =========  ===============  ===========  =====================  =======================
    uniform    1                1            1                      sigma^2
    snr        1                SNR          SNR / (SNR + 1)        sigma^2
    min_snr    min(SNR, g)/SNR  min(SNR, g)  min(SNR, g)/(SNR + 1)  sigma^2 min(SNR, g)/SNR
    =========  ===============  ===========  =====================  =======================

- "uniform" is the plain MSE of each target (Ho et al.'s L_simple for eps). For the score
  target (denoising score matching, Vincent 2011) the raw MSE explodes as sigma -> 0, so
  "uniform" uses the usual lambda(t) = sigma^2 (Song et al. 2021), which equals the eps MSE.
- "snr" is Hang et al.'s "SNR weighting", ``w = SNR`` on the x0 error: in eps-equivalent terms
  its weight is exactly 1, so every target gives the same loss as the eps MSE.
- "min_snr" is Min-SNR-gamma (Hang et al. 2023): ``min(SNR, gamma)`` on the x0 error, i.e. the
  eps-equivalent weight ``min(1, gamma / SNR)``; the columns are that paper's per-target forms.
  At SNR = 0 (zero terminal SNR) ``min(SNR, g) / SNR`` takes its limit 1.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .forward import noise_like, q_sample, sample_timesteps
from .parameterization import check_prediction, expand
from .schedules import NoiseSchedule

__all__ = ["WEIGHTINGS", "diffusion_loss", "loss_weight", "target_for"]

WEIGHTINGS = ("uniform", "snr", "min_snr")
REDUCTIONS = ("mean", "sum", "none")


def target_for(prediction: str, x0: Tensor, noise: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    """Regression targets (Ho et al. 2020; Salimans & Ho 2022; Vincent 2011): eps, x0, v, score.

    ``v = alpha eps - sigma x0`` and ``score = -eps / sigma`` (the score of q(x_t | x0)).
    """
    check_prediction(prediction)
    a, s = expand(alpha, x0), expand(sigma, x0)
    if prediction == "eps":
        return noise
    if prediction == "x0":
        return x0
    if prediction == "v":
        return a * noise - s * x0
    return -noise / s


def loss_weight(snr: Tensor, prediction: str, weighting: str, min_snr_gamma: float = 5.0) -> Tensor:
    """Per-timestep loss weight w(t) of the table in this module's docstring (Hang et al. 2023, Min-SNR).

    ``snr`` is ``schedule.snr(t)`` (float64). Returns a tensor shaped like ``snr``.
    """
    check_prediction(prediction)
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r}; expected one of {WEIGHTINGS}")
    if not min_snr_gamma > 0:
        raise ValueError(f"min_snr_gamma must be > 0; got {min_snr_gamma!r}")
    sigma2 = 1.0 / (1.0 + snr)  # VP: sigma^2 = 1 / (1 + SNR)
    if weighting == "uniform":
        return sigma2 if prediction == "score" else torch.ones_like(snr)
    if weighting == "snr":
        eps_equiv = torch.ones_like(snr)
    else:  # min(SNR, g) / SNR, written so that SNR = 0 gives its limit 1
        eps_equiv = torch.clamp(min_snr_gamma / snr, max=1.0)
    # turn the eps-equivalent weight into the weight on each target's own MSE
    if prediction == "eps":
        return eps_equiv
    if prediction == "x0":
        return eps_equiv * snr
    if prediction == "v":
        return eps_equiv * snr / (snr + 1.0)
    return eps_equiv * sigma2


def diffusion_loss(
    model: Callable[..., Tensor],
    x0: Tensor,
    schedule: NoiseSchedule,
    prediction: str = "eps",
    weighting: str = "uniform",
    *,
    y: Tensor | None = None,
    t: Tensor | None = None,
    noise: Tensor | None = None,
    generator: torch.Generator | None = None,
    min_snr_gamma: float = 5.0,
    reduction: str = "mean",
) -> Tensor | tuple[Tensor, Tensor]:
    """Diffusion training loss (Ho et al. 2020, Algorithm 1) for eps / x0 / v / score targets.

    Draws ``t ~ U{0..T-1}`` and ``noise ~ N(0, I)`` from ``generator`` unless given, forms
    ``x_t = alpha x0 + sigma noise``, calls ``model(x_t, t)`` (``model(x_t, t, y)`` when ``y``
    is given) and returns the weighted MSE to the ``prediction`` target (see the module
    docstring for the weights). The per-sample loss is the mean over non-batch dimensions times
    ``w(t)``. ``reduction``: "mean" / "sum" over the batch, or "none" for ``(per_sample, t)``.
    """
    check_prediction(prediction)
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r}; expected one of {WEIGHTINGS}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; expected one of {REDUCTIONS}")
    if not isinstance(x0, Tensor) or not x0.dtype.is_floating_point or x0.ndim < 1:
        raise ValueError("x0 must be a floating-point tensor of shape (B, ...)")
    if t is None:
        t = sample_timesteps(x0.shape[0], schedule, generator, device=x0.device)
    if noise is None:
        noise = noise_like(x0, generator)
    x_t = q_sample(x0, t, schedule, noise)  # validates t (B,) and noise shape
    t = t.to(x0.device)
    out = model(x_t, t) if y is None else model(x_t, t, y)
    if out.shape != x0.shape:
        raise ValueError(f"model output shape {tuple(out.shape)} must equal x0 shape {tuple(x0.shape)}")
    target = target_for(prediction, x0, noise, schedule.alpha(t), schedule.sigma(t))
    mse = ((out - target) ** 2).reshape(x0.shape[0], -1).mean(dim=1)
    per_sample = mse * loss_weight(schedule.snr(t), prediction, weighting, min_snr_gamma).to(mse.dtype)
    if reduction == "none":
        return per_sample, t
    return per_sample.mean() if reduction == "mean" else per_sample.sum()
