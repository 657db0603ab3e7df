"""Compute cost of a model: the activation memory of a training step and the FLOPs of a forward pass.

- :func:`saved_tensor_bytes` counts the bytes autograd keeps for the backward pass (the
  activations a training step must hold), with ``torch.autograd.graph.saved_tensors_hooks``:
  every tensor packed for backward is counted once per distinct storage, so a tensor saved by
  two operations is not counted twice. Parameters are saved too (a linear layer keeps its
  weight); ``exclude`` leaves them out, so the count is the activations alone. It works on any
  device; on CUDA :func:`peak_cuda_bytes` adds the allocator's peak.
- :func:`forward_flops` counts the floating-point operations of one call with
  ``torch.utils.flop_counter.FlopCounterMode`` (matrix multiplies and convolutions, 2 per
  multiply-add; elementwise work is not counted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor

__all__ = ["saved_tensor_bytes", "forward_flops", "peak_cuda_bytes"]


def _storage_key(t: Tensor) -> tuple:
    return (t.device.type, t.device.index, t.untyped_storage().data_ptr())


def saved_tensor_bytes(fn: Callable[[], Tensor], exclude: Iterable[Tensor] = ()) -> int:
    """Bytes of the tensors autograd saves for backward while ``fn()`` runs (activation memory).

    ``fn`` computes a scalar loss; nothing is back-propagated here. Tensors sharing a storage are
    counted once (by the storage's size), and storages of ``exclude`` (e.g. the parameters) are
    not counted. The graph is freed before returning.
    """
    skip = {_storage_key(t) for t in exclude}
    seen: dict[tuple, int] = {}

    def pack(t: Tensor) -> Tensor:
        key = _storage_key(t)
        if key not in skip and key not in seen:
            seen[key] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = fn()
    del loss
    return int(sum(seen.values()))


def forward_flops(fn: Callable[[], object]) -> int:
    """Floating-point operations of ``fn()`` as counted by ``torch.utils.flop_counter.FlopCounterMode``."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def peak_cuda_bytes(fn: Callable[[], object], device: torch.device) -> int | None:
    """``torch.cuda.max_memory_allocated`` during ``fn()`` on a CUDA device (None elsewhere)."""
    if device.type != "cuda":
        fn()
        return None
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return int(torch.cuda.max_memory_allocated(device))
