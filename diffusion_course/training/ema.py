"""Exponential moving average of weights (Polyak averaging), with the usual warm-up of the decay."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["ema_update", "ema_decay_at", "module_tensors"]


@torch.no_grad()
def ema_update(ema: nn.Module | list, model: nn.Module | list, decay: float) -> None:
    """Exponential moving average of weights (Polyak averaging): ``ema <- decay ema + (1 - decay) w``.

    ``ema`` and ``model`` are modules, or lists of their tensors (parameters and buffers, in the
    same order) that the training loop gathers once.
    """
    e_t = module_tensors(ema) if isinstance(ema, nn.Module) else ema
    m_t = module_tensors(model) if isinstance(model, nn.Module) else model
    floats = [(e, m) for e, m in zip(e_t, m_t) if e.is_floating_point()]
    if floats:
        torch._foreach_lerp_([e for e, _ in floats], [m for _, m in floats], 1.0 - decay)  # as swa_utils' EMA
    for e, m in zip(e_t, m_t):
        if not e.is_floating_point():
            e.copy_(m)


def module_tensors(module: nn.Module) -> list[Tensor]:
    return [p.detach() for p in module.parameters()] + list(module.buffers())


def ema_decay_at(step: int, decay: float) -> float:
    """EMA decay with warm-up ``min(decay, (1 + n) / (10 + n))``, so short runs average recent weights."""
    return min(decay, (1.0 + step) / (10.0 + step))
