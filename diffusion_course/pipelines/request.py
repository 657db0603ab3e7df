"""The checks every one-shot generator (a VAE's decoder, a GAN's generator) makes on a request."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["check_first", "check_request"]


def check_request(model: nn.Module, labels: Tensor | None, n: int, batch_size: int, what: str) -> Tensor | None:
    """Check ``n``, ``batch_size`` and ``labels`` against ``model`` (``what`` names it); return long labels.

    A class-conditional model (``num_classes`` set) needs one label per image; an unconditional one refuses labels.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1; got {n!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    classes = getattr(model, "num_classes", None)
    if classes is not None and labels is None:
        raise ValueError(f"this {what} is class-conditional ({classes} classes); pass one label per image")
    if classes is None and labels is not None:
        raise ValueError(f"labels were given, but the {what} is unconditional (num_classes=None)")
    if labels is None:
        return None
    labels = torch.as_tensor(labels).long()
    if labels.shape != (n,):
        raise ValueError(f"labels must hold one label per image ({n}); got shape {tuple(labels.shape)}")
    return labels


def check_first(first: int) -> None:
    """Check ``first``, the index of a request's first image in its run (a generator's ``first=``)."""
    if isinstance(first, bool) or not isinstance(first, int) or first < 0:
        raise ValueError(f"first (the index of the first image) must be an int >= 0; got {first!r}")
