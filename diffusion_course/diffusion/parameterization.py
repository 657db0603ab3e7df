"""Conversions between the eps, x0, v and score parameterizations of a denoiser.

With ``x_t = alpha x0 + sigma eps`` (Ho et al. 2020), ``v = alpha eps - sigma x0``
(Salimans & Ho 2022, "Progressive distillation") and ``score = grad log q(x_t) ~ -eps / sigma``
(Song et al. 2021; Vincent 2011), any one prediction determines the others given ``x_t``.

The formulas below do **not** assume a variance-preserving schedule: from ``v`` we solve the
2x2 linear system exactly, ``x0 = (alpha x_t - sigma v) / (alpha^2 + sigma^2)`` and
``eps = (sigma x_t + alpha v) / (alpha^2 + sigma^2)``; for VP schedules (``alpha^2 + sigma^2 = 1``,
as every :class:`~diffusion_course.schedules.NoiseSchedule` gives) the denominators are 1.
Conversions that need ``x0`` from ``eps`` or ``score`` divide by ``alpha``, and those that need
``eps`` or ``score`` from ``x0`` divide by ``sigma``: they are undefined where that scale is 0.
"""

from __future__ import annotations

from torch import Tensor

from .schedules import expand

__all__ = ["PREDICTIONS", "check_prediction", "convert", "to_x0", "to_eps", "expand"]

PREDICTIONS = ("eps", "x0", "v", "score")

Scale = float | Tensor


def check_prediction(name: str) -> str:
    """Return ``name`` if it is one of :data:`PREDICTIONS`, else raise ValueError."""
    if not isinstance(name, str) or name not in PREDICTIONS:
        raise ValueError(f"unknown prediction {name!r}; expected one of {PREDICTIONS}")
    return name


def _prepare(pred: Tensor, prediction: str, x_t: Tensor, alpha: Scale, sigma: Scale):
    check_prediction(prediction)
    if not isinstance(pred, Tensor) or not isinstance(x_t, Tensor):
        raise ValueError("pred and x_t must be tensors")
    if pred.shape != x_t.shape:
        raise ValueError(f"pred shape {tuple(pred.shape)} must equal x_t shape {tuple(x_t.shape)}")
    if not x_t.dtype.is_floating_point:
        raise ValueError(f"x_t must have a floating dtype; got {x_t.dtype}")
    return expand(alpha, x_t), expand(sigma, x_t)


def to_x0(pred: Tensor, prediction: str, x_t: Tensor, alpha: Scale, sigma: Scale) -> Tensor:
    """Predicted clean data x0 from an eps / x0 / v / score prediction (Ho et al. 2020, eq. 15).

    eps: ``(x_t - sigma eps) / alpha``; v: ``(alpha x_t - sigma v) / (alpha^2 + sigma^2)``
    (Salimans & Ho 2022); score: ``(x_t + sigma^2 score) / alpha`` (Tweedie's formula).
    """
    a, s = _prepare(pred, prediction, x_t, alpha, sigma)
    if prediction == "x0":
        return pred
    if prediction == "eps":
        return (x_t - s * pred) / a
    if prediction == "v":
        return (a * x_t - s * pred) / (a * a + s * s)
    return (x_t + s * s * pred) / a


def to_eps(pred: Tensor, prediction: str, x_t: Tensor, alpha: Scale, sigma: Scale) -> Tensor:
    """Predicted noise eps from an eps / x0 / v / score prediction (Ho et al. 2020; Song et al. 2021).

    x0: ``(x_t - alpha x0) / sigma``; v: ``(sigma x_t + alpha v) / (alpha^2 + sigma^2)``
    (Salimans & Ho 2022); score: ``-sigma score``.
    """
    a, s = _prepare(pred, prediction, x_t, alpha, sigma)
    if prediction == "eps":
        return pred
    if prediction == "x0":
        return (x_t - a * pred) / s
    if prediction == "v":
        return (s * x_t + a * pred) / (a * a + s * s)
    return -s * pred


def convert(pred: Tensor, src: str, dst: str, x_t: Tensor, alpha: Scale, sigma: Scale) -> Tensor:
    """Convert a denoiser prediction between parameterizations (Salimans & Ho 2022, appendix D).

    ``src`` and ``dst`` are in :data:`PREDICTIONS`; ``alpha``, ``sigma`` are floats, ``(B,)``
    tensors or tensors broadcastable to ``x_t``. Targets: ``v = alpha eps - sigma x0``,
    ``score = -eps / sigma``. Exact in exact arithmetic for any alpha, sigma where defined.
    """
    check_prediction(dst)
    a, s = _prepare(pred, src, x_t, alpha, sigma)
    if src == dst:
        return pred
    if dst == "x0":
        return to_x0(pred, src, x_t, a, s)
    if dst == "eps":
        return to_eps(pred, src, x_t, a, s)
    if dst == "score":
        return -to_eps(pred, src, x_t, a, s) / s
    return a * to_eps(pred, src, x_t, a, s) - s * to_x0(pred, src, x_t, a, s)
