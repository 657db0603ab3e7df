"""Classifier-free guidance (Ho & Salimans 2022) as a model wrapper, so samplers never see labels.

Two names for one knob: the wrapper takes ``scale`` (1 is the conditional model, 0 the
unconditional one); the paper writes ``eps = (1 + w) eps_cond - w eps_uncond``, so
``scale = 1 + w``. Command lines and result files use ``w`` (``--w``); :func:`scale_of` converts.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["guided", "scale_of"]


def scale_of(w: float) -> float:
    """The wrapper's ``scale`` for the paper's guidance weight ``w`` (Ho & Salimans 2022): ``1 + w``."""
    return 1.0 + float(w)


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
